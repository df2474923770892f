"""Tables 4 and 5 and Figure 3 from a run table with known values."""
import numpy as np
import pandas as pd
import pytest

from vitmed.report.ablations import capacity_table, freezing_table, patch_size_table, weights_notes
from vitmed.report.tables import to_latex, to_markdown

CAPACITY = {"cnn": ["R18", "R50"], "vit": ["DT", "DS"]}
PARAMS = {"R18": 11_000_000, "R50": 25_000_000, "DT": 5_000_000, "DS": 22_000_000, "DS8": 21_000_000}


def runs() -> pd.DataFrame:
    rows = []
    for model, base in (("R18", 0.80), ("R50", 0.82), ("DT", 0.78), ("DS", 0.83), ("DS8", 0.85)):
        for dataset, classes in (("A", 2), ("B", 5)):
            for seed, noise in enumerate((-0.01, 0.0, 0.02)):
                for init in ("imagenet", "random"):
                    rows.append({"dataset": dataset, "model": model, "init": init, "seed": seed,
                                 "protocol": "finetune", "metric": "roc_auc",
                                 "value": base + noise - (0.3 if init == "random" else 0),
                                 "weights": "timm hub" if init == "imagenet" else "random",
                                 "n_parameters": PARAMS[model] + classes})
    # a k-NN row must not leak into the fine-tuning tables
    rows.append(dict(rows[0], protocol="knn", value=0.1))
    return pd.DataFrame(rows)


def test_capacity_table_is_the_imagenet_finetuning_median_and_std_per_family():
    table = capacity_table(runs(), CAPACITY, "imagenet", ["A", "B"])
    assert list(table["model"].unique()) == ["R18", "R50", "DT", "DS"]
    cell = table.set_index(["model", "dataset"])
    assert cell.loc[("R50", "A"), "median"] == pytest.approx(0.82)
    assert cell.loc[("R50", "A"), "std"] == pytest.approx(np.std([0.81, 0.82, 0.84], ddof=1))
    assert cell.loc[("DT", "B"), "family"] == "vit" and cell.loc[("DS", "B"), "rank"] == 1
    assert cell.loc[("R18", "B"), "n_parameters"] == 11_000_005  # the head of B's five classes
    assert (table["init"] == "imagenet").all() and (table["n_seeds"] == 3).all()


def test_patch_size_table_labels_rows_by_patch_size_largest_first():
    table = patch_size_table(runs(), {8: "DS8", 16: "DS"}, "imagenet", ["A"])
    assert list(table["model"]) == ["DS (16×16 patches)", "DS8 (8×8 patches)"]
    assert list(table["patch_size"]) == [16, 8]
    assert table["median"].tolist() == pytest.approx([0.83, 0.85])


def test_stand_in_weights_are_noted_under_the_tables():
    models = {"DS": {"weights_note": None}, "DS8": {"weights_note": "DINO ViT-S/8 stands in"}}
    notes = weights_notes(models, ["DS", "DS8"])
    assert notes == ["DS8: DINO ViT-S/8 stands in"]
    table = patch_size_table(runs(), {8: "DS8", 16: "DS"}, "imagenet", ["A"])
    markdown = to_markdown(table, {"A": "roc_auc"}, "Table 5", notes)
    assert "| ImageNet (supervised) [timm hub] | DS8 (8×8 patches) | 0.850 ± 0.015 |" in markdown
    assert markdown.rstrip().endswith("*DS8: DINO ViT-S/8 stands in*")
    assert "DS8: DINO ViT-S/8 stands in" in to_latex(table, {"A": "roc_auc"}, "Table 5", notes)


def test_figure3_plots_each_family_against_its_parameter_count():
    from vitmed.report.figures import figure3

    table = capacity_table(runs(), CAPACITY, "imagenet", ["A", "B"])
    fig = figure3(table)
    assert len(fig.axes) == 2
    data_lines = [container.lines[0] for container in fig.axes[0].containers]  # one errorbar per family
    x = [np.asarray(line.get_xdata(), float).tolist() for line in data_lines]
    y = [np.asarray(line.get_ydata(), float).tolist() for line in data_lines]
    assert x == [pytest.approx([11.000002, 25.000002]), pytest.approx([5.000002, 22.000002])]  # dataset A: 2 classes
    assert y == [pytest.approx([0.80, 0.82]), pytest.approx([0.78, 0.83])]
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["CNN", "ViT"]


def test_freezing_table_and_figure_order_each_vit_by_frozen_blocks():
    from vitmed.report.figures import figure_freezing

    frozen = {"DS": {"DS": 0, "DS8": 4}, "DT": {"DT": 0, "R50": 2}}  # stand-ins: base 0, variants frozen
    table = freezing_table(runs(), frozen, "imagenet", ["A", "B"])
    cells = table.set_index(["model", "dataset"])
    assert list(table["model"].unique()) == ["DS", "DS8", "DT", "R50"]
    assert cells.loc[("DS8", "A"), "frozen_blocks"] == 4 and cells.loc[("DS8", "A"), "base"] == "DS"
    assert cells.loc[("R50", "B"), "median"] == pytest.approx(0.82)
    fig = figure_freezing(table)
    lines = [container.lines[0] for container in fig.axes[0].containers]  # one errorbar per ViT
    assert [np.asarray(line.get_xdata(), float).tolist() for line in lines] == [[0, 4], [0, 2]]
    assert [np.asarray(line.get_ydata(), float).tolist() for line in lines] == [pytest.approx([0.83, 0.85]),
                                                                              pytest.approx([0.78, 0.82])]
    with pytest.raises(ValueError, match=r"freezing: no imagenet fine-tuning of \[\['DS', 'C'\], \['DS8', 'C'\]\]"):
        freezing_table(runs(), {"DS": {"DS": 0, "DS8": 4}}, "imagenet", ["A", "C"])


def test_scenarios_put_each_frozen_foundation_before_the_unfrozen_ones():
    """The foundation paper's Tables 1 (frozen) and 2 (unfrozen), Linear rows: DS8 stands for DS
    with its encoder frozen; the medians are the seeds' medians of each model."""
    from vitmed.report.ablations import scenarios_report

    table, markdown, latex = scenarios_report(runs(), {"DS8": ("DS", "frozen_linear"), "DT": ("R50", "frozen_linear")},
                                              "imagenet",
                                              {"A": "roc_auc", "B": "roc_auc"}, "s")
    assert list(zip(table["scenario"], table["foundation"], table["model"]))[::2] == [
        ("frozen", "DS", "DS8"), ("frozen", "R50", "DT"), ("unfrozen", "DS", "DS"), ("unfrozen", "R50", "R50")]
    cell = table.set_index(["model", "dataset"])
    assert cell.loc[("DS8", "A"), "median"] == pytest.approx(0.85) and cell.loc[("R50", "B"), "std"] == pytest.approx(
        np.std([0.81, 0.82, 0.84], ddof=1))
    assert "| Linear, frozen: DS | 0.850 ± 0.015 | 0.850 ± 0.015 |" in markdown
    assert r"Linear, unfrozen: R50" in latex
    with pytest.raises(ValueError, match=r"scenarios: no random fine-tuning of \[\['DS8', 'A'\]"):
        scenarios_report(runs()[lambda r: ~((r["model"] == "DS8") & (r["init"] == "random") & (r["dataset"] == "A"))],
                         {"DS8": ("DS", "frozen_linear")}, "random", {"A": "roc_auc"}, "s")
