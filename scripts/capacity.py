"""Rule capacity: Table 4 (ResNet and DeiT families at increasing size) and Figure 3."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.io import write_text
from vitmed.report import figures
from vitmed.report.ablations import capacity_table, weights_notes
from vitmed.report.tables import to_latex, to_markdown
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
params, output = snakemake.params, snakemake.output
table = capacity_table(pd.read_parquet(snakemake.input[0]), params.capacity, params.init, list(params.datasets))
if table["median"].isna().any():
    raise ValueError(f"Table 4 has empty cells: {table[table['median'].isna()][['model', 'dataset']].values.tolist()}")
notes = weights_notes(params.models, params.capacity["cnn"] + params.capacity["vit"])
title = f"Table 4: model capacity, fine-tuning from {params.init}, median ± std over seeds ({params.study})"
write_text(output.csv, table.to_csv(index=False))
write_text(output.md, to_markdown(table, params.datasets, title, notes))
write_text(output.tex, to_latex(table, params.datasets, title, notes))
figures.save_figure(figures.figure3(table), {"png": output.png, "pdf": output.pdf})
log.info("Table 4: %d cells", len(table))
