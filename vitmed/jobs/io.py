"""Atomic file writing: a crashed job never leaves a file that looks complete."""
from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_parquet(path: str | os.PathLike, frame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_rows_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def save_torch(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically. A disk that fills during the write makes torch
    raise "unexpected pos ..."; it becomes an ``OSError`` (ENOSPC) naming the file and the free
    space, and the partial temporary is removed."""
    import torch  # only jobs that save weights need it

    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except (RuntimeError, OSError) as error:
            free = shutil.disk_usage(Path(path).parent).free
            if free < 1 << 20 or getattr(error, "errno", None) == errno.ENOSPC:
                raise OSError(errno.ENOSPC, f"No space left on device: cannot write {path} ({free / 2**20:.1f} MiB "
                                            f"free there; torch said: {error})") from None
            raise


def named_files(output, name: str, exts: tuple[str, ...] | None = None) -> dict[str, str]:
    """The files of one table or figure among a rule's named outputs ``<name>_<ext>`` (as the
    workflow's ``artefact_outputs`` names them), by extension; only ``exts`` if given."""
    files = {key.rsplit("_", 1)[1]: output[key] for key in output.keys()
             if key.rsplit("_", 1)[0] == name and (exts is None or key.rsplit("_", 1)[1] in exts)}
    if not files:
        raise KeyError(f"no outputs named {name}_<ext> among {list(output.keys())}")
    return files
