"""Collect per-job metric files into the tidy run table (runs.parquet)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

COLUMNS = ["dataset", "model", "init", "seed", "protocol", "metric", "value", "weights", "n_parameters"]
# segmentation's per-image mean IoU and Dice, recorded beside its dataset-level IoU; a fine-tuning's
# optimizer steps to its best validation epoch and test inference seconds per image (NaN elsewhere)
OPTIONAL = ["mean_iou", "dice", "best_iteration", "seconds_per_image"]


def collect_runs(metric_files: list[str | Path]) -> pd.DataFrame:
    """Each file holds one run (fine-tuning) or a list of runs (k-NN, one per seed)."""
    rows = []
    for path in metric_files:
        content = json.loads(Path(path).read_text())
        for run in content if isinstance(content, list) else [content]:
            missing = [c for c in COLUMNS if c not in run]
            if missing:
                raise ValueError(f"{path}: metrics lack {missing}")
            rows.append({**{c: run[c] for c in COLUMNS}, **{c: run.get(c, float("nan")) for c in OPTIONAL}})
    runs = pd.DataFrame(rows, columns=COLUMNS + OPTIONAL)
    duplicated = runs.duplicated(["dataset", "model", "init", "seed", "protocol"])
    if duplicated.any():
        raise ValueError(f"duplicate runs: {runs[duplicated].head().to_dict('records')}")
    return runs.astype({"seed": "int64", "value": "float64", "n_parameters": "int64",
                        **dict.fromkeys(OPTIONAL, "float64")})
