"""ISIC 2018 Task 1 and CSAW-S: files written in the publishers' documented layouts, fetched
from a local HTTP server standing in for the ISIC archive and Zenodo, read by the adapters and
stored with their masks."""
import hashlib
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vitmed.data import fetch
from vitmed.data.adapters import check_layout, read_csaw_s, read_isic2018, read_raw
from vitmed.data.store import build_store


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def write_isic2018(root, n_train=10, n_val=3, size=(20, 16)):
    """ISIC 2018 Task 1 as its archives unpack: images, 0/255 masks, and the licence files."""
    rng = np.random.default_rng(0)
    for official, n, start in (("Training", n_train, 0), ("Validation", n_val, 100)):
        images, masks = fetch_names(official)
        for i in range(start, start + n):
            w, h = size
            _png(root / images / f"ISIC_{i:07d}.jpg", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
            mask = np.zeros((h, w), np.uint8)
            mask[4:10, 5:12] = 255
            _png(root / masks / f"ISIC_{i:07d}_segmentation.png", mask)
        (root / images / "LICENSE.txt").write_text("CC-BY-NC")
        (root / masks / "ATTRIBUTION.txt").write_text("ISIC")
    return root


def fetch_names(official):
    from vitmed.data.adapters import ISIC2018_FOLDERS
    return ISIC2018_FOLDERS[official]


def test_isic2018_training_split_90_10_and_validation_as_test(tmp_path):
    raw_dir = write_isic2018(tmp_path / "isic", n_train=20, n_val=4)
    raw, manifest = read_isic2018(raw_dir)
    assert len(raw.frame) == 24 and raw.task == "segmentation" and raw.channels == 3
    assert (raw.frame["split"] == "test").sum() == 4
    meta = build_store(raw, tmp_path / "store", image_size=16, ratios={"train": 0.9, "val": 0.1, "test": 0.0},
                       seed=0, metric="iou", manifest=manifest, fixed_splits=raw.frame["split"])
    assert meta["split_sizes"] == {"train": 18, "val": 2, "test": 4}
    masks = np.load(tmp_path / "store" / "masks.npy")
    assert set(np.unique(masks)) == {0, 1} and masks.shape == (24, 16, 16)


def test_isic2018_image_without_mask_is_named_or_skipped(tmp_path):
    raw_dir = write_isic2018(tmp_path / "isic")
    (raw_dir / "ISIC2018_Task1_Training_GroundTruth" / "ISIC_0000003_segmentation.png").unlink()
    (raw_dir / "ISIC2018_Task1-2_Validation_Input" / "ISIC_0000101.jpg").unlink()  # a mask without its image
    raw, manifest = read_isic2018(raw_dir)
    ratios = {"train": 0.9, "val": 0.1, "test": 0.0}
    with pytest.raises(FileNotFoundError, match="ISIC_0000003.*no mask for image"):
        build_store(raw, tmp_path / "store", image_size=16, ratios=ratios, seed=0, metric="iou",
                    manifest=manifest, fixed_splits=raw.frame["split"])
    meta = build_store(raw, tmp_path / "store", image_size=16, ratios=ratios, seed=0, metric="iou",
                       manifest=manifest, fixed_splits=raw.frame["split"], skip_unreadable=True)
    assert meta["n_skipped"] == 2 and meta["n_images"] == 11
    assert any("ISIC_0000101" in s["where"] and "image file not found" in s["error"] for s in meta["skipped"])


def test_isic2018_missing_folder_names_what_is_needed(tmp_path):
    raw_dir = write_isic2018(tmp_path / "isic")
    (raw_dir / "ISIC2018_Task1_Validation_GroundTruth" / "ATTRIBUTION.txt").unlink()
    for mask in (raw_dir / "ISIC2018_Task1_Validation_GroundTruth").iterdir():
        mask.unlink()
    (raw_dir / "ISIC2018_Task1_Validation_GroundTruth").rmdir()
    with pytest.raises(FileNotFoundError, match="ISIC2018_Task1_Validation_GroundTruth"):
        check_layout("isic2018", raw_dir)


def test_isic2018_fetch_gives_the_adapters_layout(publisher, tmp_path):  # noqa: F811
    root, url = publisher
    source = write_isic2018(tmp_path / "source", n_train=2, n_val=1)
    for name in fetch.ISIC2018_ARCHIVES:
        with zipfile.ZipFile(root / f"{name}.zip", "w") as archive:
            for path in (source / name).iterdir():
                archive.write(path, f"{name}/{path.name}")
    raw_dir = fetch.fetch_isic2018(tmp_path / "downloads" / "isic2018", base_url=url)
    raw, _ = read_isic2018(raw_dir)
    assert sorted(raw.frame["sample_id"]) == ["ISIC_0000000", "ISIC_0000001", "ISIC_0000100"]
    for name in fetch.ISIC2018_ARCHIVES:
        (root / f"{name}.zip").unlink()  # done once: a rerun needs no server
    assert fetch.fetch_isic2018(tmp_path / "downloads" / "isic2018", base_url=url) == raw_dir


def write_csaw_s(root, patients=("000", "001", "002", "003"), test_patients=("500",), size=(24, 30)):
    """CSAW-S as its Zenodo archive unpacks: images with one mask per class beside them, test
    masks from three annotators; an 8-bit twin of one image."""
    rng = np.random.default_rng(1)
    w, h = size
    for patient in patients:
        for k in (1, 2):
            folder = root / "CsawS" / "anonymized_dataset" / patient
            _png(folder / f"{patient}_{k}.png", rng.integers(0, 255, (h, w), dtype=np.uint8))
            cancer = np.zeros((h, w), np.uint8)
            cancer[5:9, 6:12] = 1  # "> 0 = positive"
            _png(folder / f"{patient}_{k}_cancer.png", cancer)
            _png(folder / f"{patient}_{k}_mammary_gland.png", np.ones((h, w), np.uint8))
    _png(root / "CsawS" / "anonymized_dataset" / patients[0] / f"{patients[0]}_1_8bit.png",
         np.zeros((h, w), np.uint8))
    for patient in test_patients:
        folder = root / "CsawS" / "test_data" / "anonymized_dataset" / patient
        _png(folder / f"{patient}_1.png", rng.integers(0, 255, (h, w), dtype=np.uint8))
        for annotator, columns in (("1", slice(0, 10)), ("2", slice(5, 15)), ("3", slice(8, 20))):
            mask = np.zeros((h, w), np.uint8)
            mask[10:20, columns] = 255
            _png(root / "CsawS" / "test_data" / f"annotator_{annotator}" / patient / f"{patient}_1_cancer.png", mask)
    return root


def test_csaw_s_majority_of_annotators_grouped_by_patient(tmp_path):
    raw_dir = write_csaw_s(tmp_path / "csaw")
    raw, manifest = read_csaw_s(raw_dir)
    assert len(raw.frame) == 9 and raw.channels == 1  # the class masks and the 8-bit twin are not images
    assert set(raw.frame["group_id"]) == {"000", "001", "002", "003", "500"}
    test_row = int(np.flatnonzero(raw.frame["split"] == "test")[0])
    majority = raw.read_mask(test_row)
    assert majority[15].tolist()[:20] == [0] * 5 + [1] * 10 + [0] * 5  # columns 5..14 marked by two of three
    one, _ = read_csaw_s(raw_dir, annotator="3")
    assert one.read_mask(test_row)[15].tolist()[:20] == [0] * 8 + [1] * 12
    meta = build_store(raw, tmp_path / "store", image_size=16, ratios={"train": 0.75, "val": 0.25, "test": 0.0},
                       seed=0, metric="iou", manifest=manifest, fixed_splits=raw.frame["split"])
    index = pd.read_parquet(tmp_path / "store" / "index.parquet")
    assert meta["split_sizes"]["test"] == 1
    assert index.groupby("group_id")["split"].nunique().max() == 1  # whole patients


def test_csaw_s_missing_annotator_mask_is_named(tmp_path):
    raw_dir = write_csaw_s(tmp_path / "csaw")
    (raw_dir / "CsawS" / "test_data" / "annotator_2" / "500" / "500_1_cancer.png").unlink()
    raw, manifest = read_csaw_s(raw_dir)
    with pytest.raises(FileNotFoundError, match="annotator_2/500/500_1_cancer.png"):
        build_store(raw, tmp_path / "store", image_size=16, ratios={"train": 0.75, "val": 0.25, "test": 0.0},
                    seed=0, metric="iou", manifest=manifest, fixed_splits=raw.frame["split"])


def test_csaw_s_through_read_raw_and_the_zenodo_record(publisher, tmp_path):  # noqa: F811
    root, url = publisher
    source = write_csaw_s(tmp_path / "source", patients=("000", "001"))
    with zipfile.ZipFile(root / "CsawS.zip", "w") as archive:
        for path in sorted((source / "CsawS").rglob("*.png")):
            archive.write(path, str(path.relative_to(source)))
    md5 = hashlib.md5((root / "CsawS.zip").read_bytes()).hexdigest()
    record = {"files": [{"key": "CsawS.zip", "checksum": f"md5:{md5}", "links": {"self": f"{url}/CsawS.zip"}}]}
    (root / "record.json").write_text(json.dumps(record))
    raw_dir = fetch.fetch_csaw_s(tmp_path / "downloads" / "csaw_s", record_url=f"{url}/record.json")
    (tmp_path / "source.json").write_text(json.dumps({"source": "csaw_s", "raw_dir": str(raw_dir)}))
    raw, _, official = read_raw({"source": "csaw_s", "annotator": "majority"}, tmp_path / "source.json")
    assert len(raw.frame) == 5 and list(official).count("test") == 1

    record["files"][0]["checksum"] = "md5:" + "0" * 32  # a corrupted transfer is refused
    (root / "record.json").write_text(json.dumps(record))
    with pytest.raises(Exception, match="0{32}|MD5|md5"):
        fetch.fetch_csaw_s(tmp_path / "other" / "csaw_s", record_url=f"{url}/record.json")
