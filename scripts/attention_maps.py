"""Rule attention_maps, per dataset: Piater et al.'s Table 4 arrays (vitmed.analysis.attention_maps)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

import numpy as np

from vitmed.analysis.attention_maps import attention_map_arrays
from vitmed.data.store import load_meta
from vitmed.jobs.io import atomic_path
from vitmed.jobs.runtime import setup_job
from vitmed.models.factory import load_finetuned

setup_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
data_dir = Path(snakemake.input.meta).parent
classes = load_meta(data_dir)["classes"]
models = {name: (cfg["family"], load_finetuned(cfg, len(classes), checkpoint))
          for (name, cfg), checkpoint in zip(params.models.items(), snakemake.input.tuned)}
arrays = attention_map_arrays(data_dir, models, classes, n_mean=params.settings["n_mean"], input_size=params.input_size,
                              eval_crop=params.eval_crop, cnn_stage=params.settings["cnn_stage"])
with atomic_path(snakemake.output[0]) as tmp, open(tmp, "wb") as handle:
    np.savez_compressed(handle, **arrays)
