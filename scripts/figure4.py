"""Rule figure4: the per-dataset saliency maps as one figure."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import numpy as np

from vitmed.report import figures
from vitmed.runtime import setup_job

setup_job(snakemake.log[0], threads=0)
saliency = {name: dict(np.load(path)) for name, path in zip(snakemake.params.datasets, snakemake.input)}
fig = figures.figure4(saliency, snakemake.params.mass)
figures.save_figure(fig, {"png": snakemake.output.png, "pdf": snakemake.output.pdf})
