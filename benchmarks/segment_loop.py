"""Does DeepLabV3 ever wait for data? Segmentation epoch time / pure model compute time.

Times one epoch of the real segmentation loop (``vitmed.train.segment.segment_epoch``: store ->
DataLoader -> joint image-and-mask augmentation with elastic deformation -> forward, backward,
Adam step), then the same steps on batches already augmented and in memory. A ratio near 1
means the data path is hidden by compute. On CPU both share the cores: the worst case.

    python benchmarks/segment_loop.py [--model resnet50 --size 512 --images 64]
    python benchmarks/segment_loop.py --model test_resnet --size 512 --images 64   # CPU-sized
"""
import argparse
import json
import tempfile
from pathlib import Path

import torch
from timing import timed  # benchmarks/timing.py (the script's folder is on the path)
from torch import nn

from vitmed.data.augment import SegmentationAugment
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import generate
from vitmed.jobs.devices import select_device
from vitmed.models.segmentation import build_segmenter
from vitmed.train.segment import segment_epoch

AUGMENT = {"crop_scale": [0.35, 1.0], "hflip": 0.5, "vflip": 0.5,
           "color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05, "p": 0.8}}
ELASTIC = {"p": 0.5, "alpha": 50.0, "sigma": 5.0}  # CSAW-S's: the most costly path


class Replay(nn.Module):
    """Batches that are already augmented: the augmentation step passes them through."""

    def forward(self, images, masks):
        return images, masks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--family", choices=["cnn", "vit"], default=None, help="default: vit for ViT names")
    parser.add_argument("--kwargs", default="{}", help="timm create_model kwargs as JSON")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    family = args.family or ("vit" if any(k in args.model for k in ("vit", "deit")) else "cnn")

    device = select_device()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_plain_layout(generate("mass_masks", args.images, args.size, seed=0), tmp / "raw")
        build_store(read_plain_layout(tmp / "raw"), tmp / "store", image_size=args.size,
                    ratios={"train": 1.0, "val": 0.0, "test": 0.0}, seed=0, metric="iou")
        loader = store_loader(StoreDataset(tmp / "store", "train"), args.batch, shuffle=True, drop_last=True)
        torch.manual_seed(0)
        model = build_segmenter({"timm_name": args.model, "family": family, "kwargs": json.loads(args.kwargs)}, 2,
                                None, input_size=args.size).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        augment = SegmentationAugment(args.size, AUGMENT, ELASTIC)
        in_memory = [augment(images.to(device), masks.to(device)) for images, masks in loader]

        def epoch(batches, step_augment):
            return segment_epoch(model, batches, step_augment, opt, lambda: 1e-4, {"iteration": 0})

        epoch(in_memory[:1], Replay())  # warm-up
        compute_s, loop_s = float("inf"), float("inf")
        for _ in range(args.repeats):  # interleaved, best of each: drifting clocks hit both alike
            compute_s = min(compute_s, timed(lambda: epoch(in_memory, Replay())))
            loop_s = min(loop_s, timed(lambda: epoch(loader, augment)))

    steps = len(in_memory)
    print(f"DeepLabV3-{args.model} on {device}, {steps} steps of batch {args.batch} at {args.size}px, elastic p "
          f"{ELASTIC['p']}, {torch.get_num_threads()} torch threads")
    print(f"model compute only (batches in memory)     : {compute_s:7.2f} s  ({compute_s / steps * 1000:.1f} ms/step)")
    print(f"segmentation loop (store + joint augment)  : {loop_s:7.2f} s  ({loop_s / steps * 1000:.1f} ms/step)")
    print(f"ratio (loop / compute): {loop_s / compute_s:.3f}   target <= 1.10")


if __name__ == "__main__":
    main()
