"""DICOM RT Structure Sets (RTSTRUCT) as tumour masks over the series they outline: the contours radiotherapy
planning systems, 3D Slicer (SlicerRT) and TCIA's brain collections store (a GTV outlined slice by slice).

An RTSTRUCT holds ROIs (``StructureSetROISequence``: number and name) and, per ROI, closed planar contours in patient
coordinates (mm; ``ContourData`` x, y, z triples). Each contour is laid on the slice it names
(``ContourImageSequence``), else on the slice whose plane it lies in (within half the slice spacing), and a pixel
of that slice is inside when its centre lies inside the polygon or on its outline (within 0.001 pixel). So an
outline drawn along the region's boundary (tumorseg's own, :mod:`~tumorseg.data.formats.rtstruct_write`; near it,
3D Slicer's, cut from its closed surface) and one traced through the boundary pixels' centres (OpenCV's, rt-utils')
both read back as the mask they came from; a contour of no area (a line) marks nothing.
Several contours of one ROI on one slice combine by even-odd rule (an inner contour is a hole), as DICOM's planar
contours are commonly read; ROIs combine by union.

Which ROIs count as tumour: those ``rois`` names by ROI number (``--labels 2,5``), else every ROI whose name says
tumour (:data:`TUMOUR_NAMES`: GTV, tumour/tumor, lesion, neoplasm, glioma, metastasis...); none such is an error
listing the ROIs.

Written by hand: pydicom reads the dataset but fills no contours, highdicom has no RTSTRUCT reader, and the packages
that do (rt-utils) need OpenCV and read whole series folders on their own terms; this is ~100 lines on matplotlib's
point-in-polygon test.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tumorseg.errors import DataError

log = logging.getLogger(__name__)

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
TUMOUR_NAMES = re.compile(r"gtv|tumou?r|lesion|neoplasm|glioma|metasta", re.I)


@dataclass(frozen=True)
class SliceGeometry:
    """The pixel grid of one series' slices, in geometric order: ``positions`` ``(Z, 3)`` ImagePositionPatient (mm),
    ``row_dir`` / ``col_dir`` the direction cosines along a row / a column (ImageOrientationPatient), ``spacing``
    (row spacing, column spacing) in mm, ``shape`` (rows, cols), ``uids`` the SOPInstanceUIDs."""

    positions: np.ndarray
    row_dir: np.ndarray
    col_dir: np.ndarray
    spacing: tuple[float, float]
    shape: tuple[int, int]
    uids: tuple[str, ...]

    @classmethod
    def of(cls, datasets: Sequence) -> SliceGeometry:
        """From a series' pydicom datasets, sorted by position (:func:`~tumorseg.data.formats.dicom.read_dicom_series`).

        Raises:
            DataError: a slice without position, orientation or pixel spacing (contours cannot be placed).
        """
        first = datasets[0]
        try:
            iop = np.asarray(first.ImageOrientationPatient, float)
            positions = np.asarray([d.ImagePositionPatient for d in datasets], float)
            spacing = (float(first.PixelSpacing[0]), float(first.PixelSpacing[1]))
        except (AttributeError, TypeError, ValueError, IndexError):
            raise DataError(f"{getattr(first, 'filename', 'the series')}: its images lack position, orientation or "
                            "pixel spacing, so RTSTRUCT contours (in mm) cannot be placed on them.") from None
        return cls(positions, iop[:3], iop[3:], spacing, (int(first.Rows), int(first.Columns)),
                   tuple(str(d.SOPInstanceUID) for d in datasets))


def is_rtstruct(ds) -> bool:
    """Whether a pydicom dataset is an RT Structure Set."""
    return str(getattr(ds, "Modality", "")).upper() == "RTSTRUCT" or str(getattr(ds, "SOPClassUID", "")) == \
        RTSTRUCT_SOP_CLASS


def referenced_series(ds) -> str | None:
    """The SeriesInstanceUID of the image series an RTSTRUCT's contours were drawn on."""
    for frame in getattr(ds, "ReferencedFrameOfReferenceSequence", None) or []:
        for study in getattr(frame, "RTReferencedStudySequence", None) or []:
            for series in getattr(study, "RTReferencedSeriesSequence", None) or []:
                if getattr(series, "SeriesInstanceUID", None):
                    return str(series.SeriesInstanceUID)
    return None


def referenced_images(ds, at_most: int = 32) -> list[str]:
    """SOPInstanceUIDs of images the contours name (``ContourImageSequence``; the first ``at_most``): how an
    RTSTRUCT without an ``RTReferencedSeriesSequence`` (optional in the standard) is matched to its series."""
    found: list[str] = []
    for roi in getattr(ds, "ROIContourSequence", None) or []:
        for contour in getattr(roi, "ContourSequence", None) or []:
            for item in getattr(contour, "ContourImageSequence", None) or []:
                uid = getattr(item, "ReferencedSOPInstanceUID", None)
                if uid:
                    found.append(str(uid))
                    if len(found) >= at_most:
                        return found
    return found


def roi_names(ds) -> dict[int, str]:
    """ROI number -> ROI name (``StructureSetROISequence``)."""
    return {int(r.ROINumber): str(getattr(r, "ROIName", "") or "") for r in
            getattr(ds, "StructureSetROISequence", None) or []}


