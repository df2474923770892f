"""The out-of-distribution test sets of "When Medical Imaging Met Self-Attention": PAD-UFES-20
and Camelyon17-WILDS in their published layouts, ISIC's and PAD-UFES-20's diagnoses grouped
into one label space, and their downloads from a local HTTP server standing in for the hosts."""
import io
import json
import tarfile
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_adapters import isic_subset

from vitmed.data import fetch
from vitmed.data.adapters import ISIC_CLASSES, group_classes, read_camelyon17, read_pad_ufes20, read_raw
from vitmed.data.store import build_store

THREE = {"nevus": ["NEV"], "melanoma": ["MEL"], "other": ["ACK", "BCC", "SCC", "SEK"]}
ISIC_THREE = {"nevus": ["NV"], "melanoma": ["MEL"], "other": ["BCC", "AK", "BKL", "DF", "VASC", "SCC"]}
# PAD-UFES-20's metadata.csv header, in its order
PAD_COLUMNS = ["patient_id", "lesion_id", "smoke", "drink", "background_father", "background_mother", "age",
               "pesticide", "gender", "skin_cancer_history", "cancer_history", "has_piped_water",
               "has_sewage_system", "fitspatrick", "region", "diameter_1", "diameter_2", "diagnostic", "itch",
               "grew", "hurt", "changed", "bleed", "elevation", "img_id", "biopsed"]
PAD_ROWS = [("PAT_46", 881, "BCC"), ("PAT_46", 882, "NEV"), ("PAT_1516", 1765, "MEL"), ("PAT_771", 1489, "ACK"),
            ("PAT_771", 1490, "SEK"), ("PAT_9", 200, "SCC"), ("PAT_10", 201, "NEV"), ("PAT_11", 202, "MEL")]


def png_bytes(rng, mode="RGBA"):
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (12, 14, len(mode)), dtype=np.uint8), mode).save(buffer, format="PNG")
    return buffer.getvalue()


def pad_metadata(rows=PAD_ROWS) -> pd.DataFrame:
    table = pd.DataFrame({column: "" for column in PAD_COLUMNS}, index=range(len(rows)))
    table["patient_id"] = [p for p, _, _ in rows]
    table["lesion_id"] = [lesion for _, lesion, _ in rows]
    table["diagnostic"] = [d for _, _, d in rows]
    table["img_id"] = [f"{p}_{lesion}_{k}.png" for k, (p, lesion, _) in enumerate(rows)]
    return table


def write_pad(root, rng):
    """The unpacked layout: images in imgs_part_N/imgs_part_N/ (the parts' archives nest a folder)."""
    table = pad_metadata()
    table.to_csv(root / "metadata.csv", index=False)
    for k, name in enumerate(table["img_id"]):
        folder = root / "images" / f"imgs_part_{k % 3 + 1}" / f"imgs_part_{k % 3 + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(png_bytes(rng))
    return table


def test_pad_ufes20_labels_patients_and_nested_images(tmp_path):
    table = write_pad(tmp_path, np.random.default_rng(0))
    raw, manifest = read_pad_ufes20(tmp_path)
    assert manifest == str(tmp_path / "metadata.csv") and raw.task == "multiclass" and raw.channels == 3
    assert [raw.classes[k] for k in raw.frame["label"]] == list(table["diagnostic"])
    assert list(raw.frame["group_id"]) == list(table["patient_id"])
    meta = build_store(raw, tmp_path / "store", image_size=8, ratios={"train": 0.0, "val": 0.0, "test": 1.0},
                       seed=0, metric="macro_recall", manifest=manifest)
    assert meta["split_sizes"] == {"train": 0, "val": 0, "test": 8}  # RGBA PNGs read as RGB

    grouped = group_classes(raw, THREE, manifest)
    assert grouped.classes == ["nevus", "melanoma", "other"] and grouped.task == "multiclass"
    expected = [next(g for g, members in THREE.items() if d in members) for d in table["diagnostic"]]
    assert [grouped.classes[k] for k in grouped.frame["label"]] == expected
    assert raw.classes == sorted(raw.classes) and list(raw.frame["label"]) != list(grouped.frame["label"])

    bad = pad_metadata()
    bad.loc[5, "diagnostic"] = "BOD"  # merged into SCC before the release
    bad.to_csv(tmp_path / "metadata.csv", index=False)
    with pytest.raises(
        ValueError, match=r"metadata.csv data row 6 \(PAT_9_200_5.png\): diagnostic 'BOD' is not one of"
    ):
        read_pad_ufes20(tmp_path)


