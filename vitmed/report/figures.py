"""The paper's figures: 1 (fine-tuning vs k-NN), 3 (capacity), 4 (saliency), 5 (attention
distance) and the CKA heatmaps."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from vitmed.evaluate.metrics import METRIC_LABELS  # noqa: E402
from vitmed.jobs.io import atomic_path  # noqa: E402
from vitmed.report.tables import summarize  # noqa: E402

PROTOCOL_LABELS = {"finetune": "Fine-tuning", "knn": "k-NN", "linear": "Linear probe"}


def save_figure(fig: plt.Figure, paths: dict[str, str]) -> None:
    """Write ``fig`` once per format, e.g. {"png": ..., "pdf": ...}, each atomically."""
    for fmt, path in paths.items():
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=200, bbox_inches="tight")


def figure1(runs: pd.DataFrame, datasets: list[str], models: list[str], inits: list[str]) -> plt.Figure:
    protocols = [p for p in PROTOCOL_LABELS if p in set(runs["protocol"])]  # one row each
    summary = pd.concat([summarize(runs[runs["model"].isin(models)], p).assign(protocol=p) for p in protocols])
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(len(protocols), len(datasets), squeeze=False,
                             figsize=(2.6 * len(datasets), 2.4 * len(protocols)), sharey="col")
    for row, protocol in enumerate(protocols):
        for col, dataset in enumerate(datasets):
            ax = axes[row, col]
            cells = summary[(summary["protocol"] == protocol) & (summary["dataset"] == dataset)]
            sns.barplot(cells, x="init", y="median", hue="model", order=inits, hue_order=models,
                        errorbar=None, ax=ax, legend=(row == 0 and col == len(datasets) - 1))
            for model, container in zip(models, ax.containers):  # one container per hue level
                stats = cells[cells["model"] == model].set_index("init").reindex(inits)
                centres = [bar.get_x() + bar.get_width() / 2 for bar in container]
                ax.errorbar(centres, stats["median"], yerr=stats["std"], fmt="none", ecolor="black",
                            capsize=2, linewidth=0.8)
            metric = cells["metric"].iloc[0] if len(cells) else ""
            ax.set_title(dataset if row == 0 else "")
            ax.set_xlabel("")
            ax.set_ylabel(f"{PROTOCOL_LABELS[protocol]}\n{METRIC_LABELS.get(metric, metric)}" if col == 0
                          else METRIC_LABELS.get(metric, metric))
    fig.tight_layout()
    return fig


def figure3(table: pd.DataFrame) -> plt.Figure:
    """Median fine-tuned metric against parameter count per family, one panel per dataset,
    error bars = std over seeds; ``table`` from ``vitmed.report.ablations.capacity_table``."""
    sns.set_theme(style="whitegrid", context="paper")
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), squeeze=False, figsize=(2.8 * len(datasets), 2.6))
    for ax, dataset in zip(axes[0], datasets):
        cells = table[table["dataset"] == dataset].sort_values("rank")
        for family, label in (("cnn", "CNN"), ("vit", "ViT")):
            line = cells[cells["family"] == family]
            ax.errorbar(line["n_parameters"] / 1e6, line["median"], yerr=line["std"], marker="o",
                        capsize=2, linewidth=1, label=label)
            for row in line.itertuples():
                ax.annotate(row.model, (row.n_parameters / 1e6, row.median), fontsize=6,
                            textcoords="offset points", xytext=(2, 3))
        metric = cells["metric"].dropna().iloc[0] if cells["metric"].notna().any() else ""
        ax.set(xscale="log", title=dataset, xlabel="parameters (millions)",
               ylabel=METRIC_LABELS.get(metric, metric))
    axes[0, -1].legend()
    fig.tight_layout()
    return fig


def figure_freezing(table: pd.DataFrame) -> plt.Figure:
    """Median fine-tuned metric against the number of frozen blocks, one line per ViT, one
    panel per dataset, error bars = std over seeds; ``table`` from
    ``vitmed.report.ablations.freezing_table``."""
    sns.set_theme(style="whitegrid", context="paper")
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), squeeze=False, figsize=(2.8 * len(datasets), 2.6))
    for ax, dataset in zip(axes[0], datasets):
        cells = table[table["dataset"] == dataset]
        for base, line in cells.groupby("base", sort=False):
            line = line.sort_values("frozen_blocks")
            ax.errorbar(line["frozen_blocks"], line["median"], yerr=line["std"], marker="o", capsize=2,
                        linewidth=1, label=base)
        metric = cells["metric"].iloc[0]
        ax.set(title=dataset, xlabel="frozen blocks", ylabel=METRIC_LABELS.get(metric, metric))
    axes[0, -1].legend()
    fig.tight_layout()
    return fig


def figure_times(table: pd.DataFrame, baseline: str) -> plt.Figure:
    """Palés Huix et al.'s Figure 3: training (steps to the best epoch) and inference time per
    foundation, relative to ``baseline``, one bar per scenario; ``table`` from
    ``vitmed.report.times.times_table``."""
    sns.set_theme(style="whitegrid", context="paper")
    shown = table.assign(setting=table["scenario"] + ", " + table["classifier"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.35 * len(table) + 1.5), sharey=True)
    for ax, (column, title) in zip(axes, (("iterations_relative", "training: steps to the best epoch"),
                                          ("inference_relative", "inference: seconds per image"))):
        sns.barplot(shown, x=column, y="foundation", hue="setting", ax=ax, orient="h")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set(title=title, xlabel=f"relative to {baseline}", ylabel="")
    axes[1].legend_.remove()
    fig.tight_layout()
    return fig


def figure_decapitation(table: pd.DataFrame) -> plt.Figure:
    """Palés Huix et al.'s Figure 5: the median metric against the foundation blocks kept, one
    line per foundation; rows = unfrozen (top, as theirs) and frozen foundation, columns =
    datasets; ``table`` from ``vitmed.report.ablations.decapitation_table``."""
    sns.set_theme(style="whitegrid", context="paper")
    datasets = list(dict.fromkeys(table["dataset"]))
    scenarios = [s for s in ("unfrozen", "frozen") if s in set(table["scenario"])]
    fig, axes = plt.subplots(len(scenarios), len(datasets), squeeze=False,
                             figsize=(2.8 * len(datasets), 2.4 * len(scenarios)))
    for row, scenario in enumerate(scenarios):
        for ax, dataset in zip(axes[row], datasets):
            cells = table[(table["dataset"] == dataset) & (table["scenario"] == scenario)]
            for base, line in cells.groupby("base", sort=False):
                line = line.sort_values("blocks")
                ax.errorbar(line["blocks"], line["median"], yerr=line["std"], marker="o", capsize=2, linewidth=1,
                            label=base)
            metric = table[table["dataset"] == dataset]["metric"].iloc[0]
            ax.set(title=f"{dataset}, {scenario} foundation", xlabel="foundation blocks kept",
                   ylabel=METRIC_LABELS.get(metric, metric))
    axes[0, -1].legend()
    fig.tight_layout()
    return fig


def figure5(distances: pd.DataFrame) -> plt.Figure:
    """Mean attention distance per layer, one point per head; rows = init, columns = dataset,
    colour = initialized or fine-tuned."""
    sns.set_theme(style="whitegrid", context="paper")
    grid = sns.relplot(distances, x="layer", y="distance", hue="stage", style="model", row="init", col="dataset",
                       kind="scatter", height=2.2, aspect=1.1, s=18, alpha=0.8,
                       hue_order=["initialized", "finetuned"], facet_kws={"sharey": True})
    grid.set_axis_labels("layer", "mean attention distance (px)")
    grid.set_titles("{row_name} · {col_name}")
    return grid.figure


def figure_cka(cka: pd.DataFrame) -> plt.Figure:
    """Layer x layer CKA heatmaps: rows = (model, init), columns = dataset."""
    panels = cka[["model", "init"]].drop_duplicates().values.tolist()
    datasets = list(dict.fromkeys(cka["dataset"]))
    sns.set_theme(style="white", context="paper")
    fig, axes = plt.subplots(len(panels), len(datasets), squeeze=False,
                             figsize=(2.2 * len(datasets), 2.0 * len(panels)))
    for r, (model, init) in enumerate(panels):
        for c, dataset in enumerate(datasets):
            cells = cka[(cka["model"] == model) & (cka["init"] == init) & (cka["dataset"] == dataset)]
            matrix = cells.pivot(index="layer_initialized", columns="layer_finetuned", values="cka")
            sns.heatmap(matrix, vmin=0, vmax=1, cmap="magma", ax=axes[r, c], cbar=c == len(datasets) - 1,
                        square=True, xticklabels=False, yticklabels=False)
            axes[r, c].invert_yaxis()
            axes[r, c].set_title(f"{dataset}" if r == 0 else "")
            axes[r, c].set_xlabel("fine-tuned layer" if r == len(panels) - 1 else "")
            axes[r, c].set_ylabel(f"{model} · {init}\ninitialized layer" if c == 0 else "")
    fig.tight_layout()
    return fig


def figure_cka_models(cka: pd.DataFrame) -> plt.Figure:
    """Model x model last-layer CKA: rows = (init, stage), columns = dataset."""
    panels = cka[["init", "stage"]].drop_duplicates().values.tolist()
    datasets = list(dict.fromkeys(cka["dataset"]))
    models = list(dict.fromkeys(cka["model_a"]))
    sns.set_theme(style="white", context="paper")
    fig, axes = plt.subplots(len(panels), len(datasets), squeeze=False,
                             figsize=(1.2 + 0.9 * len(models) * len(datasets), 0.5 + 0.8 * len(models) * len(panels)))
    for r, (init, stage) in enumerate(panels):
        for c, dataset in enumerate(datasets):
            cells = cka[(cka["init"] == init) & (cka["stage"] == stage) & (cka["dataset"] == dataset)]
            matrix = cells.pivot(index="model_a", columns="model_b", values="cka").loc[models, models]
            sns.heatmap(matrix, vmin=0, vmax=1, cmap="magma", annot=True, fmt=".2f", ax=axes[r, c],
                        cbar=False, square=True, xticklabels=r == len(panels) - 1, yticklabels=c == 0)
            axes[r, c].set_title(dataset if r == 0 else "")
            axes[r, c].set_xlabel("")
            axes[r, c].set_ylabel(f"{init} · {stage}" if c == 0 else "")
    fig.tight_layout()
    return fig


def figure4(saliency: dict[str, dict], mass: float) -> plt.Figure:
    """Columns = (dataset, image); rows = image, Grad-CAM of the CNN, top-mass CLS attention of the ViT."""
    columns = [(name, i) for name, maps in saliency.items() for i in range(len(maps["images"]))]
    fig, axes = plt.subplots(3, len(columns), squeeze=False, figsize=(1.6 * len(columns), 5.0))
    for c, (name, i) in enumerate(columns):
        maps = saliency[name]
        image = maps["images"][i]
        image = image[..., 0] if image.shape[-1] == 1 else image
        attention = (maps["attention"][i] * maps["kept"][i]).mean(axis=0)
        for r, overlay in enumerate((None, maps["grad_cam"][i], attention)):
            ax = axes[r, c]
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            if overlay is not None:
                ax.imshow(overlay, cmap="jet", alpha=0.5)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, c].set_title(name if i == 0 else "", fontsize=8, loc="left")
    first = next(iter(saliency.values()))
    for r, label in enumerate(("image", f"Grad-CAM\n{first['cnn']}", f"top-{mass:.0%} CLS\nattention {first['vit']}")):
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.tight_layout()
    return fig


def figure_attention_maps(arrays: dict, dataset: str) -> plt.Figure:
    """Piater et al.'s Table 4 for one dataset: rows = the images, then each model's maps
    (``map_names``); columns = one test image per class, then the mean over ``n_mean`` images."""
    images, maps, names = arrays["images"], arrays["maps"], arrays["map_names"]
    n_cols = len(images) + 1
    fig, axes = plt.subplots(1 + len(names), n_cols, squeeze=False, figsize=(1.5 * n_cols, 1.5 * (1 + len(names))))
    gray = images.shape[-1] == 1
    for col in range(n_cols):
        for row in range(1 + len(names)):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                if col < len(images):
                    ax.imshow(images[col][..., 0] if gray else images[col], cmap="gray" if gray else None)
                else:
                    ax.set_axis_off()
                continue
            ax.imshow(maps[row - 1, col], cmap="jet", vmin=0, vmax=255)
        title = str(arrays["classes"][arrays["labels"][col]]) if col < len(images) else f"mean of {arrays['n_mean']}"
        axes[0 if col < len(images) else 1, col].set_title(title, fontsize=8)
    for row, name in enumerate(names, start=1):
        axes[row, 0].set_ylabel(str(name).replace(": ", ":\n"), fontsize=6)
    fig.suptitle(f"Attention maps, {dataset}", fontsize=9)
    fig.tight_layout()
    return fig


# Figure 2's colours, as the paper's: ground truth yellow, DeepLabV3-ResNet50 blue, DeepLabV3-DeiT-S red
FIGURE2_COLOURS = {"truth": "yellow", "cnn": "blue", "vit": "red"}


def figure2(examples: dict[str, dict], labels: dict[str, str]) -> plt.Figure:
    """Rows = datasets, columns = test images: each image with the contours of its mask and of
    the CNN's and the ViT's predictions. ``examples[dataset]``: ``images`` (n, H, W, C) uint8,
    ``truth``, ``cnn``, ``vit`` (n, H, W) masks; ``labels``: family -> model name."""
    from matplotlib.lines import Line2D

    n_cols = max(len(e["images"]) for e in examples.values())
    fig, axes = plt.subplots(len(examples), n_cols, squeeze=False, figsize=(2.2 * n_cols, 2.3 * len(examples)))
    for row, (dataset, example) in enumerate(examples.items()):
        for col in range(n_cols):
            ax = axes[row, col]
            ax.set_axis_off()
            if col >= len(example["images"]):
                continue
            image = example["images"][col]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
            for key, colour in FIGURE2_COLOURS.items():
                mask = example[key][col]
                if mask.any() and not mask.all():  # a contour needs both sides
                    ax.contour(mask.astype(float), levels=[0.5], colors=colour, linewidths=1.2)
            if col == 0:
                ax.set_title(dataset, loc="left", fontsize=9)
    handles = [Line2D([], [], color=FIGURE2_COLOURS["truth"], label="ground truth")] + [
        Line2D([], [], color=FIGURE2_COLOURS[family], label=f"DeepLabV3-{name}") for family, name in labels.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
