"""Hyperparameter search: one fine-tuning run per grid point and repetition, the best mean
validation metric chosen.

Both companion papers choose hyperparameters on validation data before their repetitions:
Palés Huix et al. "a search across four values" of the learning rate, Piater et al. learning
rate x weight decay "with 2 random data splits". A point whose training diverges (a
non-finite loss: too high a learning rate) is a result, not an error: it is recorded, counted
in the table and never chosen.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

from vitmed.train.finetune import finetune_run, run_hparams

log = logging.getLogger(__name__)


def search_run(model_config: dict, weights: str | None, data_dir: str | Path, run_dir: str | Path, *, seed: int,
               hp: dict, override: dict, point: dict, input_size: int, eval_crop: str) -> dict:
    """Fine-tune at one grid point (``point`` replaces ``override``'s values); the result with its
    validation metric, or ``diverged`` with a NaN one. Its weights are not kept: the choice
    reads the validation metric only."""
    run_dir = Path(run_dir)
    try:
        result = finetune_run(model_config, weights, data_dir, run_dir, seed=seed,
                              hp=run_hparams(hp, {**override, **point}), input_size=input_size, eval_crop=eval_crop)
        diverged = False
    except FloatingPointError as error:
        log.warning("%s: diverged, recorded as such: %s", run_dir, error)
        result, diverged = {"val_best": float("nan"), "epochs": None}, True
    for leftover in ("best.pt", "checkpoint.pt"):
        (run_dir / leftover).unlink(missing_ok=True)
    return {"val_best": result["val_best"], "epochs": result["epochs"], "diverged": diverged, **point}


def choose(results: pd.DataFrame, points: dict[str, dict], where: str) -> dict:
    """``results``: one row per search run (``point``, ``seed``, ``val_best``, ``diverged``) of
    one (dataset, model, init). Returns the chosen point's values (``chosen``), its name and a
    summary row per point (mean and std of the validation metric over the seeds). Ties go to
    the earlier point of the grid; a point with a diverged run is never chosen."""
    missing = sorted(set(points) - set(results["point"]))
    if missing:
        raise ValueError(f"{where}: no search runs for points {missing}")
    rows = []
    for name, values in points.items():
        runs = results[results["point"] == name]
        diverged = int(runs["diverged"].sum())
        val = runs["val_best"].to_numpy(dtype=float)
        rows.append({"point": name, **values, "val_mean": float(val.mean()) if not diverged else float("nan"),
                     "val_std": float(val.std(ddof=1)) if len(val) > 1 and not diverged else float("nan"),
                     "n_seeds": len(runs), "diverged": diverged})
    candidates = [row for row in rows if math.isfinite(row["val_mean"])]
    if not candidates:
        raise ValueError(f"{where}: every point of the search diverged ({list(points)}); lower the grid's "
                         "learning rates")
    best = max(candidates, key=lambda row: row["val_mean"])  # max keeps the first of equals: grid order
    return {"chosen": points[best["point"]], "point": best["point"], "points": rows}
