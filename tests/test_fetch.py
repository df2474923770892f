"""Fetching raw datasets: ISIC 2019 and PatchCamelyon from a local HTTP server standing in for
the publishers, Kaggle through its command-line client, the licensed datasets' instructions."""
import gzip
import hashlib
import io
import os
import stat
import zipfile

import pytest

from vitmed.data import fetch


def test_isic2019_fetch_gives_the_adapters_layout(publisher, tmp_path):
    root, url = publisher
    (root / "ISIC_2019_Training_GroundTruth.csv").write_text(
        "image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK\nISIC_0000000,0,1,0,0,0,0,0,0,0\n"
    )
    (root / "ISIC_2019_Training_Metadata.csv").write_text(
        "image,age_approx,anatom_site_general,lesion_id,sex\nISIC_0000000,55,,,female\n"
    )
    with zipfile.ZipFile(root / "ISIC_2019_Training_Input.zip", "w") as archive:
        archive.writestr("ISIC_2019_Training_Input/ISIC_0000000.jpg", b"jpeg bytes")
    raw = fetch.fetch_isic2019(tmp_path / "downloads" / "isic2019", base_url=url)
    assert (raw / "ISIC_2019_Training_Input" / "ISIC_0000000.jpg").read_bytes() == b"jpeg bytes"
    assert (raw / "ISIC_2019_Training_GroundTruth.csv").exists() and (raw / "ISIC_2019_Training_Metadata.csv").exists()
    (root / "ISIC_2019_Training_Input.zip").unlink()  # done once: a rerun needs no server
    assert fetch.fetch_isic2019(tmp_path / "downloads" / "isic2019", base_url=url) == raw


def gz(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
        out.write(data)
    return buffer.getvalue()


def test_pcam_fetch_verifies_md5s_and_leaves_nothing_half_done(publisher, tmp_path):
    root, url = publisher
    sums = {}
    for name in fetch.PCAM_MD5:
        payload = gz(name.encode() * 100)
        (root / name).write_bytes(payload)
        sums[name] = hashlib.md5(payload).hexdigest()
    wrong = dict(sums, **{"camelyonpatch_level_2_split_test_y.h5.gz": "0" * 32})
    target = tmp_path / "downloads" / "pcam"
    with pytest.raises(ValueError, match="split_test_y.h5.gz: MD5 mismatch"):
        fetch.fetch_pcam(target, base_url=url, md5=wrong)
    assert not target.exists(), "no raw folder after a failed fetch"
    raw = fetch.fetch_pcam(target, base_url=url, md5=sums)  # rerun: resumes, keeps what was verified
    assert sorted(p.name for p in raw.iterdir()) == sorted(n[:-3] for n in fetch.PCAM_MD5)
    assert (
        raw / "camelyonpatch_level_2_split_train_x.h5"
    ).read_bytes() == b"camelyonpatch_level_2_split_train_x.h5.gz" * 100


def fake_kaggle(bin_dir, log_file):
    """A stand-in `kaggle` client: logs its arguments and writes the competition's or dataset's zip."""
    bin_dir.mkdir()
    script = bin_dir / "kaggle"
    script.write_text(f"""#!/usr/bin/env python3
import sys, zipfile, pathlib
open({str(log_file)!r}, "a").write(" ".join(sys.argv[1:]) + "\\n")
folder = pathlib.Path(sys.argv[sys.argv.index("-p") + 1])
if sys.argv[1] == "competitions":
    with zipfile.ZipFile(folder / (sys.argv[sys.argv.index("-c") + 1] + ".zip"), "w") as archive:
        archive.writestr("train.csv", "id_code,diagnosis\\nabc,2\\n")
        archive.writestr("train_images/abc.png", b"png")
else:  # datasets download -d owner/name: name.zip
    with zipfile.ZipFile(folder / (sys.argv[sys.argv.index("-d") + 1].split("/")[1] + ".zip"), "w") as archive:
        archive.writestr("csv/dicom_info.csv", "image_path,SeriesDescription,SeriesInstanceUID\\n")
        archive.writestr("jpeg/1.2.3/1-204.jpg", b"jpg")
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_aptos2019_through_the_kaggle_client_without_logging_the_key(tmp_path, monkeypatch, caplog):
    fake_kaggle(tmp_path / "bin", tmp_path / "calls.log")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    cfg = {"source": "aptos2019", "raw_dir": None}
    with pytest.raises(PermissionError, match=r"no Kaggle API credentials: put kaggle.json .* in .*nowhere/"):
        fetch.fetch_raw("APTOS2019", cfg, tmp_path / "downloads")

    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "s3cr3t-key-value")
    with caplog.at_level("INFO"):
        raw = fetch.fetch_raw("APTOS2019", cfg, tmp_path / "downloads")
    assert (raw / "train.csv").read_text().startswith("id_code,diagnosis")
    assert (raw / "train_images" / "abc.png").exists()
    assert (tmp_path / "calls.log").read_text().split() == [
        "competitions", "download", "-c", "aptos2019-blindness-detection", "-p", str(raw) + ".download"]
    assert "s3cr3t" not in caplog.text and "KAGGLE_USERNAME/KAGGLE_KEY" in caplog.text


def test_cbis_ddsm_jpeg_mirror_through_the_kaggle_client(tmp_path, monkeypatch):
    fake_kaggle(tmp_path / "bin", tmp_path / "calls.log")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "s3cr3t-key-value")
    raw = fetch.fetch_raw("CBIS-DDSM", {"source": "cbis_ddsm", "raw_dir": None, "cbis_ddsm_source": "kaggle_jpeg"},
                          tmp_path / "downloads")
    assert raw == (tmp_path / "downloads" / "cbis_ddsm_kaggle_jpeg").resolve()
    assert (raw / "csv" / "dicom_info.csv").exists() and (raw / "jpeg" / "1.2.3" / "1-204.jpg").exists()
    assert (tmp_path / "calls.log").read_text().split() == [
        "datasets", "download", "-d", "awsaf49/cbis-ddsm-breast-cancer-image-dataset", "-p", str(raw) + ".download"]


@pytest.mark.parametrize("source, message", [
    ("chexpert", r"never downloaded automatically.*datasets.X.raw_dir"),
    ("cbis_ddsm", r"NBIA Data Retriever.*datasets.X.raw_dir.*cbis_ddsm_source: kaggle_jpeg"),
])
def test_licensed_or_manual_datasets_fail_with_instructions(tmp_path, source, message):
    with pytest.raises(FileNotFoundError, match=message):
        fetch.fetch_raw("X", {"source": source, "raw_dir": None}, tmp_path)


def test_configured_raw_dir_is_used_and_checked(tmp_path):
    assert fetch.fetch_raw("X", {"source": "isic2019", "raw_dir": str(tmp_path)}, "unused") == tmp_path.resolve()
    with pytest.raises(FileNotFoundError, match="datasets.X.raw_dir: no such folder"):
        fetch.fetch_raw("X", {"source": "isic2019", "raw_dir": str(tmp_path / "absent")}, "unused")
