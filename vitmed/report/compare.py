"""Our results beside the paper's, and CNN-vs-ViT significance over seeds.

Each paper's published numbers are a file (``PUBLISHED``): ``published.csv`` holds the ViT
paper's Tables 1, 2, 3, 4 and 5, ``published_foundation.csv`` the foundation-model paper's Tables
1, 2 and 3 (median and std over 5 repetitions), ``published_self_attention.csv`` the
self-attention paper's Table 2 (mean and std over 10 data splits). ``compare_with_published`` puts each of our
(dataset, model, init, protocol) medians next to the published one: the difference and whether
ours falls within the published std.
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

# the paper a study reproduces (config ``paper``, the schema's enum) -> its published numbers, and over how many
# repetitions each published std was taken (seeds; data splits for the self-attention paper)
PUBLISHED = {paper: Path(__file__).with_name(name) for paper, name in (
    ("vit", "published.csv"), ("foundation", "published_foundation.csv"),
    ("self_attention", "published_self_attention.csv"))}
PUBLISHED_REPETITIONS = {"vit": 5, "foundation": 5, "self_attention": 10}
KEYS = ["dataset", "model", "init", "protocol"]


def load_published(paper: str = "vit") -> pd.DataFrame:
    if paper not in PUBLISHED:
        raise ValueError(f"no published numbers for paper {paper!r}; known: {sorted(PUBLISHED)}")
    return pd.read_csv(PUBLISHED[paper], comment="#", dtype={"patch_size": "Int64"})


def compare_with_published(summary: pd.DataFrame, published: pd.DataFrame,
                           patch_sizes: dict[int, str] | None = None) -> pd.DataFrame:
    """``summary``: our cells (dataset, model, init, protocol, median, std, n_seeds). Cells the
    paper does not report are left out; the paper's cells we did not run are kept, ours NaN.
    ``patch_sizes`` (patch side -> our model) maps the rows of a patch-size ablation (a cell
    published at several patch sizes: the ViT paper's Table 5) to our models; without a model for
    its patch size, such a row is left out."""
    by_patch = published.groupby(["table", *KEYS])["patch_size"].transform("nunique") > 1
    paper = published[~by_patch]
    if patch_sizes:
        patches = published[by_patch & published["patch_size"].isin(list(patch_sizes))]
        paper = pd.concat([paper, patches.assign(model=patches["patch_size"].map(patch_sizes))])
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


def welch_t_from_stats(a: tuple[float, float, int], b: tuple[float, float, int]) -> tuple[float, float]:
    """Welch's t and two-sided p from two published (mean, std, n); NaN where both stds are 0."""
    if a[1] == 0 and b[1] == 0:
        return float("nan"), float("nan")
    t, p = stats.ttest_ind_from_stats(*a, *b, equal_var=False)
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
        paper = f"{row.paper_median:.3f}" + (f" ± {row.paper_std:.3f}" if pd.notna(row.paper_std) else "")
        lines.append(f"| {row.table} | {row.protocol} | {row.dataset} | {row.init} | {row.model} | {ours} | "
                     f"{paper} | {diff} | {within} |")
    return "\n".join(lines) + "\n"


def welch_markdown(tests: pd.DataFrame, study: str, over: str = "seeds") -> str:
    """``over``: what the repetitions vary (config ``repetitions``; segmentation's are seeds)."""
    where = "" if over == "seeds" else "; segmentation over seeds"
    lines = [
        f"**CNN vs ViT, Welch's t-test over {over}{where} ({study})**",
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


def with_scenarios(runs: pd.DataFrame, scenarios: dict[str, tuple[str, str]] | None) -> pd.DataFrame:
    """The fine-tuning runs of each foundation-scenario variant (``scenarios``: variant -> (base,
    protocol), vitmed.study.Study.scenario_variants) once more as its base's protocol: a frozen
    encoder with a linear head ``frozen_linear``, with an appended classifier ``frozen_appended``,
    an unfrozen one with it ``appended`` (the foundation paper's Tables 1 and 2)."""
    scenarios = scenarios or {}
    variants = runs[runs["model"].isin(list(scenarios)) & (runs["protocol"] == "finetune")]
    if variants.empty:
        return runs
    return pd.concat([runs, variants.assign(model=variants["model"].map(lambda m: scenarios[m][0]),
                                            protocol=variants["model"].map(lambda m: scenarios[m][1]))],
                     ignore_index=True)


def published_comparison(runs: pd.DataFrame, patch_sizes: dict[int, str], paper: str = "vit",
                         scenarios: dict[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """Our medians (runs.parquet) of every protocol the paper publishes beside its published cells
    (``scenarios``: the foundation-scenario variants, ``with_scenarios``)."""
    published = load_published(paper)
    runs = with_scenarios(runs, scenarios)
    protocols = [p for p in published["protocol"].unique() if p in set(runs["protocol"])]
    summary = pd.concat([summarize(runs, protocol).assign(protocol=protocol) for protocol in protocols]) \
        if protocols else pd.DataFrame(columns=[*KEYS, "median", "std", "n_seeds"])
    return compare_with_published(summary, published, patch_sizes)
