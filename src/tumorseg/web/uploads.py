"""Turning uploaded bytes into slices for the model, without trusting anything the client sent.

The file type is sniffed from the bytes (never from the client's file name or
content type); the bytes are written under a fixed name into a private
temporary folder (mode 0700) that is removed afterwards, and read with the
same readers ``tumorseg predict`` uses (:mod:`tumorseg.io`; images as
:func:`tumorseg.inference.volumes.read_model_input` gives them to a model).

Sizes are checked from headers before anything is decoded, against
:data:`tumorseg.limits.UPLOADS` (the caller decodes inside
``limits.using(limits.UPLOADS)``): a ``.nii.gz`` is inflated only as far as
its header's declared size, in 64 kB chunks straight to disk; a deflated
DICOM is measured while inflating before pydicom reads it; images and DICOM
frames are refused by their declared width × height.

Several files in one request are accepted as the files of one DICOM series (:func:`write_dicom_upload`,
:func:`decode_dicom`): at most :data:`MAX_SERIES_FILES`, all sniffed as DICOM, holding one image series; the
series' voxels are checked against the limits before any pixel is decoded. Or as the slices of one scan saved as
images (:func:`decode_image_stack`: all PNG/JPEG/TIFF/BMP of one size, ordered by the number that ends their file
names, as ``tumorseg predict DIR --as-volume`` reads a folder); their declared sizes together are checked as one
volume first.

A ZIP archive (one upload) is read as its files uploaded together (:func:`unzip_upload`): a zipped DICOM series or
export, image slices, one volume. Its central directory is checked first (at most :data:`MAX_SERIES_FILES` members,
their declared sizes together within the limits' ``max_decoded_bytes``; :mod:`tumorseg.data.archive`), member names
are never used as paths, and files of no supported type (a ``DICOMDIR``'s companions, a README) are left out.

A TIFF whose pages are slices of one size (a multi-page TIFF, Fiji's stack) is one volume
(:mod:`tumorseg.io.tiff`): its pages counted and their size checked before any is decoded.

NRRD and MetaImage uploads (:mod:`tumorseg.io.itk`) must carry their voxels in the file itself: a header that names
a separate data file (NRRD ``data file:``, MetaImage ``ElementDataFile`` other than ``LOCAL``) would make the reader
open a path on the server, and is refused.
"""

from __future__ import annotations

import io
import re
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tumorseg import limits
from tumorseg.data.formats import tiff_stack
from tumorseg.data.formats.dicom import DicomSeries, check_series_bytes, list_series
from tumorseg.errors import DataError, TumorsegError
from tumorseg.io import DicomIO, ItkIO, NiftiIO, Properties, TiffStackIO

GZIP = 16 + zlib.MAX_WBITS

SUPPORTED = ("PNG, JPEG, TIFF, BMP, DICOM (.dcm: one file, or all files of one series), NIfTI (.nii, .nii.gz), NRRD "
             "(.nrrd), MetaImage (.mha), or a .zip of those")
NIFTI1_HEADER = 348
ITK_HEADER = 1 << 16  # bytes searched for the end of a NRRD / MetaImage text header
MAX_SERIES_FILES = 1000  # files of one DICOM series per upload (also Starlette's default multipart file limit)
MAX_VOLUMES = 4096  # volumes of a 4-D NIfTI upload offered to choose from (its declared size is checked anyway)


IMAGE_KINDS = ("png", "jpeg", "tiff", "bmp")
VOLUME_KINDS = ("nifti", "nrrd", "metaimage", "tiff-stack")  # Decoded.kind of a volume file (not a DICOM series)


class UnsupportedUpload(TumorsegError):
    """The bytes are not any supported format (HTTP 415)."""


