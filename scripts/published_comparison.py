"""Rule published_comparison: our medians beside the paper's."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.compare import comparison_markdown, published_comparison
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
table = published_comparison(pd.read_parquet(snakemake.input[0]), snakemake.params.patch_sizes,
                             snakemake.params.paper, snakemake.params.scenarios)
write_table(named_files(snakemake.output, "published_comparison"), table,
            comparison_markdown(table, snakemake.params.study))
log.info("%d published cells, %d run, %d within the published std", len(table),
         int(table["median"].notna().sum()), int(table["within_paper_std"].eq(True).sum()))
