"""Each public reader and entry point refuses a bad input with an error that names it (issue 22)."""
import numpy as np
import pandas as pd
import pytest

from vitmed.data import adapters
from vitmed.data.adapters import CHEXPERT_OBSERVATIONS


def write_chexpert(root, uncertain_value=-1.0):
    rows = [{"Path": f"CheXpert-v1.0-small/train/patient{p:05d}/study1/view1_frontal.jpg", "Frontal/Lateral": "Frontal",
             **{o: uncertain_value if o == "Edema" else 0.0 for o in CHEXPERT_OBSERVATIONS}} for p in range(3)]
    for name in ("train.csv", "valid.csv"):
        pd.DataFrame(rows).to_csv(root / name, index=False)


def test_chexpert_unknown_uncertainty_policy_is_named(tmp_path):
    write_chexpert(tmp_path)
    with pytest.raises(ValueError, match=r"uncertain: 'half' is not one of \['zeros', 'ones', 'ignore'\]"):
        adapters.read_chexpert(tmp_path, uncertain="half")


def test_chexpert_value_outside_1_0_minus1_names_file_and_row(tmp_path):
    write_chexpert(tmp_path, uncertain_value=2.0)
    with pytest.raises(ValueError, match=r"train.csv data row 1 \(CheXpert-v1.0-small/train/patient00000"):
        adapters.read_chexpert(tmp_path)


def test_camelyon17_tumour_not_0_or_1_names_the_row(tmp_path):
    table = pd.DataFrame({"patient": ["004", "004"], "node": [4, 4], "x_coord": [1, 2], "y_coord": [1, 2],
                          "tumor": [0, 2], "slide": [0, 0], "center": [0, 0], "split": [0, 0]})
    table.to_csv(tmp_path / "metadata.csv")
    (tmp_path / "patches").mkdir()
    with pytest.raises(ValueError, match=r"metadata.csv data row 2: tumor must be 0 or 1, got 2"):
        adapters.read_camelyon17(tmp_path)


def test_medmnist_missing_arrays_are_listed(tmp_path):
    np.savez(tmp_path / "pathmnist_64.npz", train_images=np.zeros((2, 64, 64, 3), np.uint8),
             train_labels=np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"pathmnist_64.npz: missing arrays \['val_images', 'val_labels', "
                                         r"'test_images', 'test_labels'\]"):
        adapters.read_medmnist(tmp_path, "pathmnist", 64)


def test_pcam_images_and_labels_of_different_lengths_are_named(tmp_path):
    import h5py

    for split, n in {"train": 4, "valid": 2, "test": 2}.items():
        with h5py.File(tmp_path / f"camelyonpatch_level_2_split_{split}_x.h5", "w") as f:
            f.create_dataset("x", data=np.zeros((n + (split == "test"), 96, 96, 3), np.uint8))
        with h5py.File(tmp_path / f"camelyonpatch_level_2_split_{split}_y.h5", "w") as f:
            f.create_dataset("y", data=np.zeros((n, 1, 1, 1), np.uint8))
    with pytest.raises(ValueError, match=r"split_test_x.h5: x has shape \(3, 96, 96, 3\), expected \(2, 96, 96, 3\)"):
        adapters.read_pcam(tmp_path)


def test_local_attention_with_an_even_kernel_is_refused():
    from vitmed.models.self_attention import LocalSelfAttention

    with pytest.raises(ValueError, match="kernel_size 4 must be odd"):
        LocalSelfAttention(8, 8, kernel_size=4, heads=2)


def test_dino_with_fewer_training_images_than_a_batch_is_refused(tmp_path):
    from test_dino import dino_config

    from vitmed.data.raw import read_plain_layout, write_plain_layout
    from vitmed.data.store import build_store
    from vitmed.data.synthetic import generate
    from vitmed.models.factory import create_model
    from vitmed.train.dino import pretrain_dino

    write_plain_layout(generate("skin_lesions", 40, 16, seed=0), tmp_path / "raw")
    build_store(read_plain_layout(tmp_path / "raw"), tmp_path / "store", image_size=16,
                ratios={"train": 0.5, "val": 0.25, "test": 0.25}, seed=0, metric="macro_recall")
    backbone = create_model("test_vit", 0, model_kwargs={"img_size": 16, "patch_size": 8})
    with pytest.raises(ValueError, match=r"store: \d+ training images < dino.batch_size 64"):
        pretrain_dino(backbone, tmp_path / "store", tmp_path / "run", tmp_path / "teacher.pt",
                      dino_config(batch_size=64), seed=0)
    assert not (tmp_path / "teacher.pt").exists()


@pytest.mark.parametrize("frame, task, message", [
    (pd.DataFrame({"sample_id": ["a"]}), "binary", r"raw table lacks columns \['group_id', 'label', 'path'\]"),
    (pd.DataFrame({"sample_id": ["a"], "group_id": [None], "path": ["p"], "label": [0]}), "regression",
     "task must be one of .* got 'regression'"),
    (pd.DataFrame({"sample_id": ["a", "a"], "group_id": [None, None], "path": ["p", "q"], "label": [0, 1]}),
     "binary", "duplicate sample_id 'a'"),
])
def test_raw_table_refuses_a_malformed_table(frame, task, message):
    from vitmed.data.raw import RawTable

    with pytest.raises(ValueError, match=message):
        RawTable(frame, ["label"], ["no", "yes"], task, 3)
