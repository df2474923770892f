"""Fetch a dataset's raw files from its publisher into ``<downloads>/<source>/``.

Every file goes through ``vitmed.data.download`` (resumable, checksum-verified where the
publisher gives sums, renamed only when complete) and archives are unpacked into a folder
renamed when done, so an interrupted fetch is resumed by rerunning it and never mistaken for
a complete one. Returns the raw folder the dataset's adapter reads.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

from vitmed.data.download import download, unpack

log = logging.getLogger(__name__)

ISIC_BASE = "https://isic-challenge-data.s3.amazonaws.com/2019"
ISIC_FILES = ["ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_Metadata.csv",
              "ISIC_2019_Training_Input.zip"]

ISIC2018_BASE = "https://isic-challenge-data.s3.amazonaws.com/2018"
# Task 1's training and validation sets (the paper's 2,594 + 100 images); each zip unpacks to its own name
ISIC2018_ARCHIVES = ["ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth",
                     "ISIC2018_Task1-2_Validation_Input", "ISIC2018_Task1_Validation_GroundTruth"]
# Task 2's attribute masks (<image>_attribute_<name>.png): the D feature of Piater et al.'s Table 3
ISIC2018_TASK2 = "ISIC2018_Task2_Training_GroundTruth_v3"
# CSAW-S on Zenodo (CC BY-NC-ND 4.0): the record's API lists its files with their MD5 sums
CSAW_S_RECORD = "https://zenodo.org/api/records/4030660"

PCAM_BASE = "https://zenodo.org/records/2546921/files"
# MD5s of the .h5.gz files as published with PatchCamelyon (also used by torchvision's PCAM)
PCAM_MD5 = {
    "camelyonpatch_level_2_split_train_x.h5.gz": "1571f514728f59376b705fc836ff4b63",
    "camelyonpatch_level_2_split_train_y.h5.gz": "35c2d7259d906cfc8143347bb8e05be7",
    "camelyonpatch_level_2_split_valid_x.h5.gz": "d5b63470df7cfa627aeec8b9dc0c066e",
    "camelyonpatch_level_2_split_valid_y.h5.gz": "2b85f58b927af9964a4c15b8f7e8f179",
    "camelyonpatch_level_2_split_test_x.h5.gz": "d8c2d60d490dbd479f8199bdfa0cf6ec",
    "camelyonpatch_level_2_split_test_y.h5.gz": "60a7035772fbdb7f34eb86d4420cf66a",
}

APTOS_COMPETITION = "aptos2019-blindness-detection"
CBIS_KAGGLE_DATASET = "awsaf49/cbis-ddsm-breast-cancer-image-dataset"  # JPEG mirror of TCIA's CBIS-DDSM
MEDMNIST_BASE = "https://zenodo.org/records/10519652/files"  # MedMNIST+ (v3): no published sums
# Mendeley Data's "download all" archive of doi:10.17632/zr7vgbcyr2.1 (no published sums)
PAD_UFES_URL = "https://prod-dcd-datasets-cache-zipfiles.s3.eu-west-1.amazonaws.com/zr7vgbcyr2-1.zip"
# the WILDS package's camelyon17 v1.0 bundle on CodaLab (10.7 GB, no published sums)
CAMELYON17_URL = "https://worksheets.codalab.org/rest/bundles/0xe45e15f39fb54e9d9e919556af67aabe/contents/blob/"

CHEXPERT_HELP = (
    "CheXpert is distributed under the Stanford University School of Medicine CheXpert Dataset "
    "Research Use Agreement and is never downloaded automatically: register at "
    "https://stanfordmlgroup.github.io/competitions/chexpert/, download CheXpert-v1.0-small, and set "
    "datasets.{name}.raw_dir to the folder holding train.csv, valid.csv and train/")
CBIS_HELP = (
    "CBIS-DDSM comes from The Cancer Imaging Archive through the NBIA Data Retriever "
    "(https://www.cancerimagingarchive.net/collection/cbis-ddsm/, 163.6 GB of DICOM): download the "
    "full mammograms and the four case-description CSVs into one folder and set datasets.{name}.raw_dir to it, "
    "or set datasets.{name}.cbis_ddsm_source: kaggle_jpeg to download Kaggle's JPEG mirror")


def kaggle_credentials() -> str:
    """Where the Kaggle API will find credentials (never their values); an error listing the
    usual places when there are none."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "environment variables KAGGLE_USERNAME/KAGGLE_KEY"
    config_dir = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    if (config_dir / "kaggle.json").is_file():
        return str(config_dir / "kaggle.json")
    raise PermissionError(
        "no Kaggle API credentials: put kaggle.json (Kaggle > Settings > Create New Token) in "
        f"{config_dir}/ or set KAGGLE_USERNAME and KAGGLE_KEY, accept the competition's rules on "
        "kaggle.com, then rerun")


