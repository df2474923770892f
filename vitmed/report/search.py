"""The hyperparameter search's table: every grid point's validation metric, the choice, and the
fixed values the study would otherwise use (``finetune`` and its ``overrides``: Piater et al.'s
Table 5 in their preset), so a published choice can be checked against a search."""
from __future__ import annotations

import pandas as pd

from vitmed.train.finetune import run_hparams

KEYS = ["dataset", "model", "init"]


def fixed_values(finetune: dict, override: dict, init: str, keys: list[str]) -> dict:
    """The values of ``keys`` a run of ``init`` uses without the search (its overrides entry, or
    the study's settings: the random-init or pretrained lr)."""
    hp = run_hparams(finetune, override)
    values = {"lr": hp["lr"]["random" if init == "random" else "pretrained"], "weight_decay": hp["weight_decay"]}
    return {key: values[key] for key in keys}


def search_table(choices: dict[tuple[str, str, str], dict], fixed: dict[tuple[str, str, str], dict]) -> pd.DataFrame:
    """One row per (dataset, model, init, point): its values, validation mean ± std over the
    search's seeds, diverged runs, whether it was chosen and whether it is the fixed setting."""
    rows = []
    for key, choice in choices.items():
        for point in choice["points"]:
            values = {k: point[k] for k in fixed[key]}
            rows.append({**dict(zip(KEYS, key)), **point, "chosen": point["point"] == choice["point"],
                         "fixed": values == fixed[key]})
    return pd.DataFrame(rows)


def _values(values, keys: list[str]) -> str:
    return ", ".join(f"{key} {values[key]:g}" for key in keys)


def search_markdown(table: pd.DataFrame, fixed: dict[tuple[str, str, str], dict], metrics: dict[str, str],
                    applied: bool, over: str, study: str) -> str:
    """Per search: the chosen point and its validation score, the fixed setting and its score
    (where the grid holds it), and whether the two agree."""
    used = "the study's runs use the choice" if applied else "the study's runs keep the fixed values"
    lines = [f"**Hyperparameter search: best mean validation metric over {over}; {used} ({study})**", "",
             "| dataset | model | init | chosen | validation | fixed | its validation | same | diverged |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (dataset, model, init), rows in table.groupby(KEYS, sort=False):
        keys = list(fixed[(dataset, model, init)])
        chosen = rows[rows["chosen"]].iloc[0]
        at_fixed = rows[rows["fixed"]]

        def score(row):
            return f"{row.val_mean:.3f} ± {row.val_std:.3f} (n={row.n_seeds})" if pd.notna(row.val_mean) else "diverged"

        fixed_score = score(at_fixed.iloc[0]) if len(at_fixed) else "not in the grid"
        same, diverged = "yes" if bool(chosen["fixed"]) else "no", int((rows["diverged"] > 0).sum())
        lines.append(f"| {dataset} ({metrics[dataset]}) | {model} | {init} | {_values(chosen, keys)} | "
                     f"{score(chosen)} | {_values(fixed[(dataset, model, init)], keys)} | {fixed_score} | {same} | "
                     f"{diverged} of {len(rows)} |")
    return "\n".join(lines) + "\n"
