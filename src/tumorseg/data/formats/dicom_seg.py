"""Predicted masks as a DICOM Segmentation object (SEG) that references its source series.

3D Slicer, OHIF and PACS viewers open a SEG on top of the series it came
from: the SEG copies the patient and study, shares the source's Frame of
Reference and geometry, and lists the source SOP Instance UIDs frame by
frame. Written with highdicom (the ``formats`` extra).

Content: BINARY segmentation, one segment ``"Tumor"`` (category SCT 49755003
"Morphologically abnormal structure", type SCT 108369006 "Neoplasm", anatomic
region SCT 12738006 "Brain"), algorithm type AUTOMATIC with the model's name.
Frames without tumour are left out (highdicom's ``omit_empty_frames``) unless
every frame is empty, when all are kept so the object still covers the series.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tumorseg import __version__
from tumorseg.data.formats._common import require
from tumorseg.errors import DataError, why

log = logging.getLogger(__name__)

SEGMENT_LABEL = "Tumor"


def segment_description(algorithm: str):
    """The one segment's highdicom ``SegmentDescription`` (codes in the module docstring)."""
    hd = require("highdicom", "writing DICOM SEG")
    from pydicom.sr.codedict import codes

    return hd.seg.SegmentDescription(
        segment_number=1, segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=f"tumorseg {algorithm}"[:64], family=codes.cid7162.ArtificialIntelligence, version=__version__),
        anatomic_regions=[codes.SCT.Brain],
    )


def write_seg(masks: np.ndarray, sources: Sequence, out: Path, algorithm: str = "model",
              where: str | Path | None = None) -> Path:
    """Write ``masks`` as a DICOM SEG referencing ``sources`` to ``out``.

    Args:
        masks: ``(frames, rows, cols)`` bool, one frame per source frame, in
            the order of ``sources`` (single-frame files, as sorted by
            :func:`~tumorseg.data.formats.dicom.read_dicom_series`) or of the
            frames of one multi-frame source.
        sources: the source pydicom datasets (with pixel data): several
            single-frame files of one series, or one file.
        out: the ``.dcm`` path to write.
        algorithm: model name, recorded as the segment's algorithm.
        where: the input's name for error messages (default: the first source's file name).

    Raises:
        DataError: the sources lack what a SEG must copy (patient/study
            identifiers, geometry) or do not match ``masks``; the message names
            the first source file and the missing piece.
    """
    hd = require("highdicom", "writing DICOM SEG")
    src = sources[0]
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim == 2:
        masks = masks[None]
    where = where or getattr(src, "filename", None) or "the DICOM input"
    hd_log = logging.getLogger("highdicom")
    level = hd_log.level
    hd_log.setLevel(max(level, logging.WARNING))  # highdicom logs every module it copies at INFO
    try:
        seg = hd.seg.Segmentation(
            source_images=list(sources), pixel_array=masks.astype(np.uint8),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[segment_description(algorithm)],
            series_instance_uid=hd.UID(), series_number=int(getattr(src, "SeriesNumber", 0) or 0) + 1000,
            sop_instance_uid=hd.UID(), instance_number=1,
            manufacturer="tumorseg", manufacturer_model_name=algorithm[:64], software_versions=__version__,
            device_serial_number="0", content_label="TUMORSEG",
            content_description="Predicted brain tumour (research use only)",
            series_description=f"tumorseg {algorithm} tumour mask"[:64],
            omit_empty_frames=bool(masks.any()),  # an all-empty SEG keeps its frames: a valid, complete answer
        )
    except AttributeError as exc:  # a source attribute the SEG must copy is missing
        missing = getattr(exc, "name", None) or str(exc)[:80]
        raise DataError(f"{where}: no DICOM SEG written: the source lacks {missing}, which a SEG must copy.") from None
    except (ValueError, TypeError, KeyError) as exc:  # highdicom's other checks of the sources and the masks
        raise DataError(f"{where}: no DICOM SEG written ({why(exc)}).") from None
    finally:
        hd_log.setLevel(level)
    out.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out, enforce_file_format=True)  # highdicom needs pydicom 3, which has this argument
    return out


def read_seg_mask(path: Path, sources: Sequence) -> np.ndarray:
    """A SEG's tumour segment as ``(frames, rows, cols) bool`` in the order of single-frame ``sources``.

    The reverse of :func:`write_seg` for checks and tests; frames the SEG left
    out (empty) read as empty.
    """
    hd = require("highdicom", "reading DICOM SEG")
    seg = hd.seg.segread(str(path))
    px = seg.get_pixels_by_source_instance(
        [s.SOPInstanceUID for s in sources], segment_numbers=[1], assert_missing_frames_are_empty=True)
    return px[..., 0].astype(bool)  # (frames, rows, cols, segments) -> one segment
