"""Writing a table's files and finding a rule's outputs by artefact name."""
import pandas as pd
import pytest

from vitmed.jobs.io import named_files
from vitmed.report.tables import result_table, write_table


class Output(dict):
    """Snakemake's named output list, as scripts see it: keys() and item access."""


def test_named_files_picks_one_artefact_by_exact_name():
    output = Output(cka_png="a.png", cka_pdf="a.pdf", cka_models_png="b.png", cka_models_pdf="b.pdf", layers="l.pq")
    assert named_files(output, "cka") == {"png": "a.png", "pdf": "a.pdf"}
    assert named_files(output, "cka_models", ("png",)) == {"png": "b.png"}
    with pytest.raises(KeyError, match="no outputs named figure9_<ext>"):
        named_files(output, "figure9")


def test_write_table_writes_each_format_and_refuses_a_missing_rendering(tmp_path):
    table = pd.DataFrame({"model": ["A"], "median": [0.5]})
    paths = {ext: tmp_path / f"t.{ext}" for ext in ("csv", "md", "tex")}
    write_table(paths, table, "**t**\n", "\\begin{table}\n")
    assert pd.read_csv(paths["csv"]).equals(table)
    assert paths["md"].read_text() == "**t**\n" and paths["tex"].read_text() == "\\begin{table}\n"
    elsewhere = {ext: tmp_path / "other" / f"t.{ext}" for ext in ("csv", "md", "tex")}
    with pytest.raises(ValueError, match=r"other/t\.tex: this table has no LaTeX rendering"):
        write_table(elsewhere, table, "**t**\n")
    assert not (tmp_path / "other").exists(), "nothing written when one format cannot be"


def test_result_table_is_the_median_and_std_over_seeds_per_cell():
    runs = pd.DataFrame({"dataset": "D", "model": "M", "init": "random", "seed": [0, 1, 2], "protocol": "finetune",
                         "metric": "roc_auc", "value": [0.6, 0.9, 0.7], "weights": "random"})
    table, markdown, latex = result_table(runs, "finetune", ["random"], ["M"], {"D": "roc_auc"}, "Table 1 (t)")
    assert table.loc[0, "median"] == pytest.approx(0.7) and table.loc[0, "std"] == pytest.approx(0.15275252)
    assert "0.700 ± 0.153" in markdown and "0.700 $\\pm$ 0.153" in latex and "Table 1 (t)" in markdown
