import json

import pandas as pd
import pytest
import torch
from helpers import ROOT, kill_at_first_checkpoint
from snakemake.utils import validate

from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import generate
from vitmed.models.factory import create_model
from vitmed.train.finetune import finetune


@pytest.fixture(scope="module")
def skin_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("skin")
    write_plain_layout(generate("skin_lesions", 240, 24, seed=0), root / "raw")
    build_store(read_plain_layout(root / "raw"), root / "store", image_size=20,
                ratios={"train": 0.7, "val": 0.15, "test": 0.15}, seed=0, metric="macro_recall")
    return root / "store"


def hyperparameters(**overrides) -> dict:
    config = {
        "study": "t",
        "datasets": {"D": {"source": "synthetic", "generator": "skin_lesions", "metric": "macro_recall"}},
        "models": {"M": {"timm_name": "test_resnet", "family": "cnn"}},
    }
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    hp = config["finetune"]
    hp.update(max_epochs=5, batch_size=16, warmup_iters=5, patience=10, num_workers=0)
    hp.update(overrides)
    return hp


def _train(store, run_dir, hp):
    torch.set_num_threads(1)
    torch.manual_seed(4)
    model = create_model("test_resnet", 8)
    result = finetune(model, store, run_dir, seed=4, lr=1e-3, optimizer="adam", hp=hp, input_size=16)
    (run_dir / "result.json").write_text(json.dumps(result))


def test_finetune_learns_and_writes_its_log(skin_store, tmp_path):
    _train(skin_store, tmp_path, hyperparameters(max_epochs=6, warmup_iters=40))
    result = json.loads((tmp_path / "result.json").read_text())
    log = pd.read_csv(tmp_path / "log.csv")
    assert len(log) == result["epochs"] == 6
    assert log["train_loss"].iloc[-1] < log["train_loss"].iloc[0]
    # linear warm-up over 40 iterations: the lr of epoch 0's last iteration
    assert log["lr"].iloc[0] == pytest.approx(1e-3 * log["iterations"].iloc[0] / 40)
    assert log["lr"].iloc[-1] == pytest.approx(1e-3)
    assert result["value"] > 1 / 8 + 0.05  # beats chance macro recall
    assert result["best_epoch"] == log["val_macro_recall"].idxmax()
    assert result["val_best"] == log["val_macro_recall"].max()
    # optimizer steps to the best epoch (the foundation paper's Figure 3): that epoch's iteration count
    assert result["best_iteration"] == log["iterations"].iloc[result["best_epoch"]]
    assert (tmp_path / "best.pt").exists() and not (tmp_path / "checkpoint.pt").exists()
    # the reported test score is best.pt's: the best validation epoch's weights, not the last epoch's
    from vitmed.data.augment import BatchEval
    from vitmed.data.dataset import StoreDataset, store_loader
    from vitmed.evaluate.metrics import score
    from vitmed.evaluate.predict import predict

    best = create_model("test_resnet", 8)
    best.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True))
    scores, labels = predict(best, store_loader(StoreDataset(skin_store, "test"), 64), BatchEval(16), "multiclass")
    assert score("macro_recall", labels, scores) == pytest.approx(result["value"], abs=1e-9)
    scores, labels = predict(best, store_loader(StoreDataset(skin_store, "val"), 64), BatchEval(16), "multiclass")
    assert score("macro_recall", labels, scores) == pytest.approx(result["val_best"], abs=1e-9)


def test_killed_finetune_resumes_to_identical_metrics(skin_store, tmp_path):
    hp = hyperparameters()
    _train(skin_store, tmp_path / "straight", hp)

    run_dir = tmp_path / "killed"
    kill_at_first_checkpoint(_train, (skin_store, run_dir, hp), run_dir)
    assert not (run_dir / "result.json").exists(), "killed too late: the run had finished"

    _train(skin_store, run_dir, hp)
    straight = json.loads((tmp_path / "straight" / "result.json").read_text())
    resumed = json.loads((run_dir / "result.json").read_text())
    assert resumed.pop("seconds_per_image") > 0 and straight.pop("seconds_per_image") > 0  # timings, not results
    assert resumed == straight and resumed["best_iteration"] > 0
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "log.csv").drop(columns="seconds"),
                                  pd.read_csv(tmp_path / "straight" / "log.csv").drop(columns="seconds"))


def test_diverged_finetune_stops_with_a_clear_error_and_no_weights(skin_store, tmp_path):
    model = create_model("test_resnet", 8)
    with torch.no_grad():
        model.get_classifier().weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="fine-tuning iteration 0: loss is nan"):
        finetune(model, skin_store, tmp_path, seed=0, lr=1e-3, optimizer="adam", hp=hyperparameters(), input_size=16)
    assert not (tmp_path / "best.pt").exists()


def test_restore_best_puts_the_best_epochs_weights_in_the_model_and_best_pt(tmp_path):
    """The tested model is the best validation epoch's, whatever the last epoch left in it."""
    from vitmed.train.finetune import keep_best, restore_best
    from vitmed.train.loop import EpochLoop

    torch.manual_seed(0)
    model = create_model("test_resnet", 3)
    loop = EpochLoop(tmp_path, seed=0, max_epochs=3, stateful={"model": model}, best_state=None, best_epoch=-1)
    keep_best(model, loop, 0, is_best=True)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():  # later epochs change the weights without a new best
        for p in model.parameters():
            p.add_(1.0)
    keep_best(model, loop, 1, is_best=False)
    restore_best(model, loop)
    assert loop.state["best_epoch"] == 0
    for key, value in model.state_dict().items():
        assert torch.equal(value, best[key]), key
    saved = torch.load(tmp_path / "best.pt", weights_only=True)
    assert all(torch.equal(saved[k], best[k]) for k in best)
