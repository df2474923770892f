"""Rule knn, per dataset: k-NN evaluation of every model's initialized encoder, for every init
and seed (one job: on CPU its start-up would otherwise cost more than the evaluations)."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

import torch

from vitmed.data.store import load_meta
from vitmed.io import write_json
from vitmed.knn import knn_evaluate
from vitmed.models import count_parameters, create_model, describe_weights
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
params, dataset = snakemake.params, snakemake.wildcards.dataset
data_dir = Path(snakemake.input.meta).parent
n_classes = len(load_meta(data_dir)["classes"])
knn = params.knn
rows = []
for model_name, model_cfg in params.models.items():
    for init, weights in params.weights[model_name].items():
        result = None
        for seed in params.seeds:
            # A pretrained encoder is the same for every seed (only the unused head differs):
            # evaluate it once and report it for each seed, as the paper's "± 0.000" shows.
            if result is None or weights is None:
                torch.manual_seed(seed)
                model = create_model(model_cfg["timm_name"], n_classes, weights, model_cfg["kwargs"])
                result = knn_evaluate(model, data_dir, k=knn["k"], temperature=knn["temperature"],
                                      input_size=params.input_size, batch_size=knn["batch_size"])
            rows.append(dict(result, dataset=dataset, model=model_name, init=init, seed=seed,
                             protocol="knn", weights=describe_weights(weights),
                             n_parameters=count_parameters(model)))
            log.info("%s %s seed %d: k-NN %s = %.4f", model_name, init, seed, result["metric"], result["value"])
write_json(snakemake.output[0], rows)
