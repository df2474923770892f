"""Claims check: the findings the papers state in words, evaluated on a study's runs.

``claims.csv`` (data) lists each finding as a comparison of result cells: two selections of
(model, init) on one protocol, a relation and a scope over datasets. ``check_claims`` evaluates
every claim on a runs table: per dataset, the medians over seeds, their difference (the effect),
Welch's t-test over seeds where both sides have at least two, and the relation's verdict; the scope
combines the datasets. The same code evaluated on the paper's published medians
(``published_runs``) gives the "as published" column: a claim its own numbers do not support shows.

Relations: ``greater`` (A's median above B's), ``at_least`` (above, or on par), ``on_par`` (not
significantly different at ``ALPHA`` where seeds allow a test, else within the larger std),
``gains_more`` (A's gain from ``init_b`` to ``init_a`` above B's), ``no_variant_significantly_greater``
(no self-attention variant's mean significantly above its base CNN's, Welch p < ``ALPHA``, as
Piater et al. test). A family selection takes the family's best model by median on each dataset and
init: the paper compares its CNNs with its ViTs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vitmed.report.compare import load_published, welch_t

CLAIMS = Path(__file__).with_name("claims.csv")
ALPHA = 0.05  # none of the papers states a level for these findings; Piater et al. test at 0.05
VERDICTS = ("holds", "does not hold", "not run in this study")
# the ViT paper's Table 1 models (a family selection compares these; the ablations name theirs), for
# its published numbers
PAPER_FAMILIES = {"Inception": "cnn", "ResNet50": "cnn", "DeiT-S": "vit", "SWIN-T": "vit"}
PAPER_CAPACITY = {"cnn": ["ResNet18", "ResNet50", "ResNet152"], "vit": ["DeiT-T", "DeiT-S", "DeiT-B"]}
PAPER_PATCH_SIZES = {16: "DeiT-S", 8: "DeiT-S-p8"}


def load_claims(path: str | Path = CLAIMS) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


def published_runs(published: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's medians (Tables 1-5) as a runs table, one pseudo-seed per cell, with its std."""
    published = load_published() if published is None else published
    rows = published.assign(model=np.where(published["patch_size"].eq(8).fillna(False), "DeiT-S-p8",
                                           published["model"]))
    rows = rows.drop_duplicates(["dataset", "model", "init", "protocol"])
    return rows.rename(columns={"median": "value"}).assign(seed=0)[
        ["dataset", "model", "init", "protocol", "seed", "value", "std"]]


class Cells:
    """A runs table's values per (protocol, dataset, init, model), and the study's model sets."""

    def __init__(self, runs: pd.DataFrame, families: dict[str, str], capacity: dict[str, list[str]],
                 patch_sizes: dict[int, str], self_attention: dict[str, list[str]] | None = None):
        self.runs, self.families, self.capacity, self.patch_sizes = runs, families, capacity, patch_sizes
        self.self_attention = self_attention or {}

    def values(self, protocol: str, dataset: str, init: str, model: str) -> np.ndarray:
        runs = self.runs
        cell = runs[(runs["protocol"] == protocol) & (runs["dataset"] == dataset) & (runs["init"] == init)
                    & (runs["model"] == model)]
        return cell["value"].to_numpy(dtype=float)

    def spread(self, protocol: str, dataset: str, init: str, model: str) -> float:
        """The std over seeds, or the published std of a one-row cell."""
        values = self.values(protocol, dataset, init, model)
        if len(values) > 1:
            return float(values.std(ddof=1))
        runs = self.runs
        if "std" in runs.columns and len(values) == 1:
            cell = runs[(runs["protocol"] == protocol) & (runs["dataset"] == dataset) & (runs["init"] == init)
                        & (runs["model"] == model)]
            return float(cell["std"].iloc[0])
        return 0.0

    def select(self, selection: str, protocol: str, dataset: str, init: str) -> str | None:
        """The model a selection names on this dataset and init (None: none run)."""
        kind, _, rest = selection.partition(":")
        if kind == "model":
            candidates = [rest]
        elif kind == "family":
            candidates = [m for m, f in self.families.items() if f == rest]
        elif kind == "capacity":
            family, _, end = rest.partition(":")
            models = self.capacity.get(family, [])
            candidates = [] if len(models) < 2 else [models[-1] if end == "largest" else models[0]]
        elif kind == "self_attention":  # handled per (base, variant) pair by its relation
            raise ValueError(f"claims: {selection!r} needs the relation no_variant_significantly_greater")
        elif kind == "patch":
            sizes = sorted(self.patch_sizes)
            candidates = [] if len(sizes) < 2 else [self.patch_sizes[sizes[0] if rest == "smallest" else sizes[-1]]]
        else:
            raise ValueError(f"claims: unknown selection {selection!r}")
        run = [m for m in candidates if len(self.values(protocol, dataset, init, m))]
        if not run:
            return None
        return max(run, key=lambda m: np.median(self.values(protocol, dataset, init, m)))


def protocols(claim) -> tuple[str, str]:
    """A's and B's protocols: ``knn/finetune`` compares A's k-NN with B's fine-tuning."""
    a, _, b = claim.protocol.partition("/")
    return a, b or a


