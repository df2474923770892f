
import numpy as np
import pytest
import torch
from helpers import ROOT, kill_at_first_checkpoint
from snakemake.utils import validate

from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import SyntheticSet
from vitmed.models.factory import create_model
from vitmed.train.dino import DinoSchedule, pretrain_dino


def dino_config(**overrides) -> dict:
    config = {"study": "t", "datasets": {"D": {"source": "synthetic", "generator": "mammo_mass", "metric": "roc_auc"}},
              "models": {"M": {"timm_name": "test_resnet", "family": "cnn"}}}
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    cfg = config["dino"]
    cfg.update(
        epochs=3,
        batch_size=16,
        base_lr=2e-3,
        warmup_epochs=0,
        teacher_temp_warmup_epochs=1,
        out_dim=64,
        head_hidden_dim=64,
        head_bottleneck_dim=16,
        num_workers=0,
        global_crops=dict(cfg["global_crops"], size=16, scale=[0.5, 1.0]),
        local_crops=dict(cfg["local_crops"], number=2, size=8, scale=[0.2, 0.5]),
    )
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="module")
def colour_store(tmp_path_factory):
    """Four solid colours with noise: every crop of an image looks alike, so the student can
    learn to match the teacher."""
    rng = np.random.default_rng(0)
    palette = np.array([[220, 40, 40], [40, 200, 60], [50, 60, 210], [230, 220, 60]])
    labels = rng.integers(0, 4, 320)
    images = np.clip(palette[labels][:, None, None, :] + rng.normal(0, 12, (320, 20, 20, 3)), 0, 255).astype(np.uint8)
    root = tmp_path_factory.mktemp("colours")
    write_plain_layout(SyntheticSet(images, labels, None, ["r", "g", "b", "y"], "multiclass"), root / "raw")
    build_store(read_plain_layout(root / "raw"), root / "store", image_size=20,
                ratios={"train": 0.8, "val": 0.1, "test": 0.1}, seed=0, metric="macro_recall")
    return root / "store"


def test_a_dino_step_trains_the_student_and_moves_the_teacher_by_ema_only():
    """vitmed's DinoStep: the student takes the optimizer step, the teacher gets no gradient and
    becomes m * teacher + (1 - m) * the updated student, exactly."""
    from lightly.loss import DINOLoss

    from vitmed.jobs.speedups import Speedups
    from vitmed.train.dino import DinoNetwork, DinoStep

    torch.manual_seed(0)
    cfg = dino_config()
    student, teacher = (DinoNetwork(create_model("test_vit", 0, model_kwargs={"img_size": 16, "patch_size": 8}), cfg)
                        for _ in range(2))
    for p in teacher.parameters():
        p.data.normal_()
        p.requires_grad_(False)
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in student.state_dict().items()}
    step = DinoStep(student, teacher, DINOLoss(cfg["out_dim"]), torch.optim.SGD(student.parameters(), lr=0.1),
                    Speedups(), clip_grad=0)
    crops = [torch.randn(4, 3, 16, 16) for _ in range(2)] + [torch.randn(4, 3, 8, 8) for _ in range(2)]
    seen = {"teacher": [], "student": []}
    for role, network in (("teacher", teacher), ("student", student)):
        network.register_forward_pre_hook(lambda _m, args, role=role: seen[role].append(args[0]))
    loss = step(crops, teacher_temp=0.04, epoch=1, momentum=0.9)
    assert torch.isfinite(loss)
    assert len(seen["teacher"]) == 2 and all(a is b for a, b in zip(seen["teacher"], crops[:2])), "global views only"
    assert len(seen["student"]) == 4 and all(a is b for a, b in zip(seen["student"], crops)), "every view"
    assert all(p.grad is None for p in teacher.parameters())
    moved = [k for k, v in student.state_dict().items() if not torch.equal(v, student_before[k])]
    assert moved, "the student took an optimizer step"
    for key, value in teacher.state_dict().items():
        if value.is_floating_point():
            expected = teacher_before[key] * 0.9 + student.state_dict()[key] * 0.1
            torch.testing.assert_close(value, expected, rtol=0, atol=1e-6)


