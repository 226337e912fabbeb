"""Reading one input (image, NIfTI volume, DICOM file or series) as ``(array, properties)``, and writing a
mask back with the input's geometry: the one reading path of ``tumorseg predict`` and ``tumorseg serve``.

>>> array, props = read_input("case-t2f.nii.gz")       # (Z, H, W) uint8, Properties
>>> write_mask(array >= 128, props, Path("out"))      # [out/case-t2f_mask.nii.gz], the source's affine

=======================  ============================  ==========================================================
input                    reader (:func:`reader_for`)   mask written (``OUT/...``)
=======================  ============================  ==========================================================
``.png .jpg .tif ...``   :class:`ImageIO`              ``<stem>.png`` (0/255, the image's size)
``.nii``, ``.nii.gz``    :class:`NiftiIO`              ``<stem>_mask.nii.gz`` (shape, affine, header geometry)
``.nrrd .nhdr``          :class:`ItkIO` (SimpleITK)    ``<stem>_mask.nrrd`` (size, spacing, origin, direction)
``.mha .mhd``            :class:`ItkIO` (SimpleITK)    ``<stem>_mask.mha`` (the same)
multi-page ``.tif``      :class:`TiffStackIO`          ``<stem>_mask.tif`` (an ImageJ stack, 0/255, the source's
(a stack of slices)                                    size and calibration)
``.dcm`` / ``DICM``      :class:`DicomIO`              ``<stem>.png`` (per frame: ``<stem>/<stem>_NNN.png``),
                                                       ``<stem>_seg.dcm``, ``<stem>_rtstruct.dcm`` (one frame)
series folder            :class:`DicomIO`              ``<name>/<name>_NNN.png``, ``<name>_mask.nii.gz``,
                                                       ``<name>_seg.dcm``, ``<name>_rtstruct.dcm``
one series of a folder   :class:`DicomIO`              the same, ``<name>`` =
(``DicomSeries``)                                      ``<folder>_s<number>_<description>``
``.zip``                 :mod:`tumorseg.data.archive`  what the folder it holds gives (``predict``: unpacked for
                                                       the run; ``serve``: its files as one upload)
=======================  ============================  ==========================================================

The array layout and :class:`Properties` are described in :mod:`tumorseg.io.base`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tumorseg.data.formats.dicom import DicomSeries, is_dicom_file
from tumorseg.data.formats.itk import ITK_SUFFIXES, is_itk_volume
from tumorseg.data.formats.nifti import is_nifti
from tumorseg.data.formats.tiff_stack import is_stack
from tumorseg.data.imageio import IMAGE_SUFFIXES
from tumorseg.errors import DataError
from tumorseg.io.base import Properties, ReaderWriter
from tumorseg.io.dicom import DicomIO
from tumorseg.io.image import ImageIO, luma
from tumorseg.io.itk import ItkIO
from tumorseg.io.nifti import NiftiIO
from tumorseg.io.tiff import TiffStackIO

SUPPORTED = (f"{', '.join(IMAGE_SUFFIXES)} (a multi-page .tif: one volume), .mat (figshare), .nii, .nii.gz, "
             f"{', '.join(ITK_SUFFIXES)}, .dcm/.ima (or a DICOM series folder)")
WRITERS: dict[str, ReaderWriter] = {"image": ImageIO(), "nifti": NiftiIO(), "itk": ItkIO(), "dicom": DicomIO(),
                                    "tiff": TiffStackIO()}


def reader_for(path: str | Path | DicomSeries) -> ReaderWriter:
    """The reader of ``path``, chosen by file type: NIfTI by name (``.nii``/``.nii.gz``), NRRD and MetaImage by
    name (:data:`~tumorseg.data.formats.itk.ITK_SUFFIXES`), DICOM by ``.dcm`` or
    the ``DICM`` preamble of a file without suffix, a TIFF of same-size pages as one volume
    (:func:`~tumorseg.data.formats.tiff_stack.is_stack`), images by :data:`~tumorseg.data.imageio.IMAGE_SUFFIXES`,
    a folder holding DICOM files as one series, and one :class:`DicomSeries` of a folder.

    Raises:
        DataError: anything else (one line naming the file and the supported types).
    """
    if isinstance(path, DicomSeries):
        return WRITERS["dicom"]
    path = Path(path)
    if path.is_dir():
        if any(p.is_file() and is_dicom_file(p) for p in path.iterdir()):
            return WRITERS["dicom"]
        raise DataError(f"{path}: a folder without DICOM files; give one file (supported: {SUPPORTED}).")
    if is_nifti(path):
        return WRITERS["nifti"]
    if is_itk_volume(path):
        return WRITERS["itk"]
    if is_dicom_file(path):
        return WRITERS["dicom"]
    if is_stack(path):
        return WRITERS["tiff"]
    if path.suffix.lower() in WRITERS["image"].suffixes:  # images, and figshare .mat slices
        return WRITERS["image"]
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    raise DataError(f"{path}: unsupported file type '{path.suffix}'. Supported: {SUPPORTED}.")


def probability_bytes(prob: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] (any shape) as ``uint8`` probability x 255, rounded: how maps are written."""
    return np.round(np.clip(np.asarray(prob, np.float32), 0.0, 1.0) * 255).astype(np.uint8)


def write_probabilities(prob: np.ndarray, properties: Properties, out: str | Path) -> list[Path]:
    """Write the model's probabilities ``prob`` (``(Z, H, W)`` floats in [0, 1], or their :func:`probability_bytes`)
    beside the mask, with the geometry of ``properties``' source: ``<name>_prob.nii.gz`` (NIfTI and DICOM series:
    ``uint8`` with scale 1/255, so readers see 0-1), ``<name>_prob.nrrd`` / ``.mha`` and ``<stem>_prob.png`` (``uint8``
    0-255). Returns the files written."""
    prob = np.asarray(prob)
    prob = prob if prob.dtype == np.uint8 else probability_bytes(prob)
    return WRITERS[properties.kind].write_probabilities(prob, properties, Path(out))


def read_input(path: str | Path | DicomSeries) -> tuple[np.ndarray, Properties]:
    """``reader_for(path).read(path)``: ``(array, properties)`` (see :mod:`tumorseg.io.base`)."""
    return reader_for(path).read(path if isinstance(path, DicomSeries) else Path(path))


def write_mask(mask: np.ndarray, properties: Properties, out: str | Path, algorithm: str = "model") -> list[Path]:
    """Write ``mask`` ``(Z, H, W) bool`` into the folder ``out`` with the geometry of ``properties``' source
    (by its kind; the files are listed in the module docstring). Returns the files written."""
    return WRITERS[properties.kind].write_mask(mask, properties, Path(out), algorithm)


__all__ = ["DicomIO", "DicomSeries", "ImageIO", "ItkIO", "NiftiIO", "Properties", "ReaderWriter", "SUPPORTED",
           "TiffStackIO", "WRITERS", "is_itk_volume", "luma", "probability_bytes", "read_input", "reader_for",
           "write_mask", "write_probabilities"]
