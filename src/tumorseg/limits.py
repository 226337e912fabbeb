"""Size caps for everything that decodes a user's file, checked from headers *before* decoding.

One :class:`Limits` value is in force at a time (a context variable):
:data:`FILES` for files the user names on the command line, the stricter
:data:`UPLOADS` inside ``tumorseg serve`` requests (:func:`using`). Every
decoder (2-D images via :mod:`tumorseg.data.imageio`, LGG TIFFs, NIfTI,
DICOM including deflate and other compressed transfer syntaxes, the upload
sniffer) calls the ``check_*`` functions here with the sizes its header
declares, so a decompression bomb is refused before any big allocation.

=====================  ==================  ===================  ====================================
cap                    FILES (CLI)         UPLOADS (serve)      what it bounds
=====================  ==================  ===================  ====================================
``max_pixels``         8192² (67.1 M)      4096² (16.8 M)       one 2-D image, DICOM frame, volume slice
``max_voxels``         2²⁸ (268 M)         2²⁵ (33.6 M)         a volume or multi-frame file in total (of a
                                                                 4-D NIfTI: the one volume decoded)
``max_decoded_bytes``  2 GiB               128 MiB              decoded array, or inflated gzip/deflate
``max_slices``         16,384              2,048                slices of one volume, each a model call
                                                                 (a 2×2×8·10⁶ NRRD is 280 kB: millions of
                                                                 calls without it)
=====================  ==================  ===================  ====================================

Peak memory of a decode is a small multiple of these (see ``docs/inference.md``).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import BinaryIO

from tumorseg.errors import DataError


class LimitExceeded(DataError):
    """A file declares (or inflates to) more than the limits in force allow (HTTP 413 in ``serve``)."""


@dataclass(frozen=True)
class Limits:
    """Caps on what one file may decode to (all counts, not bytes, except ``max_decoded_bytes``)."""

    max_pixels: int
    max_voxels: int
    max_decoded_bytes: int
    fix: str  # what the user can do, appended to every refusal
    max_slices: int = 16384  # slices of one volume (each is predicted: the work, not the memory)

    def __post_init__(self) -> None:
        if min(self.max_pixels, self.max_voxels, self.max_decoded_bytes, self.max_slices) <= 0:
            raise ValueError("limits must be positive")


FILES = Limits(8192 * 8192, 1 << 28, 1 << 31, "crop or downsample it first")
UPLOADS = Limits(4096 * 4096, 1 << 25, 1 << 27, "upload a smaller (cropped or downsampled) file", max_slices=2048)

_current: ContextVar[Limits] = ContextVar("tumorseg_limits", default=FILES)


def current() -> Limits:
    """The limits in force in this thread/task (``FILES`` unless :func:`using` says otherwise)."""
    return _current.get()


@contextlib.contextmanager
def using(limits: Limits) -> Iterator[Limits]:
    """Decode with ``limits`` inside the ``with`` block (per thread / asyncio task)."""
    token = _current.set(limits)
    try:
        yield limits
    finally:
        _current.reset(token)


def _n(x: int) -> str:
    return f"{x:,}"


def check_image(width: int, height: int, where: str, bands: int = 1, bytes_per_sample: int = 1) -> None:
    """Refuse a 2-D image whose header declares more than ``max_pixels`` (or ``max_decoded_bytes``).

    Raises:
        DataError: ``"<where>: declares W×H pixels; at most N are accepted; <fix>."``
    """
    lim = current()
    if width <= 0 or height <= 0:
        raise DataError(f"{where}: declares an empty image ({width}×{height}); the file is corrupt.")
    pixels = width * height
    if pixels > lim.max_pixels or pixels * bands * bytes_per_sample > lim.max_decoded_bytes:
        raise LimitExceeded(f"{where}: declares {width}×{height} pixels ({_n(pixels)}); at most {_n(lim.max_pixels)} "
                        f"per image are accepted; {lim.fix}.")


def check_volume(shape: tuple[int, ...], itemsize: int, where: str) -> None:
    """Refuse a volume / frame stack ``shape`` (last two axes or first two: every 2-D slice counts) whose
    voxel count or decoded size exceeds the limits; ``shape`` comes from the header.

    Raises:
        DataError: naming the shape, the cap and the fix.
    """
    lim = current()
    if not shape or any(int(d) <= 0 for d in shape):
        raise DataError(f"{where}: declares an empty or invalid shape {tuple(shape)}; the file is corrupt.")
    voxels = 1
    for d in shape:
        voxels *= int(d)
    size = " × ".join(str(int(d)) for d in shape)
    if voxels > lim.max_voxels or voxels * itemsize > lim.max_decoded_bytes:
        raise LimitExceeded(f"{where}: declares {size} = {_n(voxels)} voxels ({voxels * itemsize / 2**20:,.0f} MiB "
                        f"decoded); at most {_n(lim.max_voxels)} voxels and {lim.max_decoded_bytes >> 20} MiB are "
                        f"accepted; {lim.fix}.")


def check_stack(shape: tuple[int, ...], itemsize: int, where: str) -> None:
    """Refuse a 4-D NIfTI ``shape`` ``(X, Y, Z, N)`` of which one volume at a time is decoded (an MSD file's FLAIR,
    ``predict --volume K``, the web page's choice): each volume counts against the voxel cap like a 3-D file, the
    whole file's bytes against ``max_decoded_bytes`` (an upload is inflated to disk whole; never into memory).
    Other shapes: :func:`check_volume`.

    Raises:
        DataError: naming the shape, the cap and the fix.
    """
    if len(shape) != 4 or int(shape[3]) <= 1:
        return check_volume(shape, itemsize, where)
    check_volume(tuple(shape[:3]), itemsize, f"{where} (one of its {int(shape[3])} volumes)")
    lim = current()
    total = int(shape[0]) * int(shape[1]) * int(shape[2]) * int(shape[3]) * itemsize
    if total > lim.max_decoded_bytes:
        size = " × ".join(str(int(d)) for d in shape)
        raise LimitExceeded(f"{where}: declares {size} voxels ({total / 2**20:,.0f} MiB decoded); at most "
                            f"{lim.max_decoded_bytes >> 20} MiB are accepted; {lim.fix}.")


def check_slices(count: int, where: str) -> None:
    """Refuse a volume of more than ``max_slices`` slices (frames, pages): each is a model call, so a tiny file
    declaring millions of 1×1 slices would keep the machine busy for days within the voxel cap. Called with the
    count known before decoding where there is one (DICOM frames or files, TIFF pages), else once the slicing axis
    is known (NIfTI, NRRD: :func:`tumorseg.io.nifti.volume_properties`).

    Raises:
        LimitExceeded: naming the count, the cap and the fix.
    """
    lim = current()
    if count > lim.max_slices:
        raise LimitExceeded(f"{where}: holds {_n(count)} slices; at most {_n(lim.max_slices)} per volume are accepted; "
                            f"{lim.fix}.")


def check_slice(rows: int, cols: int, where: str) -> None:
    """Refuse one slice/frame of ``rows × cols`` larger than ``max_pixels`` (its probability map is float32)."""
    lim = current()
    if rows * cols > lim.max_pixels:
        raise LimitExceeded(f"{where}: declares {rows}×{cols} slices ({_n(rows * cols)} pixels each); at most "
                        f"{_n(lim.max_pixels)} per slice are accepted; {lim.fix}.")


def inflate(src: BinaryIO, dst: BinaryIO | None, where: str, wbits: int, limit: int | None = None,
            stop_after: int | None = None, chunk: int = 1 << 16) -> int:
    """Stream-decompress ``src`` into ``dst`` (or just count, for ``dst=None``) in bounded chunks.

    ``wbits``: ``16 + zlib.MAX_WBITS`` for gzip, ``-zlib.MAX_WBITS`` for raw
    deflate (DICOM). Stops without error after ``stop_after`` output bytes
    (data beyond what a header declared is never inflated); raises once the
    output would exceed ``limit`` (default ``max_decoded_bytes``). Memory use
    is O(``chunk``) whatever the compression ratio. Returns the bytes written.

    Raises:
        DataError: corrupt stream, or more than ``limit`` bytes.
    """
    limit = current().max_decoded_bytes if limit is None else limit
    want = limit + 1 if stop_after is None else min(limit + 1, stop_after)
    d = zlib.decompressobj(wbits)
    total = 0
    try:
        while total < want:
            if d.eof:  # gzip allows several members one after another (as gzip.GzipFile reads them)
                rest = d.unused_data or src.read(chunk)
                if not rest or wbits < 0:
                    break
                d = zlib.decompressobj(wbits)
                data = rest
            else:
                data = d.unconsumed_tail or src.read(chunk)
            out = d.decompress(data, min(chunk, want - total)) if data else d.flush()[: want - total]
            total += len(out)
            if dst is not None:
                dst.write(out)
            if not data:
                break
    except zlib.error:
        raise DataError(f"{where}: the compressed data is corrupt; send the file again.") from None
    if total > limit:
        raise LimitExceeded(f"{where}: decompresses to more than {limit / 2**20:.4g} MiB; {current().fix}.")
    return total


__all__ = ["FILES", "UPLOADS", "LimitExceeded", "Limits", "check_image", "check_slice", "check_stack", "check_volume", "current",
           "inflate", "using"]
