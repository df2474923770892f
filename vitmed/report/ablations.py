"""The paper's ablations as tables: model capacity (Table 4, Figure 3) and patch size (Table 5),
and the self-attention comparison of "When Medical Imaging Met Self-Attention" (its Table 2).

All are the fine-tuning runs of one init. Tables 4 and 5 are summarized like Table 1 (median ±
std over seeds); Table 4 adds each model's family, rank within it and parameter count, Table 5
the patch size. The self-attention table follows its own paper: mean ± std over seeds and
Welch's t-test of each variant against its base CNN.
"""
from __future__ import annotations

import pandas as pd

from vitmed.evaluate.metrics import METRIC_LABELS
from vitmed.report.compare import welch_t
from vitmed.report.tables import _tex_escape, ordered, summarize, to_latex, to_markdown


def _cells(runs: pd.DataFrame, init: str, models: list[str], datasets: list[str]) -> pd.DataFrame:
    summary = summarize(runs[runs["init"] == init], "finetune")
    table = ordered(summary, [init], models, datasets)
    # the classifier head, hence the count, depends on the dataset's classes
    parameters = runs.groupby(["model", "dataset"], as_index=False)["n_parameters"].first()
    return table.merge(parameters, on=["model", "dataset"], how="left")


def _require_every_cell(table: pd.DataFrame, what: str, init: str) -> None:
    """An ablation table's cells must all have runs: a missing one names its model and dataset."""
    if table["median"].isna().any():
        raise ValueError(f"{what}: no {init} fine-tuning of "
                         f"{table[table['median'].isna()][['model', 'dataset']].values.tolist()} in runs.parquet")


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


def freezing_table(runs: pd.DataFrame, frozen: dict[str, dict[str, int]], init: str,
                   datasets: list[str]) -> pd.DataFrame:
    """Every (ViT, frozen blocks, dataset) cell of the progressive-freezing ablation: ``frozen``
    maps each base ViT to its variants' frozen block counts (the base: 0)."""
    models = [name for variants in frozen.values() for name in sorted(variants, key=variants.get)]
    table = _cells(runs, init, models, datasets)
    _require_every_cell(table, "freezing", init)
    base_of = {name: base for base, variants in frozen.items() for name in variants}
    blocks = {name: n for variants in frozen.values() for name, n in variants.items()}
    return table.assign(base=table["model"].map(base_of), frozen_blocks=table["model"].map(blocks))


def weights_notes(model_configs: dict[str, dict], models: list[str]) -> list[str]:
    """'<model>: <note>' for each model whose init uses stand-in weights (config weights_note)."""
    return [f"{name}: {model_configs[name]['weights_note']}" for name in models
            if model_configs[name].get("weights_note")]


SIGNIFICANCE = 0.05


PROTOCOL_NAMES = {"finetune": "fine-tuning", "ood": "out-of-distribution test"}


def self_attention_table(runs: pd.DataFrame, variants: dict[str, list[str]], init: str,
                         datasets: list[str], protocol: str = "finetune", others: list[str] = ()) -> pd.DataFrame:
    """One row per (model, dataset): mean, std (ddof 1), seeds, parameters and their change from
    the base CNN; for a variant, Welch's t and two-sided p against the base's seeds. Of the
    fine-tuning runs' test scores, or (``protocol="ood"``) their out-of-distribution ones.
    ``others`` (the study's ViTs, Piater et al.'s ViT-T rows) follow, each its own base: no test."""
    finetuned = runs[(runs["protocol"] == protocol) & (runs["init"] == init)]
    groups = [*variants.items(), *((name, []) for name in others)]
    rows = []
    for base, names in groups:
        for dataset in datasets:
            cell = finetuned[finetuned["dataset"] == dataset]
            base_values = cell.loc[cell["model"] == base, "value"].to_numpy()
            base_parameters = cell.loc[cell["model"] == base, "n_parameters"]
            for model in [base, *names]:
                runs_of = cell[cell["model"] == model]
                values = runs_of["value"].to_numpy()
                if len(values) == 0 or len(base_values) == 0:
                    raise ValueError(f"self-attention table: no {init} {PROTOCOL_NAMES[protocol]} of "
                                     f"{model if len(values) == 0 else base} on {dataset} in runs.parquet")
                t, p = welch_t(values, base_values) if model != base else (float("nan"), float("nan"))
                parameters = int(runs_of["n_parameters"].iloc[0])
                change = parameters / int(base_parameters.iloc[0]) - 1 if base in variants else float("nan")
                rows.append({"base": base, "model": model, "dataset": dataset, "metric": runs_of["metric"].iloc[0],
                             "mean": values.mean(), "std": values.std(ddof=1) if len(values) > 1 else 0.0,
                             "n_seeds": len(values), "n_parameters": parameters, "parameter_change": change,
                             "t": t, "p_value": p, "significant": bool(p < SIGNIFICANCE)})
    return pd.DataFrame(rows)


