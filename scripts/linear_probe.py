"""Rule linear_probe, per dataset: a logistic-regression head on the frozen features of every
model's initialized encoder, for every init and seed."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.data.store import load_meta
from vitmed.frozen import evaluate_initialized
from vitmed.io import write_json
from vitmed.linear_probe import linear_probe_evaluate
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
data_dir = Path(snakemake.input.meta).parent
probe = params.linear_probe
rows = evaluate_initialized(
    snakemake.wildcards.dataset, "linear", params.models, params.weights, params.seeds,
    len(load_meta(data_dir)["classes"]),
    lambda model: linear_probe_evaluate(model, data_dir, l2_grid=probe["l2"], max_iter=probe["max_iter"],
                                        input_size=params.input_size, batch_size=probe["batch_size"]))
write_json(snakemake.output[0], rows)
