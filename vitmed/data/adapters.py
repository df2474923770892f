"""Adapters from publishers' raw layouts to a ``RawTable`` (see vitmed.data.raw).

``read_raw`` dispatches on the dataset's ``source``; the raw folder comes from the config's
``raw_dir`` or a download (vitmed.data.fetch).
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from vitmed.data.raw import IGNORED, RawTable, at_row, binary_mask, read_mask_file, read_plain_layout
from vitmed.jobs.io import atomic_path

log = logging.getLogger(__name__)

APTOS_GRADES = ["No DR", "Mild", "Moderate", "Severe", "Proliferative DR"]


def require_columns(frame: pd.DataFrame, columns: list[str], manifest: str | Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{manifest}: missing column(s) {missing}; found {list(frame.columns)}")


def read_aptos2019(raw_dir: str | Path) -> tuple[RawTable, str]:
    """APTOS2019: ``train.csv`` (id_code, diagnosis 0-4) + ``train_images/<id_code>.png``."""
    raw_dir = Path(raw_dir)
    manifest = raw_dir / "train.csv"
    table = pd.read_csv(manifest, dtype={"id_code": str})
    require_columns(table, ["id_code", "diagnosis"], manifest)
    frame = pd.DataFrame({
        "sample_id": table["id_code"],
        "group_id": None,
        "path": [str(raw_dir / "train_images" / f"{i}.png") for i in table["id_code"]],
        "label": table["diagnosis"],
    })
    return RawTable(frame, ["label"], list(APTOS_GRADES), "multiclass", 3), str(manifest)


ISIC_CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]  # UNK has no training image


ISIC_IMAGE_FOLDERS = ["ISIC_2019_Training_Input", "ISIC_2019_Training_Input/ISIC_2019_Training_Input"]


def _isic_image_folder(raw_dir: Path) -> Path:
    """The folder of the JPEGs: the archive's ``ISIC_2019_Training_Input/``, or the same name
    twice, as some public copies nest it."""
    for name in ISIC_IMAGE_FOLDERS:
        if next((raw_dir / name).glob("*.jpg"), None) is not None:
            return raw_dir / name
    raise FileNotFoundError(f"{raw_dir}: no ISIC 2019 images (*.jpg) in any of {ISIC_IMAGE_FOLDERS}")


def read_isic2019(raw_dir: str | Path) -> tuple[RawTable, str]:
    """ISIC 2019: ``ISIC_2019_Training_GroundTruth.csv`` (one-hot, floats or ints, UNK always 0),
    ``ISIC_2019_Training_Metadata.csv`` (``lesion_id`` groups the split; empty = its own group),
    images ``ISIC_2019_Training_Input/<image>.jpg`` (ids may end in ``_downsampled``; the folder
    may be nested in one of the same name)."""
    raw_dir = Path(raw_dir)
    manifest = raw_dir / "ISIC_2019_Training_GroundTruth.csv"
    truth = pd.read_csv(manifest, dtype={"image": str})
    require_columns(truth, ["image", *ISIC_CLASSES], manifest)
    onehot = truth[ISIC_CLASSES].to_numpy(dtype=float)
    counts = onehot.sum(axis=1)
    bad = ~np.isin(onehot, (0.0, 1.0)).all(axis=1) | (counts != 1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        only_unk = counts[row] == 0 and "UNK" in truth.columns and truth["UNK"][row] == 1
        raise ValueError(f"{at_row(manifest, row, truth['image'][row])}: expected exactly one of {ISIC_CLASSES} "
                         f"to be 1, got {onehot[row].tolist()}"
                         + (" (only UNK is set: ISIC 2019 has no training image of it)" if only_unk else ""))
    metadata_path = raw_dir / "ISIC_2019_Training_Metadata.csv"
    metadata = pd.read_csv(metadata_path, dtype={"image": str, "lesion_id": str, "sex": str})
    require_columns(metadata, ["image", "lesion_id", "age_approx", "sex"], metadata_path)
    patients = _isic_patient_columns(metadata, metadata_path)
    lesions = truth[["image"]].merge(patients, on="image", how="left")
    missing = lesions["lesion_id"].isna() & ~truth["image"].isin(metadata["image"])
    if missing.any():
        raise ValueError(f"{metadata_path}: no row for image {truth['image'][missing].iloc[0]!r} of {manifest}")
    images = _isic_image_folder(raw_dir)
    frame = pd.DataFrame({
        "sample_id": truth["image"],
        "group_id": lesions["lesion_id"].fillna(truth["image"]),  # no lesion id: a group of its own
        "path": [str(images / f"{i}.jpg") for i in truth["image"]],
        "label": onehot.argmax(axis=1),
        "age": lesions["age"],
        "sex": lesions["sex"],
    })
    return (RawTable(frame, ["label"], list(ISIC_CLASSES), "multiclass", 3, metadata_columns=["age", "sex"]),
            str(manifest))


ISIC_SEXES = {"male", "female"}


def _isic_patient_columns(metadata: pd.DataFrame, path: Path) -> pd.DataFrame:
    """image, lesion_id, age (years, float; NaN where not given) and sex ('male' / 'female' /
    None) of ISIC 2019's metadata, for the feature-usage analysis; any other value is an error
    naming its row."""
    age = pd.to_numeric(metadata["age_approx"], errors="coerce")
    bad = age.isna() & metadata["age_approx"].notna()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{at_row(path, row, metadata['image'][row])}: age_approx "
                         f"{metadata['age_approx'][row]!r} is not a number")
    sex = metadata["sex"].str.strip().str.lower()
    bad = sex.notna() & ~sex.isin(ISIC_SEXES)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{at_row(path, row, metadata['image'][row])}: sex {metadata['sex'][row]!r} is not one of "
                         f"{sorted(ISIC_SEXES)} (or empty)")
    return pd.DataFrame({"image": metadata["image"], "lesion_id": metadata["lesion_id"], "age": age,
                         "sex": sex.astype(object).where(sex.notna(), None)})


CBIS_CSVS = ["mass_case_description_train_set.csv", "mass_case_description_test_set.csv",
             "calc_case_description_train_set.csv", "calc_case_description_test_set.csv"]
CBIS_COLUMNS = ["patient_id", "left_or_right_breast", "image_view", "abnormality_type", "pathology",
                "image_file_path"]
CBIS_VALUES = {"abnormality_type": {"mass", "calcification"},
               "pathology": {"MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK"}}


def _cbis_case_table(path: Path) -> pd.DataFrame:
    """One case-description CSV with its header variants unified ('breast density' and
    'breast_density') and its quoted path fields stripped of their embedded newlines."""
    table = pd.read_csv(path, dtype=str)
    table.columns = [c.strip().lower().replace(" ", "_") for c in table.columns]
    require_columns(table, CBIS_COLUMNS, path)
    for column, allowed in CBIS_VALUES.items():
        bad = ~table[column].isin(allowed)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{at_row(path, row, table['patient_id'][row])}: {column} {table[column][row]!r} "
                             f"is not one of {sorted(allowed)}")
    table["image_file_path"] = table["image_file_path"].str.strip()
    return table.assign(source=str(path), source_row=np.arange(1, len(table) + 1))


def _cbis_full_mammogram(raw_dir: Path, image_file_path: str) -> str:
    """The DICOM of a full mammogram. TCIA's downloads name files 1-1.dcm where the CSVs say
    000000.dcm, and their study folders differ too; a full-mammogram subject folder
    ('Mass-Training_P_00001_LEFT_CC') holds exactly one image, so it is found by that folder."""
    root = raw_dir / "CBIS-DDSM" if (raw_dir / "CBIS-DDSM").is_dir() else raw_dir
    exact = root / image_file_path
    if exact.exists():
        return str(exact)
    subject = root / image_file_path.split("/")[0]
    found = sorted(subject.rglob("*.dcm"))
    # none (or several): the error names the subject folder that was searched
    return str(found[0]) if len(found) == 1 else str(subject)


def _cbis_image_paths(raw_dir: Path, image_file_paths: pd.Series) -> list[str]:
    if not (raw_dir / "csv" / "dicom_info.csv").is_file():
        return [_cbis_full_mammogram(raw_dir, p) for p in image_file_paths]
    jpegs = _cbis_jpeg_mirror(raw_dir)
    series = [p.split("/")[2] if p.count("/") >= 2 else p for p in image_file_paths]
    # a series missing from dicom_info.csv: its folder, which the store then reports as missing
    return [jpegs.get(uid, str(raw_dir / "jpeg" / uid)) for uid in series]


def _cbis_jpeg_mirror(raw_dir: Path) -> dict[str, str]:
    """Kaggle's JPEG mirror: ``csv/dicom_info.csv`` maps each DICOM series to its JPEG
    (``image_path`` 'CBIS-DDSM/jpeg/<SeriesInstanceUID>/1-204.jpg'); the case CSVs' paths hold
    the series UID as their third part. Full mammograms only: crops and ROI masks share series
    folders. Returns series UID -> JPEG path."""
    manifest = raw_dir / "csv" / "dicom_info.csv"
    info = pd.read_csv(manifest, dtype=str)
    require_columns(info, ["image_path", "SeriesDescription", "SeriesInstanceUID"], manifest)
    full = info[info["SeriesDescription"] == "full mammogram images"]
    return {uid: str(raw_dir / "jpeg" / path.split("jpeg/", 1)[1])
            for uid, path in zip(full["SeriesInstanceUID"], full["image_path"])}


def read_cbis_ddsm(raw_dir: str | Path, label: str = "mass") -> tuple[RawTable, str]:
    """CBIS-DDSM full mammograms, one sample per (patient, breast, view): the four TCIA
    case-description CSVs describe abnormalities, and an image listed in both the mass and
    the calcification files is one image. ``label``: ``mass`` = a mass is present
    (calcification-only images negative, the paper's task) or ``malignant`` = any malignant
    abnormality. Grouped by patient. Images: TCIA's DICOMs, or the Kaggle JPEG mirror's
    (recognised by its ``csv/dicom_info.csv``)."""
    raw_dir = Path(raw_dir)
    folder = raw_dir / "csv" if (raw_dir / "csv").is_dir() else raw_dir  # the Kaggle mirror's csv/
    cases = pd.concat([_cbis_case_table(folder / name) for name in CBIS_CSVS], ignore_index=True)
    cases["sample_id"] = (cases["patient_id"] + "_" + cases["left_or_right_breast"] + "_" + cases["image_view"])
    positive = (cases["abnormality_type"] == "mass") if label == "mass" else (cases["pathology"] == "MALIGNANT")
    images = cases.assign(positive=positive).groupby("sample_id", sort=False).agg(
        group_id=("patient_id", "first"), image_file_path=("image_file_path", "first"), label=("positive", "max"),
        source=("source", "first"), source_row=("source_row", "first"))  # the image's first listing
    frame = pd.DataFrame({
        "sample_id": images.index,
        "group_id": images["group_id"].to_numpy(),
        "path": _cbis_image_paths(raw_dir, images["image_file_path"]),
        "label": images["label"].astype(int).to_numpy(),
        "source": images["source"].to_numpy(),
        "source_row": images["source_row"].to_numpy(),
    })
    classes = ["no_mass", "mass"] if label == "mass" else ["benign", "malignant"]
    return RawTable(frame, ["label"], classes, "binary", 1), str(folder / CBIS_CSVS[0])


CHEXPERT_OBSERVATIONS = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity",
                         "Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax",
                         "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices"]


def read_chexpert(raw_dir: str | Path, uncertain: str = "zeros", frontal_only: bool = False) -> tuple[RawTable, str]:
    """CheXpert-v1.0-small: ``train.csv`` and ``valid.csv`` pooled (the split is ours, grouped by
    patient), 14 observations: 1 positive, 0/blank negative, -1 uncertain -> 0 (``zeros``, as
    in the authors' code), 1 (``ones``) or kept as -1 (``ignore``: that label of that image is
    left out of training and scoring). Paths in the CSVs start with the folder's own name."""
    raw_dir = Path(raw_dir)
    tables = []
    for name in ("train.csv", "valid.csv"):
        manifest = raw_dir / name
        table = pd.read_csv(manifest, dtype={"Path": str})
        require_columns(table, ["Path", "Frontal/Lateral", *CHEXPERT_OBSERVATIONS], manifest)
        values = table[CHEXPERT_OBSERVATIONS]
        bad = ~(values.isin([1.0, 0.0, -1.0]) | values.isna()).all(axis=1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{at_row(manifest, row, table['Path'][row])}: observation values must be 1, 0, -1 "
                             f"or blank, got {values.iloc[row].tolist()}")
        tables.append(table.assign(source=str(manifest), source_row=np.arange(1, len(table) + 1)))
    table = pd.concat(tables, ignore_index=True)
    if frontal_only:
        table = table[table["Frontal/Lateral"] == "Frontal"].reset_index(drop=True)
    policy = {"zeros": 0.0, "ones": 1.0, "ignore": IGNORED}
    if uncertain not in policy:
        raise ValueError(f"uncertain: {uncertain!r} is not one of {list(policy)}")
    labels = table[CHEXPERT_OBSERVATIONS].fillna(0.0).replace(-1.0, policy[uncertain])
    relative = table["Path"].str.split("/", n=1).str[1]  # drop "CheXpert-v1.0-small/"
    frame = pd.DataFrame({
        "sample_id": relative.str.replace("/", "_").str.removesuffix(".jpg"),
        "group_id": relative.str.extract(r"(patient\d+)", expand=False),
        "path": [str(raw_dir / r) for r in relative],
        "source": table["source"],
        "source_row": table["source_row"],
    })
    frame[CHEXPERT_OBSERVATIONS] = labels.astype(int).to_numpy()
    return RawTable(frame, list(CHEXPERT_OBSERVATIONS), list(CHEXPERT_OBSERVATIONS), "multilabel", 1), \
        str(raw_dir / "train.csv")


PCAM_SPLITS = {"train": "train", "valid": "val", "test": "test"}  # official name -> ours


def _pcam_file(raw_dir: Path, name: str) -> Path:
    """``name`` in ``raw_dir``; where only the publisher's ``name.gz`` is there (a manual
    download), it is unpacked beside itself once, atomically, as the download path does."""
    path = raw_dir / name
    if path.exists():
        return path
    packed = path.with_name(path.name + ".gz")
    if not packed.exists():
        raise FileNotFoundError(f"PatchCamelyon file not found: {path} (nor {packed.name}); raw_dir must hold the "
                                "six camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5 files of Zenodo "
                                "record 2546921, unpacked or as the published .h5.gz")
    log.info("unpacking %s beside itself (once)", packed)
    try:
        with atomic_path(path) as tmp, gzip.open(packed, "rb") as source, open(tmp, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 24)
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError; a truncated file an EOFError
        raise OSError(f"{packed}: cannot be unpacked ({error}); download it again") from None
    return path


def _h5_dataset(path: Path, key: str):
    """Dataset ``key`` of an h5 file, opened for reading; errors name the file and the key."""
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise OSError(f"{path}: not a readable h5 file ({error})") from None
    if key not in handle:
        raise KeyError(f"{path}: no dataset {key!r} (it has {sorted(handle.keys())})")
    return handle[key]


def read_pcam(raw_dir: str | Path) -> tuple[RawTable, str]:
    """PatchCamelyon: ``camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5`` (or their
    published ``.h5.gz``, unpacked once), ``x`` (N, 96, 96, 3) uint8 read in place, ``y`` (N, 1, 1,
    1) 0/1; the official splits are kept. Rows are located in their split's ``x`` file."""
    raw_dir = Path(raw_dir)
    frames, arrays = [], []
    for official, ours in PCAM_SPLITS.items():
        x_path = _pcam_file(raw_dir, f"camelyonpatch_level_2_split_{official}_x.h5")
        y_path = _pcam_file(raw_dir, f"camelyonpatch_level_2_split_{official}_y.h5")
        labels = _h5_dataset(y_path, "y")[:].reshape(-1)
        bad = ~np.isin(labels, (0, 1))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{at_row(y_path, row)}: label {labels[row]} is not 0 (normal) or 1 (tumor)")
        images = _h5_dataset(x_path, "x")
        if len(images) != len(labels) or images.shape[1:] != (96, 96, 3):
            raise ValueError(f"{x_path}: x has shape {images.shape}, expected ({len(labels)}, 96, 96, 3) "
                             f"to match {y_path}")
        frames.append(pd.DataFrame({"sample_id": [f"{official}_{i:06d}" for i in range(len(labels))],
                                    "group_id": None, "path": [f"{x_path}#{i}" for i in range(len(labels))],
                                    "label": labels.astype(int), "split": ours,
                                    "source": str(x_path), "source_row": np.arange(1, len(labels) + 1)}))
        arrays.append(images)
    offsets = np.cumsum([0] + [len(a) for a in arrays])

    def pixels(row: int) -> np.ndarray:
        part = int(np.searchsorted(offsets, row, side="right")) - 1
        return arrays[part][row - offsets[part]]

    frame = pd.concat(frames, ignore_index=True)
    return RawTable(frame, ["label"], ["normal", "tumor"], "binary", 3, pixels=pixels), \
        str(raw_dir / "camelyonpatch_level_2_split_train_y.h5")


def read_medmnist(raw_dir: str | Path, flag: str, size: int) -> tuple[RawTable, str]:
    """A MedMNIST+ ``<flag>_<size>.npz`` (``<flag>.npz`` at 28): ``{train,val,test}_images`` and
    ``_labels``, official splits kept; (N, 1) labels are classes, (N, K>1) multi-label."""
    path = Path(raw_dir) / (f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz")
    if not path.exists():
        raise FileNotFoundError(f"MedMNIST file not found: {path}")
    archive = np.load(path)
    missing = [f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels") if f"{s}_{k}" not in archive]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing}")
    images = np.concatenate([archive[f"{s}_images"] for s in ("train", "val", "test")])
    labels = np.concatenate([archive[f"{s}_labels"] for s in ("train", "val", "test")])
    splits = np.concatenate([[s] * len(archive[f"{s}_labels"]) for s in ("train", "val", "test")])
    multilabel = labels.ndim == 2 and labels.shape[1] > 1
    frame = pd.DataFrame({"sample_id": [f"{flag}_{i:06d}" for i in range(len(labels))], "group_id": None,
                          "path": [f"{path}#{i}" for i in range(len(labels))], "split": splits})
    if multilabel:
        classes = [f"label{k}" for k in range(labels.shape[1])]
        frame[classes] = labels.astype(int)
        task, columns = "multilabel", classes
    else:
        frame["label"] = labels.reshape(-1).astype(int)
        classes = [f"class{k}" for k in range(int(frame["label"].max()) + 1)]
        task, columns = ("binary" if len(classes) == 2 else "multiclass"), ["label"]
    channels = 3 if images.ndim == 4 and images.shape[-1] == 3 else 1
    return RawTable(frame, columns, classes, task, channels, pixels=lambda row: images[row]), str(path)


PAD_UFES_CLASSES = ["ACK", "BCC", "MEL", "NEV", "SCC", "SEK"]


def read_pad_ufes20(raw_dir: str | Path) -> tuple[RawTable, str]:
    """PAD-UFES-20 (Pacheco et al., 2020; smartphone photos of skin lesions): ``metadata.csv``
    (``img_id`` = the PNG's file name, ``diagnostic``, ``patient_id``) and the images under
    ``images/`` (``imgs_part_1..3``, at any depth: the archive nests them). Grouped by patient."""
    raw_dir = Path(raw_dir)
    manifest = raw_dir / "metadata.csv"
    table = pd.read_csv(manifest, dtype={"img_id": str, "patient_id": str, "diagnostic": str})
    require_columns(table, ["img_id", "diagnostic", "patient_id"], manifest)
    unknown = ~table["diagnostic"].isin(PAD_UFES_CLASSES)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise ValueError(f"{at_row(manifest, row, table['img_id'][row])}: diagnostic "
                         f"{table['diagnostic'][row]!r} is not one of {PAD_UFES_CLASSES}")
    found = {path.name: path for path in (raw_dir / "images").rglob("*.png")}
    frame = pd.DataFrame({
        "sample_id": table["img_id"],
        "group_id": table["patient_id"],
        # a file not found keeps its expected path: prepare names it (or skips it when asked)
        "path": [str(found.get(name, raw_dir / "images" / name)) for name in table["img_id"]],
        "label": table["diagnostic"].map(PAD_UFES_CLASSES.index),
    })
    return RawTable(frame, ["label"], list(PAD_UFES_CLASSES), "multiclass", 3), str(manifest)


CAMELYON17_COLUMNS = ["patient", "node", "x_coord", "y_coord", "tumor", "center"]


def read_camelyon17(raw_dir: str | Path, centers: list[int] | None = None) -> tuple[RawTable, str]:
    """Camelyon17-WILDS v1.0 (Koh et al.; patches of Bándi et al.'s slides from five hospitals):
    ``metadata.csv`` (an index, then ``patient``, ``node``, ``x_coord``, ``y_coord``, ``tumor``,
    ``slide``, ``center``, ``split``) and 96-px patches at ``patches/patient_<p>_node_<n>/
    patch_patient_<p>_node_<n>_x_<x>_y_<y>.png``. ``centers`` keeps those hospitals' patches
    (WILDS trains on 0, 3, 4 and tests out of distribution on 1 and 2). Grouped by patient."""
    raw_dir = Path(raw_dir)
    manifest = raw_dir / "metadata.csv"
    table = pd.read_csv(manifest, index_col=0, dtype={"patient": str})
    require_columns(table, CAMELYON17_COLUMNS, manifest)
    table["source_row"] = np.arange(1, len(table) + 1)  # before the centers are picked
    if centers is not None:
        absent = sorted(set(centers) - set(table["center"]))
        if absent:
            raise ValueError(f"{manifest}: no patches of center(s) {absent}; its centers are "
                             f"{sorted(set(table['center']))}")
        table = table[table["center"].isin(centers)]
    bad = ~table["tumor"].isin([0, 1])
    if bad.any():
        first = table[bad].iloc[0]
        value = first["tumor"].item() if hasattr(first["tumor"], "item") else first["tumor"]  # 2, not np.int64(2)
        raise ValueError(f"{at_row(manifest, int(first['source_row']) - 1)}: tumor must be 0 or 1, got {value!r}")
    folders = "patient_" + table["patient"] + "_node_" + table["node"].astype(str)
    names = "patch_" + folders + "_x_" + table["x_coord"].astype(str) + "_y_" + table["y_coord"].astype(str) + ".png"
    frame = pd.DataFrame({
        "sample_id": names.to_numpy(),
        "group_id": ("patient_" + table["patient"]).to_numpy(),
        "path": [str(raw_dir / "patches" / folder / name) for folder, name in zip(folders, names)],
        "label": table["tumor"].to_numpy(),
        "source": str(manifest),
        "source_row": table["source_row"].to_numpy(),
    })
    return RawTable(frame, ["label"], ["normal", "tumor"], "binary", 3), str(manifest)


def group_classes(raw: RawTable, groups: dict[str, list[str]], manifest: str) -> RawTable:
    """Merge a single-label dataset's classes into ``groups`` (new class -> the publisher's
    classes), in the groups' order: e.g. ISIC's and PAD-UFES-20's diagnoses into nevus, melanoma
    and other (Piater et al.), so that two datasets share one label space."""
    if raw.task == "multilabel":
        raise ValueError(f"{manifest}: label_groups merges the classes of single-label datasets, not multi-label ones")
    listed = [name for members in groups.values() for name in members]
    unknown = sorted(set(listed) - set(raw.classes))
    twice = sorted({name for name in listed if listed.count(name) > 1})
    ungrouped = [name for name in raw.classes if name not in listed]
    if unknown or twice or ungrouped:
        raise ValueError(f"{manifest}: label_groups must put each of the classes {raw.classes} in exactly one "
                         f"group; unknown {unknown}, in two groups {twice}, in none {ungrouped}")
    group_of = np.array([next(k for k, members in enumerate(groups.values()) if name in members)
                         for name in raw.classes])
    frame = raw.frame.assign(label=group_of[raw.frame["label"].to_numpy()])
    return dataclasses.replace(raw, frame=frame, classes=list(groups),
                               task="binary" if len(groups) == 2 else "multiclass")


# --- segmentation ------------------------------------------------------------------------
ISIC2018_FOLDERS = {  # official split -> (images, masks); each archive unpacks to a folder of its own name
    "Training": ("ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth"),
    "Validation": ("ISIC2018_Task1-2_Validation_Input", "ISIC2018_Task1_Validation_GroundTruth"),
    "Test": ("ISIC2018_Task1-2_Test_Input", "ISIC2018_Task1_Test_GroundTruth"),
}
# the paper's 2,694 images: Training (2,594) split 90/10 into train/val, Validation (100) as test
ISIC2018_SPLITS = {"Training": "trainval", "Validation": "test"}


def _paired(images: dict[str, Path], masks: dict[str, Path], image_folder: Path, mask_folder: Path) -> list[tuple]:
    """(id, image path, mask path) for every id with an image or a mask: an image without its mask
    (or a mask without its image) keeps the expected path of the missing file, so that the store
    names it in its error, or skips, lists and counts it (``skip_unreadable``)."""
    rows = []
    for sample_id in sorted(set(images) | set(masks)):
        image = images.get(sample_id, image_folder / f"{sample_id} (no image for mask {masks.get(sample_id)})")
        mask = masks.get(sample_id, mask_folder / f"{sample_id} (no mask for image {images.get(sample_id)})")
        rows.append((sample_id, str(image), str(mask)))
    return rows


def read_isic2018(raw_dir: str | Path, splits: dict[str, str] | None = None) -> tuple[RawTable, str]:
    """ISIC 2018 Task 1: ``ISIC2018_Task1-2_<Split>_Input/ISIC_<id>.jpg`` paired with
    ``ISIC2018_Task1_<Split>_GroundTruth/ISIC_<id>_segmentation.png`` (0 background, 255 lesion,
    the image's size); the folders' licence and attribution text files are not images. The
    official Training set is split 90/10 into train/val, the Validation set is the test set."""
    raw_dir = Path(raw_dir)
    splits = splits or ISIC2018_SPLITS
    rows = []
    for official, split in splits.items():
        image_folder, mask_folder = (raw_dir / name for name in ISIC2018_FOLDERS[official])
        for folder in (image_folder, mask_folder):
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder}: missing; ISIC 2018 Task 1 needs {ISIC2018_FOLDERS[official]} "
                                        f"for its {official} set (README, Real datasets)")
        images = {p.stem: p for p in image_folder.glob("ISIC_*.jpg")}
        masks = {p.name[: -len("_segmentation.png")]: p for p in mask_folder.glob("ISIC_*_segmentation.png")}
        rows += [(*row, split, official) for row in _paired(images, masks, image_folder, mask_folder)]
    frame = pd.DataFrame(rows, columns=["sample_id", "path", "mask_path", "split", "official_split"])
    frame["group_id"] = None  # ISIC 2018 Task 1 publishes no lesion or patient ids
    return (RawTable(frame, [], ["background", "lesion"], "segmentation", 3,
                     read_mask=lambda row: binary_mask(frame["mask_path"].iloc[row])), str(raw_dir))


