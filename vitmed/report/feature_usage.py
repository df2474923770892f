"""Piater et al.'s Table 3 rendered: ✓ / ✗ per model and feature (– where not tested)."""
from __future__ import annotations

import pandas as pd

from vitmed.analysis.lesion_features import FEATURE_LABELS, FEATURES
from vitmed.report.tables import _tex_escape

MARKS = {True: "✓", False: "✗"}
NOT_TESTED = "–"


def _mark(used) -> str:
    return NOT_TESTED if pd.isna(used) else MARKS[bool(used)]


def feature_usage_table(results: list[pd.DataFrame], models: list[str]) -> pd.DataFrame:
    """The per-model results of rule feature_usage in the table's row order (``models``)."""
    table = pd.concat(results, ignore_index=True)
    missing = sorted(set(models) - set(table["model"]))
    if missing:
        raise ValueError(f"feature usage: no result for model(s) {missing}")
    order = {model: i for i, model in enumerate(models)}
    return table.sort_values("model", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def _rows(table: pd.DataFrame) -> list[tuple[str, list[str]]]:
    rows = []
    for model, cells in table.groupby("model", sort=False):
        used = cells.set_index("feature")["used"].reindex(list(FEATURES))
        first = cells.iloc[0]
        rows.append((f"{model} (seed {first['seed']}, {first['value']:.3f})", [_mark(u) for u in used]))
    return rows


def _caption(table: pd.DataFrame, alpha: float, tests: list[str], over: str) -> str:
    untested = [FEATURE_LABELS[f] for f in FEATURES
                if table.loc[table["feature"] == f, "used"].isna().all()]
    note = f" Not tested ({NOT_TESTED}): {', '.join(untested)} (too few test images have it)." if untested else ""
    return (f"Feature usage of each model's best run (the highest test {table['metric'].iloc[0]} over {over}; "
            f"its seed and score beside it): ✓ where the majority of {', '.join(tests)} rejects independence of "
            f"the feature and the prediction given the label at p < {alpha}.{note}")


def feature_usage_markdown(table: pd.DataFrame, title: str, alpha: float, tests: list[str], over: str) -> str:
    header = ["Model", *[FEATURE_LABELS[f] for f in FEATURES]]
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([label, *marks]) + " |" for label, marks in _rows(table)]
    return "\n".join(lines + ["", f"*{_caption(table, alpha, tests, over)}*"]) + "\n"


def feature_usage_latex(table: pd.DataFrame, title: str, alpha: float, tests: list[str], over: str) -> str:
    header = ["Model", *[_tex_escape(FEATURE_LABELS[f]) for f in FEATURES]]
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "c" * len(FEATURES) + "}", r"\toprule",
             " & ".join(header) + r" \\", r"\midrule"]
    symbols = {MARKS[True]: r"\checkmark", MARKS[False]: r"$\times$", NOT_TESTED: "--"}
    lines += [" & ".join([_tex_escape(label), *[symbols[m] for m in marks]]) + r" \\" for label, marks in _rows(table)]
    caption = _tex_escape(f"{title}. {_caption(table, alpha, tests, over)}").replace("✓", r"\checkmark")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{caption}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"
