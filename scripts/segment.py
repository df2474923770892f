"""Rule segment: one {dataset} x {model} x {seed} segmentation run (Table 2)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.jobs.io import write_json
from vitmed.jobs.runtime import setup_job
from vitmed.train.segment import segment_run

log = setup_job(snakemake.log[0], snakemake.threads)
wc, params = snakemake.wildcards, snakemake.params
result = segment_run(params.model, params.weights, Path(snakemake.input.meta).parent,
                     Path(snakemake.output.metrics).parent, seed=int(wc.seed), hp=params.hp,
                     input_size=params.input_size, output_stride=params.output_stride, elastic=params.elastic)
write_json(snakemake.output.metrics, dict(result, dataset=wc.dataset, model=wc.model, init=params.init,
                                          seed=int(wc.seed), protocol="segmentation"))
log.info("test IoU %.4f (per-image IoU %.4f, Dice %.4f) after %d epochs", result["value"], result["mean_iou"],
         result["dice"], result["epochs"])
