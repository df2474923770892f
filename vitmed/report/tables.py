"""The paper's result tables: median ± std over seeds, rows = (init, model), columns = datasets."""
from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from vitmed.evaluate.metrics import METRIC_LABELS
from vitmed.jobs.io import write_text

log = logging.getLogger(__name__)

INIT_LABELS = {
    "random": "Random",
    "imagenet": "ImageNet (supervised)",
    "dino": "ImageNet (supervised) + self-supervised with DINO",
    "pretrained": "Pretrained (each model's own weights)",
}


def summarize(runs: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """Median and sample std (ddof=1; 0 for a single seed) per (init, model, dataset)."""
    subset = runs[runs["protocol"] == protocol]
    summary = (subset.groupby(["init", "model", "dataset", "metric", "weights"], sort=False)["value"]
               .agg(median="median", std="std", n_seeds="count").reset_index())
    summary["std"] = summary["std"].fillna(0.0)
    return summary


def ordered(summary: pd.DataFrame, inits: list[str], models: list[str], datasets: list[str]) -> pd.DataFrame:
    """Every (init, model, dataset) cell of the study, in config order; absent cells are NaN."""
    grid = pd.MultiIndex.from_product([inits, models, datasets], names=["init", "model", "dataset"])
    return summary.set_index(["init", "model", "dataset"]).reindex(grid).reset_index()


def _cells(table: pd.DataFrame, datasets: list[str]) -> list[tuple[str, str, list[str]]]:
    rows = []
    for (init, model), cells in table.groupby(["init", "model"], sort=False):
        cells = cells.set_index("dataset").reindex(datasets)
        rows.append((init, model, [f"{m:.3f} ± {s:.3f}" if pd.notna(m) else "–"
                                   for m, s in zip(cells["median"], cells["std"])]))
    return rows


def _init_label(init: str, weights: pd.Series) -> str:
    sources = sorted(set(weights.dropna()) - {"random"})
    return INIT_LABELS[init] + (f" [{', '.join(sources)}]" if sources else "")


def to_markdown(table: pd.DataFrame, metrics: dict[str, str], title: str, notes: list[str] = ()) -> str:
    datasets = list(metrics)
    header = ["Initialization", "Model"] + [f"{d}, {METRIC_LABELS[metrics[d]]} ↑" for d in datasets]
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for init, model, cells in _cells(table, datasets):
        label = _init_label(init, table.loc[table["init"] == init, "weights"])
        lines.append("| " + " | ".join([label, model, *cells]) + " |")
    lines += ["", *(f"*{note}*" for note in notes)] if notes else []
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    for char, escaped in [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                          ("#", r"\#"), ("$", r"\$")]:
        text = text.replace(char, escaped)
    return text


def to_latex(table: pd.DataFrame, metrics: dict[str, str], caption: str, notes: list[str] = ()) -> str:
    datasets = list(metrics)
    kappa, up = r"$\kappa$", r"$\uparrow$"
    header = ["Initialization", "Model"] + [
        f"{_tex_escape(d)}, {METRIC_LABELS[metrics[d]].replace('κ', kappa)} {up}" for d in datasets]
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{ll" + "c" * len(datasets) + "}",
             r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    previous = None
    for init, model, cells in _cells(table, datasets):
        if previous is not None and init != previous:
            lines.append(r"\midrule")
        label = _tex_escape(_init_label(init, table.loc[table["init"] == init, "weights"])) if init != previous else ""
        cells = [c.replace("±", r"$\pm$") for c in cells]
        lines.append(" & ".join([label, _tex_escape(model), *cells]) + r" \\")
        previous = init
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{_tex_escape(' '.join([caption, *notes]))}}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def write_table(paths: Mapping[str, str], table: pd.DataFrame, markdown: str, latex: str | None = None) -> None:
    """One table as the tidy CSV of ``table``, its Markdown and, where ``paths`` has "tex", its
    LaTeX; ``paths`` by extension (vitmed.jobs.io.named_files). Each file written atomically."""
    if "tex" in paths and latex is None:
        raise ValueError(f"{paths['tex']}: this table has no LaTeX rendering")
    write_text(paths["csv"], table.to_csv(index=False))
    write_text(paths["md"], markdown)
    if "tex" in paths:
        write_text(paths["tex"], latex)


def result_table(runs: pd.DataFrame, protocol: str, inits: list[str], models: list[str],
                 metrics: dict[str, str], title: str) -> tuple[pd.DataFrame, str, str]:
    """Table 1, Table 3, the linear probe or the OOD tests: (table, Markdown, LaTeX)."""
    table = ordered(summarize(runs, protocol), inits, models, list(metrics))
    missing = table["median"].isna().sum()
    if missing:
        log.warning("%s: %d empty cells", title, missing)
    return table, to_markdown(table, metrics, title), to_latex(table, metrics, title)