def fetch_kaggle(kind: str, ref: str, target: Path) -> Path:
    """``kaggle competitions download -c <competition>`` or ``kaggle datasets download -d
    <owner/dataset>`` (the client resumes a partial zip itself), then unpack."""
    if target.exists():
        return target
    log.info("Kaggle credentials from %s", kaggle_credentials())
    if shutil.which("kaggle") is None:
        raise FileNotFoundError("the Kaggle API client is not installed: pip install kaggle")
    archive_dir = target.with_name(target.name + ".download")
    archive_dir.mkdir(parents=True, exist_ok=True)
    flag = {"competitions": "-c", "datasets": "-d"}[kind]
    command = ["kaggle", kind, "download", flag, ref, "-p", str(archive_dir)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:  # the client's message, never the credentials (it does not print them)
        raise RuntimeError(f"{' '.join(command[:5])} failed: {done.stderr.strip()[-500:]}")
    return unpack(archive_dir / f"{ref.split('/')[-1]}.zip", target)


def fetch_isic2019(target: Path, base_url: str = ISIC_BASE) -> Path:
    """Training images, ground truth and metadata from the ISIC challenge archive (no published sums)."""
    files = target.with_name(target.name + ".files")
    for name in ISIC_FILES:
        download(f"{base_url}/{name}", files / name)
    if not target.exists():
        staging = unpack(files / "ISIC_2019_Training_Input.zip", target.with_name(target.name + ".images"))
        for name in ISIC_FILES[:2]:
            shutil.copy2(files / name, staging / name)
        os.replace(staging, target)
    return target


def fetch_pcam(target: Path, base_url: str = PCAM_BASE, md5: dict[str, str] = PCAM_MD5) -> Path:
    """The six PatchCamelyon .h5.gz files from Zenodo, MD5-verified, gunzipped."""
    if target.exists():
        return target
    files = target.with_name(target.name + ".files")
    staging = target.with_name(target.name + ".unpacking")
    staging.mkdir(parents=True, exist_ok=True)
    for name, checksum in md5.items():
        archive = download(f"{base_url}/{name}", files / name, md5=checksum)
        if not (staging / name[:-3]).exists():
            unpacked = unpack(archive, files / (name + ".d"))
            os.replace(unpacked / name[:-3], staging / name[:-3])
    os.replace(staging, target)
    return target


def fetch_isic2018(target: Path, base_url: str = ISIC2018_BASE, archives: list[str] | None = None) -> Path:
    """ISIC 2018 Task 1's training and validation images and masks (no published sums), or
    other ``archives`` of the challenge: each archive's folder (its own name) moved into ``target``."""
    files = target.with_name(target.name + ".files")
    for name in ISIC2018_ARCHIVES if archives is None else archives:
        if (target / name).is_dir():
            continue
        unpacked = unpack(download(f"{base_url}/{name}.zip", files / f"{name}.zip"), files / f"{name}.d")
        target.mkdir(parents=True, exist_ok=True)
        os.replace(unpacked / name if (unpacked / name).is_dir() else unpacked, target / name)
    return target


def zenodo_files(record_url: str) -> list[tuple[str, str, str | None]]:
    """(name, download URL, MD5 or None) of every file of a Zenodo record, from its API."""
    with urllib.request.urlopen(record_url, timeout=60) as response:
        record = json.load(response)
    files = []
    for entry in record.get("files", []):
        checksum = entry.get("checksum", "")
        files.append((entry["key"], entry["links"]["self"],
                      checksum.split(":", 1)[1] if checksum.startswith("md5:") else None))
    if not files:
        raise ValueError(f"{record_url}: the Zenodo record lists no files")
    return files


def fetch_csaw_s(target: Path, record_url: str = CSAW_S_RECORD) -> Path:
    """CSAW-S from its Zenodo record, every file MD5-verified against the record and its
    archive unpacked: ``target/CsawS/``."""
    if target.exists():
        return target
    files = target.with_name(target.name + ".files")
    unpacked = []
    for name, url, md5 in zenodo_files(record_url):
        path = download(url, files / name, md5=md5)
        if name.endswith(".zip"):
            unpacked.append(unpack(path, files / f"{name}.d"))
    for folder in unpacked:
        try:
            os.replace(_folder_holding(folder, "CsawS"), target)
            return target
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"{record_url}: no archive of the record holds a CsawS folder (has its layout changed?)")


