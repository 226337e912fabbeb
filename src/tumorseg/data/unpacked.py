"""A dataset given as the ``.zip`` it was downloaded as: ``--data archive.zip`` for ``check-data``, ``train``,
``cv``, ``evaluate`` and ``report``.

Kaggle, Zenodo and figshare hand datasets out as one archive (the Kaggle LGG set, the figshare PNG set, a BraTS
release). :func:`dataset_root` unpacks such an archive once into the cache (:func:`tumorseg.config.cache_root`,
``unpacked/<name>-<key>/``) and returns the folder to read; later runs, ``train --resume`` and the folds of ``cv``
find it there, so ``config.json`` keeps the archive's path, not a temporary one. ``key`` is made of the archive's
absolute path, size and modification time: a replaced or edited archive is unpacked again, never read stale.

- The folder is built under a temporary name beside its final place and renamed into place when complete, so a
  crash or Ctrl-C never leaves a half-unpacked dataset that a later run would trust (two processes unpacking at
  once: the first rename wins, the other's copy is removed).
- Nothing in the archive is trusted (:mod:`tumorseg.data.archive`: unsafe member names refused, counts and sizes
  checked from the central directory before inflating); a dataset may be large, so the caps are
  :data:`MAX_FILES` members and :data:`MAX_BYTES` in all, and the cache's disk must have room for it.
- What to read: an archive made by compressing one folder reads as that folder; when no dataset reader recognises
  the top (the Kaggle LGG archive holds ``kaggle_3m/`` beside a second copy in ``lgg-mri-segmentation/``), the
  shallowest recognised folder is read, the first by name when several are (and the others are named in a note).
- A figshare archive of ``N.mat`` files (``brainTumorDataPublic_1-766.zip``) is not unpacked: its reader reads the
  members in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tumorseg import limits
from tumorseg.errors import DataError

log = logging.getLogger(__name__)

MAX_FILES = 1_000_000  # members of a dataset archive (the largest public sets hold tens of thousands)
MAX_BYTES = 256 << 30  # 256 GiB unpacked; the cache disk's free space is checked as well
SPARE_BYTES = 1 << 30  # left free on the cache disk after unpacking
_SEARCH_DEPTH = 3  # folder levels searched below the top for a dataset a reader recognises


def _entry(archive: Path) -> Path:
    st = archive.stat()
    key = hashlib.sha1(f"{archive.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    from tumorseg.config import cache_root

    return cache_root() / "unpacked" / f"{archive.stem or 'archive'}-{key}"


def shown(text: str, archive: str | Path) -> str:
    """``text`` (a message) with the cache folder of ``archive`` written as the archive (``data.zip/TCGA_.../``)."""
    return text.replace(str(_entry(Path(archive))), str(archive))


def dataset_root(archive: Path, recognised: Callable[[Path], bool], progress: bool = False) -> Path:
    """The dataset folder of the ``.zip`` at ``archive``, unpacked once into the cache (see the module doc):
    the first folder, from the top down, that ``recognised`` accepts (a dataset reader's ``detect``).
    ``progress``: a progress bar while unpacking (the CLI shows one; library calls stay quiet).
    :func:`tumorseg.data.formats.dataset_root` decides which files are such archives.

    Raises:
        DataError: an unsafe, encrypted or corrupt archive, or too little room on the cache disk (the message names
            the archive and the fix).
        LimitExceeded: more members or bytes than :data:`MAX_FILES` / :data:`MAX_BYTES`.
    """
    entry = _entry(archive)
    record = entry.parent / f"{entry.name}.json"  # written last: the copy beside it is complete
    if entry.is_dir() and record.is_file():
        try:
            return entry / json.loads(record.read_text())["read"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # an unreadable record: unpack again
    return _unpack(archive, entry, record, recognised, progress)


def _unpack(archive: Path, entry: Path, record: Path, recognised: Callable[[Path], bool],
            progress: bool) -> Path:
    from tumorseg.data.archive import members, open_archive, unpack

    entry.parent.mkdir(parents=True, exist_ok=True)
    where = str(archive)
    caps = replace(limits.current(), max_decoded_bytes=MAX_BYTES)
    with limits.using(caps):
        with open_archive(archive, where) as z:
            total = sum(info.file_size for info, _ in members(z, where, MAX_FILES))
        free = shutil.disk_usage(entry.parent).free
        if total + SPARE_BYTES > free:
            raise DataError(f"{where}: unpacks to {_size(total)} but {entry.parent} has {_size(free)} free (and "
                            f"{_size(SPARE_BYTES)} should stay free); set TUMORSEG_CACHE_DIR to a disk with room, "
                            "or unzip it yourself and give the folder.")
        log.info("unpacking %s (%s) into %s, once: later runs read it from there", archive, _size(total), entry)
        work = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
        try:
            top = unpack(archive, work / "data", MAX_FILES, progress=progress)
            read = _dataset_folder(top, where, recognised)
            rel = read.relative_to(work / "data").as_posix()
            if entry.exists() and not record.is_file():  # a copy left without its record: stale
                shutil.rmtree(entry, ignore_errors=True)
            try:
                os.rename(work / "data", entry)
            except OSError:  # another process renamed its copy into place first: read that one
                if not entry.is_dir():
                    raise
            tmp = record.parent / f"{record.name}.tmp"
            tmp.write_text(json.dumps({"archive": str(archive.resolve()), "read": rel, "bytes": total}))
            os.replace(tmp, record)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    log.info("reading %s", Path(archive.name) / rel if rel != "." else archive)
    return entry / rel


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _dataset_folder(top: Path, where: str, recognised: Callable[[Path], bool]) -> Path:
    """``top`` when a reader recognises it (or it is a file), else the shallowest recognised folder below it."""
    if top.is_file() or recognised(top):
        return top
    level = [top]
    for _ in range(_SEARCH_DEPTH):
        level = sorted((d for folder in level for d in folder.iterdir() if d.is_dir()), key=lambda d: str(d))
        found = [d for d in level if recognised(d)]
        if found:
            if len(found) > 1:
                log.warning("%s: holds %d datasets (%s); reading the first. Unzip it and give the folder you want.",
                            where, len(found), ", ".join(d.relative_to(top).as_posix() for d in found))
            return found[0]
    return top  # read_dataset says what it expected
