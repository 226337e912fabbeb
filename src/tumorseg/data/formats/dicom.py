"""DICOM reading: single files, one-series folders and the series of a study folder, with geometry (the RAS affine).

A folder may hold several series (a study exported from a PACS: T1, T1 post-contrast, FLAIR...) and objects
that are no images (structured reports, presentation states, segmentations): :func:`list_series` groups its
files by SeriesInstanceUID from their headers alone and leaves the non-images and localizers out; each
:class:`DicomSeries` is then read on its own (:func:`read_dicom_series`).

Reading a DICOM input for prediction, and writing its masks (PNG per slice, NIfTI mask volume,
DICOM SEG), is :class:`tumorseg.io.DicomIO`, built on these functions; ``tumorseg predict`` and the
web page both read through it. Needs ``pydicom`` (the ``formats`` extra).
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from tumorseg import limits
from tumorseg.data.formats._common import require
from tumorseg.errors import DataError, why

log = logging.getLogger(__name__)


DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")  # .IMA: Siemens exports


def is_dicom_file(p: Path) -> bool:
    """A ``.dcm``/``.dicom``/``.ima`` file, or a file without suffix or with a numeric one (exports name files
    ``IM000123`` or after their UID, ``1.2.840.113619.2.55.3.604688119``) that has the DICOM preamble (``DICM`` at
    byte 128); never a ``DICOMDIR`` (the index of a CD/PACS export: no image, and its folder is not a series)."""
    if p.name.upper() == "DICOMDIR":
        return False
    if p.suffix.lower() in DICOM_SUFFIXES:
        return True
    if p.suffix and not p.suffix[1:].isdigit():
        return False
    try:
        with open(p, "rb") as f:
            return f.read(132)[128:] == b"DICM"
    except OSError:
        return False


DEFLATED = "1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian: the whole dataset is zlib-deflated


def check_pixel_header(ds, where: Path) -> None:
    """Refuse pixel data whose header (Rows, Columns, NumberOfFrames, SamplesPerPixel, BitsAllocated)
    declares more than :mod:`tumorseg.limits` allows, before anything is decoded (an RLE- or
    JPEG-compressed frame of a few bytes may declare 12000×12000).

    Raises:
        DataError: no pixel data, or over the limits.
    """
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
        bits = int(getattr(ds, "BitsAllocated", 16) or 16)
    except (AttributeError, TypeError, ValueError):
        raise DataError(f"{where}: the DICOM file has no usable image (Rows/Columns missing).") from None
    limits.check_slice(rows, cols, str(where))
    limits.check_slices(frames, str(where))
    limits.check_volume((frames, rows, cols, samples), max(1, -(-bits // 8)), str(where))


def _decode(ds):
    try:
        from pydicom.pixels import pixel_array  # pydicom >= 3: not cached on the dataset
    except ImportError:  # pragma: no cover - pydicom 2
        return ds.pixel_array
    # never more frames than NumberOfFrames declares (checked against the limits): pixel data longer than its header
    # says would otherwise be decoded as extra frames
    return pixel_array(ds, allow_excess_frames=False)


def _decoder_hint(ds) -> str:
    """What to do about pixel data that would not decode: install the decoders when none is installed for the file's
    transfer syntax, else the file itself is damaged."""
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        from pydicom.pixels import get_decoder

        available = ts is None or get_decoder(ts).is_available
    except Exception:  # pydicom 2, or a transfer syntax pydicom has no decoder for at all
        available = False
    if available:
        return "The pixel data looks damaged; export the series again."
    return (f"Its transfer syntax ({getattr(ts, 'name', ts)}) needs a decoder: pip install 'tumorseg[formats]' "
            "(pylibjpeg with its libjpeg and openjpeg plugins).")


def dicom_pixels(ds, where: Path) -> np.ndarray:
    """Pixel data of a read dataset as ``float32`` with RescaleSlope/Intercept applied: ``(rows, cols)``, or
    ``(frames, rows, cols)`` for a multi-frame file.

    The header is checked first (:func:`check_pixel_header`); the stored
    integers are converted once and rescaled in place (peak: stored + 4 bytes
    per pixel).

    Raises:
        DataError: over the limits, or the pixel data cannot be decoded (compressed without a decoder
            installed, or missing).
    """
    check_pixel_header(ds, where)
    try:
        arr = _decode(ds).astype(np.float32)
    except Exception as exc:  # pydicom raises many types for missing/compressed pixel data
        raise DataError(f"{where}: cannot decode DICOM pixel data ({why(exc)}). {_decoder_hint(ds)}") from None
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if arr.size != frames * int(ds.Rows) * int(ds.Columns) * int(getattr(ds, "SamplesPerPixel", 1) or 1):
        raise DataError(f"{where}: the DICOM pixel data ({arr.shape}) does not match its header ({frames} frame(s) of "
                        f"{int(ds.Rows)}×{int(ds.Columns)}); the file is damaged.")
    slope, intercept = rescale(ds, frames)
    if arr.ndim == 3 and len(arr) == frames:  # per frame: (frames, 1, 1) broadcast over each frame's pixels
        slope, intercept = slope[:, None, None], intercept[:, None, None]
    else:
        slope, intercept = slope[0], intercept[0]
    arr *= slope  # in place: the same float32 arithmetic as arr * slope + intercept
    arr += intercept
    return arr


def rescale(ds, frames: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(slope, intercept)``, each ``(frames,) float32``: RescaleSlope/Intercept of a classic file (the same for
    every frame), else of an enhanced multi-frame file's Pixel Value Transformation functional group, per frame
    where each frame has its own (Philips stores a scale per frame, and it may differ between frames), else shared.
    Missing values are slope 1 and intercept 0 (also a slope of 0, which no image means)."""

    def values(holders) -> tuple[np.ndarray, np.ndarray]:
        slope = [float(getattr(h, "RescaleSlope", 1) or 1) for h in holders]
        intercept = [float(getattr(h, "RescaleIntercept", 0) or 0) for h in holders]
        return np.array(slope, np.float32), np.array(intercept, np.float32)

    def broadcast(pair) -> tuple[np.ndarray, np.ndarray]:
        return tuple(np.broadcast_to(v, (frames,)).astype(np.float32) for v in pair)

    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        return broadcast(values([ds]))
    per_frame = getattr(ds, "PerFrameFunctionalGroupsSequence", None) or []
    own = [f.PixelValueTransformationSequence[0] for f in per_frame
           if "PixelValueTransformationSequence" in f and len(f.PixelValueTransformationSequence)]
    if own and len(own) == len(per_frame) == frames:
        return values(own)
    shared = _frame_group(ds, "PixelValueTransformationSequence")
    return broadcast(values([shared if shared is not None else ds]))


