"""Does the model ever wait for data? Fine-tuning epoch time / pure model compute time.

Times one epoch of the real training loop (``vitmed.train.finetune.train_epoch``: store -> DataLoader ->
batched augmentation -> forward, backward, optimizer step), then the same number of steps on
batches that are already augmented and in memory. A ratio near 1 means data loading is hidden
by compute. On CPU both share the same cores, so this is the worst case; on a GPU the
augmentation runs on the device.

    python benchmarks/finetune_loop.py [--model resnet18 --store-size 256 --input 224 --images 128]
    python benchmarks/finetune_loop.py --model test_vit --kwargs '{"img_size": 32, "patch_size": 8}' \\
        --store-size 36 --input 32 --images 2048       # the synthetic study's sizes
"""
import argparse
import json
import tempfile
from pathlib import Path

import torch
from timing import timed  # benchmarks/timing.py (the script's folder is on the path)
from torch import nn

from vitmed.data.augment import make_augment
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import generate
from vitmed.jobs.devices import select_device
from vitmed.models.factory import create_model
from vitmed.train.finetune import train_epoch

AUGMENT = {"backend": "batched", "crop_scale": [0.35, 1.0], "hflip": 0.5, "vflip": 0.5,
           "color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.2, "hue": 0.05, "p": 0.8}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--kwargs", default="{}", help="timm create_model kwargs as JSON")
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--store-size", type=int, default=256)
    parser.add_argument("--input", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    device = select_device()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_plain_layout(generate("skin_lesions", args.images, args.store_size, seed=0), tmp / "raw")
        build_store(read_plain_layout(tmp / "raw"), tmp / "store", image_size=args.store_size,
                    ratios={"train": 1.0, "val": 0.0, "test": 0.0}, seed=0, metric="macro_recall")
        dataset = StoreDataset(tmp / "store", "train")
        loader = store_loader(dataset, args.batch, shuffle=True, drop_last=True, num_workers=args.workers)
        torch.manual_seed(0)
        model = create_model(args.model, 8, None, json.loads(args.kwargs)).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        augment, criterion = make_augment(args.input, AUGMENT), nn.CrossEntropyLoss()
        # the compute-only run replays augmented batches that are already on the device
        in_memory = [(augment(images.to(device)), labels.to(device)) for images, labels in loader]

        def state():
            return {"iteration": 0}

        train_epoch(model, in_memory[:2], nn.Identity(), criterion, opt, lambda: 1e-4, state())  # warm-up
        compute_s, loop_s = float("inf"), float("inf")
        for _ in range(args.repeats):  # interleaved, best of each: drifting clocks hit both alike
            compute_s = min(compute_s, timed(lambda: train_epoch(model, in_memory, nn.Identity(), criterion, opt,
                                                                 lambda: 1e-4, state())))
            loop_s = min(loop_s, timed(lambda: train_epoch(model, loader, augment, criterion, opt,
                                                           lambda: 1e-4, state())))

    steps = len(in_memory)
    print(f"{args.model} on {device}, {steps} steps of batch {args.batch}, store {args.store_size}px -> "
          f"input {args.input}px, {args.workers} loader workers, {torch.get_num_threads()} torch threads")
    print(f"model compute only (batches in memory) : {compute_s:7.2f} s  ({compute_s / steps * 1000:.1f} ms/step)")
    print(f"training loop (store + augmentation)   : {loop_s:7.2f} s  ({loop_s / steps * 1000:.1f} ms/step)")
    print(f"ratio (loop / compute): {loop_s / compute_s:.3f}   target <= 1.10")


if __name__ == "__main__":
    main()
