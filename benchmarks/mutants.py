"""A small mutation test: plant one bug at a time in a function that produces a published number
and check that the test suite fails (the mutant is "killed"); a surviving mutant is a hole in the
tests. Each mutant is a one-line edit that a careless change could make.

    python benchmarks/mutants.py            # every mutant, ~3 minutes on 2 cores
    python benchmarks/mutants.py --only knn-temperature

The source is restored after each run, also when interrupted. ``tests/test_mutants.py`` checks that
every mutant's original text is still in its file, so the list stays in step with the code.
"""
import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    original: str
    mutated: str
    tests: tuple[str, ...]  # pytest arguments that should fail on the mutant


MUTANTS = [
    Mutant("macro-recall-over-predicted-classes", "vitmed/evaluate/metrics.py",
           "labels=np.unique(y_true), zero_division=0", "zero_division=0", ("tests/test_metrics.py",)),
    Mutant("saturation-counter-not-reset", "vitmed/train/schedule.py",
           "                self.epochs_since_best = 0\n", "                pass\n", ("tests/test_train.py",)),
    Mutant("cka-keeps-short-last-batch", "vitmed/analysis/cka.py",
           "range(0, len(x) - step + 1, step)", "range(0, len(x), step)", ("tests/test_cka.py",)),
    Mutant("vertical-flip-ignored", "vitmed/data/augment.py",
           "torch.where(params.vflip, -1.0, 1.0) * (y2 - y1) / height", "(y2 - y1) / height",
           ("tests/test_augment.py", "tests/test_segmentation.py")),
    Mutant("ungrouped-rows-pooled", "vitmed/data/splits.py",
           '"_row" + np.arange(n).astype(str)', '"_row"', ("tests/test_splits.py",)),
    Mutant("knn-temperature-ignored", "vitmed/evaluate/knn.py",
           "(top_sim / temperature).exp()", "top_sim.exp()", ("tests/test_knn.py",)),
    Mutant("welch-equal-variances", "vitmed/report/compare.py",
           "equal_var=False", "equal_var=True", ("tests/test_compare.py",)),
    Mutant("iou-without-false-positives", "vitmed/evaluate/segmentation.py",
           "self.fp + int(fp.sum())", "self.fp", ("tests/test_segmentation.py", "-k", "iou or empty")),
    Mutant("mask-sampled-bilinear", "vitmed/data/augment.py",
           'grid, mode="nearest", padding_mode="border"', 'grid, mode="bilinear", padding_mode="border"',
           ("tests/test_segmentation.py", "-k", "crops or elastic or flips")),
    Mutant("dino-ema-momentum-inverted", "vitmed/train/dino.py",
           "update_momentum(self.student, self.teacher, momentum)",
           "update_momentum(self.student, self.teacher, 1 - momentum)", ("tests/test_dino.py", "-k", "ema")),
    Mutant("test-score-of-the-last-epoch", "vitmed/train/finetune.py",
           '    model.load_state_dict(loop.state["best_state"])\n', "",
           ("tests/test_finetune.py", "-k", "learns or restore_best")),
    Mutant("claim-direction-inverted", "vitmed/report/claims.py",
           '"greater": effect > 0', '"greater": effect < 0', ("tests/test_claims.py",)),
]


def run(mutant: Mutant, timeout: int = 600) -> tuple[str, float]:
    path = ROOT / mutant.file
    source = path.read_text()
    if source.count(mutant.original) != 1:
        return f"not applied ({source.count(mutant.original)} matches)", 0.0
    start = time.perf_counter()
    try:
        path.write_text(source.replace(mutant.original, mutant.mutated))
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests],
                              cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        verdict = "killed" if done.returncode != 0 else "SURVIVED"
    finally:
        path.write_text(source)
    return verdict, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="mutant names")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    results = [(m, *run(m)) for m in chosen]
    for mutant, verdict, seconds in results:
        print(f"{mutant.name:<40} {verdict:<10} {seconds:6.1f} s  ({mutant.file})")
    killed = sum(verdict == "killed" for _, verdict, _ in results)
    print(f"mutation score: {killed} of {len(results)} killed")


if __name__ == "__main__":
    main()
