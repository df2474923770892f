"""Rule freezing: progressive freezing of ViTs as a table and a figure."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.io import write_text
from vitmed.report.ablations import freezing_table
from vitmed.report.figures import figure_freezing, save_figure
from vitmed.report.tables import to_latex, to_markdown
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
params, output = snakemake.params, snakemake.output
table = freezing_table(pd.read_parquet(snakemake.input[0]), params.frozen, params.init, list(params.datasets))
title = (f"Progressive freezing: ViTs fine-tuned with their first blocks frozen, from {params.init}, "
         f"median ± std over seeds ({params.study})")
shown = table.assign(model=[f"{model} ({n} frozen)" for model, n in zip(table["model"], table["frozen_blocks"])])
write_text(output.csv, table.to_csv(index=False))
write_text(output.md, to_markdown(shown, params.datasets, title))
write_text(output.tex, to_latex(shown, params.datasets, title))
save_figure(figure_freezing(table), {"png": output.png, "pdf": output.pdf})
log.info("freezing: %d cells", len(table))
