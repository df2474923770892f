"""Wall-clock timing shared by the benchmarks: a GPU's queue is drained before and after."""
import time

import torch


def timed(fn) -> float:
    """Seconds ``fn()`` takes, the device's queued work included."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start
