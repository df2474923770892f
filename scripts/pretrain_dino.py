"""Rule pretrain_dino: DINO on a target dataset from the ImageNet weights."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.jobs.runtime import setup_job
from vitmed.train.dino import dino_backbones, pretrain_dino

log = setup_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
cfg = params.dino
student, teacher = dino_backbones(params.model, params.weights, cfg["drop_path"])
# the run folder is the output folder: log.csv is written in place, checkpoint.pt beside it
rows = pretrain_dino(student, Path(snakemake.input.meta).parent, Path(snakemake.output.log_csv).parent,
                     snakemake.output.weights, cfg, seed=cfg["seed"], teacher_backbone=teacher)
log.info("DINO: %d epochs, loss %.4f -> %.4f", len(rows), rows[0]["loss"], rows[-1]["loss"])