def _check_deflate(path: Path, pydicom) -> int:
    """A deflated dataset is inflated whole by pydicom: count its inflated size first, in bounded chunks.
    Returns that size (0 for a file that is not deflated)."""
    from pydicom.filereader import _read_file_meta_info

    with open(path, "rb") as fp:
        if fp.read(132)[128:] != b"DICM":
            return 0  # dcmread refuses it anyway
        meta = _read_file_meta_info(fp)
        if str(meta.get("TransferSyntaxUID", "")) == DEFLATED:
            return limits.inflate(fp, None, str(path), -zlib.MAX_WBITS)
    return 0


def check_series_bytes(files: tuple[Path, ...] | list[Path], where: str) -> int:
    """Refuse a series whose files, read as datasets, would hold more than ``limits.max_decoded_bytes`` in all
    (each file counts its size, a deflated one its inflated size, counted in bounded chunks): every file of a series
    is kept in memory while its volume is built, so a thousand files each under the per-file cap must not add up
    to gigabytes. Returns the bytes counted.

    Raises:
        LimitExceeded: over the cap (one line naming the series and the fix).
    """
    pydicom = require("pydicom", "reading DICOM")
    cap, total = limits.current().max_decoded_bytes, 0
    for p in files:
        try:
            total += max(p.stat().st_size, _check_deflate(p, pydicom))
        except (DataError, OSError):
            raise
        except Exception:  # a file whose meta cannot be read is counted by its size; dcmread reports it
            total += p.stat().st_size
        if total > cap:
            raise limits.LimitExceeded(
                f"{where}: its {len(files)} DICOM files take more than {cap >> 20} MiB once read; at most "
                f"{cap >> 20} MiB per series are accepted; {limits.current().fix}.")
    return total


