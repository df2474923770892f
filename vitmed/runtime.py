"""Run-time helpers shared by jobs: logging into the rule's log file, threads, per-epoch
randomness, stopping a diverged run."""
from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path


def setup_job(log_path: str | None, threads: int = 1) -> logging.Logger:
    """Send logging, warnings and progress bars (stderr) to the rule's ``log:`` file, and
    limit torch to the rule's ``threads`` so parallel jobs do not oversubscribe cores."""
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_path, "w", buffering=1)
        sys.stderr = stream
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    if "torch" in sys.modules or threads:
        import torch
        # never more threads than cores this process may run on (a scheduler may grant more)
        torch.set_num_threads(max(1, min(threads, len(os.sched_getaffinity(0)))))
        torch.use_deterministic_algorithms(True, warn_only=True)
    return logging.getLogger("vitmed")


def epoch_generator(seed: int, epoch: int):
    """Seed the global RNG (augmentations draw from it) and return the shuffling generator of
    one epoch: every epoch's randomness depends on (seed, epoch) only, so a run resumed at an
    epoch boundary retraces an uninterrupted one."""
    import torch
    torch.manual_seed(seed * 100_003 + epoch)
    return torch.Generator().manual_seed(seed * 100_019 + epoch)


def finite_losses(losses: list, first_iteration: int, what: str) -> list[float]:
    """An epoch's loss tensors as floats, read once at its end (``loss.item()`` every step
    would make the CPU wait for the GPU each step, so it could not prepare the next batch).
    A non-finite one stops the run, naming its iteration, before NaN weights are saved."""
    import torch

    values = torch.stack(losses).float().cpu().tolist() if losses else []
    for offset, value in enumerate(values):
        if not math.isfinite(value):
            raise FloatingPointError(f"{what} iteration {first_iteration + offset}: loss is {value}; the run "
                                     "diverged (lower the learning rate, or use fp32 where bf16 overflowed)")
    return values
