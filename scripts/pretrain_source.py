"""Rule pretrain_source: supervised pretraining on the synthetic source set (ImageNet stand-in)."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import shutil
from pathlib import Path

import torch

from vitmed.io import atomic_path, write_json
from vitmed.models import build_model
from vitmed.runtime import setup_job
from vitmed.train import finetune

log = setup_job(snakemake.log[0], snakemake.threads)
data_dir = Path(snakemake.input.meta).parent
source = snakemake.params.source
model_cfg = snakemake.params.model
hp = dict(snakemake.params.finetune, max_epochs=source["epochs"], warmup_iters=source["warmup_iters"],
          patience=source["epochs"])
torch.manual_seed(0)
model = build_model(model_cfg, num_classes=16)
run_dir = Path(snakemake.output.weights).parent / "source_run"
result = finetune(model, data_dir, run_dir, seed=0, lr=source["lr"], optimizer="adamw", hp=hp,
                  input_size=snakemake.params.input_size)
shutil.copy(run_dir / "log.csv", snakemake.output.log_csv)
with atomic_path(snakemake.output.weights) as tmp:
    shutil.copy(run_dir / "best.pt", tmp)
write_json(snakemake.output.metrics, dict(result, source="synthetic source_objects (16 classes)"))
log.info("source pretraining: test %s = %.4f", result["metric"], result["value"])