def read_dicom(path: Path, pixels: bool = True):
    """One DICOM file as a pydicom ``Dataset`` (pixel data not yet decoded; see :func:`dicom_pixels`);
    ``pixels=False`` reads the header only (stops before the pixel data).

    A deflate-compressed dataset is refused when it would inflate beyond
    ``limits.max_decoded_bytes`` (measured while streaming, before pydicom inflates it).

    Raises:
        DataError: not a readable DICOM file, or a deflate bomb.
    """
    pydicom = require("pydicom", "reading DICOM")
    try:
        _check_deflate(path, pydicom)
        return pydicom.dcmread(str(path), stop_before_pixels=not pixels)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: not a readable DICOM file ({exc.__class__.__name__}).") from None


TREE_DEPTH = 6  # folder levels searched below an input for DICOM (a CD/PACS export: patient/study/series/...)
TREE_FOLDERS = 10_000  # folders looked at below one input, at most


def folders_below(root: Path, enter=None) -> list[Path]:
    """The sub-folders of ``root``, level by level in name order, down to :data:`TREE_DEPTH` levels, at most
    :data:`TREE_FOLDERS` of them (a warning past that). ``enter(folder)`` false: the folder is listed but not
    searched (a series folder holds no series below it)."""
    found, level = [], [root]
    for _ in range(TREE_DEPTH):
        below = []
        for folder in level:
            for d in sorted(p for p in folder.iterdir() if p.is_dir()):
                if len(found) == TREE_FOLDERS:
                    log.warning("%s: more than %d folders; those beyond are not searched", root, TREE_FOLDERS)
                    return found
                found.append(d)
                if enter is None or enter(d):
                    below.append(d)
        if not below:
            break
        level = below
    return found


# Objects that share a study folder with the images but are not images to predict (their Modality).
NOT_IMAGES = frozenset({"SEG", "SR", "PR", "KO", "RTSTRUCT", "RTPLAN", "REG", "DOC"})


def is_image_header(ds) -> bool:
    """Whether a DICOM header describes an image (rows and columns, and not one of :data:`NOT_IMAGES`)."""
    modality = str(getattr(ds, "Modality", "") or "").upper()
    return getattr(ds, "Rows", None) is not None and getattr(ds, "Columns", None) is not None and \
        modality not in NOT_IMAGES


def holds_dicom_images(folder: Path) -> bool:
    """Whether ``folder`` (non-recursive) holds a DICOM image, headers read until the first one: a folder of
    labels or reports only (a SEG or RTSTRUCT beside the series folder it labels) is not a series. A file whose
    header cannot be read counts as an image (reading the series reports it)."""
    for p in sorted(p for p in folder.iterdir() if p.is_file() and is_dicom_file(p)):
        try:
            if is_image_header(read_dicom(p, pixels=False)):
                return True
        except Exception as exc:  # unreadable, or a damaged header value (parsed only when read)
            if isinstance(exc, DataError) or header_error(exc, p) is not None:
                return True
            raise
    return False


@dataclass(frozen=True)
class DicomSeries:
    """One image series among the DICOM files of ``folder``: what ``tumorseg predict`` gets for each series of a
    study folder (:func:`list_series`).

    Attributes:
        folder: the folder holding the files.
        uid: SeriesInstanceUID (``None`` when the files give none).
        files: the series' files, in name order (:func:`read_dicom_series` sorts them by geometry).
        description: SeriesDescription (else ProtocolName), stripped; may be empty.
        number: SeriesNumber, when given.
        name: what outputs are named after: the folder's name for the only series of a folder, else
            ``<folder>_s<number>_<description>`` (lower case, ``[a-z0-9-]``; ``_e<echo>`` added for one echo of a
            multi-echo series), unique within the folder.
        echo: EchoNumbers, when a series holds several echoes (each echo is then its own ``DicomSeries``: one image
            per slice position), else ``None``.
    """

    folder: Path
    uid: str | None
    files: tuple[Path, ...]
    description: str = ""
    number: int | None = None
    name: str = ""
    echo: int | None = None

    @property
    def parent(self) -> Path:
        return self.folder

    @property
    def stem(self) -> str:
        return self.name

    def __str__(self) -> str:  # error messages and failed.csv name the folder and the series
        what = f"series {self.number}" if self.number is not None else "series"
        echo = f" echo {self.echo}" if self.echo is not None else ""
        return f"{self.folder} [{what}{f' {self.description!r}' if self.description else ''}{echo}]"


