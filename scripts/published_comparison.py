"""Rule published_comparison: our medians beside the paper's."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.io import write_text
from vitmed.report.compare import comparison_markdown, compare_with_published, load_published
from vitmed.report.tables import summarize
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
runs = pd.read_parquet(snakemake.input[0])
summary = pd.concat([summarize(runs, protocol).assign(protocol=protocol) for protocol in ("finetune", "knn")])
table = compare_with_published(summary, load_published(), snakemake.params.patch_sizes)
write_text(snakemake.output.csv, table.to_csv(index=False))
write_text(snakemake.output.md, comparison_markdown(table, snakemake.params.study))
log.info("%d published cells, %d run, %d within the published std", len(table),
         int(table["median"].notna().sum()), int(table["within_paper_std"].eq(True).sum()))
