"""Rule saliency, per dataset: Grad-CAM of the fine-tuned CNN and top-mass CLS attention of the
fine-tuned ViT on the first test images (Figure 4)."""
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from vitmed.analysis_data import load_finetuned
from vitmed.augment import BatchEval
from vitmed.data.dataset import StoreDataset
from vitmed.io import atomic_path
from vitmed.runtime import setup_job
from vitmed.saliency import cls_attention, grad_cam

log = setup_job(snakemake.log[0], snakemake.threads)
params, meta = snakemake.params, snakemake.input.meta
test = StoreDataset(Path(meta).parent, "test")
n = min(params.saliency["n_images"], len(test))
images, labels = test[list(range(n))]
inputs = BatchEval(params.input_size)(images)
cnn = load_finetuned(meta, params.models[params.saliency["cnn"]], snakemake.input.cnn)
vit = load_finetuned(meta, params.models[params.saliency["vit"]], snakemake.input.vit)
attention, kept = cls_attention(vit, inputs, params.saliency["mass"])
with torch.no_grad():
    shown = F.interpolate(images.float(), size=inputs.shape[-2:], mode="bilinear", antialias=True)
with atomic_path(snakemake.output[0]) as tmp, open(tmp, "wb") as handle:
    np.savez_compressed(handle, images=shown.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy(),
                        labels=labels.numpy(), grad_cam=grad_cam(cnn, inputs, params.saliency["cnn_stage"]),
                        attention=attention, kept=kept, cnn=params.saliency["cnn"], vit=params.saliency["vit"])
log.info("%d images: Grad-CAM of %s, CLS attention of %s (%.0f%% of patches hold %.0f%% of the attention)",
         n, params.saliency["cnn"], params.saliency["vit"], 100 * kept.mean(), 100 * params.saliency["mass"])
