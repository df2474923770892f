"""Resumable, checksum-verified downloads that never leave a partial file under the final name.

A transfer writes ``<name>.part`` and resumes it with an HTTP ``Range`` request after an
interruption (in the same call, up to ``retries`` times, or in a later run); the file is
renamed to its final name only once complete and, where the publisher gives one, its checksum
matches. A mismatch deletes the partial file and raises an error naming the URL and both sums.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_into(url: str, part: Path, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (a Range request when it already holds bytes)."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to fetch: the partial file is complete
            return
        raise
    with response:
        if have and response.status != 206:  # the server ignored the Range: start over
            have = 0
        total = response.headers.get("Content-Length")
        total = int(total) + have if total is not None else None
        with open(part, "ab" if have else "wb") as out, \
                tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5],
                     mininterval=5, leave=False) as progress:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                progress.update(len(block))
        if total is not None and part.stat().st_size < total:
            raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def download(url: str, dest: str | Path, *, md5: str | None = None, retries: int = 3,
             timeout: float = 60) -> Path:
    """``url`` -> ``dest``, resuming ``dest.part``; verified against ``md5`` when given."""
    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _fetch_into(url, part, timeout)
            break
        except (http.client.IncompleteRead, ConnectionError, TimeoutError, urllib.error.URLError) as error:
            if attempt == retries:
                raise ConnectionError(f"{url}: transfer failed {retries + 1} times ({error}); "
                                      f"rerun to resume from {part}") from error
            log.warning("%s: %s; resuming from byte %d", url, error, part.stat().st_size if part.exists() else 0)
    if md5 is not None:
        got = file_digest(part, "md5")
        if got != md5:
            part.unlink()
            raise ValueError(f"{url}: MD5 mismatch, expected {md5}, got {got}; the partial download was deleted")
    os.replace(part, dest)
    log.info("downloaded %s -> %s", url, dest)
    return dest


def unpack(archive: str | Path, into: str | Path) -> Path:
    """Extract a .zip/.tar(.gz) or gunzip a single .gz, into a temporary folder renamed when done."""
    archive, into = Path(archive), Path(into)
    if into.exists():
        return into
    staging = into.with_name(into.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if archive.name.endswith(".gz") and not archive.name.endswith(".tar.gz"):
        import gzip
        with gzip.open(archive, "rb") as source, open(staging / archive.name[:-3], "wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
    else:
        shutil.unpack_archive(archive, staging)
    os.replace(staging, into)
    return into
