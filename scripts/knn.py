"""Rule knn: k-NN evaluation of the initialized encoder, for every init and seed."""
from pathlib import Path

import torch

from vitmed.data.store import load_meta
from vitmed.io import write_json
from vitmed.knn import knn_evaluate
from vitmed.models import create_model, describe_weights
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
wc, params = snakemake.wildcards, snakemake.params
data_dir = Path(snakemake.input.meta).parent
meta = load_meta(data_dir)
model_cfg, knn = params.model, params.knn
rows = []
for init, weights in params.weights.items():
    result = None
    for seed in params.seeds:
        # A pretrained encoder is the same for every seed (only the unused head differs):
        # evaluate it once and report it for each seed, as the paper's "± 0.000" shows.
        if result is None or weights is None:
            torch.manual_seed(seed)
            model = create_model(model_cfg["timm_name"], len(meta["classes"]), weights, model_cfg["kwargs"])
            result = knn_evaluate(model, data_dir, k=knn["k"], temperature=knn["temperature"],
                                  input_size=params.input_size, batch_size=knn["batch_size"])
        rows.append(dict(result, dataset=wc.dataset, model=wc.model, init=init, seed=seed,
                         protocol="knn", weights=describe_weights(weights)))
        log.info("%s seed %d: k-NN %s = %.4f", init, seed, result["metric"], result["value"])
write_json(snakemake.output[0], rows)
