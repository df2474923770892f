"""Rule figure4: the per-dataset saliency maps as one figure."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import numpy as np

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.figures import figure4, save_figure

setup_job(snakemake.log[0], threads=0)
saliency = {name: dict(np.load(path)) for name, path in zip(snakemake.params.datasets, snakemake.input)}
save_figure(figure4(saliency, snakemake.params.mass), named_files(snakemake.output, "figure4"))
