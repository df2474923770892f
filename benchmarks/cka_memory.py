"""Minibatch CKA against full-Gram CKA: time and peak memory as the number of images grows.

Both use vitmed.analysis.cka (the full-Gram value is the same estimator with one batch holding every
image). Each measurement runs in a fresh process so its peak resident memory is its own;
the baseline process (imports + features, no CKA) is subtracted.

    python benchmarks/cka_memory.py [--sizes 1024 4096 16384 --dim 384 --batch 64]
"""
import argparse
import resource
import subprocess
import sys
import time

import torch


def child(method: str, n: int, dim: int, batch: int) -> None:
    from vitmed.analysis.cka import linear_cka

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, dim, generator=generator)
    y = torch.tanh(x @ torch.randn(dim, dim, generator=generator)) + torch.randn(n, dim, generator=generator)
    start = time.perf_counter()
    value = {"none": lambda: float("nan"), "full": lambda: linear_cka(x, y),
             "minibatch": lambda: linear_cka(x, y, batch_size=batch)}[method]()
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds} {peak_mib} {value}")


def measure(method: str, n: int, args) -> tuple[float, float, float]:
    out = subprocess.run([sys.executable, __file__, "--child", method, str(n), "--dim", str(args.dim),
                          "--batch", str(args.batch)], capture_output=True, text=True, check=True)
    seconds, peak, value = map(float, out.stdout.split())
    return seconds, peak, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), args.dim, args.batch)

    print(f"features of dim {args.dim}, minibatch {args.batch}; memory above a process holding the features")
    print(
        f"{'images':>8} {'full s':>8} {'full MiB':>9} {'batch s':>8} {'batch MiB':>10} {'mem ratio':>10} {'|diff|':>8}"
    )
    for n in args.sizes:
        _, base, _ = measure("none", n, args)
        full_s, full_peak, full_value = measure("full", n, args)
        mini_s, mini_peak, mini_value = measure("minibatch", n, args)
        full_mib, mini_mib = max(full_peak - base, 0.0), max(mini_peak - base, 0.0)
        print(f"{n:>8} {full_s:>8.2f} {full_mib:>9.0f} {mini_s:>8.2f} {mini_mib:>10.0f} "
              f"{full_mib / max(mini_mib, 1.0):>9.0f}x {abs(full_value - mini_value):>8.4f}")


if __name__ == "__main__":
    main()
