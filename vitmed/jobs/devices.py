"""One GPU per job on a shared machine.

Snakemake limits how many GPU jobs run at once (``--resources gpu=N``, profiles/local-gpu) but
does not say which device a job gets. Each job claims a device by holding an exclusive lock
on its lock file for the job's lifetime; the operating system releases the lock when the
process ends, killed or not, so a crashed job never leaves a device claimed. Under SLURM the
scheduler already restricts ``CUDA_VISIBLE_DEVICES`` to the job's own device(s).
"""
from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_held: dict[Path, tuple[int, object]] = {}  # lock directory -> (device, open lock file) of this process


def lock_dir() -> Path:
    return Path(os.environ.get("VITMED_GPU_LOCK_DIR", Path(tempfile.gettempdir()) / "vitmed-gpu-locks"))


def claim_device(n_devices: int, directory: Path | None = None) -> int:
    """Index of a device no other job holds, locked until this process exits."""
    directory = directory or lock_dir()
    if directory in _held:  # a job asks again: it keeps its device
        return _held[directory][0]
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(n_devices):
        handle = open(directory / f"gpu{index}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held[directory] = (index, handle)  # the open file keeps the lock
        return index
    raise RuntimeError(f"all {n_devices} GPUs are held by other jobs (locks in {directory}): "
                       f"run with --resources gpu={n_devices} or fewer so jobs never exceed the devices")


def select_device():
    """The job's own GPU when there are GPUs, else the CPU."""
    import torch

    if not torch.cuda.is_available():
        return torch.device("cpu")
    count = torch.cuda.device_count()
    index = claim_device(count) if count > 1 else 0
    log.info("using cuda:%d of %d visible device(s)", index, count)
    return torch.device("cuda", index)
