"""Rule ood, per dataset: every fine-tuned model of the dataset scored on its out-of-distribution
test set."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.evaluate.ood import evaluate_out_of_distribution
from vitmed.jobs.io import write_json
from vitmed.jobs.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
rows = evaluate_out_of_distribution(
    params.runs,
    Path(snakemake.input.trained).parent,
    Path(snakemake.input.test).parent,
    input_size=params.input_size,
    eval_crop=params.eval_crop,
    batch_size=params.batch_size,
)
write_json(snakemake.output[0], rows)
