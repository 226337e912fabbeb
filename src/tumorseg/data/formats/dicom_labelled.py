"""DICOM series labelled with DICOM SEG objects (what 3D Slicer, OHIF and ``tumorseg predict`` write) or RT Structure
Sets (RTSTRUCT: radiotherapy planning contours, :mod:`~tumorseg.data.formats.rtstruct`): one's own scans as a dataset
to ``evaluate`` (or train) on.

Layout: a folder tree (up to :data:`~tumorseg.data.formats.dicom.TREE_DEPTH` levels) holding DICOM image series
(one folder each, or several in one folder: :func:`~tumorseg.data.formats.dicom.list_series`) and SEG objects,
anywhere in the tree, that reference them (``ReferencedSeriesSequence``; an RTSTRUCT's
``RTReferencedSeriesSequence``). Each SEG whose series is found gives a record per slice of that series that holds
signal:

* ``image``: the series folder; ``options["files"]``: the series' files; ``slice_index``: the slice's position in
  geometric order (as :func:`~tumorseg.data.formats.dicom.read_dicom_series` sorts them), or, for a near-isotropic
  sagittal or coronal series, in the axial slices ``predict`` reads it as (the SEG's mask turned the same way);
* ``mask``: the SEG; the tumour is the union of its segments, or of those ``--labels 1,2`` names (segment numbers);
  for an RTSTRUCT, of its ROIs named as tumour (GTV, tumour, lesion...), or of those ``--labels`` names (ROI
  numbers); a series labelled by a SEG and an RTSTRUCT (``predict`` writes both) is read from the SEG;
* ``patient``: PatientID (else the series' name), so that a patient's series stay in one split and per-volume Dice
  pools a patient's slices.

Intensities: one foreground-percentile scale per series (:func:`~tumorseg.data.formats.scaling.volume_to_uint8`),
as ``predict`` reads a series. A SEG whose series is not in the tree, or whose frames do not match its series, is an
error naming both. Needs pydicom and highdicom (the ``formats`` extra).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tumorseg.data.formats import rtstruct
from tumorseg.data.formats._common import Loaded, finite_range, parse_int_set, require
from tumorseg.data.formats.dicom import (DicomSeries, folder_signature, folders_below, is_dicom_file, list_series,
                                         read_dicom, read_dicom_series)
from tumorseg.data.formats.orientation import axial_view
from tumorseg.data.formats.scaling import volume_to_uint8
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError

log = logging.getLogger(__name__)

NORMALISATION = "per-series 0.5-99.5 percentile of the foreground (background: 0 or the minimum) -> 0..255"
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


@dataclass(frozen=True)
class _Found:
    segs: tuple[tuple[Path, object], ...]  # (path, header) of every SEG object
    series: dict  # SeriesInstanceUID -> DicomSeries
    refs: dict  # SEG path -> the SeriesInstanceUID it labels (None: it names none found)


def _is_seg(ds) -> bool:
    """A label object: a DICOM SEG, or an RT Structure Set (:mod:`~tumorseg.data.formats.rtstruct`)."""
    return str(getattr(ds, "Modality", "")).upper() == "SEG" or str(getattr(ds, "SOPClassUID", "")) == SEG_SOP_CLASS \
        or rtstruct.is_rtstruct(ds)


def _scan(root: Path) -> _Found:
    """Every SEG and every image series under ``root``, each file's header read once. A folder with an unreadable
    DICOM file gives no series (its SEGs still count): a SEG needing them is reported as such.

    Detecting the format, listing the labelled series and reading the records all scan the tree: an unchanged
    tree (the same folders, each with the same :func:`~tumorseg.data.formats.dicom.folder_signature`) is scanned
    once."""
    folders = (root, *folders_below(root))
    return _scan_cached(folders, tuple(folder_signature(f) for f in folders))


@lru_cache(maxsize=2)
def _scan_cached(folders: tuple[Path, ...], signature: tuple) -> _Found:
    root = folders[0]
    segs, series, instances = [], {}, {}
    for folder in folders:
        headers, unreadable = [], False
        for p in sorted(p for p in folder.iterdir() if p.is_file() and is_dicom_file(p)):
            try:
                headers.append((p, read_dicom(p, pixels=False)))
            except DataError:
                unreadable = True
        found_segs = [(p, ds) for p, ds in headers if _is_seg(ds)]
        segs += found_segs
        instances.update((str(getattr(ds, "SOPInstanceUID", "")), str(getattr(ds, "SeriesInstanceUID", "")))
                         for _, ds in headers if not _is_seg(ds))
        if len(found_segs) < len(headers) and not unreadable:
            try:
                base = "_".join(folder.relative_to(root).parts) or folder.name
                for s in list_series(folder, base, headers):
                    series.setdefault(s.uid, s)
            except DataError:
                pass
    refs = {}
    for p, ds in segs:
        uid = _referenced_series(ds)
        if uid is None and rtstruct.is_rtstruct(ds):  # no RTReferencedSeriesSequence: the series of its images
            uid = next((instances[i] for i in rtstruct.referenced_images(ds) if i in instances), None)
        refs[p] = uid
    # a SEG and an RTSTRUCT of one series (predict writes both): the SEG, the mask itself rather than its outline
    with_seg = {refs[p] for p, ds in segs if not rtstruct.is_rtstruct(ds) and refs[p] is not None}
    dropped = [p for p, ds in segs if rtstruct.is_rtstruct(ds) and refs[p] in with_seg]
    for p in dropped:
        log.info("%s left out: a DICOM SEG under %s labels the same series", p.name, root)
    segs = [(p, ds) for p, ds in segs if p not in dropped]
    return _Found(tuple(segs), series, refs)


def holds_dicom(path: Path) -> bool:
    """Whether DICOM files lie in ``path`` or its sub-folders (:func:`~tumorseg.data.formats.dicom.folders_below`)."""
    if not path.is_dir():
        return False
    try:
        return any(p.is_file() and is_dicom_file(p) for folder in [path, *folders_below(path)] for p in folder.iterdir())
    except OSError:
        return False


def detect(path: Path) -> bool:
    """A folder (tree) holding at least one DICOM SEG object next to DICOM images."""
    if not path.is_dir():
        return False
    try:
        found = _scan(path)
    except (OSError, DataError):
        return False
    return bool(found.segs) and bool(found.series)


def _referenced_series(seg) -> str | None:
    if rtstruct.is_rtstruct(seg):
        return rtstruct.referenced_series(seg)
    items = getattr(seg, "ReferencedSeriesSequence", None)
    return str(items[0].SeriesInstanceUID) if items else None


def labelled_series(path: Path) -> list[DicomSeries]:
    """The series under ``path`` that a SEG there references (headers only), in the order the SEGs were found."""
    found = _scan(Path(path))
    refs = [found.series.get(found.refs[p]) for p, _ in found.segs]
    return [s for s in dict.fromkeys(refs) if s is not None]


def read(path: Path, labels: str | None = None) -> list[SliceRecord]:
    """A record per slice with signal of every series a SEG under ``path`` labels (see the module docstring).

    Raises:
        DataError: no SEG, or a SEG whose series is not under ``path`` (naming both).
    """
    require("highdicom", "reading DICOM SEG labels")
    chosen = parse_int_set(labels, "--labels")
    found = _scan(path)
    if not found.segs:
        raise DataError(f"{path}: no DICOM SEG or RTSTRUCT object in it or its sub-folders; label the series (3D "
                        "Slicer, OHIF) and export the segmentation as DICOM SEG beside them.")
    records = []
    for seg_path, seg in found.segs:
        uid = found.refs[seg_path]
        series = found.series.get(uid)
        if series is None:
            raise DataError(f"{seg_path}: its series ({uid}) is not under {path}; put the labelled series beside it.")
        if rtstruct.is_rtstruct(seg):
            rtstruct.tumour_rois(seg, chosen, str(seg_path))  # no tumour ROI: one line now, not at every slice
        volume = _series_volume(series.files, str(series)).volume
        keep = np.flatnonzero(volume.reshape(len(volume), -1).any(axis=1))
        patient = str(getattr(seg, "PatientID", "") or "") or series.name
        opts = (("files", series.files), ("labels", chosen), ("series", str(series)))
        records += [SliceRecord(case_id=f"{series.name}_z{k:03d}", image=series.folder, mask=seg_path, patient=patient,
                                loader="dicom-seg", slice_index=int(k), options=opts) for k in keep.tolist()]
        log.info("%s: %d slices with signal, labelled by %s", series, len(keep), seg_path.name)
    return records


class _SeriesRead(NamedTuple):
    """A series read for its SEG: ``volume`` ``(Z, H, W) uint8`` slices; raw ``lo``/``hi`` and the NaN/inf count
    ``bad``; ``dtype`` (``"16-bit"``); ``uids``, the SOPInstanceUIDs in geometric order (what the SEG's frames refer
    to); ``axes``: ``None`` for slices as stored, else the transpose that makes a near-isotropic sagittal/coronal
    series axial, as ``predict`` reads it (:func:`~tumorseg.data.formats.orientation.axial_view`); ``voxel_ml``."""

    volume: np.ndarray
    lo: float
    hi: float
    bad: int
    dtype: str
    uids: tuple[str, ...]
    axes: tuple[int, int, int] | None
    voxel_ml: float
    geometry: rtstruct.SliceGeometry | None  # the slices' pixel grids (None: the images do not give them)
    pixel_mm: tuple[float, float]  # (row, column) spacing of ``volume``'s slices, as predict reads them


@lru_cache(maxsize=4)
def _series_volume(files: tuple[Path, ...], where: str) -> _SeriesRead:
    """The series of ``files`` read once (:class:`_SeriesRead`); the last few series are kept (read once per
    slice)."""
    series = DicomSeries(files[0].parent, None, files, name=where)
    raw, affine, dss = read_dicom_series(files[0].parent, series)
    lo, hi, bad = finite_range(raw)
    volume = volume_to_uint8(raw)
    del raw
    axes = None
    col_mm, row_mm, step_mm = (float(v) for v in np.linalg.norm(affine[:3, :3], axis=0))  # (cols, rows, slices)
    pixel_mm = (row_mm, col_mm)
    if len(dss) > 1:
        axes, _, spacing = axial_view(affine, (col_mm, row_mm, step_mm), (2, 1, 0), where, log)
    if axes is not None:
        volume = np.ascontiguousarray(volume.transpose(axes))
        pixel_mm = (float(spacing[1]), float(spacing[2]))
    try:
        geometry = rtstruct.SliceGeometry.of(dss)
    except DataError:
        geometry = None
    return _SeriesRead(volume, lo, hi, bad, str(getattr(dss[0], "BitsAllocated", 16)) + "-bit",
                       tuple(str(d.SOPInstanceUID) for d in dss), axes,
                       abs(float(np.linalg.det(np.asarray(affine, float)[:3, :3]))) / 1000.0, geometry, pixel_mm)


@lru_cache(maxsize=4)
def _seg_volume(seg_path: Path, uids: tuple[str, ...], segments: tuple[int, ...] | None) -> np.ndarray:
    """The SEG's mask ``(Z, rows, cols) bool`` over the series' sorted instances: the union of ``segments`` (all
    when ``None``)."""
    hd = require("highdicom", "reading DICOM SEG labels")
    try:
        seg = hd.seg.segread(str(seg_path))
        numbers = list(segments) if segments else [int(s.SegmentNumber) for s in seg.SegmentSequence]
        px = seg.get_pixels_by_source_instance(list(uids), segment_numbers=numbers,
                                               assert_missing_frames_are_empty=True)
    except Exception as exc:  # highdicom raises ValueError/KeyError/AttributeError for SEGs that do not fit
        raise DataError(f"{seg_path}: cannot read its segments over the series ({exc.__class__.__name__}: "
                        f"{' '.join(str(exc).split())[:160]}).") from None
    return px.any(axis=-1)


def seg_mask(seg_path: Path, series: DicomSeries, segments: tuple[int, ...] | None = None
             ) -> tuple[np.ndarray, float]:
    """A SEG's mask over the series it labels, as ``(Z, H, W) bool`` in the axial slices ``predict`` reads the
    series as (frames the SEG left out are empty), and the series' voxel volume in mL.

    ``segments``: the segment numbers that count as tumour (default: every segment).

    Raises:
        DataError: the SEG's frames do not fit the series (naming both), the series is unreadable.
    """
    return _seg_mask(Path(seg_path), tuple(series.files), str(series), segments)


@lru_cache(maxsize=8)
def _contours(path: Path):
    """The RTSTRUCT dataset at ``path``, or ``None`` for a SEG (the last few are kept: a record per slice)."""
    ds = read_dicom(path, pixels=False)
    return ds if rtstruct.is_rtstruct(ds) else None


@lru_cache(maxsize=4)
def _rtstruct_volume(path: Path, files: tuple[Path, ...], where: str, rois: tuple[int, ...] | None) -> np.ndarray:
    """An RTSTRUCT's tumour ROIs filled over the series' stored slices ``(Z, rows, cols) bool``; which ROIs, in one
    log line."""
    ds = _contours(path)
    names, chosen = rtstruct.roi_names(ds), rtstruct.tumour_rois(ds, rois, str(path))
    log.info("%s: tumour = ROI %s (%s of its %d ROIs)", path, ", ".join(f"{n} '{names[n]}'" for n in chosen),
             "chosen by --labels" if rois else "named as tumour", len(names))
    return rtstruct.rasterize(ds, _series_volume(files, where).geometry, chosen, str(path))


def _seg_mask(seg_path: Path, files: tuple[Path, ...], where: str, segments: tuple[int, ...] | None
              ) -> tuple[np.ndarray, float]:
    read = _series_volume(files, where)
    if _contours(seg_path) is not None:  # an RTSTRUCT: its contours filled on the slices' pixel grids
        if read.geometry is None:
            raise DataError(f"{seg_path}: its contours cannot be placed on {where}: the images lack position, "
                            "orientation or pixel spacing.")
        mask = _rtstruct_volume(seg_path, files, where, segments)
    else:
        mask = _seg_volume(seg_path, read.uids, segments)  # (Z, rows, cols): the stored slices
    if read.axes is not None:
        mask = mask.transpose(read.axes)
    if mask.shape != read.volume.shape:
        raise DataError(f"{seg_path}: its frames ({mask.shape}) do not match the series {where} {read.volume.shape}.")
    return mask, read.voxel_ml


def seg_objects(root: Path) -> tuple[list[tuple[Path, str | None]], dict[str, DicomSeries]]:
    """The DICOM SEG and RTSTRUCT objects under ``root`` (a folder tree, or one such file), each with the
    SeriesInstanceUID it references, and the image series found there by SeriesInstanceUID (headers only; a tree is
    scanned once while it is unchanged). Not DICOM: ``([], {})``."""
    root = Path(root)
    if root.is_file():
        if not is_dicom_file(root):
            return [], {}
        try:
            ds = read_dicom(root, pixels=False)
        except DataError:
            return [], {}
        return ([(root, _referenced_series(ds))] if _is_seg(ds) else []), {}
    if not holds_dicom(root):
        return [], {}
    found = _scan(root)
    return [(p, found.refs[p]) for p, _ in found.segs], dict(found.series)


def record_geometry(record: SliceRecord) -> tuple[np.ndarray, tuple[float, float]] | None:
    """A record's whole series as ``(Z, H, W) uint8`` slices (cached, as :func:`load` reads it) and their in-plane
    spacing ``(row, column)`` in mm, as ``predict`` reads the series; ``None`` for records of other loaders."""
    if record.loader != "dicom-seg":
        return None
    read = _series_volume(tuple(record.option("files")), record.option("series", str(record.image)))
    return read.volume, read.pixel_mm


def load(record: SliceRecord) -> Loaded:
    """Slice ``record.slice_index`` of the series: image ``(rows, cols) uint8``, mask ``(rows, cols) bool``."""
    files = tuple(record.option("files"))
    where = record.option("series", str(record.image))
    read = _series_volume(files, where)
    k = record.slice_index
    if not 0 <= k < len(read.volume):
        raise DataError(f"{record.image}: slice {k} is outside the series' {len(read.volume)} slices.")
    mask, _ = _seg_mask(Path(record.mask), files, where, record.option("labels"))
    return Loaded(read.volume[k], mask[k], read.lo, read.hi, read.dtype, read.bad)
