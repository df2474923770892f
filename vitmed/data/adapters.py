"""Adapters from publishers' raw layouts to a ``RawTable`` (see vitmed.data.raw).

``locate_raw`` records where a real dataset's raw folder is; ``read_raw`` dispatches on the
dataset's ``source``. Downloading (issue 4) will fill ``raw_dir`` when it is null.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from vitmed.data.raw import RawTable, read_plain_layout

APTOS_GRADES = ["No DR", "Mild", "Moderate", "Severe", "Proliferative DR"]


def require_columns(frame: pd.DataFrame, columns: list[str], manifest: str | Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{manifest}: missing column(s) {missing}; found {list(frame.columns)}")


def read_aptos2019(raw_dir: str | Path) -> tuple[RawTable, str]:
    """APTOS2019: ``train.csv`` (id_code, diagnosis 0-4) + ``train_images/<id_code>.png``."""
    raw_dir = Path(raw_dir)
    manifest = raw_dir / "train.csv"
    table = pd.read_csv(manifest, dtype={"id_code": str})
    require_columns(table, ["id_code", "diagnosis"], manifest)
    frame = pd.DataFrame({
        "sample_id": table["id_code"],
        "group_id": None,
        "path": [str(raw_dir / "train_images" / f"{i}.png") for i in table["id_code"]],
        "label": table["diagnosis"],
    })
    return RawTable(frame, ["label"], list(APTOS_GRADES), "multiclass", 3), str(manifest)


READERS = {"aptos2019": read_aptos2019}


def locate_raw(name: str, cfg: dict) -> dict:
    raw_dir = cfg.get("raw_dir")
    if not raw_dir:
        raise FileNotFoundError(
            f"datasets.{name}.raw_dir is not set and automatic download of '{cfg['source']}' is "
            f"not available yet: download the dataset and set datasets.{name}.raw_dir to its folder")
    if not Path(raw_dir).is_dir():
        raise FileNotFoundError(f"datasets.{name}.raw_dir: no such folder: {raw_dir}")
    return {"source": cfg["source"], "raw_dir": str(Path(raw_dir).resolve())}


def read_raw(cfg: dict, raw_record: str | Path) -> tuple[RawTable, str, pd.Series | None]:
    """Return the raw table, the manifest named in errors, and official splits (or None)."""
    if cfg["source"] == "synthetic":
        raw_dir = Path(raw_record).parent
        return read_plain_layout(raw_dir), str(raw_dir / "labels.csv"), None
    record = json.loads(Path(raw_record).read_text())
    if cfg["source"] not in READERS:
        raise NotImplementedError(f"no adapter for source '{cfg['source']}' yet (supported: "
                                  f"{sorted(READERS)} and synthetic)")
    raw, manifest = READERS[cfg["source"]](record["raw_dir"])
    return raw, manifest, None