CSAW_CLASS = "cancer"  # CSAW-S's tumour class, one mask file per image and class
CSAW_ANNOTATORS = ("1", "2", "3")


def _csaw_images(folder: Path) -> dict[str, Path]:
    """``<patient>/<patient>_<k>.png`` images: not the class masks beside them
    (``<patient>_<k>_<class>.png``), nor the ``_8bit.png`` grayscale twins of some images."""
    found = {}
    for path in folder.glob("*/*.png"):
        parts = path.stem.split("_")
        if len(parts) == 2 and parts[0] == path.parent.name:
            found[path.stem] = path
    return found


def _csaw_mask(paths: list[str], annotator: str) -> np.ndarray:
    """The tumour mask (> 0 = tumour) of one annotator, or where at least 2 of 3 mark it."""
    masks = [read_mask_file(path) > 0 for path in paths]
    if len({m.shape for m in masks}) > 1:
        raise ValueError(f"{paths[0]}: the annotators' masks differ in size {[m.shape for m in masks]}")
    votes = np.sum(masks, axis=0)
    return (votes >= 2 if annotator == "majority" else votes >= 1).astype(np.uint8)


def read_csaw_s(raw_dir: str | Path, annotator: str = "majority") -> tuple[RawTable, str]:
    """CSAW-S (Zenodo 4030660): ``CsawS/anonymized_dataset/<patient>/<patient>_<k>.png`` (312
    train/val images, 150 patients) with ``<patient>_<k>_cancer.png`` beside each; test images
    ``CsawS/test_data/anonymized_dataset/...`` (26, 23 patients) whose masks come from three
    annotators, ``CsawS/test_data/annotator_<a>/<patient>/<patient>_<k>_cancer.png``: by default
    the pixels at least two of them mark, or one ``annotator``'s. ``raw_dir`` may be the folder
    holding ``CsawS`` or ``CsawS`` itself. Grouped by patient."""
    raw_dir = Path(raw_dir)
    root = raw_dir / "CsawS" if (raw_dir / "CsawS").is_dir() else raw_dir
    train_folder, test_folder = root / "anonymized_dataset", root / "test_data" / "anonymized_dataset"
    for folder in (train_folder, test_folder):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: missing; not a CSAW-S folder (README, Real datasets)")
    rows = []
    images = _csaw_images(train_folder)
    masks = {p.name[: -len(f"_{CSAW_CLASS}.png")]: p for p in train_folder.glob(f"*/*_{CSAW_CLASS}.png")}
    for sample_id, image, mask in _paired(images, masks, train_folder, train_folder):
        rows.append((sample_id, image, [mask], "trainval"))
    annotators = CSAW_ANNOTATORS if annotator == "majority" else (annotator,)
    for sample_id, image in sorted(_csaw_images(test_folder).items()):
        patient = sample_id.split("_")[0]
        rows.append((sample_id, str(image), [str(root / "test_data" / f"annotator_{a}" / patient /
                                                 f"{sample_id}_{CSAW_CLASS}.png") for a in annotators], "test"))
    frame = pd.DataFrame(rows, columns=["sample_id", "path", "annotations", "split"])
    frame["group_id"] = frame["sample_id"].str.split("_").str[0]
    frame["mask_path"] = frame["annotations"].str[0]  # named in size errors

    def read_mask(row: int) -> np.ndarray:
        return _csaw_mask(frame["annotations"].iloc[row], annotator)

    return RawTable(frame, [], ["background", "tumour"], "segmentation", 1, read_mask=read_mask), str(root)


