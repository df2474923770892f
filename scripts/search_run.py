"""Rule search_run: one {dataset} x {model} x {init} fine-tuning at one grid point and seed."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.jobs.io import write_json
from vitmed.jobs.runtime import setup_job
from vitmed.train.search import search_run

log = setup_job(snakemake.log[0], snakemake.threads)
wc, params = snakemake.wildcards, snakemake.params
result = search_run(params.model, params.weights, Path(snakemake.input.meta).parent,
                    Path(snakemake.output.metrics).parent, seed=int(wc.seed), hp=params.hp, override=params.override,
                    point=params.point, input_size=params.input_size, eval_crop=params.eval_crop)
write_json(snakemake.output.metrics, dict(result, dataset=wc.dataset, model=wc.model, init=wc.init, point=wc.point,
                                          seed=int(wc.seed)))
log.info("%s: val %.4f%s", wc.point, result["val_best"], " (diverged)" if result["diverged"] else "")