def test_isic2019_grouped_into_nevus_melanoma_other(real_fixtures, tmp_path):
    raw_dir, truth = isic_subset(real_fixtures, tmp_path)
    record = tmp_path / "source.json"
    record.write_text(json.dumps({"source": "isic2019", "raw_dir": str(raw_dir)}))
    cfg = {"source": "isic2019", "label_groups": ISIC_THREE,  # and the schema's defaults
           "label": "mass", "uncertain": "zeros", "frontal_only": False, "medmnist_size": 64}
    grouped, manifest, _ = read_raw(cfg, record)
    diagnosis = np.array(ISIC_CLASSES)[truth[ISIC_CLASSES].to_numpy().argmax(1)]
    counts = np.bincount(grouped.frame["label"], minlength=3)
    assert counts.tolist() == [(diagnosis == "NV").sum(), (diagnosis == "MEL").sum(),
                               (~np.isin(diagnosis, ["NV", "MEL"])).sum()]
    assert counts.min() > 0 and grouped.classes == ["nevus", "melanoma", "other"]
    assert grouped.metadata_columns == ["age", "sex"] and grouped.frame["age"].notna().any()  # feature usage's


@pytest.mark.parametrize("groups, message", [
    ({"nevus": ["NEV"], "melanoma": ["MEL"], "other": ["ACK", "BCC", "SCC"]}, r"in none \['SEK'\]"),
    ({"nevus": ["NEV", "MEL"], "other": ["MEL", "ACK", "BCC", "SCC", "SEK"]}, r"in two groups \['MEL'\]"),
    ({"nevus": ["NV"], "other": ["MEL", "ACK", "BCC", "SCC", "SEK"]}, r"unknown \['NV'\].*in none \['NEV'\]"),
])
def test_label_groups_must_cover_each_class_once(tmp_path, groups, message):
    write_pad(tmp_path, np.random.default_rng(1))
    raw, manifest = read_pad_ufes20(tmp_path)
    with pytest.raises(ValueError, match=r"metadata.csv: label_groups must put each of the classes .*" + message):
        group_classes(raw, groups, manifest)


def camelyon_metadata() -> pd.DataFrame:
    """WILDS's metadata.csv: an unnamed index, zero-padded patients, five centers."""
    rows = [("004", 4, 3328, 21792, 1, 0, 0, 0), ("004", 4, 3360, 21792, 0, 0, 0, 1), ("015", 1, 100, 200, 1, 7, 1, 0),
            ("022", 4, 50, 60, 0, 12, 2, 0), ("022", 4, 50, 92, 1, 12, 2, 0), ("061", 0, 7, 8, 0, 30, 3, 0),
            ("099", 4, 9, 10, 1, 49, 4, 1)]
    return pd.DataFrame(rows, columns=["patient", "node", "x_coord", "y_coord", "tumor", "slide", "center", "split"])


def write_camelyon(root, rng):
    table = camelyon_metadata()
    table.to_csv(root / "metadata.csv")
    for row in table.itertuples():
        folder = root / "patches" / f"patient_{row.patient}_node_{row.node}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"patch_patient_{row.patient}_node_{row.node}_x_{row.x_coord}_y_{row.y_coord}.png"
        (folder / name).write_bytes(png_bytes(rng, "RGB"))
    return table


def test_camelyon17_keeps_the_chosen_hospitals(tmp_path):
    write_camelyon(tmp_path, np.random.default_rng(2))
    raw, manifest = read_camelyon17(tmp_path, centers=[0, 3, 4])
    assert raw.classes == ["normal", "tumor"] and raw.task == "binary"
    assert list(raw.frame["label"]) == [1, 0, 0, 1]
    assert list(raw.frame["group_id"]) == ["patient_004", "patient_004", "patient_061", "patient_099"]
    assert raw.frame["path"][0].endswith("patches/patient_004_node_4/patch_patient_004_node_4_x_3328_y_21792.png")
    meta = build_store(raw, tmp_path / "store", image_size=8, ratios={"train": 0.5, "val": 0.25, "test": 0.25},
                       seed=0, metric="roc_auc", manifest=manifest)
    assert sum(meta["split_sizes"].values()) == 4
    hospital2, _ = read_camelyon17(tmp_path, centers=[2])
    assert list(hospital2.frame["label"]) == [0, 1] and len(read_camelyon17(tmp_path)[0].frame) == 7
    with pytest.raises(ValueError, match=r"no patches of center\(s\) \[5\]; its centers are \[0, 1, 2, 3, 4\]"):
        read_camelyon17(tmp_path, centers=[4, 5])


