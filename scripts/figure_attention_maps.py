"""Rule figure_attention_maps: Piater et al.'s Table 4 as a figure per dataset."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import numpy as np

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.figures import figure_attention_maps, save_figure

setup_job(snakemake.log[0], threads=0)
for dataset, path in zip(snakemake.params.datasets, snakemake.input):
    save_figure(figure_attention_maps(dict(np.load(path)), dataset),
                named_files(snakemake.output, f"attention_maps_{dataset}"))
