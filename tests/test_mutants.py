"""The mutation test's planted bugs still match the code they mutate (benchmarks/mutants.py)."""
import sys

from helpers import ROOT


def test_every_mutant_applies_to_exactly_one_place():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from mutants import MUTANTS

    for mutant in MUTANTS:
        source = (ROOT / mutant.file).read_text()
        assert source.count(mutant.original) == 1, mutant.name
        assert mutant.original != mutant.mutated and mutant.tests[0].startswith("tests/")
