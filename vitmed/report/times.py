"""Palés Huix et al.'s Figure 3: training and inference time of each foundation and scenario,
relative to the baseline (ImNet-1k-Sup), measured by the fine-tuning runs themselves.

Training time is the optimizer steps to the best validation epoch (``best_iteration``: the
checkpoint that is kept), inference time the test pass's seconds per image
(``seconds_per_image``). Each is the median over seeds, divided by the baseline's median on the
same dataset, then averaged over datasets ("normalized across datasets").
"""
from __future__ import annotations

import pandas as pd

from vitmed.report.ablations import SCENARIOS

MEASURES = {"best_iteration": "iterations_relative", "seconds_per_image": "inference_relative"}


def times_table(runs: pd.DataFrame, models: list[str], scenarios: dict[str, tuple[str, str]], baseline: str,
                init: str, datasets: list[str]) -> pd.DataFrame:
    """One row per model (``models``, each unfrozen with a linear head, and the scenario variants
    ``scenarios``: variant -> (foundation, protocol)): its foundation, scenario, classifier and
    the two measures relative to ``baseline``."""
    names = list(dict.fromkeys([*models, *scenarios]))
    tuned = runs[(runs["protocol"] == "finetune") & (runs["init"] == init) & runs["dataset"].isin(datasets)
                 & runs["model"].isin(names)]
    medians = tuned.groupby(["model", "dataset"])[list(MEASURES)].median()
    missing = [(m, d) for m in names for d in datasets if (m, d) not in medians.index]
    if missing:
        raise ValueError(f"times: no {init} fine-tuning of {missing} in runs.parquet")
    unmeasured = medians[medians.isna().any(axis=1)]
    if len(unmeasured):
        raise ValueError(f"times: runs without best_iteration / seconds_per_image: {list(unmeasured.index)} "
                         "(fine-tuned before vitmed recorded them: rerun them)")
    relative = medians / medians.loc[baseline].reindex(medians.index, level="dataset")
    averaged = relative.groupby(level="model").mean().rename(columns=MEASURES)
    labels = {protocol: (scenario, classifier) for scenario, classifier, protocol in SCENARIOS}
    rows = []
    for name in names:
        foundation, protocol = scenarios.get(name, (name, "finetune"))
        scenario, classifier = labels[protocol]
        rows.append({"model": name, "foundation": foundation, "scenario": scenario, "classifier": classifier,
                     **averaged.loc[name].to_dict(), "n_datasets": len(datasets)})
    return pd.DataFrame(rows)


def times_markdown(table: pd.DataFrame, baseline: str, study: str) -> str:
    lines = [f"**Training and inference time relative to {baseline}, median over seeds, mean over "
             f"{table['n_datasets'].iloc[0]} datasets ({study})**", "",
             "| foundation | scenario | classifier | steps to the best epoch | inference s / image |",
             "|---|---|---|---|---|"]
    lines += [f"| {row.foundation} | {row.scenario} | {row.classifier} | {row.iterations_relative:.2f} × | "
              f"{row.inference_relative:.2f} × |" for row in table.itertuples()]
    return "\n".join(lines) + "\n"