@dataclass
class Decoded:
    """An upload as model input.

    ``slices``: 2-D slices ``(H, W)`` or ``(C, H, W)`` ``uint8`` (one for an
    image, Z for a volume, in the volume's third-axis order).
    ``properties``: what the reader (:mod:`tumorseg.io`) knows of the uploaded file; a mask written with
    :func:`tumorseg.io.write_mask` keeps its geometry.
    ``display``: nibabel orientation transform that turns a slice into the
    radiological view (:mod:`tumorseg.data.formats.orientation`); ``None``: shown as stored.
    """

    kind: str  # "image", "images", "dicom", or a volume file: "nifti", "nrrd", "metaimage", "tiff-stack"
    slices: list[np.ndarray]
    properties: Properties
    display: np.ndarray | None = field(init=False)

    def __post_init__(self) -> None:
        # computed here, inside decode(): a file whose geometry cannot be oriented is a bad upload (400)
        self.display = self.properties.display()

    @property
    def spacing_mm(self) -> tuple[float, float] | None:
        """``(row, column)`` pixel spacing when the file carries it."""
        sp = self.properties.spacing_mm
        return (sp[1], sp[2]) if sp else None

    @property
    def slice_mm(self) -> float | None:
        """Slice spacing (or thickness) in mm when the file carries it."""
        sp = self.properties.spacing_mm
        return sp[0] if sp else None


def sniff(data: bytes) -> str | None:
    """``"png"``, ``"jpeg"``, ``"tiff"``, ``"bmp"``, ``"dicom"``, ``"nifti"``, ``"nifti-gz"``, ``"nrrd"``,
    ``"metaimage"`` or ``None``."""
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
    if data.startswith(b"NRRD000"):
        return "nrrd"
    if re.match(rb"\s*(ObjectType|NDims|ObjectSubType|Comment)\s*=", data[:256]):
        return "metaimage"
    return None


def _is_nifti_header(data: bytes) -> bool:
    head = data[:348]
    return len(head) == 348 and head[344:348] in (b"n+1\x00", b"ni1\x00") and (
        head[:4] in ((348).to_bytes(4, "little"), (348).to_bytes(4, "big")))


def _nifti_size(head: bytes) -> int:
    """Bytes a NIfTI-1 file needs (``vox_offset`` + voxels), from its header; refuses sizes over the limits."""
    return _nifti_layout(head)[1]


def _nifti_layout(head: bytes) -> tuple[tuple[int, ...], int]:
    """``(shape, bytes the file needs)`` of a NIfTI-1 header (:func:`_nifti_size`); refuses sizes over the limits."""
    import nibabel

    try:
        hdr = nibabel.Nifti1Header.from_fileobj(io.BytesIO(head[:NIFTI1_HEADER]), check=False)
        shape, itemsize = tuple(int(d) for d in hdr.get_data_shape()), hdr.get_data_dtype().itemsize
        offset = int(hdr.get_data_offset())
    except Exception as exc:  # nibabel raises many types for garbage headers
        raise DataError(f"the NIfTI header cannot be read ({exc.__class__.__name__}); upload the file again.") from None
    limits.check_stack(shape, itemsize, "the NIfTI volume")  # a 4-D file: inflated whole to disk, one volume read
    if len(shape) >= 2:
        limits.check_slice(shape[0], shape[1], "the NIfTI volume")
    voxels = 1
    for d in shape:
        voxels *= d
    return shape, max(offset, NIFTI1_HEADER) + voxels * itemsize


def _nifti_head(data: bytes, kind: str) -> bytes:
    """The NIfTI-1 header of a ``"nifti"`` or ``"nifti-gz"`` upload (a gzip inflated only that far).

    Raises:
        UnsupportedUpload: a gzip file that holds no NIfTI volume.
    """
    if kind == "nifti":
        return data[:NIFTI1_HEADER]
    head = io.BytesIO()
    limits.inflate(io.BytesIO(data), head, "the gzip file", GZIP, stop_after=NIFTI1_HEADER)
    if not _is_nifti_header(head.getvalue()):
        raise UnsupportedUpload(f"this gzip file is not a NIfTI volume. Supported: {SUPPORTED}.")
    return head.getvalue()


@dataclass(frozen=True)
class StackedVolume:
    """Which volume of a 4-D NIfTI upload (several modalities or time points in one file) is segmented.

    ``index``: 0-based, of ``count``; ``names``: every volume's name when the file says (an MSD
    ``Task01_BrainTumour`` file by its name, ``BRATS_001.nii.gz``: :data:`tumorseg.data.formats.decathlon.TASK01_CHANNELS`),
    else ``{}``."""

    index: int
    count: int
    names: dict[int, str] = field(default_factory=dict)

    @property
    def channel(self) -> str | None:
        """The segmented volume's name, or ``None`` when unknown."""
        return self.names.get(self.index)

    def choices(self) -> list[dict]:
        """The volumes as the page offers them: ``[{"index": 0, "label": "volume 0: FLAIR"}, ...]``."""
        return volume_choices(self.count, self.names)