def _echo(ds) -> int | None:
    """EchoNumbers of an image (a dual-echo PD/T2 series holds two images per position), else ``None``."""
    from pydicom.multival import MultiValue  # only reached with pydicom datasets

    value = getattr(ds, "EchoNumbers", None)
    try:
        return None if value is None else int(value[0] if isinstance(value, MultiValue) else value)
    except (TypeError, ValueError, IndexError):
        return None


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")


def list_series(folder: Path, base: str | None = None, headers: list[tuple[Path, object]] | None = None
                ) -> list[DicomSeries]:
    """The image series among the DICOM files of ``folder`` (non-recursive), by SeriesNumber, from the headers
    alone (no pixel data is read; ``headers``: ``(file, header)`` of every DICOM file of the folder when the caller
    has read them already). Their names (:attr:`DicomSeries.name`) start with ``base`` (default: the folder's
    name).

    Left out, with one log line saying how many: objects that are no images (no Rows/Columns, or a Modality in
    :data:`NOT_IMAGES`: a DICOM SEG, report, presentation state...) and localizer (scout) series (ImageType
    ``LOCALIZER``), which are not meant for diagnosis.

    The headers of an unchanged folder are read once per process (:func:`_list_series_cached`).

    Raises:
        DataError: no DICOM files, or none of them is an image (one line naming the folder).
    """
    if headers is None:
        return list(_list_series_cached(folder, base, folder_signature(folder)))
    return _group_series(folder, base, headers)


def folder_signature(folder: Path) -> tuple:
    """What identifies the current contents of ``folder`` (non-recursive): each file's name, size, inode and
    modification time, from ``stat`` alone (no file is opened). Caches keyed by it see an edited, added, removed
    or replaced file as a new folder."""
    stats = []
    for p in folder.iterdir():
        try:
            st = p.stat()
        except OSError:
            continue
        stats.append((p.name, st.st_size, st.st_ino, st.st_mtime_ns))
    return tuple(sorted(stats))


@lru_cache(maxsize=32)
def _list_series_cached(folder: Path, base: str | None, signature: tuple) -> tuple[DicomSeries, ...]:
    """:func:`list_series` of an unchanged folder, read once: listing a study folder, choosing its model and
    reading each series all need the grouping, and a header read per file per step is what a PACS export of
    thousands of files cannot afford (``signature``: :func:`folder_signature`, so a changed folder is read again;
    errors are not cached)."""
    headers = [(p, read_dicom(p, pixels=False))
               for p in sorted(p for p in folder.iterdir() if p.is_file() and is_dicom_file(p))]
    return tuple(_group_series(folder, base, headers))


# what pydicom raises on a damaged header value when it is read (besides its own errors, e.g. BytesLengthException)
_DAMAGED_HEADER = (ValueError, TypeError, KeyError, IndexError, NotImplementedError, EOFError)


def header_error(exc: Exception, where: object) -> DataError | None:
    """The one-line :class:`DataError` naming ``where`` when ``exc`` is what pydicom raises on a damaged header value
    (values are parsed only when read: a PixelSpacing of ``0.8P00``, an unknown value representation, a wrong
    length), else ``None`` (not ours to rename: raise it as it is)."""
    ours = isinstance(exc, _DAMAGED_HEADER) or type(exc).__module__.startswith("pydicom")
    if isinstance(exc, DataError) or not ours:
        return None
    return DataError(f"{where}: a damaged DICOM header ({why(exc, 120)}); export the file or series again.")


