"""Does DINO ever wait for its views? DINO epoch time / model compute time, and our multi-crop
views against a per-image PIL multi-crop loader in the style of DINO's reference code.

1. The real DINO step (``vitmed.train.dino.DinoStep``) over one epoch of store batches, their
   views made on the training device by ``MultiCropViews`` (DINO's recipe: crops, flip, jitter,
   grayscale, blur, solarization), against the same steps on views already made and in memory.
   A ratio near 1 means making the views is hidden by compute (target <= 1.10).
2. Views per second: ``MultiCropViews`` on store batches against a DataLoader whose dataset
   decodes each PNG with PIL and applies DINO's per-image torchvision transforms (PIL blur and
   solarization, as ``DataAugmentationDINO``), on the same images (target >= 10x).

    python benchmarks/dino_loop.py                                   # the synthetic study's sizes
    python benchmarks/dino_loop.py --model vit_small_patch16_224 --store-size 256 --global-size 224 \\
        --local-size 96 --local-crops 8 --images 512                 # the paper's, on a GPU
"""
import argparse
import random
import tempfile
from pathlib import Path

import torch
from lightly.loss import DINOLoss
from PIL import Image, ImageFilter, ImageOps
from timing import timed  # benchmarks/timing.py (the script's folder is on the path)
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from vitmed.data.constants import IMAGENET_MEAN, IMAGENET_STD
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import generate
from vitmed.jobs.devices import select_device
from vitmed.jobs.speedups import Speedups
from vitmed.models.factory import create_model
from vitmed.train.dino import DinoNetwork, DinoStep, MultiCropViews, param_groups


class PILMultiCrop(Dataset):
    """DINO's reference data path: one PNG decoded per item, ``DataAugmentationDINO``'s per-image
    transforms on the PIL image (PIL Gaussian blur and solarization), a list of view tensors."""

    def __init__(self, paths: list[str], global_size: int, local_size: int, n_local: int):
        self.paths = paths
        flip_and_jitter = transforms.Compose([
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            transforms.RandomGrayscale(p=0.2)])
        normalize = transforms.Compose([transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

        def blur(p):
            return transforms.RandomApply([transforms.Lambda(
                lambda im: im.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0))))], p=p)

        solarize = transforms.RandomApply([transforms.Lambda(ImageOps.solarize)], p=0.2)
        crop = transforms.RandomResizedCrop
        self.global1 = transforms.Compose([crop(global_size, scale=(0.4, 1.0)), flip_and_jitter, blur(1.0), normalize])
        self.global2 = transforms.Compose([crop(global_size, scale=(0.4, 1.0)), flip_and_jitter, blur(0.1), solarize,
                                           normalize])
        self.local = transforms.Compose([crop(local_size, scale=(0.05, 0.4)), flip_and_jitter, blur(0.5), normalize])
        self.n_local = n_local

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        image = Image.open(self.paths[index]).convert("RGB")
        return [self.global1(image), self.global2(image)] + [self.local(image) for _ in range(self.n_local)]


def dino_config(args) -> dict:
    return {"augment": {"backend": "batched", "crop_scale": [0.4, 1.0], "hflip": 0.5, "vflip": 0.0,
                        "color_jitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1, "p": 0.8},
                        "grayscale_p": 0.2, "blur_sigma": [0.1, 2.0]},
            "global_crops": {"size": args.global_size, "scale": [0.4, 1.0], "blur_p": [1.0, 0.1],
                             "solarize_p": [0.0, 0.2]},
            "local_crops": {"number": args.local_crops, "size": args.local_size, "scale": [0.05, 0.4], "blur_p": 0.5}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="test_vit")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--store-size", type=int, default=36)
    parser.add_argument("--global-size", type=int, default=32)
    parser.add_argument("--local-size", type=int, default=16)
    parser.add_argument("--local-crops", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--pil-workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--views-only", action="store_true", help="part 2 only (no DINO steps)")
    args = parser.parse_args()

    device = select_device()
    cfg = dino_config(args)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_plain_layout(generate("skin_lesions", args.images, args.store_size, seed=0), tmp / "raw")
        raw = read_plain_layout(tmp / "raw")
        build_store(raw, tmp / "store", image_size=args.store_size, ratios={"train": 1.0, "val": 0.0, "test": 0.0},
                    seed=0, metric="macro_recall")
        loader = store_loader(StoreDataset(tmp / "store", "train"), args.batch, shuffle=True, drop_last=True)
        views = MultiCropViews(cfg)

        torch.manual_seed(0)
        kwargs = {"dynamic_img_size": True} if "vit" in args.model or "deit" in args.model else {}  # local views
        backbone = create_model(args.model, 0, None, kwargs)
        head = {"head_hidden_dim": 256, "head_bottleneck_dim": 64, "out_dim": 1024, "freeze_last_layer": 1}
        student = DinoNetwork(backbone, head).to(device)
        teacher = DinoNetwork(create_model(args.model, 0, None, kwargs), head).to(device)
        teacher.load_state_dict(student.state_dict())
        optimizer = torch.optim.AdamW(param_groups(student), lr=1e-4)
        step = DinoStep(student, teacher, DINOLoss(1024).to(device), optimizer, Speedups(), clip_grad=3.0)
        in_memory = [] if args.views_only else [views(images.to(device)) for images, _ in loader]

        def epoch_from_store():
            for images, _ in loader:
                step(views(images.to(device, non_blocking=True)), 0.04, 1, 0.996)

        def epoch_in_memory():
            for crops in in_memory:
                step(crops, 0.04, 1, 0.996)

        def views_from_store():
            for images, _ in loader:
                views(images.to(device, non_blocking=True))

        pil = DataLoader(PILMultiCrop(list(raw.frame["path"]), args.global_size, args.local_size, args.local_crops),
                         batch_size=args.batch, shuffle=True, drop_last=True, num_workers=args.pil_workers)

        def views_from_pil():
            for crops in pil:
                [crop.to(device, non_blocking=True) for crop in crops]

        if not args.views_only:
            epoch_in_memory()  # warm-up
        compute_s = loop_s = ours_s = pil_s = float("inf")
        for _ in range(args.repeats):  # interleaved, best of each: drifting clocks hit both alike
            if not args.views_only:
                compute_s = min(compute_s, timed(epoch_in_memory))
                loop_s = min(loop_s, timed(epoch_from_store))
            ours_s = min(ours_s, timed(views_from_store))
            pil_s = min(pil_s, timed(views_from_pil))

    steps = len(loader)
    n = steps * args.batch
    print(f"{args.model} on {device}, {steps} DINO steps of batch {args.batch}: 2 x {args.global_size}px + "
          f"{args.local_crops} x {args.local_size}px views from a {args.store_size}px store, "
          f"{torch.get_num_threads()} torch threads")
    if not args.views_only:
        print(f"DINO compute only (views in memory) : {compute_s:7.2f} s  ({compute_s / steps * 1000:.1f} ms/step)")
        print(f"DINO epoch (store + views + step)   : {loop_s:7.2f} s  ({loop_s / steps * 1000:.1f} ms/step)")
        print(f"ratio (epoch / compute): {loop_s / compute_s:.3f}   target <= 1.10")
    print(f"multi-crop views, ours (batched)    : {n / ours_s:9.0f} images/s")
    print(f"multi-crop views, per-image PIL     : {n / pil_s:9.0f} images/s ({args.pil_workers} loader workers)")
    print(f"ratio (ours / PIL): {pil_s / ours_s:.1f}x   target >= 10x")


if __name__ == "__main__":
    main()
