"""Turning uploaded bytes into slices for the model, without trusting anything the client sent.

The file type is sniffed from the bytes (never from the client's file name or
content type); the bytes are written under a fixed name into a private
temporary folder (mode 0700) that is removed afterwards, and read with the
same readers ``tumorseg predict`` uses (:mod:`tumorseg.data.formats.dicom`, :mod:`tumorseg.inference.volumes`,
:mod:`tumorseg.data.formats.nifti`).
"""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from tumorseg.errors import DataError, TumorsegError

SUPPORTED = "PNG, JPEG, TIFF, BMP, DICOM (.dcm) and NIfTI (.nii, .nii.gz)"
MAX_PIXELS = 8192 * 8192  # a 2-D image larger than this is refused before decoding (decompression bombs)
MAX_VOLUME_BYTES = 1 << 30  # decompressed NIfTI size limit (gzip bombs)


class UnsupportedUpload(TumorsegError):
    """The bytes are not any supported format (HTTP 415)."""


@dataclass
class Decoded:
    """An upload as model input.

    ``slices``: 2-D slices ``(H, W)`` or ``(C, H, W)`` ``uint8`` (one for an
    image, Z for a volume, in the volume's third-axis order).
    ``spacing_mm``: ``(row, column)`` pixel spacing when the file carries it.
    ``nifti``: path of the uploaded volume (for writing a mask with its geometry).
    """

    kind: str  # "image", "dicom" or "nifti"
    slices: list[np.ndarray]
    spacing_mm: tuple[float, float] | None = None
    slice_mm: float | None = None
    nifti: Path | None = None
    notes: list[str] = field(default_factory=list)


def sniff(data: bytes) -> str | None:
    """``"png"``, ``"jpeg"``, ``"tiff"``, ``"bmp"``, ``"dicom"``, ``"nifti"``, ``"nifti-gz"`` or ``None``."""
    if data[128:132] == b"DICM":  # first: a DICOM preamble may itself look like a TIFF header
        return "dicom"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data.startswith(b"BM") and len(data) > 26:
        return "bmp"
    if data.startswith(b"\x1f\x8b"):
        return "nifti-gz"  # checked to be NIfTI after decompression
    if _is_nifti_header(data):
        return "nifti"
    return None


def _is_nifti_header(data: bytes) -> bool:
    head = data[:348]
    return len(head) == 348 and head[344:348] in (b"n+1\x00", b"ni1\x00") and (
        head[:4] in ((348).to_bytes(4, "little"), (348).to_bytes(4, "big")))


def _gunzip_limited(data: bytes, limit: int = MAX_VOLUME_BYTES) -> bytes:
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(data, limit + 1)
    except zlib.error:
        raise DataError("the gzip data is corrupt; upload the .nii.gz file again.") from None
    if len(out) > limit:
        raise DataError(f"the decompressed volume is larger than {limit >> 20} MB; upload a smaller volume.")
    return out


def decode(data: bytes, predictor, workdir: Path) -> Decoded:
    """Read an upload as model input; files go to ``workdir`` under fixed names only.

    Raises:
        UnsupportedUpload: not a supported format (message lists them).
        DataError: a supported format that cannot be read (corrupt, wrong
            channels, too many pixels, ...).
    """
    kind = sniff(data)
    if kind is None:
        raise UnsupportedUpload(f"this file is not a supported image. Supported: {SUPPORTED}.")
    if kind == "nifti-gz":
        data = _gunzip_limited(data)
        if not _is_nifti_header(data):
            raise UnsupportedUpload(f"this gzip file is not a NIfTI volume. Supported: {SUPPORTED}.")
        kind = "nifti"
    if kind == "nifti":
        return _decode_nifti(data, predictor, workdir)
    if kind == "dicom":
        return _decode_dicom(data, predictor, workdir)
    return _decode_image(data, kind, predictor, workdir)


def _decode_image(data: bytes, kind: str, predictor, workdir: Path) -> Decoded:
    from tumorseg.inference.volumes import read_for_model

    path = workdir / f"upload.{ {'jpeg': 'jpg', 'tiff': 'tif'}.get(kind, kind) }"
    path.write_bytes(data)
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception:  # Pillow raises many types for truncated headers
        raise DataError(f"the file looks like {kind.upper()} but cannot be read (truncated or corrupt).") from None
    if w * h > MAX_PIXELS:
        raise DataError(f"the image is {w}×{h} pixels; at most {MAX_PIXELS} pixels are accepted.")
    image = read_for_model(path, predictor)
    return Decoded("image", [image])


def _decode_dicom(data: bytes, predictor, workdir: Path) -> Decoded:
    from tumorseg.data.formats._common import to_uint8
    from tumorseg.data.formats.dicom import dicom_pixels, read_dicom

    path = workdir / "upload.dcm"
    path.write_bytes(data)
    ds = read_dicom(path)
    pixels = dicom_pixels(ds, Path("upload.dcm"))
    frames = pixels if pixels.ndim == 3 else pixels[None]  # multi-frame: (frames, rows, cols)
    if frames.ndim != 3:
        raise DataError(f"DICOM pixel data of shape {pixels.shape} is not a grayscale image.")
    spacing = getattr(ds, "PixelSpacing", None)
    spacing_mm = (float(spacing[0]), float(spacing[1])) if spacing is not None and len(spacing) == 2 else None
    slices = [to_uint8(f) for f in frames]
    for s in slices:
        predictor.check_channels(s, "the DICOM file")
    return Decoded("dicom", slices, spacing_mm)


def _decode_nifti(data: bytes, predictor, workdir: Path) -> Decoded:
    from tumorseg.data.formats import nifti

    path = workdir / "upload.nii"
    path.write_bytes(data)
    if predictor.in_channels != 1:
        raise DataError(f"the model needs {predictor.in_channels} modalities; upload one-channel models' volumes "
                        "only (multi-modality cases: use 'tumorseg predict CASE_FOLDER').")
    vol = nifti.read_volume(path, cache=False)[0]  # (X, Y, Z) uint8; read once, so not kept in the cache
    try:
        import nibabel

        zooms = nibabel.load(str(path)).header.get_zooms()
        spacing_mm, slice_mm = (float(zooms[0]), float(zooms[1])), float(zooms[2])
    except Exception:  # spacing is optional
        spacing_mm, slice_mm = None, None
    return Decoded("nifti", [vol[..., k] for k in range(vol.shape[-1])], spacing_mm, slice_mm, nifti=path)


def private_workdir() -> tempfile.TemporaryDirectory:
    """A temporary folder only this user can read (``mkdtemp`` creates it with mode 0700)."""
    return tempfile.TemporaryDirectory(prefix="tumorseg-upload-")


__all__ = ["Decoded", "SUPPORTED", "UnsupportedUpload", "decode", "private_workdir", "sniff"]
