import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from vitmed.data.constants import IMAGENET_MEAN, IMAGENET_STD
from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import generate
from vitmed.evaluate.ood import evaluate_out_of_distribution
from vitmed.models.factory import build_model

MODEL = {"timm_name": "test_resnet", "family": "cnn"}


def store(root, generator, n, ratios):
    write_plain_layout(generate(generator, n, 20, seed=3), root / "raw")
    build_store(read_plain_layout(root / "raw"), root / "store", image_size=20, ratios=ratios, seed=0,
                metric="roc_auc")
    return root / "store"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("ood")
    trained = store(root / "trained", "lymph_patches", 40, {"train": 0.8, "val": 0.1, "test": 0.1})
    # a test set: all of it in the test split (what the workflow's dataset_config asks of prepare)
    other_site = store(root / "other", "lymph_patches_other_site", 50, {"train": 0.0, "val": 0.0, "test": 1.0})
    return root, trained, other_site


def finetuned_run(root, seed):
    """A checkpoint and the metrics file a fine-tuning job leaves behind."""
    torch.manual_seed(seed)
    model = build_model(MODEL, 2)
    for module in model.modules():  # timm zero-initializes each block's last BN: as if trained instead
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
    torch.save(model.state_dict(), root / f"best{seed}.pt")
    metrics = {"dataset": "SynPatch", "model": "ResNet-toy", "init": "random", "seed": seed, "protocol": "finetune",
               "metric": "roc_auc", "value": 0.9, "weights": "random init", "n_parameters": 123}
    (root / f"metrics{seed}.json").write_text(json.dumps(metrics))
    return model.eval(), {"model_config": MODEL, "checkpoint": str(root / f"best{seed}.pt"),
                          "metrics": str(root / f"metrics{seed}.json")}


def test_every_run_is_scored_on_all_of_the_test_set(stores):
    root, trained, other_site = stores
    (model0, run0), (model1, run1) = finetuned_run(root, 0), finetuned_run(root, 1)
    rows = evaluate_out_of_distribution([run0, run1], trained, other_site, input_size=16, batch_size=8)

    # the reference: every image of the test set, its centre 16 x 16 of 20 (eval_crop's default)
    # cut and normalized by hand
    images = torch.from_numpy(np.load(other_site / "images.npy")).permute(0, 3, 1, 2).float() / 255
    assert images.shape[-2:] == (20, 20)
    images = images[:, :, 2:18, 2:18]
    images = (images - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    labels = generate("lymph_patches_other_site", 50, 20, seed=3).labels
    assert len(labels) == 50 and 0 < labels.mean() < 1
    for row, model, seed in [(rows[0], model0, 0), (rows[1], model1, 1)]:
        with torch.no_grad():
            tumour = model(images).softmax(1)[:, 1].numpy()
        assert row["value"] == pytest.approx(roc_auc_score(labels, tumour), abs=1e-6)
        assert row == dict(row, dataset="SynPatch", model="ResNet-toy", init="random", seed=seed, protocol="ood",
                           metric="roc_auc", weights="random init", n_parameters=123, in_distribution=0.9,
                           test_dataset="store")
    assert rows[0]["value"] != rows[1]["value"]


def test_a_test_set_of_other_classes_is_refused(stores, tmp_path):
    root, trained, _ = stores
    mammo = store(tmp_path, "mammo_mass", 40, {"train": 0.0, "val": 0.0, "test": 1.0})
    _, run = finetuned_run(root, 0)
    with pytest.raises(ValueError, match=rf"test set {mammo} has classes \['no_mass', 'mass'\].*fine-tuned on "
                                         r"classes \['normal', 'tumour'\]"):
        evaluate_out_of_distribution([run], trained, mammo, input_size=16, batch_size=8)
