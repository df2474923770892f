"""Rule knn, per dataset: k-NN evaluation of every model's initialized encoder, for every init
and seed (one job: on CPU its start-up would otherwise cost more than the evaluations)."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.data.store import load_meta
from vitmed.frozen import evaluate_initialized
from vitmed.io import write_json
from vitmed.knn import knn_evaluate
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
data_dir = Path(snakemake.input.meta).parent
knn = params.knn
rows = evaluate_initialized(
    snakemake.wildcards.dataset, "knn", params.models, params.weights, params.seeds,
    len(load_meta(data_dir)["classes"]),
    lambda model: knn_evaluate(model, data_dir, k=knn["k"], temperature=knn["temperature"],
                               input_size=params.input_size, batch_size=knn["batch_size"]))
write_json(snakemake.output[0], rows)