def volume_choices(count: int, names: dict[int, str]) -> list[dict]:
    """``[{"index": k, "label": "volume k: NAME"}]`` (``"volume k"`` where the name is unknown) for ``count``."""
    return [{"index": k, "label": f"volume {k}" + (f": {names[k]}" if k in names else "")} for k in range(count)]


class SeveralVolumes(DataError):
    """A 4-D NIfTI upload and no ``volume`` chosen (HTTP 400 with ``volumes``: the choices, for the page to offer)."""

    def __init__(self, message: str, volumes: list[dict]):
        super().__init__(message)
        self.volumes = volumes


def pick_volume(data: bytes, kind: str | None, filename: str | None = None,
                volume: int | None = None) -> StackedVolume | None:
    """Which volume of a 4-D NIfTI upload to segment: ``volume`` when given; else, of a file named as the MSD's
    ``Task01_BrainTumour`` names them (``filename``, the client's: used for this only) holding four volumes, its
    FLAIR. ``None`` for any other upload (3-D NIfTI, or not NIfTI: ``volume`` is then ignored). Only the header is
    read (a gzip inflated as far as it).

    Raises:
        SeveralVolumes: a 4-D file with no ``volume`` and no name to go by (lists the volumes).
        DataError: ``volume`` out of range; an unreadable header or one over the limits.
    """
    from tumorseg.data.formats import decathlon

    if kind not in ("nifti", "nifti-gz"):
        return None
    shape = _nifti_layout(_nifti_head(data, kind))[0]  # readable, and within the limits
    if len(shape) != 4 or shape[3] < 2:
        return None
    count = int(shape[3])
    if count > MAX_VOLUMES:  # a long time series: too many to offer in a list
        raise DataError(f"this NIfTI file holds {count} volumes (a time series?); at most {MAX_VOLUMES} are offered. "
                        "Save the volume to segment as its own 3-D file (nibabel: img.slicer[..., k]) and upload that.")
    name = Path((filename or "").replace("\\", "/")).name
    names = decathlon.task01_channels(name, count) or {}
    if volume is None:
        picked = decathlon.preferred_channel(names) if names else None
        if picked is None:
            raise SeveralVolumes(f"this NIfTI file holds {count} volumes {tuple(shape[:3])} (several modalities or "
                                 "time points); choose the one to segment ('volume', 0-based).",
                                 volume_choices(count, names))
        volume = picked[0]
    if not 0 <= volume < count:
        raise DataError(f"volume {volume}: this NIfTI file holds {count} volumes (0 to {count - 1}).")
    return StackedVolume(volume, count, names)


def decode(data: bytes, predictor, workdir: Path, volume: int | None = None) -> Decoded:
    """Read an upload as model input; files go to ``workdir`` under fixed names only. ``volume``: which volume of
    a 4-D NIfTI (:func:`pick_volume`); a 4-D file without it is refused.

    Raises:
        UnsupportedUpload: not a supported format (message lists them).
        DataError: a supported format that cannot be read (corrupt, wrong
            channels, larger than :mod:`tumorseg.limits` allows, ...).
    """
    kind = sniff(data)
    if kind is None:
        raise UnsupportedUpload(f"this file is not a supported image. Supported: {SUPPORTED}.")
    if kind == "nifti-gz":
        need = _nifti_size(_nifti_head(data, kind))  # checked against the limits before inflating the rest
        path = workdir / "upload.nii"
        with open(path, "wb") as f:  # inflated in 64 kB chunks, only as far as the header says
            limits.inflate(io.BytesIO(data), f, "the NIfTI volume", GZIP, stop_after=need)
        return _decode_nifti(path, predictor, volume)
    if kind == "nifti":
        _nifti_size(data)
        path = workdir / "upload.nii"
        path.write_bytes(data)
        return _decode_nifti(path, predictor, volume)
    if kind == "dicom":
        return _decode_dicom(data, predictor, workdir)
    if kind in ("nrrd", "metaimage"):
        return _decode_itk(data, kind, predictor, workdir)
    if kind == "tiff" and tiff_stack.holds_stack(io.BytesIO(data)):  # a multi-page TIFF of slices: one volume
        path = workdir / "upload.tif"
        path.write_bytes(data)
        return _decode_volume(path, "tiff-stack", TiffStackIO(), predictor)  # sizes checked before decoding
    return _decode_image(data, kind, predictor, workdir)


