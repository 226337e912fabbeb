"""BraTS-style NIfTI volumes: one folder per case, trained on as 2-D axial slices.

NRRD and MetaImage files (``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``; 3D Slicer, ITK-SNAP) are read wherever NIfTI
files are — case folders, labels, :func:`read_volume` — through SimpleITK (:mod:`tumorseg.data.formats.itk`, the
``itk`` extra), with the same slices and scaling as the same voxels in a NIfTI file: a case folder
``case/scan.nrrd`` + ``case/scan-label.nrrd`` (3D Slicer's label map naming) is read with ``--image-glob
'scan*'`` or without any glob when the image file's name holds the modality.

Naming understood (per case folder ``DIR/<case>/``, or ``DIR`` itself being one case):

* current BraTS: ``<case>-t2f|-t1n|-t1c|-t2w.nii.gz`` + ``<case>-seg.nii.gz`` (labels 0, 1, 2, 3)
* older BraTS:   ``<case>_flair|_t1|_t1ce|_t2.nii.gz`` + ``<case>_seg.nii.gz`` (labels 0, 1, 2, 4)
* BIDS (``anat/`` folders): ``sub-01[_ses-x]..._FLAIR``, ``..._ce-<agent>_T1w`` (t1c), ``..._T1w``, ``..._T2w``
  (:mod:`tumorseg.data.formats.bids`); no label
* anything else: ``image_glob``/``label_glob`` (e.g. ``Flair_*.nii.gz`` and
  ``OTMultiClass.nii.gz``, the DeepMedic layout); without them a file whose
  name contains the modality (``flair``) and one named ``*seg*``/``OT*``/``*label*``.

Slices are axial: taken along the third array axis (axial in BraTS), except that a near-isotropic volume
stored as sagittal or coronal slices is read as axial slices by reordering its axes, exactly as ``predict``
reads it (:func:`tumorseg.data.formats.orientation.slice_axes`; the record's ``axes`` option, absent for the
stored layout); a thick-slice sagittal/coronal volume stays in its stored plane, with a warning. Each volume is
scaled to ``uint8`` by its 0.5–99.5 percentiles over the foreground (the
brain: voxels other than the background, which is 0 for ``int16`` BraTS and
the constant minimum for z-scored ``*_subtrMeanDivStd`` files); background
stays 0 (:mod:`tumorseg.data.formats.scaling`). Target = whole tumour (any label > 0) unless
``labels`` picks a set (e.g. ``"1,4"``). Every tumour slice is kept, plus
``empty_fraction`` of the tumour-free slices that contain brain (chosen with a
seed derived from the case name, so reading is deterministic). Label values
outside the naming's set raise. Patient = case (without the ``-000``
time-point suffix of the current naming).
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import re
import logging
import time
import zlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from tumorseg import limits
from tumorseg.data.formats import bids, decathlon, itk
from tumorseg.data.formats._common import Loaded, finite_range, natural_key, parse_int_set, require
from tumorseg.data.formats.orientation import STORED_AXES, display_ornt, slice_axes
from tumorseg.data.formats.scaling import volume_to_uint8
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError, why

log = logging.getLogger(__name__)

NORMALISATION = "per-volume 0.5-99.5 percentile of the foreground (background: 0 or the minimum) -> 0..255"
MODALITIES = ("flair", "t1", "t1c", "t2")
NEW = {"flair": "t2f", "t1": "t1n", "t1c": "t1c", "t2": "t2w"}
OLD = {"flair": "flair", "t1": "t1", "t1c": "t1ce", "t2": "t2"}
EXPECTED_LABELS = {"new": {0, 1, 2, 3}, "old": {0, 1, 2, 4}, "generic": {0, 1, 2, 3, 4},
                   "bids": {0, 1, 2, 3, 4}}
LABEL_HINTS = ("*seg*", "OT*", "*label*", "*truth*", "*mask*")  # names of label files (fnmatch)


def is_nifti(p: Path) -> bool:
    return p.name.lower().endswith((".nii", ".nii.gz"))


def is_volume(p: Path) -> bool:
    """A NIfTI, NRRD or MetaImage file, by its name."""
    return is_nifti(p) or itk.is_itk_volume(p)


def nifti_stem(p: Path) -> str:
    """``case-t2f.nii.gz`` -> ``case-t2f`` (and ``scan.nrrd`` -> ``scan``)."""
    name = p.name
    if itk.is_itk_volume(p):
        return p.stem
    return name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else name[: -len(".nii")]


# a modality named in a volume's file name (BraTS new / old naming, DeepMedic's Flair_*, T1c_*), normalised
_MODALITY_TAG = re.compile(r"(?:^|[-_.])(t1|t1n|t1c|t1ce|t1gd|t2|t2w|t2f|flair)(?=[-_.]|$)", re.I)
_SAME_MODALITY = {"t1n": "t1", "t1ce": "t1c", "t1gd": "t1c", "t2w": "t2", "t2f": "flair"}


def is_label_name(p: Path) -> bool:
    """Named as a label volume (:data:`LABEL_HINTS`: ``*seg*``, ``OT*``, ``*label*``, ``*truth*``, ``*mask*``; the
    BraTS 2013 ``OT`` only in capitals, so that ``other.nii.gz`` is a scan; also its original
    ``VSD.Brain_3more.XX.O.OT.54517.mha``)."""
    return ".OT." in p.name or any(fnmatch.fnmatchcase(p.name, h) if h == "OT*"
                                   else fnmatch.fnmatch(p.name.lower(), h.lower()) for h in LABEL_HINTS)


def is_case_folder(folder: Path) -> bool:
    """Whether a folder of NIfTI files holds **one case's** modalities (a BraTS case, DeepMedic's ``Flair_*`` and
    ``T1c_*``): some file names a modality and no modality is named twice. Otherwise (``p1.nii.gz, p2.nii.gz``;
    ``a_flair.nii.gz, b_flair.nii.gz``) it is a folder of separate scans, each predicted on its own."""
    seen = [m for p in folder.iterdir() if p.is_file() and is_nifti(p) and not is_label_name(p)
            if (m := modality_tag(p))]
    return bool(seen) and len(seen) == len(set(seen))


def modality_tag(path: Path) -> str | None:
    """The modality a volume's file name names (``flair``, ``t1``, ``t1c``, ``t2``): a BIDS scan by its suffix
    and ``ce-`` entity (:func:`tumorseg.data.formats.bids.modality`; a BIDS name naming none gives ``None``), else a
    BraTS / DeepMedic tag (``-t2f``, ``_t1ce``, ``Flair_``...); ``None`` when it names none."""
    if bids.parse(path.name):
        return bids.modality(path.name)
    m = _MODALITY_TAG.search(nifti_stem(path))
    return _SAME_MODALITY.get(m.group(1).lower(), m.group(1).lower()) if m else None


def _case_dirs(path: Path) -> list[Path]:
    if any(is_volume(p) for p in path.iterdir()):
        return [path]
    return sorted((d for d in path.iterdir() if d.is_dir() and any(is_volume(p) for p in d.iterdir())),
                  key=lambda d: natural_key(d.name))


def detect(path: Path) -> bool:
    if path.is_file():
        return is_volume(path)
    return path.is_dir() and bool(_case_dirs(path))


def parse_modalities(modality: str | None) -> tuple[str, ...]:
    mods = tuple(m.strip().lower() for m in (modality or "flair").split(",") if m.strip())
    alias = {"t2f": "flair", "t1n": "t1", "t1ce": "t1c", "t2w": "t2", "t1gd": "t1c"}
    mods = tuple(alias.get(m, m) for m in mods)
    bad = [m for m in mods if m not in MODALITIES]
    if bad:
        raise DataError(f"--modality '{bad[0]}': use one of {', '.join(MODALITIES)} (or a comma list, e.g. flair,t1c).")
    return mods


def _glob(files: list[Path], pattern: str) -> list[Path]:
    return [p for p in files if fnmatch.fnmatch(p.name.lower(), pattern.lower())]


def find_case_files(
    case: Path, modality: str | None = "flair", image_glob: str | None = None, label_glob: str | None = None,
    several: str = "pass a narrower --image-glob.",
    missing: str = "Pick another --modality, or name the file with --image-glob (e.g. 'Flair_*.nii.gz').",
) -> tuple[list[Path], Path | None, str]:
    """Image volumes (one per modality, in order), label volume (or ``None``) and naming of one case folder.
    ``several`` / ``missing``: the fix told when a glob matches several files / a modality has no file (``predict``
    has no ``--image-glob``).

    Raises:
        DataError: a modality's file is missing or a glob matches several files.
    """
    files = sorted((p for p in case.iterdir() if is_volume(p)), key=lambda p: p.name)
    mods = parse_modalities(modality)
    stems = {nifti_stem(p): p for p in files}
    name = case.name
    if image_glob is None and f"{name}-{NEW[mods[0]]}" in stems:
        naming, images = "new", [stems.get(f"{name}-{NEW[m]}") for m in mods]
        label = stems.get(f"{name}-seg")
    elif image_glob is None and f"{name}_{OLD[mods[0]]}" in stems:
        naming, images = "old", [stems.get(f"{name}_{OLD[m]}") for m in mods]
        label = stems.get(f"{name}_seg")
    elif image_glob is None and any(bids.parse(p.name) for p in files):  # sub-01_FLAIR, sub-01_ce-gd_T1w...
        naming, images, label = "bids", [], None
        for m in mods:
            hits = [p for p in files if bids.modality(p.name) == m]
            if len(hits) > 1:  # two runs, two acquisitions of one modality
                raise DataError(f"{case}: {len(hits)} {m} scans ({', '.join(p.name for p in hits[:3])}); {several}")
            images.append(hits[0] if hits else None)
    else:
        naming = "generic"
        images = []
        for pattern in ([image_glob] if image_glob else [f"*{m}*" for m in mods]):
            hits = _glob(files, pattern)
            if len(hits) > 1:  # "scan*" matches scan.nrrd and scan-label.nrrd: a label file is no image
                hits = [p for p in hits if not any(_glob([p], h) for h in LABEL_HINTS)] or hits
            if len(hits) > 1:
                raise DataError(f"{case}: '{pattern}' matches {len(hits)} files ({', '.join(p.name for p in hits[:3])}); "
                                f"{several}")
            images.append(hits[0] if hits else None)
        label = None
        for pattern in [label_glob] if label_glob else LABEL_HINTS:
            hits = [p for p in _glob(files, pattern) if p not in images and "brainmask" not in p.name.lower()]
            if len(hits) == 1:
                label = hits[0]
                break
            if len(hits) > 1:
                raise DataError(f"{case}: '{pattern}' matches several label files; pass --label-glob.")
    if label_glob and naming != "generic":
        hits = _glob(files, label_glob)
        label = hits[0] if hits else None
    if any(p is None for p in images):
        want = image_glob or ", ".join(mods)
        raise DataError(
            f"{case}: no image volume for '{want}' (files: {', '.join(p.name for p in files[:6])}). {missing}")
    return images, label, naming


def file_key(path: Path) -> tuple[Path, int, int]:
    """What the volume caches are keyed on: the path, its size and modification time, so a file rewritten under
    the same name is read again (a long-running server, a re-exported case). A detached header (``.nhdr``,
    ``.mhd``) adds its data file's (:func:`tumorseg.data.formats.itk.data_files`); one whose data files are not
    known gets a key of its own at every call (never served from the cache)."""
    files = itk.data_files(path)
    if files is None:
        return Path(path), -1, time.monotonic_ns()
    try:
        stats = [p.stat() for p in (Path(path), *files)]
    except OSError:
        return Path(path), -1, -1  # the reader then raises its DataError (errors are never cached)
    return Path(path), sum(st.st_size for st in stats), max(st.st_mtime_ns for st in stats)


_CHOSEN_VOLUME: contextvars.ContextVar[int | None] = contextvars.ContextVar("tumorseg_nifti_volume", default=None)


@contextlib.contextmanager
def reading_volume(volume: int | None) -> Iterator[None]:
    """Inside the ``with`` block, a 4-D NIfTI read without an explicit ``volume`` gives its volume ``volume``
    (``predict --volume K``; ``None``: as without the block). Per thread / asyncio task."""
    token = _CHOSEN_VOLUME.set(volume)
    try:
        yield
    finally:
        _CHOSEN_VOLUME.reset(token)


def chosen_volume() -> int | None:
    """The volume :func:`reading_volume` set, or ``None``."""
    return _CHOSEN_VOLUME.get()


def volume_count(path: Path) -> int:
    """How many volumes a NIfTI holds by its header (a 4-D file's fourth size; 1 for a 3-D or unreadable one)."""
    try:
        shape = require("nibabel", "reading NIfTI volumes").load(str(path)).shape
    except Exception:  # unreadable: the reader says why
        return 1
    return int(shape[3]) if len(shape) == 4 else 1


def open_nifti(path: Path, what: str = "NIfTI volume", volume: int | None = None):
    """``(image, shape)`` of a 3-D NIfTI with only its header read: the declared size is checked against
    :mod:`tumorseg.limits` before any voxel is decoded (a 100 kB ``.nii.gz`` may declare gigabytes).

    ``shape`` is ``(X, Y, Z)`` (a trailing time axis of length 1 is dropped). Of a 4-D file of the Medical
    Segmentation Decathlon the volume :func:`tumorseg.data.formats.decathlon.stacked_channel` picks (its FLAIR, else
    T1gd), or ``volume`` when given (else the one :func:`reading_volume` chose), as a 3-D image whose voxels are
    read from that volume only.

    Raises:
        DataError: unreadable header, not 3-D (nor an MSD 4-D file), or over the limits.
    """
    nib = require("nibabel", "reading NIfTI volumes")
    try:
        img = nib.load(str(path))
        shape, dtype = tuple(int(d) for d in img.shape), img.get_data_dtype()
    except Exception as exc:  # nibabel raises many types for broken files
        raise DataError(f"{path}: not a readable {what} ({why(exc, 120)}).") from None
    limits.check_stack(shape, dtype.itemsize, str(path))  # of a 4-D file only one volume is ever decoded
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) == 4 and volume is None:
        volume = chosen_volume()
    if len(shape) == 4 and volume is not None and not 0 <= volume < shape[3]:
        raise DataError(f"{path}: volume {volume} asked for (--volume), but the file holds {shape[3]} volumes "
                        f"(0 to {shape[3] - 1}).")
    if len(shape) == 4 and volume is None and (stacked := decathlon.stacked_channel(Path(path), shape)) is not None:
        volume = stacked[0]  # an MSD 4-D file: its FLAIR (else T1gd) volume
    if len(shape) == 4 and volume is not None and 0 <= volume < shape[3]:
        img, shape = img.slicer[..., volume], shape[:3]  # only that volume's voxels are ever read
    if len(shape) == 4:
        advice = decathlon.four_d_advice(  # an MSD file: its dataset.json names the volumes
            Path(path), shape[3], "save the one to predict as its own 3-D file (nibabel: img.slicer[..., k], or "
                                  "fslsplit) and give that, or give predict --volume K (0-based)")
        raise DataError(f"{path}: a 4-D file of {shape[3]} volumes {shape[:3]} (several modalities or time points "
                        f"stacked); {advice}.")
    if len(shape) != 3:
        fix = ("one slice: save it as a 3-D file of shape (X, Y, 1) (nibabel: Nifti1Image(np.asanyarray("
               "img.dataobj)[..., None], img.affine, img.header)) or as a PNG"
               if len(shape) == 2 else "save each 3-D volume as its own file")
        raise DataError(f"{path}: {len(shape)}-D volume of shape {shape}; expected one 3-D volume per modality "
                        f"({fix}).")
    limits.check_slice(shape[0], shape[1], str(path))
    return img, shape


