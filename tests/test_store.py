import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vitmed.data.adapters import read_aptos2019
from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store, load_split
from vitmed.data.synthetic import generate

RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}


def test_plain_layout_round_trip_into_store(tmp_path):
    data = generate("chest_findings", 120, 40, seed=1)
    write_plain_layout(data, tmp_path / "raw")
    raw = read_plain_layout(tmp_path / "raw")
    meta = build_store(raw, tmp_path / "store", image_size=24, ratios=RATIOS, seed=0, metric="macro_roc_auc")
    images = np.load(tmp_path / "store" / "images.npy", mmap_mode="r")
    index = pd.read_parquet(tmp_path / "store" / "index.parquet")
    assert images.shape == (120, 24, 24, 1) and images.dtype == np.uint8
    assert list(index.columns[:4]) == ["sample_id", "group_id", "split", "store_row"]
    assert meta["task"] == "multilabel" and meta["label_columns"] == data.classes
    np.testing.assert_array_equal(index[data.classes].to_numpy(), data.labels)
    # no patient in two splits
    assert (index.groupby("group_id")["split"].nunique() == 1).all()
    assert sum(meta["split_sizes"].values()) == 120
    # the store rows hold the resized images of their samples
    original = np.asarray(Image.fromarray(data.images[7, ..., 0]).resize((24, 24), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(images[index.loc[7, "store_row"], ..., 0], original)
    _, labels, rows = load_split(tmp_path / "store", "test")
    assert labels.shape == (len(rows), 14) and (rows["split"] == "test").all()


def test_same_seed_same_split_hash(tmp_path):
    data = generate("skin_lesions", 150, 24, seed=2)
    write_plain_layout(data, tmp_path / "raw")
    raw = read_plain_layout(tmp_path / "raw")
    a = build_store(raw, tmp_path / "a", image_size=16, ratios=RATIOS, seed=5, metric="macro_recall")
    b = build_store(raw, tmp_path / "b", image_size=16, ratios=RATIOS, seed=5, metric="macro_recall")
    c = build_store(raw, tmp_path / "c", image_size=16, ratios=RATIOS, seed=6, metric="macro_recall")
    assert a["split_hash"] == b["split_hash"] != c["split_hash"]
    counts = pd.read_csv(tmp_path / "a" / "splits.csv", index_col="class")
    assert counts.to_numpy().sum() == 150


def test_missing_image_names_manifest_row_and_file_and_leaves_no_store(tmp_path):
    data = generate("mammo_mass", 40, 24, seed=0)
    write_plain_layout(data, tmp_path / "raw")
    (tmp_path / "raw" / "images" / "img000005.png").unlink()
    raw = read_plain_layout(tmp_path / "raw")
    with pytest.raises(
        FileNotFoundError, match=r"labels.csv data row 6 \(img000005\): image file not found: .*img000005.png"
    ):
        build_store(raw, tmp_path / "store", image_size=16, ratios=RATIOS, seed=0, metric="roc_auc",
                    manifest=str(tmp_path / "raw" / "labels.csv"))
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_unknown_label_is_an_error_naming_the_row(tmp_path):
    data = generate("mammo_mass", 40, 24, seed=0)
    write_plain_layout(data, tmp_path / "raw")
    labels = pd.read_csv(tmp_path / "raw" / "labels.csv")
    labels.loc[3, "label"] = 7
    labels.to_csv(tmp_path / "raw" / "labels.csv", index=False)
    with pytest.raises(ValueError, match=r"labels.csv data row 4 \(img000003\): label 7 is not one of 0..1"):
        build_store(read_plain_layout(tmp_path / "raw"), tmp_path / "store", image_size=16, ratios=RATIOS,
                    seed=0, metric="roc_auc", manifest="labels.csv")


def test_aptos2019_adapter_on_real_metadata(tmp_path, real_fixtures):
    """Real APTOS2019 train.csv rows with stand-in images under their real file names."""
    table = pd.read_csv(real_fixtures / "aptos2019" / "train.csv", dtype={"id_code": str}).head(80)
    raw_dir = tmp_path / "aptos"
    (raw_dir / "train_images").mkdir(parents=True)
    table.to_csv(raw_dir / "train.csv", index=False)
    rng = np.random.default_rng(0)
    for code in table["id_code"]:
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(
            raw_dir / "train_images" / f"{code}.png"
        )
    raw, manifest = read_aptos2019(raw_dir)
    meta = build_store(raw, tmp_path / "store", image_size=16, ratios={"train": 0.7, "val": 0.15, "test": 0.15},
                       seed=0, metric="quadratic_kappa", manifest=manifest)
    index = pd.read_parquet(tmp_path / "store" / "index.parquet")
    assert index["sample_id"].tolist() == table["id_code"].tolist()
    assert (index["label"] == table["diagnosis"]).all()
    counts = pd.read_csv(tmp_path / "store" / "splits.csv", index_col="class")
    grades = ["No DR", "Mild", "Moderate", "Severe", "Proliferative DR"]
    expected = table["diagnosis"].map(dict(enumerate(grades))).value_counts()
    assert counts.sum(axis=1).to_dict() == expected.to_dict()  # rows named by class
    assert json.loads((tmp_path / "store" / "meta.json").read_text())["classes"][0] == "No DR"
    assert abs(meta["split_sizes"]["train"] / 80 - 0.7) < 0.1


def test_aptos2019_missing_column_is_named(tmp_path):
    (tmp_path / "train.csv").write_text("id_code,grade\nabc,1\n")
    with pytest.raises(ValueError, match=r"train.csv: missing column\(s\) \['diagnosis'\]"):
        read_aptos2019(tmp_path)
