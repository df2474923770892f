import math

import pytest

from vitmed.train.finetune import make_optimizer, run_hparams
from vitmed.train.schedule import SaturationSchedule


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

    from vitmed.train.losses import loss_function

    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    targets = torch.tensor([[1, 0, -1, 1], [0, 0, 1, -1], [-1, -1, -1, -1], [1, 1, 0, 0], [0, 1, -1, 0], [1, 0, 0, 1]],
                           dtype=torch.float32)
    known = targets >= 0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[known], targets[known])
    torch.testing.assert_close(loss_function("multilabel")(logits, targets), expected)
    full = targets.clamp(min=0)  # nothing ignored: the usual mean BCE
    torch.testing.assert_close(loss_function("multilabel")(logits, full), torch.nn.BCEWithLogitsLoss()(logits, full))


def test_overrides_set_one_runs_learning_rate_and_weight_decay():
    study = {"lr": {"pretrained": 1e-4, "random": 1e-3}, "weight_decay": 1e-5, "optimizer": "sgd"}
    overrides = {"ResNet18-GA": {"lr": 1e-3, "weight_decay": 0.0}, "ResNet18": {"weight_decay": 1e-4}}
    tuned = run_hparams(study, overrides["ResNet18-GA"])
    assert tuned["lr"] == {"pretrained": 1e-3, "random": 1e-3} and tuned["weight_decay"] == 0.0
    assert tuned["optimizer"] == "sgd"
    only_decay = run_hparams(study, overrides["ResNet18"])
    assert only_decay["lr"] == study["lr"] and only_decay["weight_decay"] == 1e-4
    assert run_hparams(study, {}) == study  # a run without an override
    assert study["weight_decay"] == 1e-5 and study["lr"]["pretrained"] == 1e-4  # the study's settings untouched


def test_sgd_with_momentum_and_weight_decay():
    import torch

    weight = torch.nn.Parameter(torch.tensor([1.0]))
    opt = make_optimizer("sgd", [weight], weight_decay=0.1, momentum=0.5)
    opt.param_groups[0]["lr"] = 0.1
    for _ in range(2):  # loss = weight: gradient 1, plus weight decay 0.1 * weight
        opt.zero_grad()
        weight.sum().backward()
        opt.step()
    step1 = 0.1 * (1 + 0.1 * 1.0)                        # 0.11
    w1 = 1.0 - step1
    step2 = 0.1 * (0.5 * (1 + 0.1) + (1 + 0.1 * w1))     # momentum buffer 0.5 * 1.1 + the new gradient
    assert weight.item() == pytest.approx(w1 - step2)


def test_editing_one_runs_override_leaves_the_other_runs_up_to_date(tmp_path):
    """A fine-tuning job's params hold only its own override: when one entry of
    finetune.overrides is edited, Snakemake reruns that run alone."""
    from helpers import SYNTHETIC, job_counts, load_preset, run_snakemake

    config = load_preset(*SYNTHETIC)
    config["study"] = "overrides"
    config["datasets"] = {"SynPatch": dict(config["datasets"]["SynPatch"], n_images=60)}
    config["finetune"].update(max_epochs=1, warmup_iters=2)
    config["finetune"]["overrides"] = {"SynPatch": {"ViT-toy": {"lr": 1e-3}}}
    runs = {model: f"results/overrides/finetune/SynPatch/{model}/random/seed0/metrics.json"
            for model in ("ResNet-toy", "ViT-toy")}
    done = run_snakemake(tmp_path, config, "--cores", "1", *runs.values())
    assert done.returncode == 0, done.stderr[-3000:]

    config["finetune"]["overrides"]["SynPatch"]["ViT-toy"]["lr"] = 2e-3
    plan = run_snakemake(tmp_path, config, "-n", *runs.values())
    assert plan.returncode == 0, plan.stderr[-3000:]
    out = plan.stdout + plan.stderr
    assert job_counts(out).get("finetune") == 1
    assert "model=ViT-toy" in out and "model=ResNet-toy" not in out


def test_random_init_optimizer_follows_the_footnote_per_model():
    """Footnote 4: randomly initialized DeiT used AdamW; everything else Adam (the paper's config
    gives Swin-T its own optimizer_random); from weights every model uses Adam."""
    import yaml
    from helpers import ROOT
    from snakemake.utils import validate

    from vitmed.study import Study
    from vitmed.train.finetune import initial_lr_and_optimizer

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    study, hp = Study.from_config(config), config["finetune"]
    chosen = {name: initial_lr_and_optimizer(hp, study.model_configs[name], pretrained=False)
              for name in ("DeiT-S", "SWIN-T", "ResNet50", "DeiT-B")}
    assert chosen == {"DeiT-S": (1e-3, "adamw"), "SWIN-T": (1e-3, "adam"), "ResNet50": (1e-3, "adam"),
                      "DeiT-B": (1e-3, "adamw")}
    assert initial_lr_and_optimizer(hp, study.model_configs["DeiT-S"], pretrained=True) == (1e-4, "adam")
    assert initial_lr_and_optimizer(hp, {"family": "cnn", "optimizer_random": "sgd"}, pretrained=False)[1] == "sgd"


def test_saturation_counter_restarts_after_each_drop():
    """(level, finished) traced across two drops with patience 2: each drop waits for three epochs
    without a new best after the previous one, never fewer."""
    schedule = SaturationSchedule(base_lr=1e-4, warmup_iters=0, factor=10, min_lr=1e-6, patience=2)
    trace = []
    for metric in [0.5] + [0.4] * 9:
        schedule.update(metric)
        trace.append((round(schedule.level, 12), schedule.finished))
    assert trace == [(1e-4, False), (1e-4, False), (1e-4, False), (1e-5, False),  # 3rd bad epoch: drop
                     (1e-5, False), (1e-5, False), (1e-6, False),                 # 3 more: drop to the floor
                     (1e-6, False), (1e-6, False), (1e-6, True)]                  # 3 more at the floor: stop
