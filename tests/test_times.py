"""Palés Huix et al.'s Figure 3: steps to the best epoch and inference time, relative to a baseline."""
import pandas as pd
import pytest

from vitmed.report.times import times_markdown, times_table


def runs() -> pd.DataFrame:
    rows = []
    # (model, dataset) -> per-seed (best_iteration, seconds_per_image)
    measured = {("Base", "A"): [(100, 1.0), (120, 1.0), (110, 3.0)], ("Base", "B"): [(50, 2.0), (50, 2.0), (50, 2.0)],
                ("Found", "A"): [(220, 2.0), (220, 2.0), (220, 2.0)], ("Found", "B"): [(50, 1.0), (60, 1.0), (40, 1.0)],
                ("Found-frozen", "A"): [(330, 1.0)] * 3, ("Found-frozen", "B"): [(150, 2.0)] * 3}
    for (model, dataset), values in measured.items():
        for seed, (steps, seconds) in enumerate(values):
            rows.append({"dataset": dataset, "model": model, "init": "pretrained", "seed": seed, "protocol": "finetune",
                         "value": 0.5, "best_iteration": steps, "seconds_per_image": seconds})
    return pd.DataFrame(rows)


def test_times_are_seed_medians_over_the_baselines_averaged_over_datasets():
    table = times_table(runs(), ["Base", "Found"], {"Found-frozen": ("Found", "frozen_linear")}, "Base",
                        "pretrained", ["A", "B"]).set_index("model")
    assert table.loc["Base", "iterations_relative"] == table.loc["Base", "inference_relative"] == 1.0
    # Found: steps 220 / 110 on A and 50 / 50 on B; inference 2 / 1 and 1 / 2
    assert table.loc["Found", "iterations_relative"] == pytest.approx((2.0 + 1.0) / 2)
    assert table.loc["Found", "inference_relative"] == pytest.approx((2.0 + 0.5) / 2)
    assert table.loc["Found-frozen", "iterations_relative"] == pytest.approx((3.0 + 3.0) / 2)
    assert tuple(table.loc["Found-frozen", ["foundation", "scenario", "classifier"]]) == ("Found", "frozen", "Linear")
    assert tuple(table.loc["Found", ["scenario", "classifier"]]) == ("unfrozen", "Linear")
    markdown = times_markdown(table.reset_index(), "Base", "s")
    assert "| Found | frozen | Linear | 3.00 × | 1.00 × |" in markdown and "mean over 2 datasets" in markdown


def test_missing_runs_and_unmeasured_runs_are_named():
    with pytest.raises(ValueError, match=r"times: no pretrained fine-tuning of \[\('Other', 'A'\), \('Other', 'B'\)\]"):
        times_table(runs(), ["Base", "Other"], {}, "Base", "pretrained", ["A", "B"])
    old = runs()
    old.loc[old["model"] == "Found", "seconds_per_image"] = float("nan")  # fine-tuned before they were recorded
    with pytest.raises(ValueError, match=r"runs without best_iteration / seconds_per_image: \[\('Found', 'A'\)"):
        times_table(old, ["Base", "Found"], {}, "Base", "pretrained", ["A", "B"])
