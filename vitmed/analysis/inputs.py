"""Models and test images for the representation analyses (attention distance, CKA, saliency)."""
from __future__ import annotations

from pathlib import Path

import torch

from vitmed.data.augment import BatchEval
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.store import load_meta
from vitmed.models.factory import build_model, load_finetuned


def load_model_pairs(meta_path, runs: list[dict], model_configs: dict):
    """Yield (run, initialized model, fine-tuned model) for each run of ``analysis_runs``
    (keys model, init, seed, weights, tuned)."""
    n_classes = len(load_meta(Path(meta_path).parent)["classes"])
    for run in runs:
        cfg = model_configs[run["model"]]
        torch.manual_seed(run["seed"])  # the very weights (and head) the fine-tuned run started from
        initialized = build_model(cfg, n_classes, run["weights"])
        yield run, initialized.eval(), load_finetuned(cfg, n_classes, run["tuned"])


def analysis_batches(meta_path, analysis: dict, input_size: int, eval_crop: str = "center"):
    """Up to ``analysis.n_images`` test images in full batches, as evaluated (``BatchEval``)."""
    dataset = StoreDataset(Path(meta_path).parent, "test")
    batch = min(analysis["batch_size"], len(dataset))
    loader = store_loader(dataset, batch, drop_last=True)
    transform = BatchEval(input_size, eval_crop)
    for i, (images, _) in enumerate(loader):
        if i * batch >= analysis["n_images"]:
            break
        yield transform(images)
