"""Predicted masks as a DICOM RT Structure Set (RTSTRUCT) over the series they were predicted on: what radiotherapy
planning systems (Eclipse, RayStation, Monaco), 3D Slicer (SlicerRT) and OHIF import as contours.

One ROI, ``"Tumour (tumorseg <model>)"`` (ROI Generation Algorithm AUTOMATIC, interpreted type left empty: it is a
research segmentation, not a clinician's GTV), red. Each slice's mask becomes closed planar contours in patient
coordinates (mm), each naming the image it lies on (``ContourImageSequence``); the set references the study, the
series and every image of it (``RTReferencedSeriesSequence``), and shares the series' Frame of Reference.

Contours are the mask's outline at level 0.5 (marching squares, :mod:`contourpy`, which matplotlib already installs):
each vertex lies halfway between a tumour pixel's centre and its outside neighbour's, so the polygon is the region's
boundary (a mask's area, up to the corners it cuts: 1/8 pixel each) and a pixel is tumour exactly when its centre
lies inside — the rule :func:`tumorseg.data.formats.rtstruct.rasterize` reads contours with, so a written set reads
back as the mask it came from. A region with a hole gives an outer and an inner contour (even-odd, as DICOM planar
contours are commonly read). Contours through pixel centres (OpenCV's, rt-utils') would shrink every outline by
half a pixel for a reader of that rule.

A slice without tumour gets no contour; an all-empty prediction gives the ROI with no contours (a complete answer:
"no tumour"). Written by hand on pydicom: highdicom has no RTSTRUCT writer, and rt-utils needs OpenCV and reads the
series folder itself.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tumorseg import __version__
from tumorseg.data.formats._common import require
from tumorseg.data.formats.rtstruct import RTSTRUCT_SOP_CLASS, SliceGeometry
from tumorseg.errors import DataError

ROI_COLOUR = (255, 0, 0)
# the study a structure set references, by the (retired, universally used) Detached Study Management SOP class
_STUDY_SOP_CLASS = "1.2.840.10008.3.1.2.3.1"
_PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                  "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName", "StudyDescription")
_TYPE_2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyID",
           "AccessionNumber", "ReferringPhysicianName")


def mask_contours(mask: np.ndarray) -> list[np.ndarray]:
    """The outline of a ``(rows, cols)`` bool mask as closed polygons, each ``(N, 2) float`` (column, row) in pixel
    units, pixel centres at whole numbers, not repeating the first vertex; collinear vertices left out. An empty
    mask gives ``[]``; a region with a hole gives its outer and inner outline (module doc)."""
    contourpy = require("contourpy", "writing RTSTRUCT contours")
    mask = np.asarray(mask, bool)
    if not mask.any():
        return []
    padded = np.pad(mask, 1).astype(np.float32)  # every outline closes inside the padded grid
    points, _ = contourpy.contour_generator(z=padded, line_type="SeparateCode").lines(0.5)
    return [p for p in (_simplified(loop[:-1] - 1.0) for loop in points) if len(p) >= 3]


def _simplified(loop: np.ndarray) -> np.ndarray:
    """``loop`` without the vertices that lie on the straight line through their neighbours."""
    before, after = np.roll(loop, 1, axis=0), np.roll(loop, -1, axis=0)
    cross = (loop[:, 0] - before[:, 0]) * (after[:, 1] - loop[:, 1]) - (loop[:, 1] - before[:, 1]) * (
        after[:, 0] - loop[:, 0])
    return loop[np.abs(cross) > 1e-9]


def _ds(values: np.ndarray) -> list[str]:
    """Coordinates in mm as DICOM decimal strings (at most 16 characters: micrometre precision)."""
    return [f"{v:.3f}".rstrip("0").rstrip(".") or "0" for v in np.asarray(values, float).ravel()]


def write_rtstruct(masks: np.ndarray, sources: Sequence, out: Path, algorithm: str = "model",
                   where: str | Path | None = None) -> Path:
    """Write ``masks`` as an RTSTRUCT over ``sources`` to ``out`` (module doc).

    Args:
        masks: ``(Z, rows, cols)`` bool, one slice per source image, in the order of ``sources``.
        sources: the series' single-frame pydicom datasets, sorted as
            :func:`~tumorseg.data.formats.dicom.read_dicom_series` sorts them (one dataset for a one-slice file).
        out: the ``.dcm`` path to write.
        algorithm: the model's name, recorded in the ROI name and the series description.
        where: the input's name for error messages (default: the first source's file name).

    Raises:
        DataError: a multi-frame source, masks that do not match the sources, or sources without what contours
            in mm need (position, orientation, spacing, Frame of Reference UID); the message names the input.
    """
    pydicom = require("pydicom", "writing RTSTRUCT")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as Seq
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    src = sources[0]
    where = where or getattr(src, "filename", None) or "the DICOM input"
    masks = np.asarray(masks, bool)
    masks = masks[None] if masks.ndim == 2 else masks
    if int(getattr(src, "NumberOfFrames", 1) or 1) > 1:
        raise DataError(f"{where}: no RTSTRUCT written: contours on a multi-frame image need frame references, "
                        "which tumorseg does not write (the DICOM SEG covers it).")
    if masks.shape != (len(sources), int(src.Rows), int(src.Columns)):
        raise DataError(f"{where}: no RTSTRUCT written: masks of shape {masks.shape} do not match the "
                        f"{len(sources)} image(s) of {int(src.Rows)} x {int(src.Columns)}.")
    for key in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        if not getattr(src, key, None):
            raise DataError(f"{where}: no RTSTRUCT written: the source lacks {key}, which an RTSTRUCT must reference.")
    if any(not getattr(s, "SOPInstanceUID", None) or not getattr(s, "SOPClassUID", None) for s in sources):
        raise DataError(f"{where}: no RTSTRUCT written: an image lacks its SOP Instance or Class UID, which each "
                        "contour must reference.")
    frame_uid = src.FrameOfReferenceUID
    geometry = SliceGeometry.of(list(sources))  # DataError without position / orientation / spacing

    def image_ref(ds) -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID = ds.SOPClassUID
        item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
        return item

    now = datetime.datetime.now()
    uid = generate_uid()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTSTRUCT_SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT_SOP_CLASS, uid
    ds.InstanceCreationDate, ds.InstanceCreationTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    for key in _PATIENT_STUDY:  # patient and general study modules: the source's
        value = getattr(src, key, None)
        if value is not None or key in _TYPE_2:
            setattr(ds, key, value if value is not None else "")
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = int(getattr(src, "SeriesNumber", 0) or 0) + 2000
    ds.SeriesDescription = f"tumorseg {algorithm} tumour contours"[:64]
    ds.OperatorsName = ""
    ds.Manufacturer, ds.ManufacturerModelName = "tumorseg", algorithm[:64]
    ds.SoftwareVersions = __version__
    ds.InstanceNumber = 1
    ds.StructureSetLabel = "TUMORSEG"
    ds.StructureSetName = f"tumorseg {algorithm}"[:64]
    ds.StructureSetDescription = "Predicted brain tumour (research use only, not for diagnosis or treatment)"
    ds.StructureSetDate, ds.StructureSetTime = ds.InstanceCreationDate, ds.InstanceCreationTime

    series_ref = Dataset()
    series_ref.SeriesInstanceUID = src.SeriesInstanceUID
    series_ref.ContourImageSequence = Seq([image_ref(s) for s in sources])
    study_ref = Dataset()
    study_ref.ReferencedSOPClassUID = _STUDY_SOP_CLASS
    study_ref.ReferencedSOPInstanceUID = src.StudyInstanceUID
    study_ref.RTReferencedSeriesSequence = Seq([series_ref])
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_uid
    frame.RTReferencedStudySequence = Seq([study_ref])
    ds.ReferencedFrameOfReferenceSequence = Seq([frame])

    roi = Dataset()
    roi.ROINumber = 1
    roi.ReferencedFrameOfReferenceUID = frame_uid
    roi.ROIName = f"Tumour (tumorseg {algorithm})"[:64]
    roi.ROIGenerationAlgorithm = "AUTOMATIC"
    ds.StructureSetROISequence = Seq([roi])

    contours = []
    for k, (mask, source) in enumerate(zip(masks, sources)):
        for loop in mask_contours(mask):
            mm = (geometry.positions[k] + np.outer(loop[:, 0] * geometry.spacing[1], geometry.row_dir)
                  + np.outer(loop[:, 1] * geometry.spacing[0], geometry.col_dir))
            item = Dataset()
            item.ContourImageSequence = Seq([image_ref(source)])
            item.ContourGeometricType = "CLOSED_PLANAR"
            item.NumberOfContourPoints = len(loop)
            item.ContourNumber = len(contours) + 1
            item.ContourData = _ds(mm)
            contours.append(item)
    roi_contour = Dataset()
    roi_contour.ROIDisplayColor = list(ROI_COLOUR)
    roi_contour.ReferencedROINumber = 1
    if contours:
        roi_contour.ContourSequence = Seq(contours)
    ds.ROIContourSequence = Seq([roi_contour])

    observation = Dataset()
    observation.ObservationNumber = 1
    observation.ReferencedROINumber = 1
    observation.RTROIInterpretedType = ""
    observation.ROIInterpreter = ""
    ds.RTROIObservationsSequence = Seq([observation])

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        ds.save_as(out, enforce_file_format=True)  # pydicom 3: preamble and file meta written
    except TypeError:  # pydicom 2 names it write_like_original
        ds.is_little_endian, ds.is_implicit_VR = True, False
        pydicom.dcmwrite(str(out), ds, write_like_original=False)
    return out