def test_center_follows_its_update_rule():
    from lightly.loss import DINOLoss
    loss = DINOLoss(8, center_momentum=0.9)
    teacher = [torch.randn(4, 8), torch.randn(4, 8)]
    before = loss.center.clone()
    loss(teacher, teacher + [torch.randn(4, 8)], teacher_temp=0.04)
    batch_mean = torch.stack(teacher).mean(dim=(0, 1), keepdim=True)
    torch.testing.assert_close(loss.center, 0.9 * before + 0.1 * batch_mean)


def test_schedules_follow_the_paper():
    cfg = dino_config(epochs=10, base_lr=1e-4, batch_size=256, warmup_epochs=2, teacher_temp_warmup_epochs=4,
                      weight_decay=[1e-5, 1e-4], momentum=[0.99, 1.0], teacher_temp=[0.04, 0.07])
    schedule = DinoSchedule(cfg, iters_per_epoch=5)
    assert schedule.peak_lr == pytest.approx(1e-4)
    assert schedule.lr(0) == pytest.approx(1e-5) and schedule.lr(9) == pytest.approx(1e-4)  # linear warm-up
    assert schedule.lr(49) == pytest.approx(cfg["min_lr"], abs=1e-8) and schedule.lr(30) < schedule.lr(10)
    assert schedule.weight_decay(0) == pytest.approx(1e-5) and schedule.weight_decay(50) == pytest.approx(1e-4)
    assert schedule.momentum(0) == pytest.approx(0.99) and schedule.momentum(50) == pytest.approx(1.0)
    assert schedule.teacher_temp(0) == pytest.approx(0.04) and schedule.teacher_temp(2) == pytest.approx(0.055)
    assert schedule.teacher_temp(7) == pytest.approx(0.07)


def test_loss_goes_down_on_a_tiny_dataset(colour_store, tmp_path):
    cfg = dino_config(epochs=4, base_lr=1e-2, teacher_temp=[0.04, 0.04], momentum=[0.996, 0.996], freeze_last_layer=0,
                      augment={"hflip": 0.5, "vflip": 0.5, "color_jitter": {"brightness": 0, "contrast": 0,
                                                                          "saturation": 0, "hue": 0, "p": 0}})
    torch.manual_seed(0)
    backbone = create_model("test_resnet", 0)
    initial = {name: p.detach().clone() for name, p in backbone.named_parameters()}
    rows = pretrain_dino(backbone, colour_store, tmp_path / "run", tmp_path / "teacher.pt", cfg, seed=0)
    losses = [row["loss"] for row in rows]
    assert losses[-1] < losses[0] - 0.1, losses
    assert (tmp_path / "run" / "log.csv").read_text().startswith(
        "epoch,iterations,loss,lr,weight_decay,momentum,teacher_temp,seconds")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    # the backbone itself was trained (not only the head), and the teacher followed it
    teacher = torch.load(tmp_path / "teacher.pt", weights_only=True)
    moved = [name for name, value in initial.items() if (teacher[name] - value).abs().max() > 1e-5]
    assert len(moved) == len(initial), set(initial) - set(moved)
    # the teacher backbone loads into a classifier through the weights resolver
    model = create_model("test_resnet", 4, weights=str(tmp_path / "teacher.pt"))
    teacher_state = torch.load(tmp_path / "teacher.pt", weights_only=True)
    for key, value in teacher_state.items():
        torch.testing.assert_close(model.state_dict()[key], value)


def _run(store, run_dir, weights, cfg):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    pretrain_dino(create_model("test_vit", 0, model_kwargs={"img_size": 16, "patch_size": 4, "dynamic_img_size": True}),
                  store, run_dir, weights, cfg, seed=3)


