"""Rule pretrain_source: supervised pretraining on the synthetic source set (ImageNet stand-in)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.jobs.io import write_json
from vitmed.jobs.runtime import setup_job
from vitmed.train.source import pretrain_source

log = setup_job(snakemake.log[0], snakemake.threads)
params, output = snakemake.params, snakemake.output
result = pretrain_source(params.model, Path(snakemake.input.meta).parent, Path(output.weights).parent / "source_run",
                         output.weights, output.log_csv, source=params.source, finetune_hp=params.finetune,
                         input_size=params.input_size, eval_crop=params.eval_crop)
write_json(output.metrics, result)
log.info("source pretraining: test %s = %.4f", result["metric"], result["value"])
