"""Models and test images for the representation analyses (attention distance, CKA)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from vitmed.augment import BatchEval
from vitmed.data.dataset import StoreDataset
from vitmed.data.store import load_meta
from vitmed.models import create_model


def load_model_pairs(inputs, params):
    """Yield (init, initialized model, fine-tuned model of the first seed) for every init."""
    meta = load_meta(Path(inputs.meta).parent)
    cfg = params.model
    for (init, weights), tuned_path in zip(params.weights.items(), inputs.tuned):
        torch.manual_seed(0)
        initialized = create_model(cfg["timm_name"], len(meta["classes"]), weights, cfg["kwargs"])
        tuned = create_model(cfg["timm_name"], len(meta["classes"]), None, cfg["kwargs"])
        tuned.load_state_dict(torch.load(tuned_path, map_location="cpu", weights_only=True))
        yield init, initialized.eval(), tuned.eval()


def analysis_batches(meta_path, params):
    """Up to ``analysis.n_images`` test images in full batches, resized and normalized."""
    dataset = StoreDataset(Path(meta_path).parent, "test")
    batch = min(params.analysis["batch_size"], len(dataset))
    loader = DataLoader(dataset, batch_size=batch, drop_last=True)
    transform = BatchEval(params.input_size)
    limit = params.analysis["n_images"]
    for i, (images, _) in enumerate(loader):
        if i * batch >= limit:
            break
        yield transform(images)
