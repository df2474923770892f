"""The reporting path without Snakemake: metric files -> runs table -> median ± std -> Table 1's
Markdown and LaTeX, cell by cell."""
import json

import pandas as pd
import pytest

from vitmed.report.runs import collect_runs
from vitmed.report.tables import result_table


def run(seed: int, value: float, model: str = "M", init: str = "random", **extra) -> dict:
    return {"dataset": "D", "model": model, "init": init, "seed": seed, "protocol": "finetune",
            "metric": "roc_auc", "value": value, "weights": "random" if init == "random" else "timm hub",
            "n_parameters": 10, **extra}


def test_collect_runs_reads_single_runs_and_lists_and_refuses_duplicates_and_gaps(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(run(0, 0.6)))
    (tmp_path / "b.json").write_text(json.dumps([run(1, 0.8), run(2, 0.7)]))
    runs = collect_runs([tmp_path / "a.json", tmp_path / "b.json"])
    assert list(runs["seed"]) == [0, 1, 2] and runs["value"].tolist() == [0.6, 0.8, 0.7]
    assert runs["mean_iou"].isna().all()  # segmentation's columns, empty for classification
    (tmp_path / "c.json").write_text(json.dumps(run(1, 0.9)))
    with pytest.raises(ValueError, match="duplicate runs"):
        collect_runs([tmp_path / "b.json", tmp_path / "c.json"])
    broken = run(3, 0.5)
    del broken["weights"]
    (tmp_path / "d.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"d.json: metrics lack \['weights'\]"):
        collect_runs([tmp_path / "d.json"])


def test_table_cells_are_median_and_sample_std_in_config_order_with_gaps_marked():
    runs = pd.DataFrame([run(0, 0.60), run(1, 0.90), run(2, 0.70),            # median 0.70, std 0.1528
                         run(0, 0.80, model="V"), run(1, 0.84, model="V"),     # median 0.82, std 0.0283
                         run(0, 0.75, init="imagenet")])                        # one seed: std 0
    table, markdown, latex = result_table(runs, "finetune", ["random", "imagenet"], ["V", "M"],
                                          {"D": "roc_auc"}, "Table 1 (t)")
    cells = table.set_index(["init", "model"])
    assert list(cells.index) == [("random", "V"), ("random", "M"), ("imagenet", "V"), ("imagenet", "M")]
    assert cells.loc[("random", "M"), "median"] == pytest.approx(0.70)
    assert cells.loc[("random", "M"), "std"] == pytest.approx(0.152753, abs=1e-6)  # ddof 1
    assert cells.loc[("random", "V"), "std"] == pytest.approx(0.028284, abs=1e-6)
    assert cells.loc[("imagenet", "M"), "std"] == 0.0 and pd.isna(cells.loc[("imagenet", "V"), "median"])
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "Model" not in line]
    assert rows == ["| Random | V | 0.820 ± 0.028 |", "| Random | M | 0.700 ± 0.153 |",
                    "| ImageNet (supervised) [timm hub] | V | – |",
                    "| ImageNet (supervised) [timm hub] | M | 0.750 ± 0.000 |"]
    body = latex.split(r"\midrule", 1)[1]
    assert r"Random & V & 0.820 $\pm$ 0.028 \\" in body and r" & M & 0.700 $\pm$ 0.153 \\" in body
    assert body.count(r"\midrule") == 1  # between the two inits
    assert r"D, ROC-AUC $\uparrow$" in latex and r"\caption{Table 1 (t)}" in latex


def test_missing_real_fixtures_skip_in_a_clone_and_fail_in_ci(tmp_path, monkeypatch):
    from conftest import require_fixtures

    assert require_fixtures(tmp_path) == tmp_path
    monkeypatch.delenv("VITMED_REQUIRE_FIXTURES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="real dataset fixtures not found"):
        require_fixtures(tmp_path / "missing")
    monkeypatch.setenv("VITMED_REQUIRE_FIXTURES", "1")
    with pytest.raises(pytest.fail.Exception, match="VITMED_REQUIRE_FIXTURES is set"):
        require_fixtures(tmp_path / "missing")