def test_killed_run_resumes_to_the_same_weights(colour_store, tmp_path):
    torch.set_num_threads(1)
    cfg = dino_config(epochs=4)
    _run(colour_store, tmp_path / "straight", tmp_path / "straight.pt", cfg)

    run_dir = tmp_path / "killed"
    kill_at_first_checkpoint(_run, (colour_store, run_dir, tmp_path / "killed.pt", cfg), run_dir)
    assert not (tmp_path / "killed.pt").exists(), "killed too late: the run had finished"
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert 1 <= saved["state"]["epoch"] < 4

    _run(colour_store, run_dir, tmp_path / "killed.pt", cfg)
    straight = torch.load(tmp_path / "straight.pt", weights_only=True)
    resumed = torch.load(tmp_path / "killed.pt", weights_only=True)
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=0)


def test_bf16_and_channels_last_pretraining_runs_with_fp32_weights(colour_store, tmp_path):
    cfg = dino_config(epochs=2, precision="bf16", channels_last=True)
    torch.manual_seed(0)
    rows = pretrain_dino(
        create_model("test_resnet", 0), colour_store, tmp_path / "run", tmp_path / "teacher.pt", cfg, seed=0
    )
    assert len(rows) == 2 and all(np.isfinite(row["loss"]) for row in rows)
    teacher = torch.load(tmp_path / "teacher.pt", weights_only=True)
    assert all(value.dtype == torch.float32 for value in teacher.values() if value.is_floating_point()), \
        "weights stay fp32 under autocast"


def test_diverged_pretraining_stops_with_a_clear_error_and_no_weights(colour_store, tmp_path):
    backbone = create_model("test_resnet", 0)
    with torch.no_grad():
        next(backbone.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="DINO epoch 0, iteration 0: loss is nan"):
        pretrain_dino(backbone, colour_store, tmp_path / "run", tmp_path / "teacher.pt", dino_config(), seed=0)
    assert not (tmp_path / "teacher.pt").exists()


def test_compiled_pretraining_gives_the_eager_losses_and_unwrapped_weights(colour_store, tmp_path):
    from torch._dynamo.utils import counters

    runs = {}
    for compiled in (False, True):
        counters.clear()
        torch.manual_seed(0)
        backbone = create_model("test_vit", 0, model_kwargs={"img_size": 16, "patch_size": 8, "dynamic_img_size": True})
        rows = pretrain_dino(backbone, colour_store, tmp_path / f"run{compiled}", tmp_path / f"teacher{compiled}.pt",
                             dino_config(epochs=2, compile=compiled), seed=0)
        runs[compiled] = (
            [row["loss"] for row in rows],
            torch.load(tmp_path / f"teacher{compiled}.pt", weights_only=True),
        )
    assert counters["stats"]["unique_graphs"] >= 2, "compiled: one graph per crop size at least"
    (eager_losses, eager), (compiled_losses, compiled) = runs[False], runs[True]
    np.testing.assert_allclose(compiled_losses, eager_losses, rtol=1e-4)
    assert compiled.keys() == eager.keys(), "weights saved without torch.compile's _orig_mod prefix"
    for key in eager:
        torch.testing.assert_close(compiled[key], eager[key], rtol=1e-3, atol=1e-4)


def test_the_vit_student_has_dinos_stochastic_depth_and_the_teacher_none():
    from timm.layers import DropPath

    from vitmed.train.dino import dino_backbones

    vit = {"timm_name": "test_vit", "family": "vit", "kwargs": {"img_size": 16, "patch_size": 4}}
    torch.manual_seed(0)
    student, teacher = dino_backbones(vit, None, drop_path=0.1)
    rates = [m.drop_prob for m in student.modules() if isinstance(m, DropPath)]
    assert rates and max(rates) == pytest.approx(0.1)  # timm's linear decay: the last block's rate
    assert not any(isinstance(m, DropPath) for m in teacher.modules())
    for (name, a), (_, b) in zip(student.state_dict().items(), teacher.state_dict().items()):
        assert torch.equal(a, b), name
    images = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(teacher.train()(images), teacher(images))  # deterministic in train mode
    cnn, cnn_teacher = dino_backbones({"timm_name": "test_resnet", "family": "cnn"}, None, drop_path=0.1)
    assert not any(isinstance(m, DropPath) for m in [*cnn.modules(), *cnn_teacher.modules()])
