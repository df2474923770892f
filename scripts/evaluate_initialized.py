"""Rules knn and linear_probe, per dataset: the initialized encoder of every model, init and seed,
evaluated by k-NN or by a linear probe on its frozen features."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from vitmed.evaluate.initialized import evaluate_dataset
from vitmed.jobs.io import write_json
from vitmed.jobs.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
rows = evaluate_dataset(params.protocol, snakemake.wildcards.dataset, params.data_dirs,
                        models=params.models, weights=params.weights,
                        input_size=params.input_size, eval_crop=params.eval_crop, settings=params.settings)
write_json(snakemake.output[0], rows)
