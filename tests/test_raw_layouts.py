"""Raw data as users have it (issue 20): errors of pooled manifests name the file and data row
the fault is in, archives left packed in raw_dir, nested folders of public copies."""
import gzip
import re
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
from test_adapters import RATIOS, isic_subset, write_chexpert

from vitmed.data.adapters import ISIC_CLASSES, read_cbis_ddsm, read_chexpert, read_isic2019, read_pcam
from vitmed.data.store import build_store


def build(raw, path, **options):
    return build_store(raw, path, image_size=16, ratios=RATIOS, seed=0, metric="roc_auc", **options)


def test_chexpert_image_missing_from_valid_csv_is_reported_in_valid_csv(tmp_path):
    root = tmp_path / "CheXpert-v1.0-small"
    write_chexpert(root, np.random.default_rng(0))
    valid = pd.read_csv(root / "valid.csv")
    (root / valid["Path"][6].split("/", 1)[1]).unlink()  # the 7th data row of valid.csv
    raw, manifest = read_chexpert(root)
    sample = valid["Path"][6].split("/", 1)[1].replace("/", "_").removesuffix(".jpg")
    where = re.escape(f"{root / 'valid.csv'} data row 7 ({sample})")
    with pytest.raises(FileNotFoundError, match=where + ": image file not found"):
        build(raw, tmp_path / "store", manifest=manifest)
    assert not (tmp_path / "store" / "images.npy").exists()
    meta = build(raw, tmp_path / "skipping", manifest=manifest, skip_unreadable=True)
    assert [record["where"] for record in meta["skipped"]] == [f"{root / 'valid.csv'} data row 7 ({sample})"]


def test_chexpert_frontal_only_keeps_the_rows_of_the_files(tmp_path):
    root = tmp_path / "CheXpert-v1.0-small"
    write_chexpert(root, np.random.default_rng(1))
    raw, _ = read_chexpert(root, frontal_only=True)
    last = raw.frame.iloc[-1]  # valid.csv's last frontal image: its 19th data row (view1 of patient 5, study 2)
    assert (last["source"], last["source_row"]) == (str(root / "valid.csv"), 19)


def write_pcam(folder, rng, sizes=(("train", 12), ("valid", 4), ("test", 6))):
    for split, n in sizes:
        with h5py.File(folder / f"camelyonpatch_level_2_split_{split}_x.h5", "w") as f:
            f.create_dataset("x", data=rng.integers(0, 255, (n, 96, 96, 3), dtype=np.uint8))
        with h5py.File(folder / f"camelyonpatch_level_2_split_{split}_y.h5", "w") as f:
            f.create_dataset("y", data=rng.integers(0, 2, (n, 1, 1, 1), dtype=np.uint8))


def test_pcam_bad_label_is_reported_in_the_test_labels_file(tmp_path):
    write_pcam(tmp_path, np.random.default_rng(0))
    with h5py.File(tmp_path / "camelyonpatch_level_2_split_test_y.h5", "r+") as f:
        f["y"][4, 0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"split_test_y.h5 data row 5: label 3 is not 0 \(normal\) or 1 \(tumor\)"):
        read_pcam(tmp_path)


def test_pcam_unreadable_patch_is_reported_in_its_own_x_file(tmp_path):
    write_pcam(tmp_path, np.random.default_rng(0))
    raw, manifest = read_pcam(tmp_path)
    original = raw.pixels

    def damaged(row):  # the valid split's third patch cannot be read (as a corrupt chunk)
        if row == 12 + 2:
            raise OSError("Can't synchronously read data")
        return original(row)

    raw.pixels = damaged
    with pytest.raises(OSError, match=r"split_valid_x.h5 data row 3 \(valid_000002\): Can't synchronously read"):
        build(raw, tmp_path / "store", manifest=manifest, fixed_splits=raw.frame["split"])


def test_pcam_packed_files_in_raw_dir_are_unpacked_once_beside_themselves(tmp_path):
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    write_pcam(unpacked, np.random.default_rng(0))
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    for path in unpacked.iterdir():
        with open(path, "rb") as source, gzip.open(raw_dir / (path.name + ".gz"), "wb") as target:
            shutil.copyfileobj(source, target)
    table, _ = read_pcam(raw_dir)
    expected, _ = read_pcam(unpacked)
    assert len(table.frame) == 22 and all(np.array_equal(table.pixels(i), expected.pixels(i)) for i in (0, 13, 21))
    first = raw_dir / "camelyonpatch_level_2_split_train_x.h5"
    stamp = first.stat().st_mtime_ns
    read_pcam(raw_dir)
    assert first.stat().st_mtime_ns == stamp, "unpacked once"
    assert not list(raw_dir.glob(".*tmp*")), "no temporary left behind"


