"""Rule self_attention: CNNs with and without self-attention blocks, Welch's t-tests."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.io import write_text
from vitmed.report.ablations import (self_attention_latex, self_attention_markdown, self_attention_table,
                                    with_out_of_distribution)
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
params, output = snakemake.params, snakemake.output
runs = pd.read_parquet(snakemake.input[0])
table = self_attention_table(runs, params.variants, params.init, list(params.datasets))
title = f"Self-attention in CNNs: fine-tuning from {params.init}, mean ± std over seeds ({params.study})"
tested = [dataset for dataset in params.datasets if dataset in params.ood]
if tested:
    ood = self_attention_table(runs, params.variants, params.init, tested, protocol="ood")
    table = with_out_of_distribution(table, ood)
    title += "; in parentheses on the out-of-distribution test set (" + ", ".join(
        f"{dataset} → {params.ood[dataset]}" for dataset in tested) + ")"
write_text(output.csv, table.to_csv(index=False))
write_text(output.md, self_attention_markdown(table, params.datasets, title))
write_text(output.tex, self_attention_latex(table, params.datasets, title))
log.info("self-attention: %d cells, %d significant", len(table), int(table["significant"].sum()))