def tumour_rois(ds, rois: tuple[int, ...] | None, where: str) -> tuple[int, ...]:
    """The ROI numbers that count as tumour: ``rois`` when given (each must exist), else those named as tumour.

    Raises:
        DataError: a chosen ROI is not in the set, or no ROI is named as a tumour; the message lists the ROIs.
    """
    names = roi_names(ds)
    listed = ", ".join(f"{n} '{name}'" for n, name in sorted(names.items())) or "none"
    if rois:
        missing = [n for n in rois if n not in names]
        if missing:
            raise DataError(f"{where}: no ROI number {', '.join(map(str, missing))} in this RTSTRUCT (its ROIs: "
                            f"{listed}).")
        return tuple(rois)
    chosen = tuple(n for n, name in sorted(names.items()) if TUMOUR_NAMES.search(name))
    if not chosen:
        raise DataError(f"{where}: no ROI named as a tumour (GTV, tumour, lesion...) among its ROIs ({listed}); "
                        "choose them by number with --labels N[,N].")
    return chosen


def rasterize(ds, geometry: SliceGeometry, rois: tuple[int, ...] | None = None, where: str = "RTSTRUCT"
              ) -> np.ndarray:
    """The union of the tumour ROIs' contours as ``(Z, rows, cols) bool`` over ``geometry``'s slices (module doc).

    Contours of other geometric types (POINT, OPEN_PLANAR) are left out; a contour that lies on no slice of the
    series (off the planes by more than half the slice spacing) is left out and counted in one warning.

    Raises:
        DataError: see :func:`tumour_rois`; contour data that are not x, y, z triples.
    """
    chosen = set(tumour_rois(ds, rois, where))
    z, (rows, cols) = len(geometry.positions), geometry.shape
    mask = np.zeros((z, rows, cols), bool)
    normal = np.cross(geometry.row_dir, geometry.col_dir)
    along = geometry.positions @ normal  # each slice's plane, mm along the normal
    step = float(np.median(np.diff(along))) if z > 1 else 1.0
    by_uid = {u: k for k, u in enumerate(geometry.uids)}
    off = 0
    for roi in getattr(ds, "ROIContourSequence", None) or []:
        if int(getattr(roi, "ReferencedROINumber", -1)) not in chosen:
            continue
        for contour in getattr(roi, "ContourSequence", None) or []:
            if str(getattr(contour, "ContourGeometricType", "CLOSED_PLANAR")).upper() != "CLOSED_PLANAR":
                continue
            data = np.asarray(getattr(contour, "ContourData", None) or [], float)
            if data.size < 9 or data.size % 3:
                if data.size % 3:
                    raise DataError(f"{where}: a contour of ROI {roi.ReferencedROINumber} has {data.size} coordinates, "
                                    "not x, y, z triples.")
                continue  # fewer than three points outline nothing
            points = data.reshape(-1, 3)
            k = _slice_of(contour, points, by_uid, along, normal, abs(step))
            if k is None:
                off += 1
                continue
            rel = points - geometry.positions[k]
            # column index along a row, row index along a column (pixel centres at whole numbers)
            xy = np.stack([rel @ geometry.row_dir / geometry.spacing[1], rel @ geometry.col_dir / geometry.spacing[0]],
                          axis=1)
            fill_polygon(mask[k], xy)
    if off:
        log.warning("%s: %d contour(s) lie on no slice of the series (off its planes), left out", where, off)
    return mask


def fill_polygon(mask: np.ndarray, xy: np.ndarray, tolerance: float = 1e-3) -> None:
    """Flip, in place, the pixels of ``mask`` ``(rows, cols) bool`` whose centres lie inside the closed polygon ``xy``
    ``(N, 2)`` (column, row; pixel centres at whole numbers) or within ``tolerance`` pixel of its outline: an
    even-odd fill, so a second contour inside the first cuts a hole. Vertices outside the grid are fine."""
    from matplotlib.path import Path as Polygon

    rows, cols = mask.shape
    lo = np.maximum(np.floor(xy.min(axis=0) - tolerance), 0).astype(int)
    hi = np.minimum(np.ceil(xy.max(axis=0) + tolerance), (cols - 1, rows - 1)).astype(int)
    if (hi < lo).any():
        return  # wholly outside the grid
    yy, xx = np.mgrid[lo[1]:hi[1] + 1, lo[0]:hi[0] + 1]
    centres = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(float)
    # the polygon grown by the tolerance: matplotlib's radius grows a positively oriented outline (shoelace area > 0)
    # and shrinks the other way round, so its sign follows the outline's orientation
    area = np.dot(xy[:, 0], np.roll(xy[:, 1], -1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], -1))
    inside = Polygon(xy).contains_points(centres, radius=tolerance if area > 0 else -tolerance)
    mask[lo[1]:hi[1] + 1, lo[0]:hi[0] + 1] ^= inside.reshape(xx.shape)


def _slice_of(contour, points: np.ndarray, by_uid: dict[str, int], along: np.ndarray, normal: np.ndarray,
              step: float) -> int | None:
    """The slice a contour lies on: the image it references, else the plane nearest its mean position (within half
    a slice spacing)."""
    for item in getattr(contour, "ContourImageSequence", None) or []:
        k = by_uid.get(str(getattr(item, "ReferencedSOPInstanceUID", "")))
        if k is not None:
            return k
    level = float(points.mean(axis=0) @ normal)
    k = int(np.argmin(np.abs(along - level)))
    return k if abs(along[k] - level) <= max(step / 2, 1e-3) else None
