"""Training data path: the prepared store + batched augmentation against a PIL ImageFolder.

Both read the same images and produce the same kind of batch (random resized crop to
``--crop``, flips, colour jitter, normalization). The baseline is the authors' path: decode
and resize full-size PNG files with PIL every epoch through torchvision's ImageFolder and a
per-image ``transforms.v2`` pipeline. Ours reads the uint8 store that ``prepare`` wrote once
(images already resized to ``--store-size``) and augments whole batches. Prints images/s of
both and the ratio.

Each path gets its own loader processes: PIL decoding needs worker processes to keep up
(``--workers``), while reading the store is a memory copy of well under a millisecond per
batch, which worker processes only add inter-process copies to (``--store-workers``, 0 = read
in the training process, what the study's configs do where cores are short).

    python benchmarks/data_pipeline.py [--images 512 --raw-size 512 --workers 0 --store-workers 0]
"""
import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import v2

from vitmed.data.augment import make_augment
from vitmed.data.constants import IMAGENET_MEAN, IMAGENET_STD
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import generate
from vitmed.jobs.devices import select_device

AUGMENT = {"backend": "batched", "crop_scale": [0.35, 1.0], "hflip": 0.5, "vflip": 0.5,
           "color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.2, "hue": 0.05, "p": 0.8}}


def warm_up(loader, transform):
    for images, _labels in loader:  # untimed epoch: worker start-up, CUDA initialisation
        transform(images)


def images_per_second(loader, transform, epochs: int) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seen, start = 0, time.perf_counter()
    for _ in range(epochs):
        for images, _labels in loader:
            seen += len(transform(images))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--raw-size", type=int, default=512, help="side of the raw PNG files")
    parser.add_argument("--store-size", type=int, default=256, help="prepare's resize (the paper: 256)")
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the PIL baseline")
    parser.add_argument("--store-workers", type=int, default=0, help="DataLoader workers reading the store")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed repeat")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the best of each is kept")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = generate("skin_lesions", args.images, args.raw_size, seed=0)
        write_plain_layout(raw, tmp / "raw")
        table = read_plain_layout(tmp / "raw")
        folder = tmp / "imagefolder"  # the same PNG files as class folders, for ImageFolder
        for row in table.frame.itertuples():
            (folder / str(row.label)).mkdir(parents=True, exist_ok=True)
            (folder / str(row.label) / Path(row.path).name).symlink_to(row.path)
        start = time.perf_counter()
        build_store(table, tmp / "store", image_size=args.store_size,
                    ratios={"train": 1.0, "val": 0.0, "test": 0.0}, seed=0, metric="macro_recall")
        prepare_s = time.perf_counter() - start

        baseline = datasets.ImageFolder(folder, transform=v2.Compose([
            v2.PILToTensor(), v2.RandomResizedCrop(args.crop, scale=tuple(AUGMENT["crop_scale"]), antialias=True),
            v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
            v2.RandomApply([v2.ColorJitter(0.3, 0.3, 0.2, 0.05)], p=0.8),
            v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]))
        baseline_loader = DataLoader(baseline, batch_size=args.batch, shuffle=True, num_workers=args.workers,
                                     persistent_workers=args.workers > 0, pin_memory=torch.cuda.is_available())
        ours_loader = store_loader(StoreDataset(tmp / "store", "train"), args.batch, shuffle=True,
                                   num_workers=args.store_workers)
        augment = make_augment(args.crop, AUGMENT)
        # both paths end with the batch on the training device; ours augments it there
        device = select_device()

        paths = {"pil": (baseline_loader, lambda x: x.to(device)),
                 "ours": (ours_loader, lambda x: augment(x.to(device, non_blocking=True)))}
        torch.manual_seed(0)
        for loader, transform in paths.values():
            warm_up(loader, transform)
        best = dict.fromkeys(paths, 0.0)
        for _ in range(args.repeats):  # interleaved, best of each: a busy moment of the machine hits both alike
            for name, (loader, transform) in paths.items():
                best[name] = max(best[name], images_per_second(loader, transform, args.epochs))
        pil, ours = best["pil"], best["ours"]

    print(f"{args.images} RGB images {args.raw_size}px -> crops {args.crop}px, batch {args.batch}, "
          f"loader workers: PIL {args.workers}, store {args.store_workers}; {torch.get_num_threads()} torch "
          f"threads, device {device}")
    print(f"prepare (once): {prepare_s:.1f} s")
    print(f"PIL ImageFolder + v2 per image : {pil:8.1f} images/s")
    print(f"store + batched augmentation   : {ours:8.1f} images/s")
    print(f"ratio (ours / PIL): {ours / pil:.1f}x   target >= 10x")


if __name__ == "__main__":
    main()