_TRUNCATED = re.compile(r"Expected (\d+) bytes, got (\d+) bytes")


def voxels(img, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """The voxels of ``img`` (from :func:`open_nifti`) as a real array of ``shape``.

    Without scaling (slope 1, intercept 0: nearly every MRI) the stored dtype
    is kept (2 bytes per voxel for int16), and readers convert to float32 in
    blocks; with scaling, nibabel's float32 result. Either way the values
    equal ``np.asarray(img.dataobj, dtype=np.float32)`` once converted.
    """
    try:
        scaled = (getattr(img.dataobj, "slope", 1), getattr(img.dataobj, "inter", 0)) != (1, 0)
        raw = np.asarray(img.dataobj, dtype=np.float32) if scaled else np.asarray(img.dataobj)
        if raw.dtype.kind not in "iuf":
            raise TypeError(f"voxel type {raw.dtype} is not a real number")
        return raw.reshape(shape)
    except Exception as exc:
        short = _TRUNCATED.search(str(exc))
        if short:  # nibabel: "Expected 72000 bytes, got 26861 bytes from x.nii - could the file be damaged?"
            raise DataError(f"{path}: truncated: its header declares {int(short[1]):,} bytes of voxels, the file holds "
                            f"{int(short[2]):,}; copy or export it again.") from None
        raise DataError(f"{path}: not a readable NIfTI volume ({why(exc, 120)}).") from None


def read_volume(path: Path, cache: bool = True, volume: int | None = None) -> tuple[np.ndarray, float, float, int, str]:
    """A 3-D NIfTI as ``(X, Y, Z) uint8`` (see module docstring) plus raw min, max, NaN/inf count, dtype.

    Training reads a volume once per slice, so the last few volumes are cached (see :func:`file_key`);
    ``cache=False`` for a file read once (an upload), so it is not kept in memory. The declared size is
    checked against :mod:`tumorseg.limits` before any voxel is decoded (:func:`open_nifti`). ``volume``: which
    volume of a 4-D NIfTI (a channel of an MSD file; :func:`open_nifti` picks one by ``dataset.json`` otherwise).
    """
    volume = chosen_volume() if volume is None else volume  # part of the cache key: another volume, other voxels
    return _read_volume_cached(*file_key(path), volume) if cache else _read_volume(path, volume)


@lru_cache(maxsize=8)
def _read_volume_cached(path: Path, size: int, mtime_ns: int,
                        volume: int | None = None) -> tuple[np.ndarray, float, float, int, str]:
    return _read_volume(path, volume)


def _read_volume(path: Path, volume: int | None = None) -> tuple[np.ndarray, float, float, int, str]:
    """:func:`read_volume` without the cache. Scaling: :func:`tumorseg.data.formats.scaling.volume_to_uint8`
    (per volume, over the foreground; background 0); the raw data is read in its stored dtype (no float copy of
    an ``int16`` volume, :func:`voxels`). NRRD / MetaImage: SimpleITK's buffer, kept while it is scaled."""
    if itk.is_itk_volume(path):
        image, raw, _, _ = itk.read_image(path)  # `raw` is a view of `image`'s buffer
        scaled = volume_to_uint8(raw)
        lo, hi, bad = finite_range(raw)
        del image
        return scaled, lo, hi, bad, str(raw.dtype)
    img, shape = open_nifti(path, volume=volume)
    raw = voxels(img, shape, path)
    try:
        scaled = volume_to_uint8(raw)
    except TypeError:
        raise DataError(f"{path}: voxel type {raw.dtype} is not a grayscale intensity; expected an integer or "
                        "float volume (convert RGB/complex data first).") from None
    lo, hi, bad = finite_range(raw)
    return scaled, lo, hi, bad, str(img.get_data_dtype())


def voxel_mm(path: Path) -> tuple[float, float, float] | None:
    """Voxel size ``(X, Y, Z)`` in mm from the header's zooms and units (unknown units are taken as mm).

    ``None`` when the header gives no usable size (zero or negative zooms). NRRD / MetaImage: the spacing.
    """
    if itk.is_itk_volume(path):
        return itk.geometry(itk.read_header(path)[0])[1]
    nib = require("nibabel", "reading NIfTI volumes")
    header = nib.load(str(path)).header
    zooms = tuple(float(z) for z in header.get_zooms()[:3])
    unit = header.get_xyzt_units()[0] if hasattr(header, "get_xyzt_units") else "unknown"
    factor = {"meter": 1000.0, "micron": 0.001}.get(unit, 1.0)
    if len(zooms) < 3 or not all(np.isfinite(z) and z > 0 for z in zooms):
        return None
    return tuple(z * factor for z in zooms)


def volume_affine(path: Path) -> np.ndarray:
    """The ``(4, 4)`` voxel-to-RAS affine of a volume's ``(X, Y, Z)`` array, from its header only (NRRD /
    MetaImage: converted from ITK's LPS geometry)."""
    if itk.is_itk_volume(path):
        return itk.geometry(itk.read_header(path)[0])[0]
    return open_nifti(path, volume=0)[0].affine  # a 4-D file: its volumes share the affine


def record_geometry(record: SliceRecord) -> tuple[np.ndarray, tuple[float, float]] | None:
    """A NIfTI record's whole volume as the ``(Z, H, W) uint8`` slices it is one of (its first channel, in the record's
    layout: :func:`read_volume`, cached) and their in-plane pixel spacing ``(row, column)`` in mm, as ``predict``
    reads the same volume (:meth:`tumorseg.io.Properties.spacing`); ``None`` for records of other loaders or a
    header without a usable voxel size."""
    if record.loader != "nifti":
        return None
    zooms = voxel_mm(Path(record.image))
    if zooms is None:
        return None
    axes = tuple(record.option("axes", STORED_AXES))
    volume = (record.option("volumes") or (None,))[0]
    vol = read_volume(Path(record.image), volume=volume)[0].transpose(axes)
    return vol, (zooms[axes[1]], zooms[axes[2]])


def record_display(record: SliceRecord) -> np.ndarray | None:
    """The radiological-view transform of a NIfTI record's slice (:func:`tumorseg.data.formats.orientation.
    display_ornt`), as :meth:`tumorseg.io.Properties.display` gives ``predict`` the same volume's (its ``axes``
    option followed); ``None`` for records of other loaders. Header only, cached per volume."""
    if record.loader != "nifti":
        return None
    return _display_of(Path(record.image), tuple(record.option("axes", STORED_AXES)))


@lru_cache(maxsize=256)
def _display_of(path: Path, axes: tuple[int, int, int]) -> np.ndarray | None:
    return display_ornt(np.asarray(volume_affine(path), float)[:, [axes[1], axes[2], axes[0], 3]])


def read_labels(path: Path, naming: str = "generic") -> np.ndarray:
    """Label volume as ``(X, Y, Z) int16``; raises on non-integer or unexpected label values. Cached as
    :func:`read_volume` is; size-checked before decoding as :func:`open_nifti` does."""
    return _read_labels(*file_key(path), naming)


@lru_cache(maxsize=4)
def _read_labels(path: Path, size: int, mtime_ns: int, naming: str) -> np.ndarray:
    if itk.is_itk_volume(path):
        image, raw, _, _ = itk.read_image(path)
        raw = np.array(raw)  # a copy: the labels outlive SimpleITK's buffer
        del image
    else:
        img, shape = open_nifti(path, "NIfTI label volume")
        raw = voxels(img, shape, path)
    if raw.dtype.kind == "f":
        raw = raw.astype(np.float32, copy=False)
        rounded = np.round(raw)
        if not np.all(np.abs(raw - rounded) < 1e-3):
            raise DataError(f"{path}: label volume has non-integer values; expected class labels such as 0, 1, 2, 4.")
    else:
        rounded = raw
    values = set(np.unique(rounded).astype(int).tolist())
    expected = EXPECTED_LABELS[naming]
    if not values <= expected:
        raise DataError(
            f"{path}: unexpected label values {sorted(values - expected)} (this naming uses {sorted(expected)}). "
            "Check the file, or pair it explicitly with --label-glob."
        )
    return rounded.astype(np.int16)


def tumour(labels: np.ndarray, chosen: tuple[int, ...] | None) -> np.ndarray:
    """Binary target: any label > 0, or only the labels in ``chosen``."""
    return labels > 0 if not chosen else np.isin(labels, chosen)


def patient_of(case: str) -> str:
    """``BraTS-GLI-00001-000`` -> ``BraTS-GLI-00001`` (time points of one patient); others unchanged."""
    parts = case.rsplit("-", 1)
    return parts[0] if case.startswith("BraTS-") and len(parts) == 2 and parts[1].isdigit() else case


def read(
    path: Path, modality: str | None = "flair", labels: str | None = None, empty_fraction: float | None = 0.1,
    image_glob: str | None = None, label_glob: str | None = None,
) -> list[SliceRecord]:
    """Axial-slice records of every case under ``path`` (see module docstring).

    Cases without a label volume give unlabelled records (``mask=None``) of
    every slice that contains brain: fine for prediction, refused by training.
    """
    chosen = parse_int_set(labels, "--labels")
    frac = 0.1 if empty_fraction is None else float(empty_fraction)
    if not 0.0 <= frac <= 1.0:
        raise DataError(f"--empty-fraction {frac}: give a fraction between 0 and 1.")
    mods = parse_modalities(modality)
    cases = [path.parent] if path.is_file() else _case_dirs(path)
    if not cases:
        raise DataError(f"{path}: no NIfTI volumes (*.nii.gz) in it or in its sub-folders.")
    records = []
    for case in cases:
        images, label, naming = find_case_files(case, ",".join(mods), image_glob, label_glob)
        records += case_records(case, images, label, naming, chosen, frac,
                                tuple(mods) if not image_glob else (image_glob,))
    return records


def case_records(case: Path, images: list[Path], label: Path | None, naming: str, chosen: tuple[int, ...] | None,
                 empty_fraction: float, channel_names: tuple[str, ...],
                 volumes: tuple[int | None, ...] | None = None) -> list[SliceRecord]:
    """The records of one case: every tumour slice and ``empty_fraction`` of its tumour-free brain slices (every
    brain slice when ``label`` is ``None``), named ``<case>_z<k>``, patient :func:`patient_of` the case.

    Args:
        case: the case's folder, or a path whose ``name`` is the case (an nnU-Net case has no folder).
        images: one volume per channel; label: its label volume or ``None``; naming: the label set to expect
            (:data:`EXPECTED_LABELS`); chosen: the labels that are tumour (``None``: any > 0).
        channel_names: the channels' names, as the model's config records them.
        volumes: per image, which volume of a 4-D file it is (``None``: a 3-D file); ``None``: all 3-D.
    """
    volumes = volumes or (None,) * len(images)
    axes, plane = slice_axes(volume_affine(images[0]), voxel_mm(images[0]))  # header only
    if plane != "axial":
        if axes == STORED_AXES:
            log.warning("%s: %s slices of thick or unknown voxels; its slices follow the array's third axis",
                        images[0], plane)
        else:
            log.info("%s: stored as %s slices; read as axial slices (array axes reordered)", images[0], plane)
    vol = read_volume(images[0], volume=volumes[0])[0].transpose(axes)  # (Z, H, W) axial slices
    brain = vol.reshape(vol.shape[0], -1).any(axis=1)  # (Z,) slices that contain brain
    if label is None:
        log.warning("%s: no label volume; its slices are unlabelled (prediction only)", case)
        keep = np.flatnonzero(brain)
    else:
        lab = read_labels(label, naming).transpose(axes)
        if lab.shape != vol.shape:
            raise DataError(f"{label}: label volume is {lab.shape} but {images[0].name} is {vol.shape}.")
        has_tumour = tumour(lab, chosen).reshape(lab.shape[0], -1).any(axis=1)
        empty = np.flatnonzero(brain & ~has_tumour)
        rng = np.random.default_rng(zlib.crc32(case.name.encode()))
        picked = rng.choice(empty, size=int(round(empty_fraction * len(empty))), replace=False) if len(empty) else empty
        keep = np.union1d(np.flatnonzero(has_tumour), picked)
    opts = (("images", tuple(images)), ("labels", chosen), ("naming", naming), ("channel_names", channel_names))
    if any(v is not None for v in volumes):
        opts += (("volumes", tuple(volumes)),)
    if axes != STORED_AXES:
        opts += (("axes", tuple(int(a) for a in axes)),)
    return [SliceRecord(case_id=f"{case.name}_z{k:03d}", image=images[0], mask=label, patient=patient_of(case.name),
                        loader="nifti", slice_index=int(k), options=opts) for k in keep.tolist()]


def load(record: SliceRecord) -> Loaded:
    """Axial slice ``record.slice_index``: image ``(H, W) uint8`` (or ``(C, H, W)``), mask ``(H, W) bool``;
    ``(H, W)`` = the array's first two axes, or those the record's ``axes`` option names."""
    k = record.slice_index
    axes = record.option("axes", STORED_AXES)
    chans, lo, hi, bad, dtype = [], np.inf, -np.inf, 0, "float32"
    images = record.option("images", (record.image,))
    for p, v in zip(images, record.option("volumes", (None,) * len(images))):
        vol, vlo, vhi, vbad, dtype = read_volume(Path(p), volume=v)
        vol = vol.transpose(axes)
        if not 0 <= k < vol.shape[0]:
            raise DataError(f"{p}: slice {k} is outside the volume's {vol.shape[0]} axial slices.")
        chans.append(np.ascontiguousarray(vol[k]))
        lo, hi, bad = min(lo, vlo), max(hi, vhi), bad + vbad
    if len({c.shape for c in chans}) > 1:
        raise DataError(f"{record.image.parent}: the modalities' volumes differ in size; resample them to one grid.")
    image = chans[0] if len(chans) == 1 else np.stack(chans)
    if record.mask is None:
        mask = np.zeros(chans[0].shape, bool)
    else:
        lab = read_labels(Path(record.mask), record.option("naming", "generic")).transpose(axes)
        if lab.shape[1:] != chans[0].shape or not 0 <= k < lab.shape[0]:
            raise DataError(f"{record.mask}: label volume is {lab.shape} but {record.image.name} slices are {chans[0].shape}.")
        mask = tumour(np.ascontiguousarray(lab[k]), record.option("labels"))
    return Loaded(image, mask, lo, hi, dtype, bad)


def save_mask_like(mask: np.ndarray, reference: Path, out: Path, slope: float = 1.0) -> Path:
    """Write a ``(X, Y, Z)`` 0/1 mask as ``uint8`` NIfTI with ``reference``'s shape, affine and header geometry.
    ``slope``: the header's scale (``1 / 255`` for a probability map stored as 0-255: readers then see 0-1)."""
    nib = require("nibabel", "writing NIfTI masks")
    ref = nib.load(str(reference))
    if mask.shape != ref.shape[:3]:
        raise DataError(f"{reference}: mask shape {mask.shape} differs from the volume's {ref.shape[:3]}.")
    header = ref.header.copy()
    header.set_data_dtype(np.uint8)
    img = nib.Nifti1Image(mask.astype(np.uint8), ref.affine, header)
    img.header.set_slope_inter(slope, 0)  # labels are stored as they are, never rescaled
    img.set_qform(ref.get_qform(), code=int(ref.header["qform_code"]))
    img.set_sform(ref.get_sform(), code=int(ref.header["sform_code"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(out))
    return out
