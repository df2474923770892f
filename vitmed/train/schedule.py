"""The paper's learning-rate schedule for fine-tuning: linear warm-up, then the lr divided by 10
each time the validation metric saturates until it reaches its final value; one more
saturation there ends training."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class SaturationSchedule:
    """Warm-up, then drop the lr by ``factor`` after ``patience`` epochs without a new best
    validation metric; ``finished`` once it saturates at ``min_lr``."""
    base_lr: float
    warmup_iters: int
    factor: float
    min_lr: float
    patience: int
    level: float = field(init=False)
    best: float = field(init=False, default=-math.inf)
    epochs_since_best: int = field(init=False, default=0)
    finished: bool = field(init=False, default=False)

    def __post_init__(self):
        self.level = self.base_lr

    def lr(self, iteration: int) -> float:
        warm = min(1.0, (iteration + 1) / self.warmup_iters) if self.warmup_iters > 0 else 1.0
        return self.level * warm

    def update(self, metric: float) -> bool:
        """Record an epoch's validation metric; return True if it is a new best."""
        if metric > self.best:
            self.best, self.epochs_since_best = metric, 0
            return True
        self.epochs_since_best += 1
        if self.epochs_since_best > self.patience:
            if self.level <= self.min_lr * (1 + 1e-9):
                self.finished = True
            else:
                self.level = max(self.level / self.factor, self.min_lr)
                self.epochs_since_best = 0
        return False

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
