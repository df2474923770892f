import math

import pytest

from vitmed.train import SaturationSchedule


def test_warmup_is_linear_then_constant():
    schedule = SaturationSchedule(base_lr=1e-3, warmup_iters=10, factor=10, min_lr=1e-6, patience=2)
    assert schedule.lr(0) == pytest.approx(1e-4)
    assert schedule.lr(4) == pytest.approx(5e-4)
    assert schedule.lr(9) == pytest.approx(1e-3)
    assert schedule.lr(500) == pytest.approx(1e-3)


def test_lr_drops_by_factor_on_saturation_until_min_then_stops():
    schedule = SaturationSchedule(base_lr=1e-4, warmup_iters=0, factor=10, min_lr=1e-6, patience=1)
    assert schedule.update(0.5) is True
    assert schedule.update(0.4) is False and math.isclose(schedule.level, 1e-4)  # 1 bad epoch: patience
    schedule.update(0.4)  # 2nd bad epoch: saturated -> drop
    assert math.isclose(schedule.level, 1e-5)
    assert schedule.update(0.6) is True  # improvement resets the count
    schedule.update(0.1)
    schedule.update(0.1)
    assert math.isclose(schedule.level, 1e-6) and not schedule.finished
    schedule.update(0.1)
    schedule.update(0.1)
    assert schedule.finished and math.isclose(schedule.level, 1e-6)
    assert schedule.best == 0.6


def test_multilabel_loss_leaves_ignored_entries_out():
    import torch

    from vitmed.train import loss_function

    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    targets = torch.tensor([[1, 0, -1, 1], [0, 0, 1, -1], [-1, -1, -1, -1], [1, 1, 0, 0], [0, 1, -1, 0], [1, 0, 0, 1]],
                           dtype=torch.float32)
    known = targets >= 0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[known], targets[known])
    torch.testing.assert_close(loss_function("multilabel")(logits, targets), expected)
    full = targets.clamp(min=0)  # nothing ignored: the usual mean BCE
    torch.testing.assert_close(loss_function("multilabel")(logits, full), torch.nn.BCEWithLogitsLoss()(logits, full))
