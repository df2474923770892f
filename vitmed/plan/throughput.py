"""Images/s per model at a study's input size, on this machine's device: one training step
(forward, backward, Adam) and inference on random batches; for the segmentation encoders also
DeepLabV3 on them at the segmentation input size (``task`` column). The ``throughput`` rule writes
it for ``python -m vitmed.plan``; ``plan.throughput`` in the config overrides classification
rows per model."""
from __future__ import annotations

import time

import pandas as pd
import torch

from vitmed.jobs.devices import select_device
from vitmed.models.factory import build_model
from vitmed.models.segmentation import build_segmenter


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


def measure_model(model_cfg: dict, input_size: int, device: torch.device, batch: int, repeats: int,
                  task: str = "classification") -> dict:
    """Classification: the timm model with a 10-class head; segmentation: DeepLabV3 on it, 2
    classes, pixel cross-entropy."""
    if task == "segmentation":
        model = build_segmenter(model_cfg, 2, None, input_size=input_size).to(device)
        labels = torch.randint(0, 2, (batch, input_size, input_size), device=device)
    else:
        model = build_model(model_cfg, 10).to(device)
        labels = torch.randint(0, 10, (batch,), device=device)
    images = torch.randn(batch, 3, input_size, input_size, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def logits():
        out = model(images)
        return out["out"] if task == "segmentation" else out

    def train_step():
        loss = torch.nn.functional.cross_entropy(logits(), labels)
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


def measure(models: dict[str, dict], input_size: int, batch: int, repeats: int,
            segmenters: dict[str, dict] | None = None, segmentation_size: int = 512,
            segmentation_batch: int = 16) -> pd.DataFrame:
    """One row per model and task: model, task, train_images_per_s, infer_images_per_s,
    input_size, batch, device."""
    device = select_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    # a model with its own input size (ablations.resolution) at that size
    jobs = [(model, cfg, "classification", cfg.get("input_size") or input_size, batch) for model, cfg in models.items()]
    jobs += [(model, cfg, "segmentation", segmentation_size, segmentation_batch)
             for model, cfg in (segmenters or {}).items()]
    rows = [{"model": model, "task": task, **measure_model(cfg, size, device, n, repeats, task),
             "input_size": size, "batch": n, "device": name} for model, cfg, task, size, n in jobs]
    return pd.DataFrame(rows)


def with_overrides(measured: pd.DataFrame | None, overrides: dict[str, dict]) -> pd.DataFrame:
    """``measured`` with the classification rows of the models of ``overrides`` (plan.throughput)
    replaced or added."""
    columns = ["model", "task", "train_images_per_s", "infer_images_per_s"]
    if measured is not None and "task" not in measured.columns:  # a file written before segmentation
        measured = measured.assign(task="classification")
    kept = (measured[~(measured["model"].isin(list(overrides)) & (measured["task"] == "classification"))]
            if measured is not None else pd.DataFrame(columns=columns))
    given = pd.DataFrame([{"model": m, "task": "classification", **v, "device": "config"}
                          for m, v in overrides.items()])
    return pd.concat([kept, given], ignore_index=True) if len(given) else kept.reset_index(drop=True)
