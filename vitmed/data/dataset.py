"""Torch dataset and loader over one split of the standardized store.

Items are uint8 (3, H, W) tensors (with a uint8 (H, W) mask for segmentation): augmentation and
normalization run on whole batches (vitmed.data.augment), after loading. Grayscale images are
repeated to three channels so that RGB-pretrained models take them unchanged. ``store_loader``
reads a whole batch with one indexing of the memory-mapped array instead of collating images one by one.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, get_worker_info

from vitmed.data.store import load_split


def _mapped(array: np.ndarray) -> torch.Tensor:
    """The read-only memory map itself as a tensor: only ever read from (torch warns that it
    cannot protect it; copy-on-write instead would charge the whole store to the kernel's
    memory commit, which refuses stores larger than RAM)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def _read_rows(array: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Rows of a mapped array in one ``index_select`` (split between threads, GIL released);
    in the training process on a GPU machine straight into pinned memory, which the copy to
    the GPU needs: one pass over the batch instead of two."""
    pin = get_worker_info() is None and torch.cuda.is_available()
    out = torch.empty((len(rows), *array.shape[1:]), dtype=array.dtype, pin_memory=pin)
    return torch.index_select(array, 0, rows, out=out)


class StoreDataset(Dataset):
    """One split of the store: items are (uint8 image, label), or for a segmentation store
    (uint8 image, uint8 (H, W) mask)."""

    def __init__(self, data_dir: str | Path, split: str):
        images, labels, self.index = load_split(data_dir, split)
        self.images = _mapped(images)  # (N, H, W, C) uint8
        self.rows = torch.tensor(self.index["store_row"].to_numpy())
        self.segmentation = labels.ndim == 3  # the store's masks, (N, H, W), indexed by store row
        self.labels = _mapped(labels) if self.segmentation else labels

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        """One image (3, H, W) and its label for an int; a batch (B, 3, H, W) and labels for a
        list of ints."""
        if np.isscalar(i):
            images = self.images[self.rows[i]].permute(2, 0, 1).clone()  # not a view of the read-only map
            targets = self.labels[self.rows[i]].clone() if self.segmentation else torch.as_tensor(self.labels[i])
        else:
            rows = self.rows[torch.as_tensor(i)]
            images = _read_rows(self.images, rows).permute(0, 3, 1, 2)
            targets = _read_rows(self.labels, rows) if self.segmentation else torch.as_tensor(self.labels[i])
        if images.shape[-3] == 1:
            images = images.expand(*images.shape[:-3], 3, -1, -1)
        return images, targets


class StoreBatches(Sampler[list[int]]):
    """Batches of dataset indices, in ``RandomSampler``'s order for ``generator`` when shuffled.
    Assigning a new ``generator`` reshuffles the next pass, so one loader, and its worker
    processes, serves every epoch."""

    def __init__(self, size: int, batch_size: int, *, shuffle: bool, drop_last: bool,
                 generator: torch.Generator | None = None):
        self.size, self.batch_size, self.shuffle, self.drop_last = size, batch_size, shuffle, drop_last
        self.generator = generator

    def __iter__(self):
        order = RandomSampler(range(self.size), generator=self.generator) if self.shuffle else range(self.size)
        return iter(BatchSampler(order, self.batch_size, self.drop_last))

    def __len__(self) -> int:
        return len(BatchSampler(range(self.size), self.batch_size, self.drop_last))


def store_loader(dataset: StoreDataset, batch_size: int, *, shuffle: bool = False, drop_last: bool = False,
                 generator: torch.Generator | None = None, num_workers: int = 0) -> DataLoader:
    """Batches of (uint8 images, labels) in ``StoreBatches`` order, each read with one indexing
    of the store. Worker processes persist
    across epochs: set ``loader.sampler.generator`` for the next epoch's order."""
    batches = StoreBatches(len(dataset), batch_size, shuffle=shuffle, drop_last=drop_last, generator=generator)
    # pinned batches let the copy to the GPU overlap compute (non_blocking=True); batches read
    # in this process are pinned already, and the loader passes them on as they are
    return DataLoader(dataset, sampler=batches, batch_size=None, num_workers=num_workers,
                      persistent_workers=num_workers > 0, pin_memory=torch.cuda.is_available())
