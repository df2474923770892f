"""Rule throughput: images/s of every model of the study, training and inference."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from vitmed.jobs.io import write_text
from vitmed.jobs.runtime import setup_job
from vitmed.plan.throughput import measure

log = setup_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
table = measure(params.models, params.input_size, params.measure["batch"], params.measure["repeats"],
                params.segmenters, params.segmentation_size, params.segmentation_batch)
log.info("throughput:\n%s", table.to_string(index=False))
write_text(snakemake.output[0], table.to_csv(index=False))
