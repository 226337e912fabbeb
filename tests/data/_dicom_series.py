"""Synthetic MR DICOM files for tests: bare slices, and series with everything a DICOM SEG must copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def new_dataset(sop_class: str) -> Dataset:
    """An empty dataset of ``sop_class`` with a new SOP instance UID and its file meta (explicit VR little endian)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    return ds


def mr_slice(pixels: np.ndarray, position, instance: int, series_uid: str, spacing=(0.8, 0.6), thickness=3.0,
             orientation=(1, 0, 0, 0, 1, 0)) -> Dataset:
    """One MR image (int16 ``pixels`` ``(rows, cols)``) with geometry but no patient/study attributes."""
    ds = new_dataset(MRImageStorage)
    ds.SeriesInstanceUID, ds.Modality = series_uid, "MR"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelSpacing = list(spacing)  # row spacing, column spacing (mm)
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.InstanceNumber, ds.SliceThickness = instance, thickness
    ds.PixelData = pixels.astype("<i2").tobytes()
    return ds


def write_mr_series(folder: Path, pixels: np.ndarray, spacing=(0.8, 0.6), step=3.0,
                    orientation=(1, 0, 0, 0, 1, 0), number: int = 7, description: str | None = None,
                    study: str | None = None, prefix: str = "IM", series_uid: str | None = None,
                    echo: int | None = None) -> list[Path]:
    """Write ``pixels`` ``(Z, rows, cols)`` int16 as one MR series, slice k at ``k * step`` mm along the normal,
    with patient, study and frame-of-reference attributes (SeriesNumber ``number``, SeriesDescription
    ``description`` when given, StudyInstanceUID ``study`` or a new one, SeriesInstanceUID ``series_uid`` or a new
    one, EchoNumbers ``echo`` when given).

    File names (``<prefix>NNN.dcm``) run in reverse of the slice position (so readers must sort by
    geometry). Returns the paths in slice order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = study or generate_uid(), series_uid or generate_uid(), generate_uid()
    iop = np.array(orientation, float)
    normal = np.cross(iop[:3], iop[3:])
    paths = []
    for k, pix in enumerate(pixels):
        ds = mr_slice(pix, np.array([-10.0, 20.0, 5.0]) + k * step * normal, k + 1, series, spacing, step, orientation)
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Phantom", "PHANTOM1", "19700101", "O"
        ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.StudyID = study, "20240101", "120000", "1"
        ds.AccessionNumber, ds.ReferringPhysicianName = "A1", ""
        ds.SeriesNumber, ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = number, frame, ""
        if description is not None:
            ds.SeriesDescription = description
        if echo is not None:
            ds.EchoNumbers = echo
        path = folder / f"{prefix}{len(pixels) - k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def series_pixels(n=4, rows=24, cols=32) -> np.ndarray:
    """``(n, rows, cols) int16``: brain 300 with a bright block (900) in slices 1 and 2 only; slice 0 and 3 have
    no tumour."""
    pix = np.zeros((n, rows, cols), np.int16)
    pix[:, 3:21, 4:28] = 300
    pix[1, 6:10, 8:14] = 900
    pix[2, 7:9, 9:12] = 900
    return pix


BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def write_report(path, study):
    """A structured report: a DICOM object without pixels, as PACS exports put beside the images."""
    ds = new_dataset(BASIC_TEXT_SR)
    ds.Modality, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SeriesNumber = "SR", study, generate_uid(), 99
    ds.save_as(path, enforce_file_format=True)


RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"


def write_rtstruct(path: Path, dss, rois: dict, reference_images: bool = True, reference_series: bool = True) -> Path:
    """An RT Structure Set over the series ``dss`` (pydicom datasets in geometric order): ``rois`` maps an ROI number
    to ``(name, [(slice k, (N, 2) vertices as (row, col) pixel indices), ...])``; each outline is written as a
    closed planar contour in patient coordinates (mm) on slice k, naming its image unless ``reference_images`` is
    False (then only its plane tells the slice); without ``reference_series`` the set names no series (the
    RT Referenced Study/Series Sequences are optional), only the images its contours lie on."""
    from pydicom.sequence import Sequence as Seq

    first = dss[0]
    row_dir, col_dir = (np.asarray(first.ImageOrientationPatient[:3], float),
                        np.asarray(first.ImageOrientationPatient[3:], float))
    dr, dc = (float(v) for v in first.PixelSpacing)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = RT_STRUCTURE_SET, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = RT_STRUCTURE_SET, meta.MediaStorageSOPInstanceUID, "RTSTRUCT"
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = first.PatientID, first.StudyInstanceUID, generate_uid()
    ds.StructureSetLabel = "test"

    def image_ref(d):
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = d.SOPClassUID, d.SOPInstanceUID
        return item

    series = Dataset()
    series.SeriesInstanceUID, series.ContourImageSequence = first.SeriesInstanceUID, Seq([image_ref(d) for d in dss])
    study = Dataset()
    study.ReferencedSOPClassUID, study.ReferencedSOPInstanceUID = "1.2.840.10008.3.1.2.3.1", first.StudyInstanceUID
    study.RTReferencedSeriesSequence = Seq([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = first.FrameOfReferenceUID
    if reference_series:
        frame.RTReferencedStudySequence = Seq([study])
    ds.ReferencedFrameOfReferenceSequence = Seq([frame])
    ds.StructureSetROISequence, ds.ROIContourSequence = Seq(), Seq()
    for number, (name, outlines) in rois.items():
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, first.FrameOfReferenceUID
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber, item.ContourSequence = number, Seq()
        for k, vertices in outlines:
            origin = np.asarray(dss[k].ImagePositionPatient, float)
            points = [origin + c * dc * row_dir + r * dr * col_dir for r, c in np.asarray(vertices, float)]
            contour = Dataset()
            contour.ContourGeometricType, contour.NumberOfContourPoints = "CLOSED_PLANAR", len(points)
            contour.ContourData = [round(float(v), 4) for pt in points for v in pt]
            if reference_images:
                contour.ContourImageSequence = Seq([image_ref(dss[k])])
            item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"


def write_enhanced_mr(path: Path, pixels: np.ndarray, spacing=(0.8, 0.6), step=3.0, orientation=(1, 0, 0, 0, 1, 0),
                      frame_order=None, series_uid: str | None = None, frame_scale=None) -> Path:
    """Write ``pixels`` ``(Z, rows, cols)`` int16 as one Enhanced MR Image file (multi-frame, as Siemens XA and
    Philips scanners export a 3-D acquisition): slice k at ``k * step`` mm along the normal, geometry in the
    functional groups (shared pixel spacing and orientation, a position per frame). ``frame_order``: the slices
    in the order the frames are stored (default: ascending position); ``series_uid``: a series of its own unless
    given; ``frame_scale``: ``(slope, intercept)`` per slice, stored in each frame's Pixel Value Transformation as
    Philips does (the stored integers then ``(pixels - intercept) / slope``, rounded)."""
    from pydicom.sequence import Sequence

    order = list(range(len(pixels))) if frame_order is None else list(frame_order)
    ds = new_dataset(ENHANCED_MR)
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = "MR", series_uid or generate_uid(), generate_uid()
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = generate_uid(), ""
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Phantom", "PHANTOM1", "19700101", "O"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = (
        "20240101", "120000", "1", "A1", "")
    ds.SeriesNumber, ds.InstanceNumber, ds.SeriesDescription = 9, 1, "t2_space_flair_sag"
    ds.ContentDate, ds.ContentTime, ds.AcquisitionDateTime = "20240101", "120000", "20240101120000"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.Rows, ds.Columns = pixels.shape[1:]
    ds.NumberOfFrames = len(pixels)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    measures, plane = Dataset(), Dataset()
    measures.PixelSpacing, measures.SliceThickness, measures.SpacingBetweenSlices = list(spacing), step, step
    plane.ImageOrientationPatient = [float(v) for v in orientation]
    shared = Dataset()
    shared.PixelMeasuresSequence, shared.PlaneOrientationSequence = Sequence([measures]), Sequence([plane])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    iop = np.array(orientation, float)
    normal = np.cross(iop[:3], iop[3:])
    frames = []
    for k in order:
        position, item = Dataset(), Dataset()
        position.ImagePositionPatient = [float(v) for v in np.array([-10.0, 20.0, 5.0]) + k * step * normal]
        item.PlanePositionSequence = Sequence([position])
        if frame_scale is not None:
            transform = Dataset()
            transform.RescaleSlope, transform.RescaleIntercept = frame_scale[k]
            transform.RescaleType = "US"
            item.PixelValueTransformationSequence = Sequence([transform])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    if frame_scale is not None:
        slope, intercept = (np.array([frame_scale[k][i] for k in range(len(pixels))], float)[:, None, None]
                            for i in (0, 1))
        pixels = np.rint((pixels - intercept) / slope)
    ds.PixelData = np.ascontiguousarray(pixels[order]).astype("<i2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
