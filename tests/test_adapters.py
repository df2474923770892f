"""ISIC 2019 and CBIS-DDSM adapters on the real metadata CSVs, with stand-in images written
under the real file names; skipping unreadable images."""
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vitmed.data.adapters import ISIC_CLASSES, read_cbis_ddsm, read_isic2019
from vitmed.data.raw import RawTable
from vitmed.data.store import build_store

RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}


def isic_subset(real_fixtures, tmp_path, n=300):
    """The first ``n`` rows of the real ISIC 2019 CSVs, ints instead of floats (both occur),
    with a stand-in JPEG per image."""
    source = real_fixtures / "isic2019"
    truth = pd.read_csv(source / "ISIC_2019_Training_GroundTruth.csv").iloc[np.r_[0:n // 2, 12000:12000 + n // 2]]
    metadata = pd.read_csv(source / "ISIC_2019_Training_Metadata.csv")
    raw = tmp_path / "isic"
    (raw / "ISIC_2019_Training_Input").mkdir(parents=True)
    truth.astype({c: int for c in [*ISIC_CLASSES, "UNK"]}).to_csv(
        raw / "ISIC_2019_Training_GroundTruth.csv", index=False
    )
    metadata[metadata["image"].isin(truth["image"])].to_csv(raw / "ISIC_2019_Training_Metadata.csv", index=False)
    rng = np.random.default_rng(0)
    for image in truth["image"]:
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(
            raw / "ISIC_2019_Training_Input" / f"{image}.jpg"
        )
    return raw, truth


def test_isic2019_labels_groups_and_a_lesion_grouped_split(real_fixtures, tmp_path):
    raw, truth = isic_subset(real_fixtures, tmp_path)
    table, manifest = read_isic2019(raw)
    assert manifest.endswith("ISIC_2019_Training_GroundTruth.csv") and table.classes == ISIC_CLASSES
    expected = truth[ISIC_CLASSES].to_numpy().argmax(1)
    np.testing.assert_array_equal(table.frame["label"], expected)
    assert table.frame["sample_id"].str.endswith("_downsampled").any()
    assert table.frame["group_id"].notna().all()
    meta = build_store(table, tmp_path / "store", image_size=16, ratios=RATIOS, seed=0, metric="macro_recall",
                       manifest=manifest)
    index = pd.read_parquet(tmp_path / "store" / "index.parquet")
    assert (index.groupby("group_id")["split"].nunique() == 1).all(), "a lesion in two splits"
    assert index["group_id"].duplicated().any(), "the subset holds lesions with several images"
    counts = pd.read_csv(tmp_path / "store" / "splits.csv", index_col="class")
    assert counts.loc["NV"].sum() == (expected == ISIC_CLASSES.index("NV")).sum()
    again = build_store(table, tmp_path / "again", image_size=16, ratios=RATIOS, seed=0, metric="macro_recall")
    assert again["split_hash"] == meta["split_hash"]


def test_isic2019_row_without_a_class_is_an_error_naming_it(real_fixtures, tmp_path):
    raw, truth = isic_subset(real_fixtures, tmp_path, n=20)
    broken = truth.copy()
    broken.loc[broken.index[3], ISIC_CLASSES] = 0.0  # an UNK-only row
    broken.to_csv(raw / "ISIC_2019_Training_GroundTruth.csv", index=False)
    with pytest.raises(
        ValueError, match=rf"GroundTruth.csv data row 4 \({truth['image'].iloc[3]}\): expected exactly one"
    ):
        read_isic2019(raw)
    truth.drop(columns=["SCC"]).to_csv(raw / "ISIC_2019_Training_GroundTruth.csv", index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['SCC'\]"):
        read_isic2019(raw)


def write_dicom(path, pixels):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"  # digital mammography
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def test_cbis_ddsm_image_level_mass_label_grouped_by_patient(real_fixtures, tmp_path):
    raw = tmp_path / "cbis"
    shutil.copytree(real_fixtures / "cbis_ddsm", raw)
    table, manifest = read_cbis_ddsm(raw)
    cases = pd.concat([pd.read_csv(raw / f) for f in ("mass_case_description_train_set.csv",
                                                      "calc_case_description_train_set.csv")])
    # P_00005 RIGHT CC has only a calcification; P_00001 LEFT CC a mass
    labels = table.frame.set_index("sample_id")["label"]
    assert labels["P_00001_LEFT_CC"] == 1 and labels["P_00005_RIGHT_CC"] == 0
    assert table.frame["sample_id"].is_unique and table.channels == 1
    both = set(cases[cases["abnormality type"].eq("calcification")]["patient_id"]) & set(
        cases[cases["abnormality type"].eq("mass")]["patient_id"])
    assert both, "some patients have both kinds of abnormality"
    malignant, _ = read_cbis_ddsm(raw, label="malignant")
    assert malignant.classes == ["benign", "malignant"] and 0 < malignant.frame["label"].mean() < 1

    # stand-in DICOMs named the way TCIA's downloader names them (1-1.dcm, not the CSV's 000000.dcm)
    subset = table.frame.iloc[:60]
    rng = np.random.default_rng(0)
    for path in subset["path"]:
        relative = path.split(str(raw) + "/")[1]
        subject = relative.split("/")[0]
        write_dicom(
            raw / "CBIS-DDSM" / subject / "08-07-2016-DDSM-93921" / "1.000000-full mammogram images-24515" / "1-1.dcm",
            rng.integers(0, 4096, (40, 30)),
        )
    table, manifest = read_cbis_ddsm(raw)
    subset = RawTable(table.frame.iloc[:60], table.label_columns, table.classes, table.task, table.channels)
    assert subset.frame["path"].str.endswith("1-1.dcm").all()
    build_store(subset, tmp_path / "store", image_size=16, ratios=RATIOS, seed=0, metric="roc_auc", manifest=manifest)
    index = pd.read_parquet(tmp_path / "store" / "index.parquet")
    assert (index.groupby("group_id")["split"].nunique() == 1).all(), "a patient in two splits"
    images = np.load(tmp_path / "store" / "images.npy")
    assert images.shape == (60, 16, 16, 1) and images.max() > 200 and images.min() < 50


def test_cbis_ddsm_unknown_abnormality_is_an_error_naming_file_and_row(real_fixtures, tmp_path):
    raw = tmp_path / "cbis"
    shutil.copytree(real_fixtures / "cbis_ddsm", raw)
    calc = pd.read_csv(raw / "calc_case_description_test_set.csv")
    calc.loc[2, "abnormality type"] = "architectural distortion"
    calc.to_csv(raw / "calc_case_description_test_set.csv", index=False)
    with pytest.raises(ValueError, match=r"calc_case_description_test_set.csv data row 3 \(P_\d+\): abnormality_type "
                                         r"'architectural distortion' is not one of"):
        read_cbis_ddsm(raw)


def test_unreadable_images_are_skipped_listed_and_counted_when_asked(tmp_path):
    from vitmed.data.raw import read_plain_layout, write_plain_layout
    from vitmed.data.synthetic import generate

    write_plain_layout(generate("mammo_mass", 50, 24, seed=0), tmp_path / "raw")
    (tmp_path / "raw" / "images" / "img000003.png").write_bytes(b"not a png")
    (tmp_path / "raw" / "images" / "img000007.png").unlink()
    raw = read_plain_layout(tmp_path / "raw")
    with pytest.raises(OSError, match=r"labels.csv data row 4 \(img000003\): cannot read image .*img000003.png"):
        build_store(raw, tmp_path / "strict", image_size=16, ratios=RATIOS, seed=0, metric="roc_auc")
    meta = build_store(raw, tmp_path / "store", image_size=16, ratios=RATIOS, seed=0, metric="roc_auc",
                       skip_unreadable=True)
    assert meta["n_skipped"] == 2 and [s["row"] for s in meta["skipped"]] == [3, 7]
    assert meta["skipped"][1]["where"] == f"{tmp_path / 'raw' / 'labels.csv'} data row 8 (img000007)"
    assert "not found" in meta["skipped"][1]["error"]
    index = pd.read_parquet(tmp_path / "store" / "index.parquet")
    assert len(index) == 48 and not index["sample_id"].isin(["img000003", "img000007"]).any()
    assert sum(meta["split_sizes"].values()) == 48


def write_chexpert(root, rng):
    """CheXpert-v1.0-small's documented layout: train.csv/valid.csv with paths that start with
    the folder's name, train/<patient>/<study>/view<k>_<frontal|lateral>.jpg."""
    from vitmed.data.adapters import CHEXPERT_OBSERVATIONS

    rows = {"train": [], "valid": []}
    for split, patients in (("train", range(1, 31)), ("valid", range(64541, 64546))):
        for patient in patients:
            for study in (1, 2):
                for view, kind in ((1, "frontal"), (2, "lateral")):
                    relative = f"{split}/patient{patient:05d}/study{study}/view{view}_{kind}.jpg"
                    (root / relative).parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(rng.integers(0, 255, (32, 28), dtype=np.uint8)).save(root / relative)
                    values = rng.choice([1.0, 0.0, -1.0, np.nan], size=len(CHEXPERT_OBSERVATIONS))
                    rows[split].append(
                        {
                            "Path": f"CheXpert-v1.0-small/{relative}",
                            "Sex": "Female",
                            "Age": 60,
                            "Frontal/Lateral": kind.capitalize(),
                            "AP/PA": "AP" if kind == "frontal" else "",
                            **dict(zip(CHEXPERT_OBSERVATIONS, values)),
                        }
                    )
    for split, table in rows.items():
        pd.DataFrame(table).to_csv(root / f"{split}.csv", index=False)
    return pd.concat([pd.DataFrame(rows["train"]), pd.DataFrame(rows["valid"])], ignore_index=True)


def test_chexpert_uncertainty_policies_views_and_patient_groups(tmp_path):
    from vitmed.data.adapters import CHEXPERT_OBSERVATIONS, read_chexpert

    root = tmp_path / "CheXpert-v1.0-small"
    table = write_chexpert(root, np.random.default_rng(0))
    zeros, manifest = read_chexpert(root)
    ones, _ = read_chexpert(root, uncertain="ones")
    values = table[CHEXPERT_OBSERVATIONS].to_numpy()
    np.testing.assert_array_equal(zeros.frame[CHEXPERT_OBSERVATIONS].to_numpy(), (values == 1).astype(int))
    np.testing.assert_array_equal(ones.frame[CHEXPERT_OBSERVATIONS].to_numpy(), np.isin(values, (1, -1)).astype(int))
    ignore, _ = read_chexpert(root, uncertain="ignore")  # uncertain kept as -1, blank still negative
    np.testing.assert_array_equal(ignore.frame[CHEXPERT_OBSERVATIONS].to_numpy(),
                                  np.where(values == -1, -1, (values == 1).astype(int)))
    assert zeros.frame["group_id"].nunique() == 35 and zeros.task == "multilabel" and zeros.channels == 1
    frontal, _ = read_chexpert(root, frontal_only=True)
    assert len(frontal.frame) == len(table) // 2 and frontal.frame["path"].str.endswith("frontal.jpg").all()

    build_store(
        zeros, tmp_path / "store", image_size=16, ratios=RATIOS, seed=0, metric="macro_roc_auc", manifest=manifest
    )
    index = pd.read_parquet(tmp_path / "store" / "index.parquet")
    assert (index.groupby("group_id")["split"].nunique() == 1).all(), "a patient in two splits"
    assert set(index["split"]) == {"train", "val", "test"}
    build_store(
        ignore, tmp_path / "ignore", image_size=16, ratios=RATIOS, seed=0, metric="macro_roc_auc", manifest=manifest
    )
    kept = pd.read_parquet(tmp_path / "ignore" / "index.parquet")
    assert (kept[CHEXPERT_OBSERVATIONS] == -1).sum().sum() == (values == -1).sum()
    counts = pd.read_csv(tmp_path / "ignore" / "splits.csv", index_col="class")
    assert counts.sum(axis=1).to_dict() == dict(zip(CHEXPERT_OBSERVATIONS, (values == 1).sum(axis=0)))  # positives only
    ignore.frame.loc[4, "Edema"] = 2
    with pytest.raises(
        ValueError,
        match=r"train.csv data row 5 \(train_patient\d+_study\d_view\d_frontal\): multi-label values must be 1, 0 "
        r"or -1 \(ignored\)",
    ):
        build_store(ignore, tmp_path / "bad", image_size=16, ratios=RATIOS, seed=0, metric="macro_roc_auc")
    assert not (tmp_path / "bad" / "images.npy").exists()

    broken = pd.read_csv(root / "valid.csv")
    broken.loc[1, "Edema"] = 2.0
    broken.to_csv(root / "valid.csv", index=False)
    with pytest.raises(
        ValueError,
        match=r"valid.csv data row 2 \(CheXpert-v1.0-small/valid/.*\): observation values must be 1, 0, -1 or blank",
    ):
        read_chexpert(root)


def test_pcam_reads_h5_in_place_and_keeps_the_official_splits(tmp_path):
    import h5py

    from vitmed.data.adapters import read_pcam

    rng = np.random.default_rng(0)
    sizes = {"train": 24, "valid": 8, "test": 8}
    expected = {}
    for split, n in sizes.items():
        x = rng.integers(0, 255, (n, 96, 96, 3), dtype=np.uint8)
        y = rng.integers(0, 2, (n, 1, 1, 1), dtype=np.uint8)
        with h5py.File(tmp_path / f"camelyonpatch_level_2_split_{split}_x.h5", "w") as f:
            f.create_dataset("x", data=x, chunks=(1, 96, 96, 3))
        with h5py.File(tmp_path / f"camelyonpatch_level_2_split_{split}_y.h5", "w") as f:
            f.create_dataset("y", data=y)
        expected[split] = (x, y.reshape(-1))
    table, manifest = read_pcam(tmp_path)
    assert len(table.frame) == 40 and table.task == "binary"
    np.testing.assert_array_equal(table.pixels(24 + 3), expected["valid"][0][3])  # rows run train, valid, test
    meta = build_store(table, tmp_path / "store", image_size=96, ratios=RATIOS, seed=0, metric="roc_auc",
                       manifest=manifest, fixed_splits=table.frame["split"])
    assert meta["split_sizes"] == {"train": 24, "val": 8, "test": 8}
    index = pd.read_parquet(tmp_path / "store" / "index.parquet")
    images = np.load(tmp_path / "store" / "images.npy")
    test_rows = index[index["split"] == "test"]
    np.testing.assert_array_equal(images[test_rows["store_row"].to_numpy()], expected["test"][0])
    np.testing.assert_array_equal(test_rows["label"], expected["test"][1])
    assert not list(tmp_path.glob("**/*.png")), "no file per patch"

    (tmp_path / "camelyonpatch_level_2_split_test_y.h5").unlink()
    with pytest.raises(FileNotFoundError, match="split_test_y.h5"):
        read_pcam(tmp_path)


@pytest.mark.parametrize(
    "flag, labels_shape, task", [("bloodmnist", (1,), "multiclass"), ("chestmnist", (14,), "multilabel")]
)
def test_medmnist_npz_official_splits(tmp_path, flag, labels_shape, task):
    from vitmed.data.adapters import read_medmnist

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 30), ("val", 6), ("test", 9)):
        arrays[f"{split}_images"] = rng.integers(
            0, 255, (n, 64, 64, 3) if task == "multiclass" else (n, 64, 64), dtype=np.uint8
        )
        arrays[f"{split}_labels"] = rng.integers(0, 8 if task == "multiclass" else 2, (n, *labels_shape))
    np.savez(tmp_path / f"{flag}_64.npz", **arrays)
    table, manifest = read_medmnist(tmp_path, flag, 64)
    assert table.task == task and table.channels == (3 if task == "multiclass" else 1)
    meta = build_store(table, tmp_path / "store", image_size=64, ratios=RATIOS, seed=0,
                       metric="macro_recall" if task == "multiclass" else "macro_roc_auc",
                       manifest=manifest, fixed_splits=table.frame["split"])
    assert meta["split_sizes"] == {"train": 30, "val": 6, "test": 9}
    images = np.load(tmp_path / "store" / "images.npy")
    np.testing.assert_array_equal(images[-9:].reshape(arrays["test_images"].shape), arrays["test_images"])
    with pytest.raises(FileNotFoundError, match="pathmnist_128.npz"):
        read_medmnist(tmp_path, "pathmnist", 128)


def test_cbis_ddsm_from_the_kaggle_jpeg_mirror(real_fixtures, tmp_path):
    """The mirror's layout: csv/ (TCIA's four case CSVs + dicom_info.csv), jpeg/<series UID>/*.jpg,
    with crops and ROI masks in the same series folders as other images."""
    raw = tmp_path / "mirror"
    shutil.copytree(real_fixtures / "cbis_ddsm", raw / "csv")
    tcia, _ = read_cbis_ddsm(real_fixtures / "cbis_ddsm")
    cases = pd.concat([pd.read_csv(raw / "csv" / name, dtype=str) for name in
                       ("mass_case_description_train_set.csv", "calc_case_description_test_set.csv",
                        "mass_case_description_test_set.csv", "calc_case_description_train_set.csv")])
    series = sorted({p.strip().split("/")[2] for p in cases["image file path"]})
    rows = [{"image_path": f"CBIS-DDSM/jpeg/{uid}/1-{n % 900 + 100}.jpg", "SeriesDescription": "full mammogram images",
             "SeriesInstanceUID": uid, "PatientID": "x"} for n, uid in enumerate(series)]
    # an ROI mask in the same folder as a full mammogram must not be taken for it
    rows.insert(0, {"image_path": f"CBIS-DDSM/jpeg/{series[0]}/2-001.jpg", "SeriesDescription": "ROI mask images",
                    "SeriesInstanceUID": series[0], "PatientID": "x"})
    pd.DataFrame(rows).to_csv(raw / "csv" / "dicom_info.csv", index=False)

    table, manifest = read_cbis_ddsm(raw)
    assert manifest == str(raw / "csv" / "mass_case_description_train_set.csv")
    # the same images, labels and listing rows; the files differ (path and the case CSVs' folder)
    pd.testing.assert_frame_equal(
        table.frame.drop(columns=["path", "source"]), tcia.frame.drop(columns=["path", "source"])
    )
    assert table.frame["path"].str.startswith(str(raw / "jpeg") + "/").all()
    assert not table.frame["path"].str.endswith("/2-001.jpg").any()

    subset = table.frame.iloc[:30]
    for row, path in enumerate(subset["path"]):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((50, 40), 8 * row, np.uint8)).save(path)
    store = RawTable(subset, table.label_columns, table.classes, table.task, table.channels)
    build_store(store, tmp_path / "store", image_size=16, ratios=RATIOS, seed=0, metric="roc_auc", manifest=manifest)
    index = pd.read_parquet(tmp_path / "store" / "index.parquet").sort_values("store_row")
    images = np.load(tmp_path / "store" / "images.npy")
    expected = [8 * subset["sample_id"].tolist().index(s) for s in index["sample_id"]]
    np.testing.assert_allclose(images.reshape(len(images), -1).mean(axis=1), expected, atol=2)

    missing = RawTable(table.frame.iloc[:31], table.label_columns, table.classes, table.task, table.channels)
    listed = table.frame.iloc[30]
    where = re.escape(f"{listed['source']} data row {listed['source_row']} ({listed['sample_id']})")
    with pytest.raises(FileNotFoundError, match=where + r": image file not found: .*jpeg/"):
        build_store(
            missing, tmp_path / "missing", image_size=16, ratios=RATIOS, seed=0, metric="roc_auc", manifest=manifest
        )
