"""Images/s per model at a study's input size, on this machine's device: one training step
(forward, backward, Adam) and inference on random batches. The ``throughput`` rule writes it
for ``python -m vitmed.plan``; ``plan.throughput`` in the config overrides it per model."""
from __future__ import annotations

import time

import pandas as pd
import torch

from vitmed.jobs.devices import select_device
from vitmed.models.factory import build_model


def images_per_second(step, batch: int, device: torch.device, repeats: int) -> float:
    step()  # warm-up: cudnn autotuning, allocations
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * repeats / (time.perf_counter() - start)


def measure_model(model_cfg: dict, input_size: int, device: torch.device, batch: int, repeats: int) -> dict:
    model = build_model(model_cfg, 10).to(device)
    images = torch.randn(batch, 3, input_size, input_size, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
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
    train = images_per_second(train_step, batch, device, repeats)
    model.eval()
    infer = images_per_second(infer_step, batch, device, repeats)
    return {"train_images_per_s": round(train, 1), "infer_images_per_s": round(infer, 1)}


def measure(models: dict[str, dict], input_size: int, batch: int, repeats: int) -> pd.DataFrame:
    """One row per model: model, train_images_per_s, infer_images_per_s, input_size, batch, device."""
    device = select_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    rows = [{"model": model, **measure_model(cfg, input_size, device, batch, repeats),
             "input_size": input_size, "batch": batch, "device": name} for model, cfg in models.items()]
    return pd.DataFrame(rows)


def with_overrides(measured: pd.DataFrame | None, overrides: dict[str, dict]) -> pd.DataFrame:
    """``measured`` with the models of ``overrides`` (plan.throughput) replaced or added."""
    columns = ["model", "train_images_per_s", "infer_images_per_s"]
    kept = measured[~measured["model"].isin(list(overrides))] if measured is not None else pd.DataFrame(columns=columns)
    given = pd.DataFrame([{"model": m, **v, "device": "config"} for m, v in overrides.items()])
    return pd.concat([kept, given], ignore_index=True) if len(given) else kept.reset_index(drop=True)
