"""Models and test images for the representation analyses (attention distance, CKA, saliency)."""
from __future__ import annotations

from pathlib import Path

import torch

from vitmed.augment import BatchEval
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.store import load_meta
from vitmed.models import build_model


def load_finetuned(meta_path, model_config: dict, checkpoint) -> torch.nn.Module:
    """A fine-tuned model from its ``best.pt``, in eval mode."""
    n_classes = len(load_meta(Path(meta_path).parent)["classes"])
    model = build_model(model_config, n_classes)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model.eval()


def load_model_pairs(meta_path, runs: list[dict], model_configs: dict):
    """Yield (run, initialized model, fine-tuned model) for each run of ``analysis_runs``
    (keys model, init, seed, weights, tuned)."""
    n_classes = len(load_meta(Path(meta_path).parent)["classes"])
    for run in runs:
        cfg = model_configs[run["model"]]
        torch.manual_seed(run["seed"])  # the very weights (and head) the fine-tuned run started from
        initialized = build_model(cfg, n_classes, run["weights"])
        yield run, initialized.eval(), load_finetuned(meta_path, cfg, run["tuned"])


def analysis_batches(meta_path, analysis: dict, input_size: int):
    """Up to ``analysis.n_images`` test images in full batches, resized and normalized."""
    dataset = StoreDataset(Path(meta_path).parent, "test")
    batch = min(analysis["batch_size"], len(dataset))
    loader = store_loader(dataset, batch, drop_last=True)
    transform = BatchEval(input_size)
    for i, (images, _) in enumerate(loader):
        if i * batch >= analysis["n_images"]:
            break
        yield transform(images)
