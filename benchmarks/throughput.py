"""Images/s per model at a study's input size: one training step (forward, backward, Adam) and
inference, measured on this machine's device. Writes the CSV that ``python -m vitmed.plan
--throughput`` reads.

    python benchmarks/throughput.py --configfile config.yaml --out throughput.csv [--batch 64]
"""
import argparse
import time
from pathlib import Path

import pandas as pd
import torch
import yaml
from snakemake.utils import validate

from vitmed.devices import select_device
from vitmed.models import create_model

ROOT = Path(__file__).resolve().parents[1]


def images_per_second(step, batch: int, device, repeats: int) -> float:
    step()  # warm-up (cudnn autotuning, allocations)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * repeats / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, default=ROOT / "config.yaml")
    parser.add_argument("--out", type=Path, default=Path("throughput.csv"))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = yaml.safe_load(args.configfile.read_text())
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    device, size = select_device(), config["input_size"]
    rows = []
    for name, cfg in config["models"].items():
        model = create_model(cfg["timm_name"], 10, None, cfg["kwargs"]).to(device)
        images = torch.randn(args.batch, 3, size, size, device=device)
        labels = torch.randint(0, 10, (args.batch,), device=device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def train_step():
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        @torch.no_grad()
        def infer_step():
            model(images)

        model.train()
        train = images_per_second(train_step, args.batch, device, args.repeats)
        model.eval()
        infer = images_per_second(infer_step, args.batch, device, args.repeats)
        rows.append({"model": name, "train_images_per_s": round(train, 1), "infer_images_per_s": round(infer, 1),
                     "input_size": size, "batch": args.batch, "device": str(torch.cuda.get_device_name(device)
                                                                            if device.type == "cuda" else "cpu")})
        print(rows[-1], flush=True)
    pd.DataFrame(rows).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