def attached_header(data: bytes, kind: str) -> None:
    """Refuse a NRRD / MetaImage upload whose header names a separate data file (module docstring) or has no end
    within :data:`ITK_HEADER` bytes.

    Raises:
        DataError: naming the fix (save the volume as one file: ``.nrrd`` / ``.mha``).
    """
    what, fix = ("NRRD", ".nrrd") if kind == "nrrd" else ("MetaImage", ".mha")
    head = data[:ITK_HEADER]
    if kind == "nrrd":  # "key: value" lines up to the first empty line; "data file:" points elsewhere
        blank = re.search(rb"\r?\n\r?\n", head)  # writers on Windows end lines with \r\n
        end = blank.start() if blank else -1
        detached = re.search(rb"^[ \t]*data ?file[ \t]*:", head[:end], re.M | re.I) is not None
    else:  # "Key = Value" lines; the last one, ElementDataFile, is LOCAL when the voxels follow
        found = re.search(rb"^[ \t]*ElementDataFile[ \t]*=[ \t]*(\S*)", head, re.M)
        end = found.end() if found else -1
        detached = found is not None and found.group(1).upper() != b"LOCAL"
    if end < 0:
        raise DataError(f"the {what} header has no end within {ITK_HEADER >> 10} kB; the file is truncated or not "
                        f"{what}.")
    if detached:
        raise DataError(f"the {what} header names a separate data file; upload the volume saved as one {fix} file "
                        "(the voxels inside it).")


def _decode_itk(data: bytes, kind: str, predictor, workdir: Path) -> Decoded:
    attached_header(data, kind)
    path = workdir / f"upload.{'nrrd' if kind == 'nrrd' else 'mha'}"
    path.write_bytes(data)
    return _decode_volume(path, kind, ItkIO(cache=False), predictor)  # size checked before any voxel is decoded


def _write_image(data: bytes, kind: str, stem: Path, where: str) -> tuple[Path, tuple[int, int, int]]:
    """Write an image upload as ``stem.<ext of kind>`` and read its header only: the path and the declared
    ``(width, height, bands)``, checked against the limits (:func:`~tumorseg.data.imageio.open_image`).

    Raises:
        DataError: ``where`` (the file, as the user knows it) cannot be read as ``kind``; over the limits.
    """
    from tumorseg.data.imageio import ImageStack, open_image, undecodable_tiff

    path = stem.with_name(f"{stem.name}.{ {'jpeg': 'jpg', 'tiff': 'tif'}.get(kind, kind) }")
    path.write_bytes(data)
    try:
        with open_image(path) as im:  # the declared size, checked before decoding
            return path, (*im.size, len(im.getbands()))
    except limits.LimitExceeded:
        raise
    except ImageStack as stack:
        raise ImageStack(where, stack.size) from None
    except DataError:
        message = undecodable_tiff(path, where) if kind == "tiff" else None  # a float64 TIFF: says so, and the fix
        raise DataError(message or f"{where} looks like {kind.upper()} but cannot be read (truncated or corrupt)."
                        ) from None


def _decode_image(data: bytes, kind: str, predictor, workdir: Path) -> Decoded:
    from tumorseg.inference.volumes import read_model_input

    path, _ = _write_image(data, kind, workdir / "upload", "the file")
    image, props = read_model_input(path, predictor)
    return Decoded("image", [image], props)


