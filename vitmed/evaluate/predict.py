"""A model's class scores on a split: softmax for single-label, sigmoid for multi-label tasks."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vitmed.jobs.speedups import Speedups


def to_scores(logits: torch.Tensor, task: str) -> torch.Tensor:
    return logits.sigmoid() if task == "multilabel" else logits.softmax(dim=1)


@torch.no_grad()
def predict(model: nn.Module, loader, transform: nn.Module, task: str,
            speedups: Speedups = Speedups()) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    device = next(model.parameters()).device
    scores, labels = [], []
    for images, y in loader:
        with speedups.autocast(device):
            logits = model(speedups.inputs(transform(images.to(device, non_blocking=True))))
        scores.append(to_scores(logits.float(), task))  # stays on the device: no wait per batch
        labels.append(y)
    return torch.cat(scores).cpu().numpy(), torch.cat(labels).numpy()
