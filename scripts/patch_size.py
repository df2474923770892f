"""Rule patch_size: Table 5 (one ViT with different patch sizes)."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.io import write_text
from vitmed.report.ablations import patch_size_table, weights_notes
from vitmed.report.tables import to_latex, to_markdown
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
params, output = snakemake.params, snakemake.output
table = patch_size_table(pd.read_parquet(snakemake.input[0]), params.patch_sizes, params.init, list(params.datasets))
if table["median"].isna().any():
    raise ValueError(f"Table 5 has empty cells: {table[table['median'].isna()][['model', 'dataset']].values.tolist()}")
notes = weights_notes(params.models, list(params.patch_sizes.values()))
title = f"Table 5: patch size, fine-tuning from {params.init}, median ± std over seeds ({params.study})"
write_text(output.csv, table.to_csv(index=False))
write_text(output.md, to_markdown(table, params.datasets, title, notes))
write_text(output.tex, to_latex(table, params.datasets, title, notes))
log.info("Table 5: %d cells", len(table))
