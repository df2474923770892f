"""Rule lesion_features: the eight feature-usage features of every image of a skin-lesion store."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import json
from pathlib import Path

import numpy as np
import pandas as pd

from vitmed.analysis.lesion_features import lesion_feature_table
from vitmed.data.store import load_meta, pixels_dir
from vitmed.evaluate.segmentation import predict_masks
from vitmed.jobs.devices import select_device
from vitmed.jobs.io import write_parquet
from vitmed.jobs.runtime import setup_job
from vitmed.models.segmentation import load_segmenter

log = setup_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
data_dir = Path(snakemake.input.meta).parent
images = np.load(pixels_dir(data_dir, load_meta(data_dir)) / "images.npy", mmap_mode="r")
segmenter = load_segmenter(params.segmenter, len(load_meta(Path(snakemake.input.segmenter_meta).parent)["classes"]),
                           snakemake.input.segmenter, input_size=params.input_size,
                           output_stride=params.output_stride).to(select_device())
masks = predict_masks(segmenter, images, params.input_size)
log.info("lesion masks: %d images, %d empty", len(masks), int((masks.reshape(len(masks), -1).max(1) == 0).sum()))
record = snakemake.input.dermoscopic  # the downloaded Task 2 masks' record, or the configured folder (or none)
attributes = json.loads(Path(record[0]).read_text())["dir"] if record else params.dermoscopic_masks_dir
table = lesion_feature_table(images, masks, pd.read_parquet(data_dir / "index.parquet"), attributes)
write_parquet(snakemake.output[0], table)
