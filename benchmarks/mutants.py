"""A small mutation test: plant one bug at a time in a function that produces a published number
and check that the test suite fails (the mutant is "killed"); a surviving mutant is a hole in the
tests. Each mutant is a one-line edit that a careless change could make.

    python benchmarks/mutants.py            # every mutant, ~5 minutes on 2 cores
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
           "stats.ttest_ind(a, b, equal_var=False)", "stats.ttest_ind(a, b, equal_var=True)",
           ("tests/test_compare.py",)),
    Mutant("published-welch-equal-variances", "vitmed/report/compare.py",
           "ttest_ind_from_stats(*a, *b, equal_var=False)", "ttest_ind_from_stats(*a, *b, equal_var=True)",
           ("tests/test_compare.py", "tests/test_claims.py")),
    Mutant("affine-not-mirrored", "vitmed/data/augment.py",
           'grid = mirror(torch.einsum("nij,nhwj->nhwi", affine, grid * scale.sign()))',
           'grid = torch.einsum("nij,nhwj->nhwi", affine, grid * scale.sign())', ("tests/test_affine.py",)),
    Mutant("affine-before-the-flips", "vitmed/data/augment.py",
           'torch.einsum("nij,nhwj->nhwi", affine, grid * scale.sign())',
           'torch.einsum("nij,nhwj->nhwi", affine, grid) * scale.sign()', ("tests/test_affine.py",)),
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
    Mutant("linear-probe-own-statistics", "vitmed/evaluate/linear_probe.py",
           "return [(x - mean) / std for x in (train, *others)]",
           "return [(x - x.mean(0)) / std for x in (train, *others)]", ("tests/test_linear_probe.py",)),
    Mutant("linear-probe-bias-penalized", "vitmed/evaluate/linear_probe.py",
           "l2 / 2 * head.weight.square().sum()", "l2 / 2 * (head.weight.square().sum() + head.bias.square().sum())",
           ("tests/test_linear_probe.py",)),
    Mutant("linear-probe-worst-penalty", "vitmed/evaluate/linear_probe.py",
           "(val_value, l2) > (best[1], best[0])", "(val_value, l2) < (best[1], best[0])",
           ("tests/test_linear_probe.py",)),
    Mutant("linear-probe-tie-to-weaker-penalty", "vitmed/evaluate/linear_probe.py",
           "(val_value, l2) > (best[1], best[0])", "(val_value, -l2) > (best[1], -best[0])",
           ("tests/test_linear_probe.py",)),
    Mutant("attention-distance-in-patches", "vitmed/analysis/attention_distance.py",
           ".double() * patch_size", ".double()", ("tests/test_attention.py",)),
    Mutant("attention-not-renormalized-over-patches", "vitmed/analysis/attention_distance.py",
           "    patches = patches / patches.sum(dim=-1, keepdim=True)\n", "", ("tests/test_attention.py",)),
    Mutant("attention-distance-batches-unweighted", "vitmed/analysis/attention_distance.py",
           "totals + per_layer * len(images)", "totals + per_layer", ("tests/test_attention.py",)),
    Mutant("attention-distance-cls-queries", "vitmed/analysis/attention_distance.py",
           "attention[:, :, num_prefix:, num_prefix:]", "attention[:, :, :, num_prefix:]",
           ("tests/test_attention.py",)),
    Mutant("top-mass-keeps-one-more", "vitmed/analysis/saliency.py",
           "keep_sorted = before < mass", "keep_sorted = before <= mass", ("tests/test_saliency.py",)),
    Mutant("cls-attention-of-the-first-layer", "vitmed/analysis/saliency.py",
           "last = captured[-1]", "last = captured[0]", ("tests/test_saliency.py",)),
    Mutant("cls-attention-of-a-patch-query", "vitmed/analysis/saliency.py",
           "to_patches = last[:, :, 0, prefix:]", "to_patches = last[:, :, prefix, prefix:]",
           ("tests/test_saliency.py",)),
    Mutant("multilabel-stratum-commonest-label", "vitmed/data/splits.py",
           "for k in order[::-1]:", "for k in order:", ("tests/test_splits.py",)),
    Mutant("splits-not-stratified", "vitmed/data/splits.py",
           'per_group.groupby("stratum", sort=True)', 'per_group.assign(stratum=0).groupby("stratum", sort=True)',
           ("tests/test_splits.py",)),
    Mutant("kappa-linear-weights", "vitmed/evaluate/metrics.py",
           'weights="quadratic"', 'weights="linear"', ("tests/test_metrics.py",)),
    Mutant("macro-auc-counts-ignored-labels", "vitmed/evaluate/metrics.py",
           "    known = y_true >= 0\n", "    known = y_true >= -1\n", ("tests/test_metrics.py",)),
    Mutant("hsic-diagonal-kept", "vitmed/analysis/cka.py",
           "    gram.fill_diagonal_(0)\n", "", ("tests/test_cka.py",)),
    Mutant("dino-teacher-sees-local-views", "vitmed/train/dino.py",
           "self.teacher_forward(crop).float() for crop in crops[:2]]",
           "self.teacher_forward(crop).float() for crop in crops]", ("tests/test_dino.py", "-k", "ema")),
    Mutant("warmup-off-by-one", "vitmed/train/schedule.py",
           "min(1.0, (iteration + 1) / self.warmup_iters)", "min(1.0, iteration / self.warmup_iters)",
           ("tests/test_train.py",)),
    Mutant("lr-drops-at-patience", "vitmed/train/schedule.py",
           "if self.epochs_since_best > self.patience:", "if self.epochs_since_best >= self.patience:",
           ("tests/test_train.py",)),
    Mutant("knn-ignored-labels-vote", "vitmed/evaluate/knn.py",
           "exp().unsqueeze(-1) * known[top_idx]", "exp().unsqueeze(-1)", ("tests/test_knn.py",)),
    Mutant("knn-one-neighbour-too-few", "vitmed/evaluate/knn.py",
           "similarity.topk(k, dim=1)", "similarity.topk(k - 1, dim=1)", ("tests/test_knn.py",)),
    Mutant("clip-norm-pre-left-training", "vitmed/models/freezing.py",
           'getattr(model, "norm_pre", nn.Identity()), *blocks[:n]]', "*blocks[:n]]",
           ("tests/test_foundation.py", "-k", "input_end")),
    Mutant("frozen-encoder-batch-norm-updates", "vitmed/models/freezing.py",
           "            layer.register_forward_pre_hook(_keep_statistics)\n", "            pass\n",
           ("tests/test_foundation.py", "tests/test_appended.py", "-k", "frozen")),
    Mutant("resplit-redraws-publisher-test", "vitmed/data/resplit.py",
           'fixed = index["split"].where(index["split"] == "test", "trainval")', "fixed = None",
           ("tests/test_resplit.py",)),
    Mutant("search-chooses-worst", "vitmed/train/search.py",
           'best = max(candidates, key=lambda row: row["val_mean"])',
           'best = min(candidates, key=lambda row: row["val_mean"])', ("tests/test_search.py",)),
    Mutant("ga-map-over-keys", "vitmed/analysis/attention_maps.py",
           "attended = block.attention(x).mean(dim=1)", "attended = block.attention(x).mean(dim=2)",
           ("tests/test_attention_maps.py",)),
    Mutant("high-resolution-store-not-scaled", "vitmed/study.py",
           'round(own * self.config["image_size"] / self.config["input_size"])', "own",
           ("tests/test_resolution.py",)),
    Mutant("appended-classifier-sees-prefix-tokens", "vitmed/models/appended.py",
           'tokens = features[:, getattr(foundation, "num_prefix_tokens", 0):]',
           "tokens = features[:, :rows * cols]", ("tests/test_appended.py",)),
    Mutant("feature-usage-not-given-the-label", "vitmed/analysis/feature_usage.py",
           "pvalues = independence_pvalues(values[keep], scores[keep], onehot[keep], tests, settings)",
           "pvalues = independence_pvalues(values[keep], scores[keep], 0 * onehot[keep], tests, settings)",
           ("tests/test_feature_usage.py", "-k", "feature_usage_of_a_model")),
    Mutant("feature-usage-any-test-decides", "vitmed/analysis/independence.py",
           "return sum(p < alpha for p in pvalues.values()) * 2 > len(pvalues)",
           "return any(p < alpha for p in pvalues.values())", ("tests/test_feature_usage.py", "-k", "majority")),
    Mutant("asymmetry-about-one-axis", "vitmed/analysis/lesion_features.py",
           "    for axis in axes.T:\n", "    for axis in axes.T[:1]:\n",
           ("tests/test_feature_usage.py", "-k", "asymmetry")),
    Mutant("ita-of-the-lesion", "vitmed/analysis/lesion_features.py",
           "skin = ~_dilated(mask, SKIN_MARGIN) & ", "skin = mask & ",
           ("tests/test_feature_usage.py", "-k", "typology")),
    Mutant("seem-post-norm-before-the-sum", "vitmed/models/seem.py",
           "x = self.norm1(x + self.drop_path1(self.ls1(self.modulation(x))))",
           "x = x + self.drop_path1(self.ls1(self.norm1(self.modulation(x))))", ("tests/test_seem.py",)),
    Mutant("seem-downsample-not-moved", "vitmed/models/seem.py",
           'key = f"layers.{int(downsample.group(1)) + 1}.downsample.{downsample.group(2)}"',
           'key = f"layers.{int(downsample.group(1))}.downsample.{downsample.group(2)}"', ("tests/test_seem.py",)),
    Mutant("usage-claim-by-all-is-by-most", "vitmed/report/claims.py",
           'holds = {"used_by_all": a == 1.0,', 'holds = {"used_by_all": a > 0.5,', ("tests/test_claims.py",)),
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
