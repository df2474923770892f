"""Torch dataset over one split of the standardized store.

Items are uint8 (3, H, W) tensors: augmentation and normalization run on whole batches
(vitmed.augment), after collation. Grayscale images are repeated to three channels so
that RGB-pretrained models take them unchanged.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vitmed.data.store import load_split


class StoreDataset(Dataset):
    def __init__(self, data_dir: str | Path, split: str):
        self.images, self.labels, self.index = load_split(data_dir, split)
        self.rows = self.index["store_row"].to_numpy()

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        image = torch.from_numpy(np.array(self.images[self.rows[i]])).permute(2, 0, 1)
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        return image, self.labels[i]