def decode_image_stack(datas: list[bytes], names: list[str | None], predictor, workdir: Path) -> Decoded:
    """Several uploaded images as the slices of one scan: ordered by the number that ends each file name
    (``IM0007.png`` → 7; :func:`~tumorseg.inference.files.trailing_number`), all of one size, decoded one by one
    after their declared sizes together passed :func:`tumorseg.limits.check_volume`. ``Decoded.kind`` is
    ``"images"``; ``properties`` are the first slice's.

    Raises:
        UnsupportedUpload: not every file is an image.
        DataError: too many files, a name without a number, two files of one number, sizes that differ, or over
            the limits (naming the file).
    """
    from tumorseg.inference.files import trailing_number
    from tumorseg.inference.volumes import read_model_input

    if len(datas) > MAX_SERIES_FILES:
        raise DataError(f"{len(datas)} files in one upload; at most {MAX_SERIES_FILES} (the slices of one scan).")
    kinds = [sniff(d) for d in datas]
    if any(k not in IMAGE_KINDS for k in kinds):
        raise UnsupportedUpload("several files are accepted as the files of one DICOM series or as the slices of one "
                                "scan saved as images (PNG, JPEG, TIFF, BMP), not mixed; upload other files one at a "
                                "time.")
    numbers = [trailing_number(Path(n or "")) for n in names]
    missing = next((n or "(no name)" for n, k in zip(names, numbers) if k is None), None)
    if missing is not None:
        raise DataError(f"{missing}: several images are read as the slices of one scan, ordered by the number that "
                        "ends each file name (IM0007.png); this name has none. Rename the slices, or upload one image.")
    if len(set(numbers)) < len(numbers):
        raise DataError("two of the uploaded images end in the same number; upload the slices of one scan, each "
                        "numbered once.")
    order = sorted(range(len(datas)), key=numbers.__getitem__)
    # fixed names, in slice order; only the declared sizes are read here
    written = [_write_image(datas[i], kinds[i], workdir / f"slice_{rank:04d}", names[i] or "an uploaded image")
               for rank, i in enumerate(order)]
    paths, sizes = [p for p, _ in written], [size for _, size in written]
    if len({size[:2] for size in sizes}) > 1:
        raise DataError("the uploaded images differ in size; the slices of one scan share one.")
    width, height, bands = sizes[0]
    limits.check_volume((len(paths), height, width), bands, "the uploaded slices")  # bands: bytes a pixel
    decoded = [read_model_input(path, predictor) for path in paths]  # (image, properties) each
    return Decoded("images", [image for image, _ in decoded], decoded[0][1])


def _decode_dicom(data: bytes, predictor, workdir: Path) -> Decoded:
    return decode_dicom(pick_dicom(write_dicom_upload([data], workdir)), predictor)


def write_dicom_upload(datas: list[bytes], workdir: Path) -> Path:
    """Write uploaded DICOM bytes under fixed names: one file as ``workdir/upload.dcm``, several as
    ``workdir/series/upload_NNNN.dcm``; returns that file or folder.

    Raises:
        UnsupportedUpload: several files, not all of them DICOM (HTTP 415).
        DataError: more than :data:`MAX_SERIES_FILES` files.
    """
    if len(datas) == 1:
        path = workdir / "upload.dcm"
        path.write_bytes(datas[0])
        return path
    if len(datas) > MAX_SERIES_FILES:
        raise DataError(f"{len(datas)} files in one upload; at most {MAX_SERIES_FILES} (the files of one DICOM series).")
    if any(sniff(d) != "dicom" for d in datas):
        raise UnsupportedUpload("several files are accepted only as the files of one DICOM series (with the DICM "
                                "preamble); upload other files one at a time.")
    folder = workdir / "series"
    folder.mkdir()
    for i, data in enumerate(datas):
        (folder / f"upload_{i:04d}.dcm").write_bytes(data)
    return folder


def unzip_upload(data: bytes) -> tuple[list[str], list[bytes]]:
    """The files of an uploaded ZIP archive that are of a supported type: ``(names, bytes)`` in the archive's order
    (names: the members' base names, for slice numbers and messages only). Call inside
    ``limits.using(limits.UPLOADS)``.

    Raises:
        UnsupportedUpload: no member of a supported type, or an archive inside the archive (HTTP 415).
        DataError: a corrupt or encrypted archive, more than :data:`MAX_SERIES_FILES` members; LimitExceeded: its
            members declare more than the limits allow (HTTP 413).
    """
    from tumorseg.data.archive import is_zip_bytes, read_members

    found = read_members(data, "the ZIP archive", MAX_SERIES_FILES)
    kept = [(name, d) for name, d in found if sniff(d) is not None]
    if not kept:
        nested = any(is_zip_bytes(d) for _, d in found)
        what = "only other archives; upload one of them" if nested else f"no supported file. Supported: {SUPPORTED}"
        raise UnsupportedUpload(f"the ZIP archive holds {what}")
    return [name for name, _ in kept], [d for _, d in kept]


