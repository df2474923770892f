"""The resumable epoch loop shared by fine-tuning, DINO and source pretraining."""
import logging

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vitmed.train.loop import EpochLoop, epoch_generator

DATA = TensorDataset(torch.randn(40, 3), torch.randn(40, 1))


def run(run_dir, max_epochs: int, until=lambda: False, finish: bool = True):
    """A small regression whose every step depends on the epoch's shuffle and the global RNG
    (input noise), as augmentation does; returns (loop, model)."""
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loop = EpochLoop(run_dir, seed=7, max_epochs=max_epochs, stateful={"model": model, "optimizer": opt})
    loop.restore()
    loader = DataLoader(DATA, batch_size=8, shuffle=True)
    for _, batches in loop.epochs(loader, until=until):
        losses = []
        for x, y in batches:
            loss = nn.functional.mse_loss(model(x + 0.1 * torch.randn_like(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loop.state["iteration"] += 1
            losses.append(loss.item())
        loop.log_row({"loss": sum(losses) / len(losses)})
    if finish:
        loop.finish()
    return loop, model


def test_a_run_resumed_from_its_checkpoint_retraces_the_uninterrupted_one(tmp_path):
    _, whole = run(tmp_path / "whole", 4)
    interrupted, _ = run(tmp_path / "resumed", 2, finish=False)  # as if killed after epoch 2
    assert (tmp_path / "resumed" / "checkpoint.pt").exists() and interrupted.state["epoch"] == 2
    resumed, model = run(tmp_path / "resumed", 4)
    assert torch.equal(model.weight, whole.weight) and torch.equal(model.bias, whole.bias)
    log = pd.read_csv(tmp_path / "resumed" / "log.csv")
    assert list(log.columns) == ["epoch", "iterations", "loss", "seconds"]
    assert list(log["epoch"]) == [0, 1, 2, 3] and list(log["iterations"]) == [5, 10, 15, 20]
    assert log["loss"].tolist() == pd.read_csv(tmp_path / "whole" / "log.csv")["loss"].tolist()
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists(), "a finished run leaves no checkpoint"


def test_until_stops_before_the_next_epoch(tmp_path):
    checks = []

    def fourth_check():  # asked before each epoch: the fourth epoch never starts
        checks.append(1)
        return len(checks) == 4

    loop, _ = run(tmp_path, 10, until=fourth_check)
    assert loop.state["epoch"] == 3 and len(loop.rows) == 3 and len(checks) == 4


def test_every_epoch_draws_from_its_own_seeded_streams():
    first = epoch_generator(1, 0)
    drawn = torch.rand(3), torch.randperm(10, generator=first)
    again = epoch_generator(1, 0)
    assert torch.equal(torch.rand(3), drawn[0]) and torch.equal(torch.randperm(10, generator=again), drawn[1])
    epoch_generator(1, 1)
    assert not torch.equal(torch.rand(3), drawn[0])


def test_an_unreadable_checkpoint_is_named_set_aside_and_the_run_starts_afresh(tmp_path, caplog):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"half a checkpoint")
    with caplog.at_level(logging.WARNING):
        loop, model = run(tmp_path / "run", 2)
    assert "checkpoint.pt cannot be resumed" in caplog.text and "starting from scratch" in caplog.text
    assert (tmp_path / "run" / "checkpoint.pt.unreadable").read_bytes() == b"half a checkpoint"
    _, fresh = run(tmp_path / "fresh", 2)
    assert torch.equal(model.weight, fresh.weight) and loop.state["epoch"] == 2


def test_a_checkpoint_of_other_networks_is_not_loaded_into_these(tmp_path):
    """A state dict that does not fit (another model in the same folder) is set aside, never half-loaded."""
    torch.manual_seed(0)
    other = nn.Linear(5, 2)
    EpochLoop(tmp_path, seed=0, max_epochs=1, stateful={"model": other}).save()
    loop, _ = run(tmp_path, 1)
    assert (tmp_path / "checkpoint.pt.unreadable").exists() and loop.state["epoch"] == 1


def test_finish_without_any_epoch_is_an_error_naming_the_run(tmp_path):
    loop = EpochLoop(tmp_path / "run", seed=0, max_epochs=0, stateful={})
    with pytest.raises(ValueError, match=r"run: no epoch ran \(max_epochs 0\)"):
        loop.finish()
    assert not (tmp_path / "run" / "log.csv").exists()


def test_a_checkpoint_that_loads_in_part_leaves_nothing_loaded(tmp_path):
    """The model's weights fit but the optimizer's state is missing: the run starts from its own
    initial weights, not from the checkpoint's."""
    torch.manual_seed(0)
    stranger = nn.Linear(3, 1)
    nn.init.constant_(stranger.weight, 7.0)
    EpochLoop(tmp_path / "run", seed=0, max_epochs=1, stateful={"model": stranger}).save()
    _, model = run(tmp_path / "run", 2)
    _, fresh = run(tmp_path / "fresh", 2)
    assert (tmp_path / "run" / "checkpoint.pt.unreadable").exists()
    assert torch.equal(model.weight, fresh.weight)
