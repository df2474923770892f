"""k-NN evaluation: ours (vitmed.evaluate.knn.knn_scores) against scikit-learn's brute-force cosine k-NN.

Same features, same k, same exp(similarity / T) vote weights; prints both times, the speed-up
(scikit-learn time / ours) and whether the predictions agree.

    python benchmarks/knn_vs_sklearn.py [--train 50000 --test 10000 --dim 384 --classes 5]
"""
import argparse
import time

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

from vitmed.evaluate.knn import knn_scores
from vitmed.jobs.devices import select_device


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=384, help="DeiT-S CLS width")
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.07)
    args = parser.parse_args()

    # clustered features, like a pretrained encoder's: class centres plus noise
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(args.classes, args.dim))
    train_y = rng.integers(0, args.classes, args.train)
    test_y = rng.integers(0, args.classes, args.test)
    train_x = (centres[train_y] + 2.0 * rng.normal(size=(args.train, args.dim))).astype(np.float32)
    test_x = (centres[test_y] + 2.0 * rng.normal(size=(args.test, args.dim))).astype(np.float32)
    device = select_device()
    print(f"{args.train} train x {args.test} test features of dim {args.dim}, k={args.k}, ours on {device}, "
          f"{torch.get_num_threads()} torch threads")

    def run_ours():
        return knn_scores(torch.from_numpy(train_x), torch.from_numpy(train_y), torch.from_numpy(test_x),
                          k=args.k, temperature=args.temperature, num_classes=args.classes, device=device).numpy()

    start = time.perf_counter()
    run_ours()  # the process's first call also starts CUDA and cuBLAS: reported, not compared
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = run_ours()
    ours_s = time.perf_counter() - start  # includes moving the features to the device and back

    def vote_weights(distances):  # cosine distance = 1 - similarity
        return np.exp((1.0 - distances) / args.temperature)

    start = time.perf_counter()
    reference = KNeighborsClassifier(n_neighbors=args.k, metric="cosine", algorithm="brute",
                                     weights=vote_weights, n_jobs=-1).fit(train_x, train_y)
    theirs = reference.predict_proba(test_x)
    sklearn_s = time.perf_counter() - start

    agree = (ours.argmax(1) == theirs.argmax(1)).mean()
    print(f"ours          {ours_s:8.2f} s   (first call of the process: {first_s:.2f} s)")
    print(f"scikit-learn  {sklearn_s:8.2f} s")
    print(f"speed-up (scikit-learn / ours): {sklearn_s / ours_s:.1f}x   target >= 10x")
    print(f"same prediction for {agree:.2%} of test images; max |score difference| "
          f"{np.abs(ours - theirs).max():.2e}")


if __name__ == "__main__":
    main()