OOD_COLUMNS = ["mean", "std", "n_seeds", "t", "p_value", "significant"]


def with_out_of_distribution(table: pd.DataFrame, ood: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the out-of-distribution table's statistics as ``ood_*`` columns (NaN for a
    dataset without an OOD test set)."""
    ood = ood.set_index(["base", "model", "dataset"])[OOD_COLUMNS].add_prefix("ood_")
    return table.join(ood, on=["base", "model", "dataset"])


def _self_attention_rows(table: pd.DataFrame, datasets: list[str], cell) -> list[list[str]]:
    """Rows of text, each value through ``cell(text, bold)`` (the output format's escaping); an
    out-of-distribution result follows in parentheses, as in Piater et al.'s Table 2."""
    def values(c) -> str:
        text = cell(f"{c['mean']:.3f} ± {c['std']:.3f}", c["significant"])
        if pd.notna(c.get("ood_mean")):
            text += " (" + cell(f"{c['ood_mean']:.3f} ± {c['ood_std']:.3f}", bool(c["ood_significant"])) + ")"
        return text

    rows = []
    for (base, model), cells in table.groupby(["base", "model"], sort=False):
        cells = cells.set_index("dataset").reindex(datasets)
        first = cells.iloc[0]
        label = model if model == base else f"{model} (vs {base})"
        parameters = f"{first['n_parameters'] / 1e6:.2f}M" + (
            f" ({first['parameter_change']:+.2%})" if pd.notna(first["parameter_change"]) else "")
        rows.append([cell(label, False), cell(parameters, False), *[values(c) for _, c in cells.iterrows()]])
    return rows


def self_attention_markdown(table: pd.DataFrame, metrics: dict[str, str], title: str) -> str:
    datasets = list(metrics)
    header = ["Model", "Parameters"] + [f"{d}, {METRIC_LABELS[metrics[d]]} ↑" for d in datasets]
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = _self_attention_rows(table, datasets, lambda text, bold: f"**{text}**" if bold else text)
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines + ["", f"*Bold: different from the base CNN, Welch's t-test p < {SIGNIFICANCE}.*"]) + "\n"


def _tex_cell(text: str, bold: bool) -> str:
    text = _tex_escape(text).replace("±", r"$\pm$")
    return rf"\textbf{{{text}}}" if bold else text


def self_attention_latex(table: pd.DataFrame, metrics: dict[str, str], caption: str) -> str:
    datasets = list(metrics)
    kappa = r"$\kappa$"
    header = ["Model", "Parameters"] + [f"{_tex_escape(d)}, {METRIC_LABELS[metrics[d]].replace('κ', kappa)}"
                                        for d in datasets]
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{ll" + "c" * len(datasets) + "}",
             r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    lines += [" & ".join(row) + r" \\" for row in _self_attention_rows(table, datasets, _tex_cell)]
    caption = f"{caption} Bold: different from the base CNN, Welch's t-test p < {SIGNIFICANCE}."
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{_tex_escape(caption)}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


# --- each ablation rule's table, rendered: (tidy table, Markdown, LaTeX) ---------------------
def _complete(table: pd.DataFrame, name: str) -> pd.DataFrame:
    if table["median"].isna().any():
        raise ValueError(
            f"{name} has empty cells: {table[table['median'].isna()][['model', 'dataset']].values.tolist()}"
        )
    return table


def capacity_report(runs: pd.DataFrame, capacity: dict[str, list[str]], init: str, metrics: dict[str, str],
                    model_configs: dict[str, dict], study: str) -> tuple[pd.DataFrame, str, str]:
    """Table 4: each family's models at increasing size, from one init."""
    table = _complete(capacity_table(runs, capacity, init, list(metrics)), "Table 4")
    notes = weights_notes(model_configs, capacity["cnn"] + capacity["vit"])
    title = f"Table 4: model capacity, fine-tuning from {init}, median ± std over seeds ({study})"
    return table, to_markdown(table, metrics, title, notes), to_latex(table, metrics, title, notes)