def _folder_holding(root: Path, marker: str) -> Path:
    """The folder of an unpacked archive that holds ``marker``: the archive's top, or one below."""
    for folder in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if (folder / marker).exists():
            return folder
    raise FileNotFoundError(f"{root}: the unpacked archive has no {marker} at its top or one folder below")


def fetch_pad_ufes20(target: Path, url: str = PAD_UFES_URL) -> Path:
    """PAD-UFES-20's archive: ``metadata.csv`` and ``images/imgs_part_{1,2,3}.zip``, each image
    archive unpacked beside itself."""
    if target.exists():
        return target
    archive = download(url, target.with_name(target.name + ".files") / "zr7vgbcyr2-1.zip")
    root = _folder_holding(unpack(archive, target.with_name(target.name + ".unpacking")), "metadata.csv")
    if not list((root / "images").glob("imgs_part_*")):
        raise FileNotFoundError(f"{archive}: no images/imgs_part_*.zip in the archive (has its layout changed?)")
    for part in sorted((root / "images").glob("imgs_part_*.zip")):
        unpack(part, part.with_suffix(""))
        part.unlink()  # unpacked: the folder is complete (unpack renames it only when done)
    os.replace(root, target)
    return target


def fetch_camelyon17(target: Path, url: str = CAMELYON17_URL) -> Path:
    """Camelyon17-WILDS v1.0: ``metadata.csv`` and ``patches/`` from the WILDS bundle."""
    if target.exists():
        return target
    archive = download(url, target.with_name(target.name + ".files") / "archive.tar.gz")
    os.replace(_folder_holding(unpack(archive, target.with_name(target.name + ".unpacking")), "metadata.csv"), target)
    return target


@contextlib.contextmanager
def _exclusive(lock_file: Path):
    """Hold an exclusive lock on ``lock_file`` (waiting for it): one fetch per source at a time."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch_raw(name: str, cfg: dict, downloads: str | Path) -> Path:
    """The raw folder of dataset ``name``: the configured ``raw_dir``, or a fresh download.
    Datasets of one source (Camelyon17's hospitals, MedMNIST's tasks) share its download
    folder, so their jobs fetch one after the other: the second finds the files there."""
    if cfg.get("raw_dir"):
        raw_dir = Path(cfg["raw_dir"])
        if not raw_dir.is_dir():
            raise FileNotFoundError(f"datasets.{name}.raw_dir: no such folder: {raw_dir}")
        return raw_dir.resolve()
    with _exclusive(Path(downloads).resolve() / f".{cfg['source']}.lock"):
        return _download(name, cfg, Path(downloads).resolve() / cfg["source"])


def fetch_dermoscopic_masks(downloads: str | Path, base_url: str = ISIC2018_BASE) -> Path:
    """The folder of ISIC 2018 Task 2's training attribute masks, downloaded once into
    ``downloads`` (shared by studies; another job waits for the first)."""
    root = Path(downloads).resolve()
    with _exclusive(root / ".isic2018_task2.lock"):
        return fetch_isic2018(root / "isic2018_task2", base_url, [ISIC2018_TASK2]) / ISIC2018_TASK2


def _download(name: str, cfg: dict, target: Path) -> Path:
    source = cfg["source"]
    if source == "aptos2019":
        return fetch_kaggle("competitions", APTOS_COMPETITION, target)
    if source == "isic2019":
        return fetch_isic2019(target)
    if source == "pcam":
        return fetch_pcam(target)
    if source == "isic2018":
        return fetch_isic2018(target)
    if source == "csaw_s":
        return fetch_csaw_s(target)
    if source == "pad_ufes20":
        return fetch_pad_ufes20(target)
    if source == "camelyon17":
        return fetch_camelyon17(target)
    if source == "medmnist":
        name = f"{cfg['flag']}.npz" if cfg["medmnist_size"] == 28 else f"{cfg['flag']}_{cfg['medmnist_size']}.npz"
        download(f"{MEDMNIST_BASE}/{name}?download=1", target / name)
        return target
    if source == "chexpert":
        raise FileNotFoundError(CHEXPERT_HELP.format(name=name))
    if source == "cbis_ddsm" and cfg.get("cbis_ddsm_source") == "kaggle_jpeg":
        return fetch_kaggle("datasets", CBIS_KAGGLE_DATASET, target.with_name("cbis_ddsm_kaggle_jpeg"))
    if source == "cbis_ddsm":
        raise FileNotFoundError(CBIS_HELP.format(name=name))
    raise ValueError(f"datasets.{name}.source: no download for {source!r}")


def raw_record(name: str, cfg: dict, downloads: str | Path) -> dict:
    """What prepare reads: the source and its raw folder."""
    return {"source": cfg["source"], "raw_dir": str(fetch_raw(name, cfg, downloads))}
