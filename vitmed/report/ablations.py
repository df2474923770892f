"""The paper's ablations as tables: model capacity (Table 4, Figure 3) and patch size (Table 5).

Both are the fine-tuning runs of one init, summarized like Table 1 (median ± std over seeds);
Table 4 adds each model's family, rank within it and parameter count, Table 5 the patch size.
"""
from __future__ import annotations

import pandas as pd

from vitmed.report.tables import ordered, summarize


def _cells(runs: pd.DataFrame, init: str, models: list[str], datasets: list[str]) -> pd.DataFrame:
    summary = summarize(runs[runs["init"] == init], "finetune")
    table = ordered(summary, [init], models, datasets)
    # the classifier head, hence the count, depends on the dataset's classes
    parameters = runs.groupby(["model", "dataset"], as_index=False)["n_parameters"].first()
    return table.merge(parameters, on=["model", "dataset"], how="left")


def capacity_table(runs: pd.DataFrame, capacity: dict[str, list[str]], init: str,
                   datasets: list[str]) -> pd.DataFrame:
    """Every (family, model, dataset) cell of Table 4; ``rank`` orders a family's models by size."""
    models = capacity["cnn"] + capacity["vit"]
    table = _cells(runs, init, models, datasets)
    family = {m: f for f, names in capacity.items() for m in names}
    rank = {m: i for names in capacity.values() for i, m in enumerate(names)}
    return table.assign(family=table["model"].map(family), rank=table["model"].map(rank))


def patch_size_table(runs: pd.DataFrame, patch_sizes: dict[int, str], init: str,
                     datasets: list[str]) -> pd.DataFrame:
    """Every (patch size, dataset) cell of Table 5, largest patches first as in the paper."""
    sizes = sorted(patch_sizes, reverse=True)
    table = _cells(runs, init, [patch_sizes[s] for s in sizes], datasets)
    size_of = {name: size for size, name in patch_sizes.items()}
    table["patch_size"] = table["model"].map(size_of)
    table["model"] = [f"{name} ({size}×{size} patches)" for name, size in zip(table["model"], table["patch_size"])]
    return table


def weights_notes(model_configs: dict[str, dict], models: list[str]) -> list[str]:
    """'<model>: <note>' for each model whose init uses stand-in weights (config weights_note)."""
    return [f"{name}: {model_configs[name]['weights_note']}" for name in models
            if model_configs[name].get("weights_note")]