def test_pcam_damaged_archive_missing_key_and_unreadable_h5_are_named(tmp_path):
    write_pcam(tmp_path, np.random.default_rng(0))
    test_x = tmp_path / "camelyonpatch_level_2_split_test_x.h5"
    test_x.unlink()
    packed = gzip.compress(np.random.default_rng(1).integers(0, 255, 10_000, dtype=np.uint8).tobytes())
    (tmp_path / (test_x.name + ".gz")).write_bytes(packed[: len(packed) // 2])  # a download cut in half
    with pytest.raises(OSError, match=r"split_test_x.h5.gz: cannot be unpacked .*download it again"):
        read_pcam(tmp_path)
    assert not test_x.exists(), "no partial file under the final name"
    (tmp_path / (test_x.name + ".gz")).unlink()
    with h5py.File(test_x, "w") as f:
        f.create_dataset("images", data=np.zeros((6, 96, 96, 3), np.uint8))
    with pytest.raises(KeyError, match=r"split_test_x.h5: no dataset 'x' \(it has \['images'\]\)"):
        read_pcam(tmp_path)
    test_x.write_bytes(b"not an h5 file")
    with pytest.raises(OSError, match=r"split_test_x.h5: not a readable h5 file"):
        read_pcam(tmp_path)
    test_x.unlink()
    with pytest.raises(FileNotFoundError, match=r"split_test_x.h5 \(nor camelyonpatch_level_2_split_test_x.h5.gz\)"):
        read_pcam(tmp_path)


def test_isic2019_nested_image_folder_of_public_copies_is_found(real_fixtures, tmp_path):
    raw, truth = isic_subset(real_fixtures, tmp_path, n=20)
    top = raw / "ISIC_2019_Training_Input"
    nested = top / "ISIC_2019_Training_Input"
    nested.mkdir()
    for image in top.glob("*.jpg"):
        image.rename(nested / image.name)
    table, _ = read_isic2019(raw)
    assert table.frame["path"].map(lambda p: p.startswith(str(nested) + "/")).all()
    shutil.rmtree(top)
    with pytest.raises(
        FileNotFoundError, match=r"no ISIC 2019 images \(\*\.jpg\) in any of \['ISIC_2019_Training_Input'"
    ):
        read_isic2019(raw)


def test_isic2019_row_with_only_unk_says_so(real_fixtures, tmp_path):
    raw, truth = isic_subset(real_fixtures, tmp_path, n=20)
    truth.loc[truth.index[2], ISIC_CLASSES] = 0
    truth.loc[truth.index[2], "UNK"] = 1
    truth.to_csv(raw / "ISIC_2019_Training_GroundTruth.csv", index=False)
    with pytest.raises(ValueError, match=r"data row 3 .*only UNK is set"):
        read_isic2019(raw)


def test_cbis_ddsm_image_missing_from_the_fourth_csv_is_reported_there(real_fixtures, tmp_path):
    raw = tmp_path / "cbis"
    shutil.copytree(real_fixtures / "cbis_ddsm", raw)
    table, manifest = read_cbis_ddsm(raw)
    calc_test = str(raw / "calc_case_description_test_set.csv")
    listed = table.frame[table.frame["source"] == calc_test].iloc[0]
    cases = pd.read_csv(calc_test)
    row = int(listed["source_row"])
    assert cases["patient_id"][row - 1] + "_" in listed["sample_id"] + "_"  # the row that lists this image
    subset = table.frame[table.frame["sample_id"] == listed["sample_id"]]
    from vitmed.data.raw import RawTable

    one = RawTable(subset, table.label_columns, table.classes, table.task, table.channels)
    subject = cases["image file path"][row - 1].strip().split("/")[0]
    where = re.escape(f"{calc_test} data row {row} ({listed['sample_id']})")
    with pytest.raises(FileNotFoundError, match=where + r": image file not found: .*" + re.escape(subject) + "$"):
        build(one, tmp_path / "store", manifest=manifest)


def test_synthetic_plain_layout_errors_name_labels_csv(tmp_path):
    from vitmed.data.raw import read_plain_layout, write_plain_layout
    from vitmed.data.synthetic import generate

    write_plain_layout(generate("mammo_mass", 30, 24, seed=0), tmp_path / "raw")
    (tmp_path / "raw" / "images" / "img000010.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"raw/labels.csv data row 11 \(img000010\): image file not found"):
        build(read_plain_layout(tmp_path / "raw"), tmp_path / "store")


def test_a_skipped_image_leaves_every_other_image_in_its_split(tmp_path):
    from vitmed.data.raw import read_plain_layout, write_plain_layout
    from vitmed.data.synthetic import generate

    write_plain_layout(generate("chest_findings", 120, 24, seed=0), tmp_path / "raw")
    whole = build(read_plain_layout(tmp_path / "raw"), tmp_path / "whole")
    (tmp_path / "raw" / "images" / "img000017.png").unlink()
    skipping = build(read_plain_layout(tmp_path / "raw"), tmp_path / "skipping", skip_unreadable=True)
    before = pd.read_parquet(tmp_path / "whole" / "index.parquet").set_index("sample_id")["split"]
    after = pd.read_parquet(tmp_path / "skipping" / "index.parquet").set_index("sample_id")["split"]
    assert skipping["n_skipped"] == 1 and "img000017" not in after.index
    assert after.equals(before.drop("img000017")), "no other image changed split"
    assert whole["split_hash"] != skipping["split_hash"]


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (root where mounting is allowed; skipped elsewhere, saying why)."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                                 capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:  # no mount command, or it hangs
        pytest.skip(f"cannot mount a small tmpfs here to fill a disk: {error}")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill a disk: {mounted.stderr.strip() or mounted.returncode}")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def test_a_full_disk_is_an_error_naming_the_store_and_a_rerun_clears_stale_temporaries(tmp_path, small_disk):
    from vitmed.data.raw import read_plain_layout, write_plain_layout
    from vitmed.data.synthetic import generate

    write_plain_layout(generate("mammo_mass", 200, 24, seed=0), tmp_path / "raw")
    raw = read_plain_layout(tmp_path / "raw")
    store = small_disk / "store"
    store.mkdir()
    (store / ".images.npy.tmp99999").write_bytes(b"\0" * 1_500_000)  # a killed attempt's leftover
    with pytest.raises(OSError, match=r"store/images.npy: cannot reserve 2.7 MiB for the store \(No space left"):
        build_store(raw, store, image_size=120, ratios=RATIOS, seed=0, metric="roc_auc")  # 200 x 120² bytes
    assert not list(store.iterdir()), "neither the stale temporary nor a partial store is left"
    meta = build_store(raw, store, image_size=40, ratios=RATIOS, seed=0, metric="roc_auc")  # 0.3 MiB: fits
    assert meta["n_images"] == 200


def test_weights_on_a_full_disk_are_an_error_naming_the_file_and_leave_nothing(small_disk):
    import torch

    from vitmed.jobs.io import save_torch

    with pytest.raises(OSError, match=r"No space left on device: cannot write .*disk/best.pt \(0.0 MiB free"):
        save_torch({"weight": torch.zeros(1 << 20)}, small_disk / "best.pt")  # 4 MiB on a 2 MiB disk
    assert not list(small_disk.iterdir()), "no partial weights file, under its name or a temporary one"
    save_torch({"weight": torch.zeros(1000)}, small_disk / "best.pt")  # fits
    assert torch.load(small_disk / "best.pt")["weight"].shape == (1000,)


@pytest.mark.parametrize("source, expected", [
    ("aptos2019", r"looked for \{train.csv, train_images\}"),
    ("chexpert", r"looked for \{train.csv, valid.csv\}"),
    ("cbis_ddsm", r"looked for \{mass_case_description_train_set.csv, .*\} or "
                  r"\{csv/mass_case_description_train_set.csv, .*csv/dicom_info.csv\}"),
])
def test_a_raw_dir_in_no_documented_layout_is_one_error_listing_what_was_looked_for(tmp_path, source, expected):
    import json

    from vitmed.data.adapters import read_raw

    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "something_else.csv").write_text("a,b\n")
    record = tmp_path / "source.json"
    record.write_text(json.dumps({"raw_dir": str(tmp_path / "raw")}))
    # a dataset entry with the defaults the schema fills in
    cfg = {"source": source, "label": "mass", "uncertain": "zeros", "frontal_only": False, "medmnist_size": 64}
    with pytest.raises(FileNotFoundError, match=rf"raw: not a {source} folder in any documented layout; " + expected):
        read_raw(cfg, record)
