"""On-disk cache of preprocessed slices, for data that should not sit in memory.

``tumorseg train --cache [DIR]`` decodes a dataset once into two ``.npy``
files and memory-maps them in every later run::

    DIR/<key>/images.npy   (N, S, S) or (N, C, S, S) uint8
    DIR/<key>/masks.npy    (N, S, S) bool
    DIR/<key>/meta.json    case ids, shapes, what the key was made of

``key`` is a hash of every record's files (path, size, modification time),
the reader options and the preprocessing (image size, cache layout version),
so editing, adding or removing a file, or changing ``--image-size``, makes a
new entry: a stale cache is never read. Entries are built in a temporary
folder and renamed into place, so a crash never leaves a half-written one.
The build decodes in chunks with the same checks as ``tumorseg check-data``,
so it needs memory for one chunk, not for the dataset.

Pages of a memory-mapped file are the operating system's page cache: they
are shared between DataLoader workers and between runs, and evicted under
memory pressure instead of counting against the process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from tumorseg.config import cache_root
from tumorseg.data.dataset import SliceArrays, WindowOf
from tumorseg.data.records import SliceRecord
from tumorseg.errors import TumorsegError

log = logging.getLogger(__name__)

LAYOUT_VERSION = 1
CHUNK = 256  # records decoded (and checked) at a time while building


def resolve_cache_dir(value: str | None) -> Path | None:
    """``None`` → no cache; ``"default"`` (``--cache`` without a folder) → :func:`tumorseg.config.cache_root`."""
    if value is None:
        return None
    return cache_root() if value in ("default", "") else Path(value).expanduser()


def _stat(path: Path | None) -> list[Any]:
    if path is None:
        return [None]
    st = Path(path).stat()
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def cache_key(records: Sequence[SliceRecord], image_size: int, extra: dict[str, Any] | None = None) -> str:
    """Hex digest naming the cache entry of ``records`` preprocessed at ``image_size`` (see module docstring)."""
    h = hashlib.sha256()
    h.update(json.dumps({"layout": LAYOUT_VERSION, "image_size": image_size, "extra": extra or {}},
                        sort_keys=True, default=str).encode())
    stats: dict[Path | None, list[Any]] = {}  # volume readers share one file between many records
    for r in records:
        for p in (r.image, r.mask):
            if p not in stats:
                stats[p] = _stat(p)
        row = [r.case_id, stats[r.image], stats[r.mask], r.loader, r.slice_index, repr(r.options)]
        h.update(json.dumps(row, default=str).encode())
    return h.hexdigest()[:24]


class RowView:
    """Rows ``indices`` of a (memory-mapped) array, read only when indexed.

    Enough of the ``ndarray`` interface for :class:`~tumorseg.data.dataset.SliceDataset`
    (``view[i]``, ``len``, ``shape``, ``ndim``, ``dtype``); ``np.asarray(view)``
    copies all rows into memory.
    """

    def __init__(self, base: np.ndarray, indices: Sequence[int]):
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.indices), *self.base.shape[1:])

    @property
    def ndim(self) -> int:
        return self.base.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.base.dtype

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return np.array(self.base[self.indices[key]])  # a small writable copy of one row
        return np.asarray(self.base[self.indices[key]])  # slice or index array: those rows only

    def __getstate__(self) -> dict:  # to worker processes: reopen the map by path, never copy the rows
        if isinstance(self.base, np.memmap) and self.base.filename:
            return {"path": str(self.base.filename), "indices": self.indices}
        return {"base": self.base, "indices": self.indices}

    def __setstate__(self, d: dict) -> None:
        self.base = np.load(d["path"], mmap_mode="r") if "path" in d else d["base"]
        self.indices = d["indices"]

    def __array__(self, dtype=None, copy=None):
        a = np.asarray(self.base[self.indices])
        return a.astype(dtype) if dtype is not None else a


def _build(records: Sequence[SliceRecord], image_size: int, entry: Path, key_info: dict[str, Any],
           source: str, progress: bool, window_of: WindowOf | None) -> None:
    from tumorseg.data.checks import load_checked

    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        images = masks = None
        n = len(records)
        bar = tqdm(total=n, desc="building slice cache", unit="img", disable=not progress, leave=False)
        for start in range(0, n, CHUNK):
            part = load_checked(list(records[start:start + CHUNK]), image_size, source, progress=False,
                                intensity=key_info.get("key_info", {}).get("intensity", "none"), window_of=window_of)
            if images is None:
                images = np.lib.format.open_memmap(tmp / "images.npy", "w+", np.uint8, (n, *part.images.shape[1:]))
                masks = np.lib.format.open_memmap(tmp / "masks.npy", "w+", np.bool_, (n, image_size, image_size))
            if part.images.shape[1:] != images.shape[1:]:
                raise TumorsegError(f"{records[start].image}: slices of {part.images.shape[1:]} after reading, "
                                    f"unlike the first ones' {images.shape[1:]}; every slice needs the same channels.")
            images[start:start + len(part)] = part.images
            masks[start:start + len(part)] = part.masks
            bar.update(len(part))
        bar.close()
        if images is None:
            raise TumorsegError(f"{source}: no slices to cache.")
        images.flush()
        masks.flush()
        del images, masks
        meta = {"layout": LAYOUT_VERSION, "n": n, "image_size": image_size, "case_ids": [r.case_id for r in records],
                **key_info}
        (tmp / "meta.json").write_text(json.dumps(meta, default=str))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        try:
            os.rename(tmp, entry)
        except OSError:  # another process finished the same entry first: theirs is as good
            if not (entry / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cached_slices(records: Sequence[SliceRecord], image_size: int, cache_dir: str | Path,
                  key_info: dict[str, Any] | None = None, source: str = "", progress: bool = True,
                  build: bool = True, window_of: WindowOf | None = None) -> SliceArrays:
    """:class:`SliceArrays` of ``records`` whose arrays are read-only memory maps of the cache entry.

    Builds the entry first when it does not exist (and ``build``), with each record's field-of-view window
    ``window_of`` (:func:`tumorseg.data.checks.inspect_records`; ``key_info`` must then say so, e.g.
    ``"field_of_view_mm"``, so that entries built without it are not read). Index the
    result with :meth:`split_views` rather than ``subset`` to keep rows on disk.

    Raises:
        TumorsegError: the cache folder is not writable, or ``build=False`` and no entry exists.
        DataError: the data has problems (from the check-data checks).
    """
    key = cache_key(records, image_size, key_info)
    entry = Path(cache_dir) / key
    if not (entry / "meta.json").is_file():
        if not build:
            raise TumorsegError(f"{entry}: slice cache entry missing.")
        need = len(records) * image_size * image_size * 4  # generous: up to 3 channels + mask
        _check_space(Path(cache_dir), need)
        log.info("building slice cache %s (%d slices at %d²)", entry, len(records), image_size)
        _build(records, image_size, entry, {"key_info": key_info or {}}, source, progress, window_of)
    else:
        log.info("using slice cache %s", entry)
    meta = json.loads((entry / "meta.json").read_text())
    if meta.get("case_ids") != [r.case_id for r in records]:  # hash collision or hand-edited entry
        raise TumorsegError(f"{entry}: cache entry does not match the dataset; delete the folder and retry.")
    images = np.load(entry / "images.npy", mmap_mode="r")
    masks = np.load(entry / "masks.npy", mmap_mode="r")
    return SliceArrays(images, masks, list(records))


def split_views(arrays: SliceArrays, indices: Sequence[int], in_memory: bool) -> SliceArrays:
    """Rows ``indices`` of cached ``arrays``: a lazy :class:`RowView` (training set) or an in-memory copy."""
    if in_memory:
        return arrays.subset(indices)
    return SliceArrays(RowView(arrays.images, indices), RowView(arrays.masks, indices),  # type: ignore[arg-type]
                       [arrays.records[i] for i in indices])


def _check_space(folder: Path, need: int) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise TumorsegError(f"{folder}: cannot create the slice cache ({exc.strerror}). Pass --cache DIR elsewhere.") from None
    if not os.access(folder, os.W_OK):
        raise TumorsegError(f"{folder}: the slice cache folder is not writable. Pass --cache DIR elsewhere.")
    if free < need:
        raise TumorsegError(f"{folder}: {free / 2**20:.0f} MiB free, the slice cache needs about {need / 2**20:.0f} MiB. "
                            "Free space or pass --cache DIR on another disk.")
