"""Our results beside the paper's, and CNN-vs-ViT significance over seeds.

``published.csv`` holds the paper's Tables 1, 2, 3, 4 and 5 (median and std over 5 seeds).
``compare_with_published`` puts each of our (dataset, model, init, protocol) medians next to
the published one: the difference and whether ours falls within the published std.
``welch_tests`` runs Welch's unequal-variance t-test over seeds for every CNN-vs-ViT pair at
equal dataset, init and protocol (the statistics of "When Medical Imaging Met Self-Attention").
"""
from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from vitmed.report.tables import summarize

PUBLISHED = Path(__file__).with_name("published.csv")
KEYS = ["dataset", "model", "init", "protocol"]


def load_published(path: str | Path = PUBLISHED) -> pd.DataFrame:
    return pd.read_csv(path, comment="#", dtype={"patch_size": "Int64"})


def compare_with_published(summary: pd.DataFrame, published: pd.DataFrame,
                           patch_sizes: dict[int, str] | None = None) -> pd.DataFrame:
    """``summary``: our cells (dataset, model, init, protocol, median, std, n_seeds). Cells the
    paper does not report are left out; the paper's cells we did not run are kept, ours NaN.
    ``patch_sizes`` (patch side -> our model) maps Table 5's DeiT-S rows to our models."""
    paper = published[published["table"].isin(["table1", "table2", "table3", "table4"])]
    if patch_sizes:
        table5 = published[(published["table"] == "table5") & published["patch_size"].isin(list(patch_sizes))]
        paper = pd.concat([paper, table5.assign(model=table5["patch_size"].map(patch_sizes))])
    paper = (paper.drop_duplicates(KEYS)  # Tables 1, 4 and 5 share the ImageNet ResNet50/DeiT-S cells
             .rename(columns={"median": "paper_median", "std": "paper_std"}))
    ours = summary[[*KEYS, "median", "std", "n_seeds"]]
    table = paper[["table", *KEYS, "paper_median", "paper_std"]].merge(ours, on=KEYS, how="left")
    table["difference"] = table["median"] - table["paper_median"]
    table["within_paper_std"] = (table["difference"].abs() <= table["paper_std"]).where(table["median"].notna())
    return table


def deterministic(a: np.ndarray, b: np.ndarray) -> bool:
    """Both sides constant over seeds (e.g. the k-NN of one pretrained encoder, the same for
    every seed): exactly equal values, as ``np.std`` of equal floats need not be 0."""
    return bool(np.ptp(a) == 0 and np.ptp(b) == 0)


def welch_t(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Welch's unequal-variance t of ``a`` against ``b`` and its two-sided p; NaN for fewer than
    two values on a side, or no variance on either side (``deterministic``)."""
    if len(a) < 2 or len(b) < 2 or deterministic(a, b):
        return float("nan"), float("nan")
    t, p = stats.ttest_ind(a, b, equal_var=False)
    return float(t), float(p)


def welch_tests(runs: pd.DataFrame, families: dict[str, str]) -> pd.DataFrame:
    """One row per (dataset, init, protocol, CNN, ViT): means, Welch's t and two-sided p."""
    cnns = [m for m, f in families.items() if f == "cnn"]
    vits = [m for m, f in families.items() if f == "vit"]
    rows = []
    for (dataset, init, protocol), cell in runs.groupby(["dataset", "init", "protocol"], sort=False):
        for cnn, vit in product(cnns, vits):
            a = cell.loc[cell["model"] == cnn, "value"].to_numpy()
            b = cell.loc[cell["model"] == vit, "value"].to_numpy()
            if len(a) < 2 or len(b) < 2:
                continue  # a t-test needs two seeds on each side
            t, p = welch_t(a, b)
            rows.append({"dataset": dataset, "init": init, "protocol": protocol, "cnn": cnn, "vit": vit,
                         "cnn_mean": a.mean(), "vit_mean": b.mean(), "n_cnn": len(a), "n_vit": len(b),
                         "t": float(t), "p_value": float(p), "deterministic": deterministic(a, b)})
    return pd.DataFrame(rows, columns=["dataset", "init", "protocol", "cnn", "vit", "cnn_mean", "vit_mean",
                                       "n_cnn", "n_vit", "t", "p_value", "deterministic"])


def comparison_markdown(table: pd.DataFrame, study: str) -> str:
    lines = [f"**Ours ({study}) beside the published numbers (median ± std over seeds)**", "",
             "| table | protocol | dataset | init | model | ours | paper | difference | within paper std |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        ours = f"{row.median:.3f} ± {row.std:.3f}" if pd.notna(row.median) else "not run"
        diff = f"{row.difference:+.3f}" if pd.notna(row.difference) else "–"
        within = {True: "yes", False: "no"}.get(row.within_paper_std, "–")
        lines.append(f"| {row.table} | {row.protocol} | {row.dataset} | {row.init} | {row.model} | {ours} | "
                     f"{row.paper_median:.3f} ± {row.paper_std:.3f} | {diff} | {within} |")
    return "\n".join(lines) + "\n"


def welch_markdown(tests: pd.DataFrame, study: str) -> str:
    lines = [
        f"**CNN vs ViT, Welch's t-test over seeds ({study})**",
        "",
        "| dataset | init | protocol | CNN | ViT | CNN mean | ViT mean | t | p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in tests.itertuples():
        test = "n/a (deterministic) | n/a" if row.deterministic else f"{row.t:.2f} | {row.p_value:.3g}"
        lines.append(f"| {row.dataset} | {row.init} | {row.protocol} | {row.cnn} | {row.vit} | {row.cnn_mean:.3f} | "
                     f"{row.vit_mean:.3f} | {test} |")
    return "\n".join(lines + ["", "*n/a (deterministic): both models score the same on every seed (a "
                               "pretrained encoder evaluated without training): nothing to test.*"]) + "\n"


def published_comparison(runs: pd.DataFrame, patch_sizes: dict[int, str]) -> pd.DataFrame:
    """Our fine-tuning, segmentation and k-NN medians (runs.parquet) beside the paper's published cells."""
    summary = pd.concat([summarize(runs, protocol).assign(protocol=protocol)
                         for protocol in ("finetune", "segmentation", "knn")])
    return compare_with_published(summary, load_published(), patch_sizes)