def patch_size_report(runs: pd.DataFrame, patch_sizes: dict[int, str], init: str, metrics: dict[str, str],
                      model_configs: dict[str, dict], study: str) -> tuple[pd.DataFrame, str, str]:
    """Table 5: one ViT with different patch sizes, from one init."""
    table = _complete(patch_size_table(runs, patch_sizes, init, list(metrics)), "Table 5")
    notes = weights_notes(model_configs, list(patch_sizes.values()))
    title = f"Table 5: patch size, fine-tuning from {init}, median ± std over seeds ({study})"
    return table, to_markdown(table, metrics, title, notes), to_latex(table, metrics, title, notes)


def freezing_report(runs: pd.DataFrame, frozen: dict[str, dict[str, int]], init: str, metrics: dict[str, str],
                    study: str) -> tuple[pd.DataFrame, str, str]:
    """Progressive freezing: ViTs fine-tuned with their first blocks frozen (rows say how many)."""
    table = freezing_table(runs, frozen, init, list(metrics))
    title = (f"Progressive freezing: ViTs fine-tuned with their first blocks frozen, from {init}, "
             f"median ± std over seeds ({study})")
    shown = table.assign(model=[f"{model} ({n} frozen)" for model, n in zip(table["model"], table["frozen_blocks"])])
    return table, to_markdown(shown, metrics, title), to_latex(shown, metrics, title)


def decapitation_table(runs: pd.DataFrame, decapitations: dict[str, dict[str, dict[int, str]]], init: str,
                       datasets: list[str]) -> pd.DataFrame:
    """Palés Huix et al.'s Figure 5: every (foundation, frozen / unfrozen, blocks kept, dataset)
    cell of the decapitated foundations with an appended classifier (``decapitations``:
    vitmed.study.Study.decapitations)."""
    keys = [(base, scenario, blocks, name) for base, scenarios in decapitations.items()
            for scenario in ("unfrozen", "frozen") for blocks, name in sorted(scenarios.get(scenario, {}).items())]
    table = _cells(runs, init, [name for *_, name in keys], datasets)
    _require_every_cell(table, "decapitation", init)
    where = {name: (base, scenario, blocks) for base, scenario, blocks, name in keys}
    return table.assign(base=table["model"].map(lambda m: where[m][0]),
                        scenario=table["model"].map(lambda m: where[m][1]),
                        blocks=table["model"].map(lambda m: where[m][2]))


def decapitation_report(runs: pd.DataFrame, decapitations: dict[str, dict[str, dict[int, str]]], init: str,
                        metrics: dict[str, str], study: str) -> tuple[pd.DataFrame, str, str]:
    """Figure 5's numbers: each decapitated foundation (its first N blocks) with the appended classifier."""
    table = decapitation_table(runs, decapitations, init, list(metrics))
    title = (f"Decapitated foundations: the first N blocks with an appended classifier, frozen or fine-tuned, "
             f"from {init}, median ± std over seeds ({study})")
    shown = table.assign(model=[f"{base}, first {n} blocks, {scenario}" for base, n, scenario
                                in zip(table["base"], table["blocks"], table["scenario"])])
    return table, to_markdown(shown, metrics, title), to_latex(shown, metrics, title)


def resolution_table(runs: pd.DataFrame, resolution: dict[str, list[str]], sizes: dict[str, int], init: str,
                     datasets: list[str]) -> pd.DataFrame:
    """Palés Huix et al.'s Table 3: each model's variants at their own input size (``sizes``),
    every dataset's cell with its base's median at the study's size and the gain over it."""
    base_of = {name: base for base, names in resolution.items() for name in names}
    table = _cells(runs, init, list(base_of), datasets)
    bases = _cells(runs, init, list(resolution), datasets).set_index(["model", "dataset"])["median"]
    table = table.assign(base=table["model"].map(base_of), input_size=table["model"].map(sizes))
    table["base_median"] = [bases[(base, dataset)] for base, dataset in zip(table["base"], table["dataset"])]
    missing = table["median"].isna() | table["base_median"].isna()
    if missing.any():
        raise ValueError(f"resolution: no {init} fine-tuning of {table[missing][['model', 'dataset']].values.tolist()} "
                         "or of its base in runs.parquet")
    return table.assign(gain=table["median"] - table["base_median"])


