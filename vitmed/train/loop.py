"""The resumable epoch loop that every training stage runs on (fine-tuning, source pretraining,
DINO).

A stage builds its networks, optimizer and schedule, hands them to an ``EpochLoop`` as named
objects with ``state_dict`` / ``load_state_dict``, and writes only the body of an epoch. The
loop restores a killed or preempted run from ``checkpoint.pt``, derives every epoch's random
state from (seed, epoch), logs one row per epoch, saves the checkpoint atomically after each
epoch and, once the stage has written its outputs, writes ``log.csv`` and removes the
checkpoint. A run resumed at an epoch boundary therefore retraces the uninterrupted one
exactly.
"""
from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from tqdm import tqdm

from vitmed.jobs.io import save_torch, write_rows_csv

log = logging.getLogger(__name__)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """Seed the global RNG (augmentations draw from it) and return the shuffling generator of
    one epoch: every epoch's randomness depends on (seed, epoch) only, so a run resumed at an
    epoch boundary retraces an uninterrupted one."""
    torch.manual_seed(seed * 100_003 + epoch)
    return torch.Generator().manual_seed(seed * 100_019 + epoch)


def finite_losses(losses: list, first_iteration: int, what: str) -> list[float]:
    """An epoch's loss tensors as floats, read once at its end (``loss.item()`` every step
    would make the CPU wait for the GPU each step, so it could not prepare the next batch).
    A non-finite one stops the run, naming its iteration, before NaN weights are saved."""
    values = torch.stack(losses).float().cpu().tolist() if losses else []
    for offset, value in enumerate(values):
        if not math.isfinite(value):
            raise FloatingPointError(f"{what} iteration {first_iteration + offset}: loss is {value}; the run "
                                     "diverged (lower the learning rate, or use fp32 where bf16 overflowed)")
    return values


class EpochLoop:
    """Epochs of one training run in ``run_dir``.

    ``stateful``: the run's objects whose state a checkpoint holds (networks, optimizer, loss
    centre, lr schedule), by name. ``state``: the loop's own progress (``epoch``, ``iteration``,
    ``rows``) plus any extra entries a stage keeps (e.g. its best weights so far)."""

    def __init__(self, run_dir: str | Path, *, seed: int, max_epochs: int, stateful: dict,
                 desc: str = "epoch", **extra_state):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint = self.run_dir / "checkpoint.pt"
        self.seed, self.max_epochs, self.stateful, self.desc = seed, max_epochs, stateful, desc
        self.state = {"epoch": 0, "iteration": 0, "rows": [], **extra_state}
        self._started = time.perf_counter()

    @property
    def rows(self) -> list[dict]:
        return self.state["rows"]

    def restore(self, device: torch.device | str = "cpu") -> bool:
        """Continue from the checkpoint of an interrupted run, if any. One that cannot be read
        (a disk filled mid-write elsewhere, a file from another version) is named, set aside as
        ``checkpoint.pt.unreadable`` and the run starts from scratch."""
        if not self.checkpoint.exists():
            return False
        initial = {name: copy.deepcopy(obj.state_dict()) for name, obj in self.stateful.items()}
        try:
            saved = torch.load(self.checkpoint, map_location=device, weights_only=False)
            for name, obj in self.stateful.items():
                obj.load_state_dict(saved[name])
        except Exception as error:  # noqa: BLE001  (any unreadable file: start over, say why)
            for name, obj in self.stateful.items():  # none half-loaded: the run starts as it would have
                obj.load_state_dict(initial[name])
            aside = self.checkpoint.with_name(self.checkpoint.name + ".unreadable")
            os.replace(self.checkpoint, aside)
            log.warning("%s cannot be resumed (%s: %s); moved to %s, starting from scratch",
                        self.checkpoint, type(error).__name__, error, aside)
            return False
        self.state = saved["state"]
        log.info("resumed from %s at epoch %d", self.checkpoint, self.state["epoch"])
        return True

    def epochs(self, loader, until: Callable[[], bool] = lambda: False) -> Iterator[tuple[int, Iterator]]:
        """Yield (epoch, its batches) until ``max_epochs`` or ``until()``; the loader's shuffle
        and the global RNG are seeded per epoch, and the checkpoint is saved after each."""
        while self.state["epoch"] < self.max_epochs and not until():
            epoch = self.state["epoch"]
            self._started = time.perf_counter()
            loader.sampler.generator = epoch_generator(self.seed, epoch)
            yield epoch, tqdm(loader, desc=f"{self.desc} {epoch}", leave=False, mininterval=2)
            self.state["epoch"] += 1
            self.save()

    def log_row(self, row: dict) -> None:
        """Record the epoch's row (the loop adds ``epoch``, ``iterations`` and ``seconds``)."""
        self.rows.append({"epoch": self.state["epoch"], "iterations": self.state["iteration"], **row,
                          "seconds": round(time.perf_counter() - self._started, 3)})

    def save(self) -> None:
        save_torch({**{name: obj.state_dict() for name, obj in self.stateful.items()}, "state": self.state},
                   self.checkpoint)

    def finish(self, log_csv: str | Path | None = None) -> list[dict]:
        """After the stage wrote its outputs: ``log.csv`` (or ``log_csv``), and the checkpoint
        removed, so a forced rerun starts afresh. Returns the rows."""
        if not self.rows:
            raise ValueError(f"{self.run_dir}: no epoch ran (max_epochs {self.max_epochs})")
        write_rows_csv(log_csv or self.run_dir / "log.csv", self.rows)
        self.checkpoint.unlink(missing_ok=True)
        return self.rows
