"""Frozen features: an encoder's embeddings (vitmed.models.factory.embed) of a dataset's splits,
shared by the k-NN and linear-probe evaluations."""
from __future__ import annotations

import torch

from vitmed.data.augment import BatchEval
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.jobs.devices import select_device
from vitmed.models.factory import embed


@torch.no_grad()
def extract_features(model: torch.nn.Module, loader, transform) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    device = next(model.parameters()).device
    features, labels = [], []
    for images, y in loader:
        features.append(embed(model, transform(images.to(device, non_blocking=True))).float())
        labels.append(torch.as_tensor(y))
    return torch.cat(features), torch.cat(labels)  # features stay on the device: no wait per batch


def split_features(model: torch.nn.Module, data_dir, splits: tuple[str, ...], *, input_size: int, eval_crop: str,
                   batch_size: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The frozen encoder's embeddings (on the job's device, where the model moves: claimed once,
    ask the model for it afterwards) and the labels (on the CPU) of each split."""
    model.to(select_device())
    transform = BatchEval(input_size, eval_crop)
    features, labels = {}, {}
    for split in splits:
        loader = store_loader(StoreDataset(data_dir, split), batch_size)
        features[split], labels[split] = extract_features(model, loader, transform)
    return features, labels