def resolution_markdown(table: pd.DataFrame, metrics: dict[str, str], base_size: int, init: str, study: str) -> str:
    """Their Table 3's layout: median ± std at the variant's size, the gain over ``base_size`` in brackets."""
    datasets = list(metrics)
    header = ["Model", "Input"] + [f"{d}, {METRIC_LABELS[metrics[d]]} ↑" for d in datasets]
    lines = [f"**Higher resolution: fine-tuning from {init}, median ± std over seeds, in brackets the gain over "
             f"{base_size} px ({study})**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, cells in table.groupby("model", sort=False):
        cells = cells.set_index("dataset").reindex(datasets)
        values = [f"{m:.3f} ± {s:.3f} ({g:+.3f})" for m, s, g in zip(cells["median"], cells["std"], cells["gain"])]
        size = int(cells["input_size"].iloc[0])
        lines.append(f"| {cells['base'].iloc[0]} | {size} px | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


# Palés Huix et al.'s four scenarios in their tables' order: Table 1 (frozen), Table 2 (unfrozen)
SCENARIOS = (("frozen", "Linear", "frozen_linear"), ("frozen", "Appended", "frozen_appended"),
             ("unfrozen", "Linear", "finetune"), ("unfrozen", "Appended", "appended"))


def scenarios_table(runs: pd.DataFrame, scenarios: dict[str, tuple[str, str]], init: str,
                    datasets: list[str]) -> pd.DataFrame:
    """Palés Huix et al.'s Tables 1 and 2: each foundation frozen or unfrozen, with a fine-tuned
    linear head or an appended classifier. ``scenarios``: variant -> (foundation, protocol) of
    the variants (vitmed.study.Study.scenario_variants); the unfrozen foundation with a linear
    head is the foundation itself. Every cell of ``datasets``, frozen first, as their Table 1."""
    bases = list(dict.fromkeys(base for base, _ in scenarios.values()))
    parts = []
    for scenario, classifier, protocol in SCENARIOS:
        models = bases if protocol == "finetune" else [name for name, (_, p) in scenarios.items() if p == protocol]
        if models:
            cells = _cells(runs, init, models, datasets)
            parts.append(cells.assign(scenario=scenario, classifier=classifier,
                                      foundation=cells["model"].map(lambda m: scenarios.get(m, (m,))[0])))
    table = pd.concat(parts, ignore_index=True)
    _require_every_cell(table, "scenarios", init)
    return table


def scenarios_report(runs: pd.DataFrame, scenarios: dict[str, tuple[str, str]], init: str, metrics: dict[str, str],
                     study: str) -> tuple[pd.DataFrame, str, str]:
    """The foundation paper's Tables 1 and 2, rendered: one row per classifier, scenario and foundation."""
    table = scenarios_table(runs, scenarios, init, list(metrics))
    title = (f"Foundation scenarios: frozen (their Table 1) and unfrozen (their Table 2) foundation with a "
             f"fine-tuned linear head or an appended classifier, from {init}, median ± std over seeds ({study})")
    shown = table.assign(model=[f"{classifier}, {scenario}: {foundation}" for classifier, scenario, foundation
                                in zip(table["classifier"], table["scenario"], table["foundation"])])
    return table, to_markdown(shown, metrics, title), to_latex(shown, metrics, title)


def self_attention_report(runs: pd.DataFrame, variants: dict[str, list[str]], init: str, metrics: dict[str, str],
                          ood_tests: dict[str, str], study: str, vits: list[str] = (),
                          over: str = "seeds") -> tuple[pd.DataFrame, str, str]:
    """CNNs with and without self-attention, Welch's t-tests; in parentheses the same on each
    dataset's out-of-distribution test set; then the study's ViTs (Piater et al., Table 2).
    ``over``: what the repetitions vary (config ``repetitions``)."""
    datasets = list(metrics)
    table = self_attention_table(runs, variants, init, datasets, others=vits)
    title = f"Self-attention in CNNs: fine-tuning from {init}, mean ± std over {over} ({study})"
    tested = [dataset for dataset in datasets if dataset in ood_tests]
    if tested:
        ood = self_attention_table(runs, variants, init, tested, protocol="ood", others=vits)
        table = with_out_of_distribution(table, ood)
        title += "; in parentheses on the out-of-distribution test set (" + ", ".join(
            f"{dataset} → {ood_tests[dataset]}" for dataset in tested) + ")"
    return table, self_attention_markdown(table, metrics, title), self_attention_latex(table, metrics, title)
