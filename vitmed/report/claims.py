"""Claims check: the findings the papers state in words, evaluated on a study's runs.

``claims.csv`` (data) lists each finding as a comparison of result cells: two selections of
(model, init) on one protocol, a relation and a scope over datasets. ``check_claims`` evaluates
every claim on a runs table: per dataset, the medians over seeds, their difference (the effect),
Welch's t-test over seeds where both sides have at least two, and the relation's verdict; the scope
combines the datasets. The same code evaluated on each paper's published medians
(``published_runs``) gives the "as published" column: a claim its own numbers do not support shows.

Relations: ``greater`` (A's median above B's), ``at_least`` (above, or on par), ``on_par`` (not
significantly different at ``ALPHA`` where seeds allow a test, else within the larger std),
``significantly_greater`` (above and not on par),
``gains_more`` (A's gain from ``init_b`` to ``init_a`` above B's), ``no_variant_significantly_greater``
(no self-attention variant's mean significantly above its base CNN's, Welch p < ``ALPHA``, as
Piater et al. test). A family selection takes the family's best model by median on each dataset and
init: the paper compares its CNNs with its ViTs; ``best`` takes the best of every model run there,
``best_other`` the best but A's model. Published cells are tested from their mean, std and repetitions.
Paired selections compare model by model and hold on a dataset where most pairs hold: ``each`` (every
model with both cells, against itself: another protocol or init) and ``frozen:<blocks>`` (each
progressive-freezing base with that many blocks frozen, ``0`` the base itself, ``deepest`` its deepest).
Scopes: ``every`` dataset, ``some`` dataset, ``most`` datasets (more than half), ``mean`` effect over
datasets. ``attention_runs`` turns the attention distances (Figure 5) into cells of the protocols
``attention_first_layer`` and ``attention_last_layer``, ``timing_runs`` the fine-tuning runs' times
(Figure 3 of the foundation paper) into cells of ``steps_<protocol>`` and ``inference_<protocol>``,
``usage_runs`` Piater et al.'s feature usage (their Table 3) into cells of ``usage_<feature>`` (1 =
used, 0 = not). Those claims count models: ``used_by_all``, ``used_by_none``, ``used_by_most`` (more
than half), ``used_by_few`` (fewer than half) of the models a ``models:`` selection names (``all``,
``family:<cnn|vit>``, ``bases`` (the self-attention base CNNs), ``with:<base>`` (a base CNN and its
variants)); ``used_more_often`` compares A's share of users with B's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vitmed.report.compare import (
    PUBLISHED,
    PUBLISHED_REPETITIONS,
    load_published,
    welch_t,
    welch_t_from_stats,
    with_scenarios,
)

CLAIMS = Path(__file__).with_name("claims.csv")
# Piater et al.'s Table 3 (✓ = 1), transcribed: the "as published" verdicts of their feature-usage findings
PUBLISHED_USAGE = Path(__file__).with_name("published_feature_usage.csv")
USAGE_RELATIONS = ("used_by_all", "used_by_none", "used_by_most", "used_by_few", "used_more_often")
ALPHA = 0.05  # none of the papers states a level for these findings; Piater et al. test at 0.05
VERDICTS = ("holds", "does not hold", "not run in this study")
# "as published" where the paper's numbers lack the cells (its figures) or are not transcribed
NOT_PUBLISHED = ("not in its tables", "no published numbers")
# claims.csv's paper column -> the paper's key (config ``paper``, vitmed.report.compare.PUBLISHED)
PAPERS = {"ViT paper": "vit", "Foundation paper": "foundation", "Self-attention paper": "self_attention"}
# the ViT paper's Table 1 models (a family selection compares these; the ablations name theirs), for
# its published numbers
PAPER_FAMILIES = {"Inception": "cnn", "ResNet50": "cnn", "DeiT-S": "vit", "SWIN-T": "vit"}
PAPER_CAPACITY = {"cnn": ["ResNet18", "ResNet50", "ResNet152"], "vit": ["DeiT-T", "DeiT-S", "DeiT-B"]}
PAPER_PATCH_SIZES = {16: "DeiT-S", 8: "DeiT-S-p8"}
# each paper's model sets for its published numbers (check_claims' keyword arguments)
PAPER_MODELS = {
    "vit": {"families": PAPER_FAMILIES, "capacity": PAPER_CAPACITY, "patch_sizes": PAPER_PATCH_SIZES,
            "ablation_init": "imagenet"},
    "foundation": {"families": {m: "cnn" if m == "ResNet152" else "vit" for m in (
        "DINOv1", "ImNet-1k-Sup", "ResNet152", "SAM", "SEEM", "OpenCLIP", "DINOv2", "BLIP")},
        "capacity": {}, "patch_sizes": {}, "ablation_init": "pretrained"},
    "self_attention": {"families": {"ResNet18": "cnn", "EfficientNet-B0": "cnn", "ViT-T-1K": "vit", "ViT-T-21K": "vit"},
                       "capacity": {}, "patch_sizes": {}, "ablation_init": "imagenet",
                       "self_attention": {base: [f"{base}-{v}" for v in ("GA", "LA", "GA-LA", "ELA", "GA-ELA")]
                                          for base in ("ResNet18", "EfficientNet-B0")}},
}


def load_claims(path: str | Path = CLAIMS) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


def published_runs(published: pd.DataFrame | None = None, paper: str = "vit") -> pd.DataFrame:
    """A paper's published medians as a runs table, one pseudo-seed per cell, with its std and
    the number of repetitions ``n`` behind it (for Welch's test from the published statistics)."""
    published = load_published(paper) if published is None else published
    rows = published.assign(model=np.where(published["patch_size"].eq(8).fillna(False), "DeiT-S-p8",
                                           published["model"]))
    rows = rows.drop_duplicates(["dataset", "model", "init", "protocol"])
    return rows.rename(columns={"median": "value"}).assign(seed=0, n=PUBLISHED_REPETITIONS[paper])[
        ["dataset", "model", "init", "protocol", "seed", "value", "std", "n"]]


def attention_runs(distances: pd.DataFrame) -> pd.DataFrame:
    """Figure 5's table (layer, head, distance per dataset, model, init, stage) -> the fine-tuned
    models' mean distance over heads in their first and last layers, as runs of the protocols
    ``attention_first_layer`` and ``attention_last_layer`` (one pseudo-seed)."""
    tuned = distances[distances["stage"] == "finetuned"]
    per_layer = tuned.groupby(["dataset", "model", "init", "layer"], as_index=False)["distance"].mean()
    rows = []
    for (dataset, model, init), layers in per_layer.groupby(["dataset", "model", "init"]):
        layers = layers.sort_values("layer")
        for protocol, row in (("attention_first_layer", layers.iloc[0]), ("attention_last_layer", layers.iloc[-1])):
            rows.append({"dataset": dataset, "model": model, "init": init, "protocol": protocol, "seed": 0,
                         "value": float(row["distance"])})
    return pd.DataFrame(rows, columns=["dataset", "model", "init", "protocol", "seed", "value"])


def usage_runs(usage: pd.DataFrame, dataset: str, init: str) -> pd.DataFrame:
    """Piater et al.'s Table 3 (``tables/feature_usage.csv``: model, feature, used) as cells of the
    protocols ``usage_<feature>`` on ``dataset`` (value 1 = used, 0 = not; untested features left out)."""
    tested = usage[usage["used"].notna()]
    return pd.DataFrame({"dataset": dataset, "model": tested["model"], "init": init,
                         "protocol": "usage_" + tested["feature"], "seed": 0,
                         "value": tested["used"].astype(bool).astype(float)})


def published_usage_runs() -> pd.DataFrame:
    """Their own Table 3 as ``usage_runs`` (ISIC, ImageNet init)."""
    published = pd.read_csv(PUBLISHED_USAGE, comment="#")
    return usage_runs(published, "ISIC-3", "imagenet")


# the fine-tuning protocols (after ``with_scenarios``) whose runs measured their time (Figure 3)
TIMED = ("finetune", "frozen_linear", "frozen_appended", "appended")


def timing_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The foundation paper's Figure 3 as cells: each fine-tuning run's steps to its best validation
    epoch and its test seconds per image, as runs of the protocols ``steps_<protocol>`` and
    ``inference_<protocol>`` (``protocol`` a scenario of ``TIMED``); runs without them are left out."""
    if "best_iteration" not in runs.columns:
        return runs.iloc[:0]
    timed = runs[runs["protocol"].isin(TIMED) & runs["best_iteration"].notna() & runs["seconds_per_image"].notna()]
    return pd.concat([timed.assign(protocol=kind + "_" + timed["protocol"], value=timed[column].astype(float))
                      for kind, column in (("steps", "best_iteration"), ("inference", "seconds_per_image"))],
                     ignore_index=True)


class Cells:
    """A runs table's values per (protocol, dataset, init, model), and the study's model sets."""

    def __init__(self, runs: pd.DataFrame, families: dict[str, str], capacity: dict[str, list[str]],
                 patch_sizes: dict[int, str], self_attention: dict[str, list[str]] | None = None,
                 freezing: dict[str, dict[int, str]] | None = None):
        self.families, self.capacity, self.patch_sizes = families, capacity, patch_sizes
        self.self_attention, self.freezing = self_attention or {}, freezing or {}
        self.by_cell = {key: cell for key, cell in runs.groupby(["protocol", "dataset", "init", "model"])}

    def _cell(self, protocol: str, dataset: str, init: str, model: str) -> pd.DataFrame | None:
        return self.by_cell.get((protocol, dataset, init, model))

    def values(self, protocol: str, dataset: str, init: str, model: str) -> np.ndarray:
        cell = self._cell(protocol, dataset, init, model)
        return np.empty(0) if cell is None else cell["value"].to_numpy(dtype=float)

    def spread(self, protocol: str, dataset: str, init: str, model: str) -> float:
        """The std over seeds, or the published std of a one-row cell (0 where none is published)."""
        cell = self._cell(protocol, dataset, init, model)
        if cell is None:
            return 0.0
        if len(cell) > 1:
            return float(cell["value"].std(ddof=1))
        return float(np.nan_to_num(cell["std"].iloc[0])) if "std" in cell.columns else 0.0

    def welch(self, a: tuple[str, str, str, str], b: tuple[str, str, str, str]) -> tuple[float, float]:
        """Welch's t-test of two cells, each (protocol, dataset, init, model): over their seeds, or
        from the published mean, std and repetitions of two one-row published cells."""
        cell_a, cell_b = self._cell(*a), self._cell(*b)
        if cell_a is None or cell_b is None:
            return float("nan"), float("nan")
        if len(cell_a) == len(cell_b) == 1 and "n" in cell_a.columns:
            stats_a, stats_b = (tuple(cell[["value", "std", "n"]].iloc[0]) for cell in (cell_a, cell_b))
            if not any(pd.isna(x) for x in stats_a + stats_b):
                return welch_t_from_stats(stats_a, stats_b)
        return welch_t(cell_a["value"].to_numpy(dtype=float), cell_b["value"].to_numpy(dtype=float))

    def models(self, protocol: str, dataset: str, init: str) -> list[str]:
        """Every model with values in a (protocol, dataset, init) cell."""
        return sorted(m for (p, d, i, m) in self.by_cell if (p, d, i) == (protocol, dataset, init))

    def pairs(self, claim, dataset: str, inits: tuple[str, str], protocols: tuple[str, str]) -> list[tuple[str, str]]:
        """A paired claim's (A, B) models with values on both sides: ``each`` model against itself,
        or ``frozen:<blocks>`` against ``frozen:<blocks>`` for each freezing base."""
        (init_a, init_b), (protocol_a, protocol_b) = inits, protocols
        if claim.select_a == claim.select_b == "each":
            candidates = [(m, m) for m in self.models(protocol_a, dataset, init_a)]
        elif claim.select_a.startswith("frozen:") and claim.select_b.startswith("frozen:"):
            def frozen(base: str, blocks: str) -> str | None:
                depths = self.freezing[base]
                if blocks == "deepest":
                    return depths[max(depths)] if depths else None
                return base if int(blocks) == 0 else depths.get(int(blocks))
            candidates = [(frozen(base, claim.select_a.split(":")[1]), frozen(base, claim.select_b.split(":")[1]))
                          for base in self.freezing]
        else:
            raise ValueError(f"claims {claim.id}: paired selections are each/each or frozen:/frozen:, got "
                             f"{claim.select_a!r} and {claim.select_b!r}")
        return [(a, b) for a, b in candidates
                if a is not None and b is not None and (a, protocol_a, init_a) != (b, protocol_b, init_b)
                and len(self.values(protocol_a, dataset, init_a, a))
                and len(self.values(protocol_b, dataset, init_b, b))]

    def model_group(self, selection: str, protocol: str, dataset: str, init: str) -> list[str]:
        """The models a ``models:`` selection names among those with values in the cell: ``all``,
        ``family:<cnn|vit>`` (self-attention bases and variants are CNNs), ``bases``, ``with:<base>``."""
        kind, _, rest = selection.partition(":")
        if kind != "models":
            raise ValueError(f"claims: a used_* relation needs a models: selection, got {selection!r}")
        cnns = {m for base, variants in self.self_attention.items() for m in (base, *variants)}
        family = {**self.families, **dict.fromkeys(cnns, "cnn")}
        run = self.models(protocol, dataset, init)
        if rest == "all":
            return run
        if rest == "bases":
            return [m for m in run if m in self.self_attention]
        group, _, name = rest.partition(":")
        if group == "family":
            return [m for m in run if family.get(m) == name]
        if group == "with":
            return [m for m in run if m == name or m in self.self_attention.get(name, [])]
        raise ValueError(f"claims: unknown selection {selection!r}")

    def select(self, selection: str, protocol: str, dataset: str, init: str, other: str | None = None) -> str | None:
        """The model a selection names on this dataset and init (None: none run); ``best_other``:
        the best model there except ``other`` (the claim's A side)."""
        kind, _, rest = selection.partition(":")
        if kind == "model":
            candidates = [rest]
        elif kind == "best":
            candidates = self.models(protocol, dataset, init)
        elif kind == "best_other":
            candidates = [m for m in self.models(protocol, dataset, init) if m != other]
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
    if claim.relation in USAGE_RELATIONS:
        return _compare_usage(cells, claim, dataset, inits)
    if claim.relation == "no_variant_significantly_greater":  # each variant against its own base CNN
        pairs = [(base, variant) for base, variants in cells.self_attention.items() for variant in variants
                 if len(cells.values(protocol_a, dataset, init_a, variant)) and len(cells.values(protocol_b, dataset,
                                                                                               init_b, base))]
        if not pairs:
            return None
        tests = []
        for base, variant in pairs:
            va, vb = cells.values(protocol_a, dataset, init_a, variant), cells.values(protocol_b, dataset, init_b, base)
            _, p = cells.welch((protocol_a, dataset, init_a, variant), (protocol_b, dataset, init_b, base))
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
    if claim.select_a == "each" or claim.select_a.startswith("frozen:"):  # model by model, most pairs decide
        pairs = cells.pairs(claim, dataset, inits, (protocol_a, protocol_b))
        if not pairs:
            return None
        results = [_compare_pair(cells, claim, dataset, inits, a, b) for a, b in pairs]
        ps = [r["p_value"] for r in results if not np.isnan(r["p_value"])]
        return {"effect": float(np.mean([r["effect"] for r in results])), "p_value": min(ps) if ps else float("nan"),
                "holds": sum(r["holds"] for r in results) > len(results) / 2}
    a = cells.select(claim.select_a, protocol_a, dataset, init_a)
    b = cells.select(claim.select_b, protocol_b, dataset, init_b, other=a)
    if a is None or b is None:
        return None
    return _compare_pair(cells, claim, dataset, inits, a, b)


def _compare_usage(cells: Cells, claim, dataset: str, inits: tuple[str, str]) -> dict | None:
    """A feature-usage finding: the share of A's models that use the feature (the effect; for
    ``used_more_often`` A's share minus B's); no test statistic."""
    protocol = protocols(claim)[0]

    def share(selection: str, init: str) -> float | None:
        models = cells.model_group(selection, protocol, dataset, init)
        return float(np.mean([cells.values(protocol, dataset, init, m)[0] for m in models])) if models else None

    a = share(claim.select_a, inits[0])
    if a is None:
        return None
    if claim.relation == "used_more_often":
        b = share(claim.select_b, inits[1])
        return None if b is None else {"effect": a - b, "p_value": float("nan"), "holds": a > b}
    holds = {"used_by_all": a == 1.0, "used_by_none": a == 0.0, "used_by_most": a > 0.5, "used_by_few": a < 0.5}
    return {"effect": a, "p_value": float("nan"), "holds": holds[claim.relation]}


def _compare_pair(cells: Cells, claim, dataset: str, inits: tuple[str, str], a: str, b: str) -> dict:
    """Model ``a``'s cell against model ``b``'s under the claim's relation."""
    (init_a, init_b), (protocol_a, protocol_b) = inits, protocols(claim)
    va, vb = cells.values(protocol_a, dataset, init_a, a), cells.values(protocol_b, dataset, init_b, b)
    effect = float(np.median(va) - np.median(vb))
    _, p = cells.welch((protocol_a, dataset, init_a, a), (protocol_b, dataset, init_b, b))
    if np.isnan(p):  # one value per side (the published medians) or no variance: within the larger std
        par = abs(effect) <= max(cells.spread(protocol_a, dataset, init_a, a),
                                 cells.spread(protocol_b, dataset, init_b, b))
    else:
        par = p >= ALPHA
    holds = {"greater": effect > 0, "significantly_greater": effect > 0 and not par, "on_par": par,
             "at_least": effect > 0 or par}[claim.relation]
    return {"effect": effect, "p_value": p, "holds": bool(holds)}


def check_claims(runs: pd.DataFrame, claims: pd.DataFrame, *, families: dict[str, str],
                 capacity: dict[str, list[str]], patch_sizes: dict[int, str], ablation_init: str,
                 self_attention: dict[str, list[str]] | None = None,
                 freezing: dict[str, dict[int, str]] | None = None) -> pd.DataFrame:
    """One row per claim: verdict, datasets where it holds, mean effect and the smallest p.
    ``freezing``: each progressive-freezing base -> {blocks frozen: its model}."""
    cells = Cells(runs, families, capacity, patch_sizes, self_attention, freezing)
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
            holds = {"every": all(holding), "some": any(holding), "most": sum(holding) > len(holding) / 2,
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


def published_verdicts(claims: pd.DataFrame) -> pd.DataFrame:
    """Each claim evaluated on its own paper's published numbers: verdict and datasets holding;
    ``NOT_PUBLISHED`` where the paper's tables lack the cells or vitmed lacks its numbers."""
    rows = pd.DataFrame({"as_published": NOT_PUBLISHED[1], "published_datasets_holding": ""}, index=claims.index)
    for name, paper in PAPERS.items():
        mine = claims["paper"] == name
        if not mine.any() or paper not in PUBLISHED:
            continue
        runs = published_runs(paper=paper)
        if paper == "self_attention":
            runs = pd.concat([runs, published_usage_runs()], ignore_index=True)
        verdicts = check_claims(runs, claims[mine], **PAPER_MODELS[paper])
        rows.loc[mine, "as_published"] = verdicts["verdict"].replace(VERDICTS[2], NOT_PUBLISHED[0]).to_numpy()
        rows.loc[mine, "published_datasets_holding"] = verdicts["datasets_holding"].to_numpy()
    return rows


def claims_table(runs: pd.DataFrame, *, families: dict[str, str], capacity: dict[str, list[str]],
                 patch_sizes: dict[int, str], ablation_init: str,
                 self_attention: dict[str, list[str]] | None = None,
                 freezing: dict[str, dict[int, str]] | None = None,
                 scenarios: dict[str, tuple[str, str]] | None = None,
                 attention: pd.DataFrame | None = None, usage: pd.DataFrame | None = None,
                 usage_dataset: str | None = None) -> pd.DataFrame:
    """The study's verdicts beside the verdicts of each paper's published numbers; ``attention``:
    Figure 5's attention distances, where the study measured them; ``usage``: Piater et al.'s
    Table 3 (on ``usage_dataset``, the ablations' init), where the study ran it; ``scenarios``: the
    foundation-scenario variants, counted as their base's protocol (``with_scenarios``)."""
    claims = load_claims()
    runs = with_scenarios(runs, scenarios)
    runs = pd.concat([runs, timing_runs(runs)], ignore_index=True)
    if attention is not None:
        runs = pd.concat([runs, attention_runs(attention)], ignore_index=True)
    if usage is not None:
        runs = pd.concat([runs, usage_runs(usage, usage_dataset, ablation_init)], ignore_index=True)
    ours = check_claims(runs, claims, families=families, capacity=capacity, patch_sizes=patch_sizes,
                        ablation_init=ablation_init, self_attention=self_attention, freezing=freezing)
    return pd.concat([ours, published_verdicts(claims)], axis=1)


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
                                   "gains; for feature usage, the share of the models using the feature, or A's "
                                   "share minus B's), averaged over datasets; p: Welch's t-test over seeds. As "
                                   "published: the same test on the paper's own numbers (Welch's t from their "
                                   "means, stds and repetitions); \"not in its tables\": the finding rests on a "
                                   "figure.*"]) + "\n"
