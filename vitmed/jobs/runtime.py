"""Set-up of a job: logging into the rule's log file, threads, deterministic algorithms."""
from __future__ import annotations

import logging
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