class SeveralSeries(DataError):
    """The uploaded files hold several image series (HTTP 400 with ``series``: the choices, for the page to offer)."""

    def __init__(self, message: str, series: list[dict]):
        super().__init__(message)
        self.series = series


def pick_dicom(path: Path, series: int | None = None) -> Path | DicomSeries:
    """What to read of a DICOM upload (:func:`write_dicom_upload`): the file, the folder's only image series, or
    its ``series``-th (0-based, in the order :func:`~tumorseg.data.formats.dicom.list_series` gives: by
    SeriesNumber). Files that are no images (reports, SEG) and localizers are left out.

    Raises:
        SeveralSeries: several image series and no ``series`` (lists them: index, number, description, files).
        DataError: ``series`` out of range; or over the limits, unreadable.
    """
    if not path.is_dir():
        return path
    # the whole upload's datasets, deflated ones counted inflated, within the cap before any header is parsed:
    # a thousand small deflate bombs cost at most the cap in inflating work, not a thousand times it
    check_series_bytes(sorted(path.iterdir()), "the upload")
    found = list_series(path)
    if len(found) == 1 and series in (None, 0):
        return found[0]  # named as the folder, so read as it would be; its headers are not read a second time
    if series is None:
        listed = "; ".join(f"{s.description or 'no description'}: {len(s.files)} files" for s in found[:6])
        raise SeveralSeries(
            f"the files hold {len(found)} DICOM series ({listed}); choose one (form field 'series', 0-based) or "
            "upload the files of one series at a time.",
            [{"index": i, "number": s.number, "description": s.description, "files": len(s.files)}
             for i, s in enumerate(found)])
    if not 0 <= series < len(found):
        raise DataError(f"series {series} does not exist: the files hold {len(found)} series (0 to {len(found) - 1}).")
    return found[series]


def decode_dicom(source: Path | DicomSeries, predictor) -> Decoded:
    """A DICOM upload (:func:`pick_dicom`'s choice) as model input: a file's frames, or a series' slices in
    geometric order.

    Raises:
        DataError: unreadable, or over the limits.
    """
    array, props = DicomIO().read(source)  # (frames or slices, rows, cols) uint8, one scale for all of them
    slices = list(array)
    one_file = isinstance(source, Path) and not source.is_dir()
    for s in slices:
        predictor.check_channels(s, "the DICOM file" if one_file else "the DICOM series")
    return Decoded("dicom", slices, props)


def _decode_nifti(path: Path, predictor, volume: int | None = None) -> Decoded:
    # read once: not kept in the cache; of a 4-D file only `volume`'s voxels are decoded
    return _decode_volume(path, "nifti", NiftiIO(cache=False, volume=volume), predictor)


def _decode_volume(path: Path, kind: str, reader, predictor) -> Decoded:
    """A volume file upload (NIfTI, NRRD, MetaImage, TIFF stack) as its ``(Z, X, Y)`` slices (a TIFF stack's
    ``(Z, H, W)``), for one-channel models."""
    if predictor.slice_channels != 1:
        raise DataError(f"the model needs {predictor.in_channels} modalities; upload one-channel models' volumes "
                        "only (multi-modality cases: use 'tumorseg predict CASE_FOLDER').")
    array, props = reader.read(path)  # (Z, X, Y) uint8
    return Decoded(kind, list(array), props)


def private_workdir() -> tempfile.TemporaryDirectory:
    """A temporary folder only this user can read (``mkdtemp`` creates it with mode 0700)."""
    return tempfile.TemporaryDirectory(prefix="tumorseg-upload-")


__all__ = ["Decoded", "MAX_SERIES_FILES", "MAX_VOLUMES", "SUPPORTED", "VOLUME_KINDS", "SeveralSeries", "SeveralVolumes", "StackedVolume",
           "UnsupportedUpload", "decode", "decode_dicom", "pick_dicom", "pick_volume", "private_workdir", "sniff",
           "write_dicom_upload"]