def _group_series(folder: Path, base: str | None, headers: list[tuple[Path, object]]) -> list[DicomSeries]:
    if not headers:
        raise DataError(f"{folder}: no DICOM files (*.dcm).")
    groups: dict[object, list[tuple[Path, object]]] = {}
    skipped: dict[str, int] = {}
    for p, ds in headers:
        try:
            modality = str(getattr(ds, "Modality", "") or "").upper()
            if not is_image_header(ds):
                kind = f"{modality or 'non-image'} object"
            elif any("LOCALIZER" in str(t).upper() for t in (getattr(ds, "ImageType", None) or [])):
                kind = "localizer image"
            else:
                groups.setdefault(getattr(ds, "SeriesInstanceUID", None), []).append((p, ds))
                continue
        except Exception as exc:  # a damaged file fails its series (one line), never the whole run
            if (error := header_error(exc, p)) is None:
                raise
            raise error from None
        skipped[kind] = skipped.get(kind, 0) + 1
    if skipped:
        log.info("%s: left out %s (not images to predict)", folder,
                 ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in skipped.items()))
    if not groups:
        raise DataError(f"{folder}: none of its {len(headers)} DICOM files is an image to predict "
                        f"({', '.join(skipped)}); give a folder holding an MR series.")
    series = []
    for uid, members in groups.items():
        first = members[0][1]
        desc = str(getattr(first, "SeriesDescription", "") or getattr(first, "ProtocolName", "") or "").strip()
        try:
            number = int(getattr(first, "SeriesNumber", None))
        except (TypeError, ValueError):
            number = None
        echoes: dict[int | None, list[Path]] = {}
        for p, ds in members:
            echoes.setdefault(_echo(ds), []).append(p)
        if len(echoes) == 1:  # the usual case: one image per position
            echoes = {None: [p for p, _ in members]}
        for echo, paths in sorted(echoes.items(), key=lambda e: (e[0] is None, e[0] or 0)):
            series.append(DicomSeries(folder, None if uid is None else str(uid), tuple(paths), desc, number, echo=echo))
    series.sort(key=lambda s: (s.number is None, s.number or 0, s.description, s.echo or 0))
    base = folder.name if base is None else base
    if len(series) == 1:
        return [replace(series[0], name=base)]
    named, seen = [], set()
    for i, s in enumerate(series, 1):
        stem = "_".join(x for x in (base, f"s{s.number if s.number is not None else i}", _slug(s.description),
                                     f"e{s.echo}" if s.echo is not None else "") if x)
        name, k = stem, 2
        while name in seen:
            name, k = f"{stem}-{k}", k + 1
        seen.add(name)
        named.append(replace(s, name=name))
    return named


