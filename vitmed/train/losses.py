"""Training losses per task: cross-entropy for single-label, masked binary cross-entropy for
multi-label tasks (an ignored label, -1, adds nothing)."""
from __future__ import annotations

import torch
from torch import nn


class MaskedBCEWithLogits(nn.Module):
    """Binary cross-entropy averaged over the known entries: an ignored label (-1) adds no loss."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        known = (targets >= 0).to(logits.dtype)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, targets.clamp(min=0).to(logits.dtype),
                                                              weight=known, reduction="sum")
        return loss / known.sum().clamp(min=1)


def loss_function(task: str) -> nn.Module:
    return MaskedBCEWithLogits() if task == "multilabel" else nn.CrossEntropyLoss()
