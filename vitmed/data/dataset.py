"""Torch dataset and loader over one split of the standardized store.

Items are uint8 (3, H, W) tensors: augmentation and normalization run on whole batches
(vitmed.data.augment), after loading. Grayscale images are repeated to three channels so that
RGB-pretrained models take them unchanged. ``store_loader`` reads a whole batch with one
indexing of the memory-mapped array instead of collating images one by one.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, get_worker_info

from vitmed.data.store import load_split


class StoreDataset(Dataset):
    def __init__(self, data_dir: str | Path, split: str):
        images, self.labels, self.index = load_split(data_dir, split)
        # the read-only memory map itself, (N, H, W, C) uint8: only ever read from (torch warns
        # that it cannot protect it; copy-on-write instead would charge the whole store to the
        # kernel's memory commit, which refuses stores larger than RAM)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self.images = torch.from_numpy(images)
        self.rows = torch.tensor(self.index["store_row"].to_numpy())

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        """One image (3, H, W) and its label for an int; a batch (B, 3, H, W) and labels for a
        list of ints."""
        if np.isscalar(i):
            images = self.images[self.rows[i]].permute(2, 0, 1).clone()  # not a view of the read-only map
        else:
            rows = self.rows[torch.as_tensor(i)]
            # the training process on a GPU machine reads straight into pinned memory, which
            # the copy to the GPU needs: one pass over the batch instead of two, on all cores
            # (index_select splits the rows between threads and releases the GIL)
            pin = get_worker_info() is None and torch.cuda.is_available()
            out = torch.empty((len(rows), *self.images.shape[1:]), dtype=torch.uint8, pin_memory=pin)
            images = torch.index_select(self.images, 0, rows, out=out).permute(0, 3, 1, 2)
        if images.shape[-3] == 1:
            images = images.expand(*images.shape[:-3], 3, -1, -1)
        return images, torch.as_tensor(self.labels[i])


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