def _compare(cells: Cells, claim, dataset: str, inits: tuple[str, str]) -> dict | None:
    """One dataset's comparison for a claim: effect (A minus B, medians), p, holds; None if a cell is missing."""
    (init_a, init_b), (protocol_a, protocol_b) = inits, protocols(claim)
    if claim.relation == "no_variant_significantly_greater":  # each variant against its own base CNN
        pairs = [(base, variant) for base, variants in cells.self_attention.items() for variant in variants
                 if len(cells.values(protocol_a, dataset, init_a, variant)) and len(cells.values(protocol_b, dataset,
                                                                                               init_b, base))]
        if not pairs:
            return None
        tests = []
        for base, variant in pairs:
            va, vb = cells.values(protocol_a, dataset, init_a, variant), cells.values(protocol_b, dataset, init_b, base)
            t, p = welch_t(va, vb)
            tests.append((float(va.mean() - vb.mean()), p))
        significant_gain = any(effect > 0 and p < ALPHA for effect, p in tests)
        best = max(tests)
        return {"effect": best[0], "p_value": min(p for _, p in tests), "holds": not significant_gain}
    if claim.relation == "gains_more":  # A's and B's families, each from init_b to init_a
        sides = []
        for selection in (claim.select_a, claim.select_b):
            to, start = (cells.select(selection, protocol_a, dataset, i) for i in (init_a, init_b))
            if to is None or start is None:
                return None
            sides.append(np.median(cells.values(protocol_a, dataset, init_a, to))
                         - np.median(cells.values(protocol_a, dataset, init_b, start)))
        effect = sides[0] - sides[1]
        return {"effect": effect, "p_value": float("nan"), "holds": effect > 0}
    a = cells.select(claim.select_a, protocol_a, dataset, init_a)
    b = cells.select(claim.select_b, protocol_b, dataset, init_b)
    if a is None or b is None:
        return None
    va, vb = cells.values(protocol_a, dataset, init_a, a), cells.values(protocol_b, dataset, init_b, b)
    effect = float(np.median(va) - np.median(vb))
    _, p = welch_t(va, vb)
    if np.isnan(p):  # one value per side (the published medians) or no variance: within the larger std
        par = abs(effect) <= max(cells.spread(protocol_a, dataset, init_a, a),
                                 cells.spread(protocol_b, dataset, init_b, b))
    else:
        par = p >= ALPHA
    holds = {"greater": effect > 0, "on_par": par, "at_least": effect > 0 or par}[claim.relation]
    return {"effect": effect, "p_value": p, "holds": bool(holds)}


def check_claims(runs: pd.DataFrame, claims: pd.DataFrame, *, families: dict[str, str],
                 capacity: dict[str, list[str]], patch_sizes: dict[int, str], ablation_init: str,
                 self_attention: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """One row per claim: verdict, datasets where it holds, mean effect and the smallest p."""
    cells = Cells(runs, families, capacity, patch_sizes, self_attention)
    rows = []
    for claim in claims.itertuples():
        inits = tuple(ablation_init if i == "ablation" else i for i in (claim.init_a, claim.init_b))
        datasets = sorted(set(runs.loc[runs["protocol"] == protocols(claim)[0], "dataset"]))
        results = {d: r for d in datasets if (r := _compare(cells, claim, d, inits)) is not None}
        if not results:
            verdict, held = VERDICTS[2], ""
        else:
            holding = [r["holds"] for r in results.values()]
            mean_effect = float(np.mean([r["effect"] for r in results.values()]))
            holds = {"every": all(holding), "some": any(holding),
                     "mean": mean_effect > 0 if claim.relation in ("greater", "gains_more")
                     else np.mean(holding) >= 0.5}[claim.scope]
            verdict, held = VERDICTS[0] if holds else VERDICTS[1], f"{sum(holding)} of {len(holding)}"
        rows.append({"id": claim.id, "paper": claim.paper, "finding": claim.finding, "protocol": claim.protocol,
                     "scope": claim.scope, "verdict": verdict, "datasets_holding": held,
                     "mean_effect": float(np.mean([r["effect"] for r in results.values()])) if results else np.nan,
                     "min_p_value": float(np.nanmin([r["p_value"] for r in results.values()]))
                     if results and not all(np.isnan(r["p_value"]) for r in results.values()) else np.nan,
                     "datasets": ", ".join(results)})
    return pd.DataFrame(rows)


def claims_table(runs: pd.DataFrame, *, families: dict[str, str], capacity: dict[str, list[str]],
                 patch_sizes: dict[int, str], ablation_init: str,
                 self_attention: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """The study's verdicts beside the verdicts of the published numbers (the ViT paper's: the
    companion papers' are not in vitmed, so their findings are "not run" there)."""
    claims = load_claims()
    ours = check_claims(runs, claims, families=families, capacity=capacity, patch_sizes=patch_sizes,
                        ablation_init=ablation_init, self_attention=self_attention)
    paper = check_claims(published_runs(), claims, families=PAPER_FAMILIES, capacity=PAPER_CAPACITY,
                         patch_sizes=PAPER_PATCH_SIZES, ablation_init="imagenet")
    return ours.assign(as_published=paper["verdict"].to_numpy(),
                       published_datasets_holding=paper["datasets_holding"].to_numpy())


def claims_markdown(table: pd.DataFrame, study: str, synthetic: bool) -> str:
    lines = [f"**Claims check: the papers' findings on this study's runs ({study})**", ""]
    if synthetic:
        lines += ["*Synthetic data: these verdicts test the pipeline's machinery, not the findings about "
                  "medical images.*", ""]
    lines += ["| id | finding | ours | datasets | effect | p (min) | as published |", "|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        effect = f"{row.mean_effect:+.3f}" if pd.notna(row.mean_effect) else "–"
        p = f"{row.min_p_value:.3g}" if pd.notna(row.min_p_value) else "–"
        lines.append(f"| {row.id} | {row.finding} ({row.scope}) | {row.verdict} | {row.datasets_holding or '–'} | "
                     f"{effect} | {p} | {row.as_published} |")
    return "\n".join(lines + ["", "*Effect: median of A minus median of B (for gains_more, the difference of the "
                                   "gains), averaged over datasets; p: Welch's t-test over seeds.*"]) + "\n"
