"""Rule finetune: one {dataset} x {model} x {init} x {seed} fine-tuning run."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

import torch

from vitmed.data.store import load_meta
from vitmed.io import write_json
from vitmed.models import build_model, count_parameters, describe_weights
from vitmed.runtime import setup_job
from vitmed.train import finetune, run_hparams

log = setup_job(snakemake.log[0], snakemake.threads)
wc, params = snakemake.wildcards, snakemake.params
seed, hp, model_cfg = int(wc.seed), run_hparams(params.hp, params.override), params.model
data_dir = Path(snakemake.input.meta).parent
meta = load_meta(data_dir)
torch.manual_seed(seed)  # the random init (and the new classifier head) depends on the seed
model = build_model(model_cfg, len(meta["classes"]), params.weights)
pretrained = params.weights is not None
random_vit = not pretrained and model_cfg["family"] == "vit"
lr = hp["lr"]["pretrained" if pretrained else "random"]
result = finetune(model, data_dir, Path(snakemake.output.metrics).parent, seed=seed, lr=lr,
                  optimizer=hp["optimizer_random_vit" if random_vit else "optimizer"],
                  hp=hp, input_size=params.input_size)
write_json(snakemake.output.metrics, dict(result, dataset=wc.dataset, model=wc.model, init=wc.init,
                                          seed=seed, protocol="finetune",
                                          weights=describe_weights(params.weights),
                                          n_parameters=count_parameters(model),
                                          lr=lr, weight_decay=hp["weight_decay"]))
log.info("test %s = %.4f after %d epochs", result["metric"], result["value"], result["epochs"])