READERS = {"aptos2019": read_aptos2019, "isic2019": read_isic2019, "cbis_ddsm": read_cbis_ddsm,
           "chexpert": read_chexpert, "pcam": read_pcam, "medmnist": read_medmnist,
           "pad_ufes20": read_pad_ufes20, "camelyon17": read_camelyon17, "isic2018": read_isic2018,
           "csaw_s": read_csaw_s}


# What a raw folder of each source holds, in each layout a user may have (PatchCamelyon, MedMNIST
# and ISIC's images are checked by their readers, which know their alternatives).
LAYOUTS = {
    "aptos2019": [["train.csv", "train_images"]],
    "isic2019": [["ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_Metadata.csv"]],
    "cbis_ddsm": [CBIS_CSVS, [f"csv/{name}" for name in CBIS_CSVS] + ["csv/dicom_info.csv"]],
    "chexpert": [["train.csv", "valid.csv"]],
    "pad_ufes20": [["metadata.csv", "images"]],
    "camelyon17": [["metadata.csv", "patches"]],
    "isic2018": [list(ISIC2018_FOLDERS["Training"] + ISIC2018_FOLDERS["Validation"])],
    "csaw_s": [["CsawS/anonymized_dataset", "CsawS/test_data"], ["anonymized_dataset", "test_data"]],
}


