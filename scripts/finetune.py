"""Rule finetune: one {dataset} x {model} x {init} x {seed} fine-tuning run."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import json
from pathlib import Path

from vitmed.jobs.io import write_json
from vitmed.jobs.runtime import setup_job
from vitmed.train.finetune import finetune_run, run_hparams

log = setup_job(snakemake.log[0], snakemake.threads)
wc, params = snakemake.wildcards, snakemake.params
override = dict(params.override)
for choice in snakemake.input.choice:  # the search's choice (search.apply): its values replace the study's
    override.update(json.loads(Path(choice).read_text())["chosen"])
    log.info("searched: %s", override)
result = finetune_run(params.model, params.weights, Path(snakemake.input.meta).parent,
                      Path(snakemake.output.metrics).parent, seed=int(wc.seed),
                      hp=run_hparams(params.hp, override), input_size=params.input_size,
                      eval_crop=params.eval_crop)
write_json(snakemake.output.metrics, dict(result, dataset=wc.dataset, model=wc.model, init=wc.init,
                                          seed=int(wc.seed), protocol="finetune"))
log.info("test %s = %.4f after %d epochs", result["metric"], result["value"], result["epochs"])