def test_fetch_pad_ufes20_and_camelyon17_give_the_adapters_layouts(publisher, tmp_path):  # noqa: F811
    root, url = publisher
    rng = np.random.default_rng(3)
    table = pad_metadata()
    parts = {k: io.BytesIO() for k in (1, 2, 3)}
    for k, buffer in parts.items():
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in table["img_id"][k - 1::3]:
                archive.writestr(f"imgs_part_{k}/{name}", png_bytes(rng))
    with zipfile.ZipFile(root / "zr7vgbcyr2-1.zip", "w") as archive:
        archive.writestr("metadata.csv", table.to_csv(index=False))
        for k, buffer in parts.items():
            archive.writestr(f"images/imgs_part_{k}.zip", buffer.getvalue())
    pad = fetch.fetch_pad_ufes20(tmp_path / "downloads" / "pad_ufes20", url=f"{url}/zr7vgbcyr2-1.zip")
    raw, _ = read_pad_ufes20(pad)
    assert all(path.startswith(str(pad / "images" / "imgs_part_")) for path in raw.frame["path"])
    assert all(Image.open(path).size == (14, 12) for path in raw.frame["path"])
    assert not list(pad.glob("images/*.zip")), "each part's archive is unpacked, then removed"

    source = tmp_path / "wilds"
    source.mkdir()
    write_camelyon(source, rng)
    with tarfile.open(root / "archive.tar.gz", "w:gz") as archive:
        for item in ("metadata.csv", "patches"):
            archive.add(source / item, arcname=item)
    camelyon = fetch.fetch_camelyon17(tmp_path / "downloads" / "camelyon17", url=f"{url}/archive.tar.gz")
    raw, _ = read_camelyon17(camelyon, centers=[2])
    assert all(Image.open(path).size == (14, 12) for path in raw.frame["path"])
    (root / "archive.tar.gz").unlink()  # done once: a rerun needs no server
    assert fetch.fetch_camelyon17(tmp_path / "downloads" / "camelyon17", url=f"{url}/archive.tar.gz") == camelyon


def test_datasets_of_one_source_fetch_one_after_the_other(tmp_path, monkeypatch):
    """Camelyon17's hospitals are two datasets of one download: their jobs must not both write it."""
    import threading
    import time

    inside, counts = [], []

    def slow_fetch(target):
        inside.append(target)
        counts.append(len(inside))
        time.sleep(0.3)  # long enough for the other job to arrive while this one downloads
        target.mkdir(exist_ok=True)
        inside.remove(target)
        return target

    monkeypatch.setattr(fetch, "fetch_camelyon17", slow_fetch)
    jobs = [threading.Thread(target=fetch.fetch_raw, args=(name, {"source": "camelyon17"}, tmp_path))
            for name in ("Camelyon17", "Camelyon17-Hospital2")]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert counts == [1, 1] and (tmp_path / "camelyon17").is_dir()


def test_a_test_set_with_an_official_split_is_all_test_data(tmp_path):
    """prepare of a test_datasets entry scores all of it, not only its publisher's test split
    (PatchCamelyon or a MedMNIST task as an OOD set)."""
    from helpers import SYNTHETIC, load_preset, run_snakemake

    rng = np.random.default_rng(4)
    raw = tmp_path / "medmnist"
    raw.mkdir()
    arrays = {}
    for split, n in (("train", 12), ("val", 3), ("test", 5)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 8, (n, 1))
    np.savez(raw / "bloodmnist.npz", **arrays)
    config = load_preset(*SYNTHETIC)
    config["study"] = "tests"
    config["test_datasets"]["Blood-Elsewhere"] = {"source": "medmnist", "flag": "bloodmnist", "medmnist_size": 28,
                                                  "raw_dir": str(raw), "metric": "macro_recall"}
    result = run_snakemake(tmp_path, config, "--cores", "1", "results/tests/data/Blood-Elsewhere/meta.json")
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads((tmp_path / "results" / "tests" / "data" / "Blood-Elsewhere" / "meta.json").read_text())
    assert meta["split_sizes"] == {"train": 0, "val": 0, "test": 20}