def check_layout(source: str, raw_dir: str | Path) -> None:
    """A raw folder that matches none of its source's layouts is one error listing what was
    looked for, before any file is read."""
    raw_dir = Path(raw_dir)
    layouts = LAYOUTS.get(source, [])
    if layouts and not any(all((raw_dir / name).exists() for name in layout) for layout in layouts):
        looked_for = " or ".join("{" + ", ".join(layout) + "}" for layout in layouts)
        raise FileNotFoundError(f"{raw_dir}: not a {source} folder in any documented layout; looked for {looked_for} "
                                "(README, Real datasets)")


def read_raw(cfg: dict, raw_record: str | Path) -> tuple[RawTable, str, pd.Series | None]:
    """Return the raw table, the manifest named in errors, and official splits (or None)."""
    if cfg["source"] == "synthetic":
        raw_dir = Path(raw_record).parent
        return read_plain_layout(raw_dir), str(raw_dir / "labels.csv"), None
    record = json.loads(Path(raw_record).read_text())
    if cfg["source"] not in READERS:
        raise NotImplementedError(f"no adapter for source '{cfg['source']}' yet (supported: "
                                  f"{sorted(READERS)} and synthetic)")
    options = {"cbis_ddsm": lambda: {"label": cfg["label"]},
               "chexpert": lambda: {"uncertain": cfg["uncertain"], "frontal_only": cfg["frontal_only"]},
               "medmnist": lambda: {"flag": cfg.get("flag"), "size": cfg["medmnist_size"]},
               "camelyon17": lambda: {"centers": cfg.get("centers")},
               "csaw_s": lambda: {"annotator": cfg["annotator"]}}.get(cfg["source"], dict)()
    check_layout(cfg["source"], record["raw_dir"])
    raw, manifest = READERS[cfg["source"]](record["raw_dir"], **options)
    if cfg.get("label_groups"):
        raw = group_classes(raw, cfg["label_groups"], manifest)
    official = raw.frame["split"] if "split" in raw.frame.columns else None  # the publisher's split
    return raw, manifest, official