def read_dicom_series(folder: Path, series: DicomSeries | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """One series as raw ``(Z, rows, cols) float32`` (slope/intercept applied), its RAS affine, and datasets.

    ``series``: one of :func:`list_series` (``folder`` then only names it); without it the folder must hold
    exactly one image series (non-images and localizers are left out, as :func:`list_series` does).

    Raises:
        DataError: no DICOM images, several series in the folder (without ``series``), or slices of different
            sizes; one line naming the folder (and the series).
    """
    if series is None:
        found = list_series(folder)
        if len(found) > 1:
            listed = "; ".join(f"{s.description or 'no description'}: {len(s.files)} file{'s' if len(s.files) > 1 else ''}"
                               for s in found[:6])
            more = "; ..." if len(found) > 6 else ""
            raise DataError(f"{folder}: holds {len(found)} DICOM series ({listed}{more}); `tumorseg predict` on the "
                            "folder predicts each one, or put each series in its own folder.")
        series = found[0]
    where = str(series) if series.name != folder.name else str(folder)
    check_series_bytes(series.files, where)  # every dataset is held until the volume is built
    dss = [read_dicom(p) for p in series.files]
    frames = [int(getattr(d, "NumberOfFrames", 1) or 1) for d in dss]
    if max(frames) > 1:  # one multi-frame file is read as such (tumorseg.io.dicom); several cannot be one volume
        raise DataError(f"{where}: holds {sum(f > 1 for f in frames)} multi-frame files among its {len(dss)} files; "
                        "tumorseg reads a series as one image per file, or one multi-frame file: give each "
                        "multi-frame file on its own.")
    iop = getattr(dss[0], "ImageOrientationPatient", None)
    if iop is not None and all(getattr(d, "ImagePositionPatient", None) is not None for d in dss):
        _check_one_orientation(dss, where)
        normal = np.cross(np.array(iop[:3], float), np.array(iop[3:], float))
        along = [float(np.dot(normal, np.array(d.ImagePositionPatient, float))) for d in dss]
        order = np.argsort(along)
        positions = len(set(np.round(along, 2)))
        if positions < len(dss):
            raise DataError(f"{where}: {len(dss)} images at only {positions} slice positions (several images per "
                            "position: diffusion directions, repeats or time points); tumorseg reads one image per "
                            "position: export the acquisition to predict as its own series.")
        _warn_uneven(np.sort(along), where)
    else:
        order = np.argsort([int(getattr(d, "InstanceNumber", i)) for i, d in enumerate(dss)])
    dss = [dss[i] for i in order]
    sizes = {(int(getattr(d, "Rows", 0)), int(getattr(d, "Columns", 0))) for d in dss}
    if len(sizes) > 1:
        raise DataError(f"{where}: slices differ in size; not one series.")
    limits.check_slices(len(dss), where)
    limits.check_volume((len(dss), *sizes.pop()), 4, where)  # the float32 volume, before decoding
    volume = None
    for i, d in enumerate(dss):
        pixels = dicom_pixels(d, Path(where))
        if volume is None:
            volume = np.empty((len(dss), *pixels.shape), np.float32)
        if pixels.shape != volume.shape[1:]:
            raise DataError(f"{where}: slices differ in size; not one series.")
        volume[i] = pixels
    return volume, dicom_affine(dss), dss


def _check_one_orientation(dss: list, where: str) -> None:
    """Refuse a series whose images are not parallel (a localizer or a mix of planes under one series UID)."""
    iops = np.array([[float(v) for v in getattr(d, "ImageOrientationPatient", [0] * 6)] for d in dss])
    if np.abs(iops - iops[0]).max() > 1e-3:
        planes = len({tuple(np.round(r, 3)) for r in iops})
        raise DataError(f"{where}: its images lie in {planes} different orientations (a localizer, or several planes "
                        "under one series); tumorseg reads a stack of parallel slices: export one plane as its own "
                        "series.")


def _warn_uneven(along: np.ndarray, where: str) -> None:
    """Warn when sorted slice positions are not evenly spaced (a missing slice): the mask's affine and the tumour
    volume in mL assume even spacing."""
    if len(along) < 3:
        return
    gaps = np.diff(along)
    if gaps.max() - gaps.min() > max(0.05, 0.1 * float(np.median(gaps))):
        log.warning("%s: slices are not evenly spaced (%.2f to %.2f mm apart; a slice may be missing); the NIfTI "
                    "mask's geometry and the volume in mL assume %.2f mm", where, gaps.min(), gaps.max(),
                    (along[-1] - along[0]) / (len(along) - 1))


def dicom_affine(dss: list) -> np.ndarray:
    """RAS affine of a NIfTI array ``(cols, rows, slices)`` built from sorted DICOM slices (identity-ish fallback)."""
    first = dss[0]
    iop = np.array(getattr(first, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), float)
    row_sp, col_sp = (float(v) for v in getattr(first, "PixelSpacing", [1, 1]))
    origin = np.array(getattr(first, "ImagePositionPatient", [0, 0, 0]), float)
    normal = np.cross(iop[:3], iop[3:])
    if len(dss) > 1 and getattr(dss[-1], "ImagePositionPatient", None) is not None:
        step = (np.array(dss[-1].ImagePositionPatient, float) - origin) / (len(dss) - 1)
    else:
        step = normal * float(getattr(first, "SpacingBetweenSlices", getattr(first, "SliceThickness", 1)) or 1)
    return _ras_affine(iop, row_sp, col_sp, step, origin)


def _ras_affine(iop: np.ndarray, row_sp: float, col_sp: float, step: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """RAS affine of a ``(cols, rows, slices)`` array from DICOM geometry: ImageOrientationPatient ``iop``, pixel
    spacing, the ``step`` between slices and the first slice's position ``origin`` (LPS mm)."""
    lps = np.eye(4)
    lps[:3, 0] = iop[:3] * col_sp  # array axis 0 = DICOM column index, along the row direction
    lps[:3, 1] = iop[3:] * row_sp
    lps[:3, 2] = step
    lps[:3, 3] = origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # DICOM LPS -> NIfTI RAS


def multiframe_affine(ds, where: str) -> np.ndarray | None:
    """RAS affine of an enhanced multi-frame file's ``(cols, rows, frames)`` array (frames as stored), from its
    functional groups: one orientation (shared, or the same in every frame), the pixel spacing, and a position per
    frame (``PlanePositionSequence``). ``None`` (frames then read as stored, without geometry) when any is missing,
    or when the frames are not one stack in order of position — ascending or descending along the normal, each
    position once (several echoes or time points per position, two interleaved stacks, frames shuffled): logged with
    the reason and the fix."""
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    groups = getattr(ds, "PerFrameFunctionalGroupsSequence", None)
    iop, spacing = dicom_orientation(ds), dicom_spacing(ds)
    if frames < 2 or not groups or len(groups) != frames or iop is None or spacing is None:
        return None
    positions, orientations = [], set()
    for item in groups:
        plane = item.get("PlanePositionSequence")
        if not plane or getattr(plane[0], "ImagePositionPatient", None) is None:
            return None
        positions.append([float(v) for v in plane[0].ImagePositionPatient])
        own = item.get("PlaneOrientationSequence")
        if own and getattr(own[0], "ImageOrientationPatient", None) is not None:
            orientations.add(tuple(round(float(v), 3) for v in own[0].ImageOrientationPatient))
    iop_array = np.array(iop, float)
    if len(orientations) > 1:
        log.warning("%s: its %d frames lie in %d orientations (a localizer or several planes in one file); read as "
                    "stored frames, without geometry (no NIfTI mask, no axial re-slicing)", where, frames,
                    len(orientations))
        return None
    pos = np.array(positions)
    along = pos @ np.cross(iop_array[:3], iop_array[3:])
    gaps = np.diff(along)
    if not (np.all(gaps > 1e-3) or np.all(gaps < -1e-3)):
        log.warning("%s: its %d frames are not one stack of slices in order of position (%d distinct positions: "
                    "several echoes or time points, or interleaved stacks); read as stored frames, without geometry "
                    "(no NIfTI mask, no axial re-slicing): export one stack per file to get them", where, frames,
                    len(set(np.round(along, 2))))
        return None
    _warn_uneven(np.sort(along), where)
    step = (pos[-1] - pos[0]) / (frames - 1)
    return _ras_affine(iop_array, spacing[0], spacing[1], step, pos[0])


def _frame_group(ds, sequence: str):
    """The first item of ``sequence`` in the shared (else first per-frame) functional groups of a multi-frame file."""
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        items = getattr(ds, groups, None)
        if items and sequence in items[0] and len(items[0][sequence].value):
            return items[0][sequence].value[0]
    return None


def inversion_echo_times(ds) -> tuple[float | None, float | None]:
    """``(InversionTime, EchoTime)`` in ms of one file: the classic attributes, else an enhanced multi-frame file's
    functional groups (MR Modifier's first InversionTimes value, MR Echo's EffectiveEchoTime); ``None`` where not
    given or not a number."""

    def number(holder, key: str) -> float | None:
        try:  # pydicom parses a value when it is read: a damaged one raises here, and is no time
            value = getattr(holder, key, None) if holder is not None else None
            if value is not None and not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
                value = value[0] if len(value) else None  # InversionTimes is multi-valued
            return float(value) if value not in (None, "") else None
        except Exception:  # noqa: BLE001 - any parse error of a damaged header: the time is unknown
            return None

    ti = number(ds, "InversionTime")
    if ti is None:
        ti = number(_frame_group(ds, "MRModifierSequence"), "InversionTimes")
    te = number(ds, "EchoTime")
    if te is None:
        te = number(_frame_group(ds, "MREchoSequence"), "EffectiveEchoTime")
    return ti, te


def dicom_orientation(ds) -> list[float] | None:
    """ImageOrientationPatient of a file (classic, or an enhanced multi-frame's functional groups), or ``None``."""
    iop = getattr(ds, "ImageOrientationPatient", None)
    if iop is None:
        item = _frame_group(ds, "PlaneOrientationSequence")
        iop = getattr(item, "ImageOrientationPatient", None) if item is not None else None
    return [float(v) for v in iop] if iop is not None and len(iop) == 6 else None


def dicom_spacing(ds) -> tuple[float, float, float | None] | None:
    """``(row, column, slice)`` spacing in mm of one file: PixelSpacing and SpacingBetweenSlices (else
    SliceThickness; ``None`` when neither is given), from the classic attributes or the functional groups.

    ``None`` when the file gives no PixelSpacing.
    """
    holder = ds if getattr(ds, "PixelSpacing", None) is not None else _frame_group(ds, "PixelMeasuresSequence")
    spacing = getattr(holder, "PixelSpacing", None) if holder is not None else None
    if spacing is None or len(spacing) != 2:
        return None
    step = getattr(holder, "SpacingBetweenSlices", None) or getattr(holder, "SliceThickness", None)
    return float(spacing[0]), float(spacing[1]), (float(step) if step else None)
