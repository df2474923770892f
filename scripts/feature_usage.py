"""Rule feature_usage, per model: its best run's use of each feature (Piater et al.'s Table 3)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import json
from pathlib import Path

import pandas as pd

from vitmed.analysis.feature_usage import best_run, feature_usage
from vitmed.analysis.independence import TestSettings
from vitmed.data.augment import BatchEval
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.store import load_meta
from vitmed.evaluate.predict import predict
from vitmed.jobs.devices import select_device
from vitmed.jobs.io import write_parquet
from vitmed.jobs.runtime import setup_job
from vitmed.models.factory import load_finetuned

log = setup_job(snakemake.log[0], snakemake.threads)
params, inputs = snakemake.params, snakemake.input
runs = [json.loads(Path(path).read_text()) for path in inputs.metrics]
best = best_run(runs)
position = runs.index(best)
data_dir = Path(inputs.metas[position]).parent
meta = load_meta(data_dir)
test = StoreDataset(data_dir, "test")
model = load_finetuned(params.model, len(meta["classes"]), inputs.weights[position]).to(select_device())
scores, labels = predict(model, store_loader(test, 64), BatchEval(params.input_size, params.eval_crop), meta["task"])
log.info("%s: best run seed %d (%s %.4f), %d test images", snakemake.wildcards.model, best["seed"], best["metric"],
         best["value"], len(labels))
settings = params.settings
table = feature_usage(pd.read_parquet(inputs.features), test.index["sample_id"].to_numpy(), scores, labels,
                      n_classes=len(meta["classes"]), alpha=settings["alpha"], tests=settings["tests"],
                      max_samples=settings["max_samples"], settings=TestSettings(seed=best["seed"]))
table.insert(0, "model", snakemake.wildcards.model)
table.insert(1, "seed", best["seed"])
table.insert(2, "metric", best["metric"])
table.insert(3, "value", best["value"])
write_parquet(snakemake.output[0], table)
