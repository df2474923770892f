import os

import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, RandomSampler

from vitmed.data.dataset import StoreBatches, StoreDataset, store_loader
from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import generate


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("loader")
    write_plain_layout(generate("skin_lesions", 50, 12, seed=0), root / "raw")
    build_store(read_plain_layout(root / "raw"), root / "store", image_size=12,
                ratios={"train": 1.0, "val": 0.0, "test": 0.0}, seed=0, metric="macro_recall")
    return root / "store"


class PidLabels(StoreDataset):
    """Labels replaced by the process that read the batch."""

    def __getitem__(self, i):
        images, _ = super().__getitem__(i)
        return images, torch.full((len(images),), os.getpid())


@pytest.mark.parametrize("drop_last", [True, False])
def test_batches_are_random_sampler_order_of_their_generator(drop_last):
    def batches(seed):
        return [list(b) for b in StoreBatches(50, 8, shuffle=True, drop_last=drop_last,
                                              generator=torch.Generator().manual_seed(seed))]
    reference = BatchSampler(RandomSampler(range(50), generator=torch.Generator().manual_seed(3)), 8, drop_last)
    assert batches(3) == list(reference) and batches(3) != batches(4)
    rows = sum(batches(3), [])
    assert len(set(rows)) == len(rows) == (48 if drop_last else 50)
    assert len(StoreBatches(50, 8, shuffle=True, drop_last=drop_last)) == (6 if drop_last else 7)
    assert [list(b) for b in StoreBatches(5, 2, shuffle=False, drop_last=False)] == [[0, 1], [2, 3], [4]]


def test_loader_reads_each_batch_from_the_store(store):
    dataset = StoreDataset(store, "train")
    loader = store_loader(dataset, 16, shuffle=True, generator=torch.Generator().manual_seed(1))
    order = [list(b) for b in StoreBatches(50, 16, shuffle=True, drop_last=False,
                                          generator=torch.Generator().manual_seed(1))]
    for (images, labels), rows in zip(loader, order, strict=True):
        assert images.dtype == torch.uint8 and images.shape == (len(rows), 3, 12, 12)
        for k, row in enumerate(rows):
            single, label = dataset[row]
            torch.testing.assert_close(images[k], single, rtol=0, atol=0)
            assert labels[k] == label


@pytest.mark.parametrize("generator", ["skin_lesions", "mammo_mass"])  # RGB, grayscale
def test_reads_are_the_stored_rows_of_the_split(tmp_path, generator):
    write_plain_layout(generate(generator, 40, 10, seed=0), tmp_path / "raw")
    build_store(read_plain_layout(tmp_path / "raw"), tmp_path / "store", image_size=10,
                ratios={"train": 0.5, "val": 0.25, "test": 0.25}, seed=0, metric="macro_recall")
    stored = np.load(tmp_path / "store" / "images.npy")
    dataset = StoreDataset(tmp_path / "store", "val")
    rows = dataset.index["store_row"].to_numpy()
    assert len(dataset) >= 5 and not np.array_equal(rows, np.arange(len(rows)))  # spread over the store
    expected = torch.from_numpy(stored[rows]).permute(0, 3, 1, 2).expand(-1, 3, -1, -1)
    picks = [len(dataset) - 1, 2, 2, 0]
    images, _ = dataset[picks]
    assert images.shape == (4, 3, 10, 10) and images.dtype == torch.uint8
    torch.testing.assert_close(images, expected[picks], rtol=0, atol=0)
    torch.testing.assert_close(dataset[3][0], expected[3], rtol=0, atol=0)
    dataset[3][0].zero_()  # a single read is the caller's copy: the store stays as it was
    torch.testing.assert_close(dataset[3][0], expected[3], rtol=0, atol=0)


def test_one_loader_keeps_its_workers_and_reshuffles_per_epoch(store):
    loader = store_loader(PidLabels(store, "train"), 10, shuffle=True, num_workers=1)
    dataset, seen = StoreDataset(store, "train"), []
    for seed in (5, 6):
        loader.sampler.generator = torch.Generator().manual_seed(seed)
        images, pids = map(torch.cat, zip(*loader))
        expected = StoreBatches(50, 10, shuffle=True, drop_last=False, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(images, torch.cat([dataset[b][0] for b in expected]), rtol=0, atol=0)
        seen.append(pids.unique().tolist())
    assert len(seen[0]) == 1 and seen[0] == seen[1] and seen[0][0] != os.getpid()
