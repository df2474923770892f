"""Torch datasets over the standardized store, and the paper's augmentations (transforms.v2)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from vitmed.data.store import load_split

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def train_transform(input_size: int, augment: dict) -> v2.Compose:
    """The paper's classification augmentations: random resized crop, horizontal and
    vertical flips, colour jitter, normalization."""
    jitter = augment["color_jitter"]
    return v2.Compose([
        v2.RandomResizedCrop(input_size, scale=tuple(augment["crop_scale"]), antialias=True),
        v2.RandomHorizontalFlip(augment["hflip"]),
        v2.RandomVerticalFlip(augment["vflip"]),
        v2.RandomApply([v2.ColorJitter(jitter["brightness"], jitter["contrast"],
                                       jitter["saturation"], jitter["hue"])], p=jitter["p"]),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def eval_transform(input_size: int) -> v2.Compose:
    return v2.Compose([
        v2.Resize((input_size, input_size), antialias=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


class StoreDataset(Dataset):
    """One split of a prepared dataset. Grayscale images are repeated to three channels so
    that RGB-pretrained models take them unchanged."""

    def __init__(self, data_dir: str | Path, split: str, transform=None):
        self.images, self.labels, self.index = load_split(data_dir, split)
        self.rows = self.index["store_row"].to_numpy()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        image = torch.from_numpy(np.ascontiguousarray(self.images[self.rows[i]])).permute(2, 0, 1)
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        image = v2.functional.to_image(image)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[i]
