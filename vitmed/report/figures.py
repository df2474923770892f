"""Figure 1: fine-tuning vs k-NN per dataset, model and init (seaborn bars, std error bars)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from vitmed.metrics import METRIC_LABELS  # noqa: E402
from vitmed.report.tables import summarize  # noqa: E402

PROTOCOL_LABELS = {"finetune": "Fine-tuning", "knn": "k-NN"}


def figure1(runs: pd.DataFrame, datasets: list[str], models: list[str], inits: list[str]) -> plt.Figure:
    summary = pd.concat([summarize(runs, p).assign(protocol=p) for p in PROTOCOL_LABELS])
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(len(PROTOCOL_LABELS), len(datasets), squeeze=False,
                             figsize=(2.6 * len(datasets), 2.4 * len(PROTOCOL_LABELS)), sharey="col")
    for row, protocol in enumerate(PROTOCOL_LABELS):
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
