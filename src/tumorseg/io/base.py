"""The reader/writer contract: ``read(path) -> (array, properties)``, ``write_mask(mask, properties, out)``.

Modelled on nnU-Net's ``imageio/base_reader_writer.py``: a reader returns the
pixels in one layout plus what is needed to put a mask back where the pixels
came from; the writer takes that back, so every output keeps its source's
geometry (an image's size, a NIfTI's affine and header, a DICOM series' UIDs).

Array layout, for every kind:

* ``(Z, H, W) uint8``: Z slices of H rows × W columns (a 2-D image is ``Z = 1``;
  a NIfTI (or NRRD/MetaImage) volume ``(X, Y, Z)`` is read as ``(Z, X, Y)``: slice k is ``vol[:, :, k]``;
  a near-isotropic sagittal or coronal volume or DICOM series as axial slices, ``Properties.axes``; a
  multi-page TIFF's pages as stored);
* ``(Z, C, H, W) uint8`` for a colour image whose channels differ (``Z = 1``,
  ``C = 3``: an LGG TIFF's pre-contrast, FLAIR, post-contrast, or a colour
  photo); which channel a model gets is the caller's choice
  (:func:`tumorseg.inference.volumes.read_model_input`).

Intensities are those the model is fed: 8-bit images as stored (16-bit ones by
their own min/max), volumes and DICOM by one foreground-percentile scale per
volume (:func:`tumorseg.data.formats.scaling.volume_to_uint8`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from tumorseg.errors import DataError

Kind = Literal["image", "nifti", "itk", "dicom", "tiff"]


@dataclass
class Properties:
    """What a reader knows about its source, and what :meth:`ReaderWriter.write_mask` needs to restore it.

    Attributes:
        source: the file (or DICOM series folder) read.
        kind: ``"image"`` (PNG/JPEG/TIFF/BMP), ``"nifti"``, ``"itk"`` (NRRD, MetaImage), ``"dicom"`` or ``"tiff"``
            (a multi-page TIFF stack).
        name: the stem outputs are named after (``scan`` for ``scan.nii.gz``, the folder name of a series).
        shape: shape of the array read: ``(Z, H, W)`` or ``(Z, C, H, W)``.
        source_shape: the array's shape in the source (a NIfTI's ``(X, Y, Z)``, a DICOM file's pixel array).
        spacing_mm: ``(slice, row, column)`` spacing in mm, matching the array's axes; the slice spacing may
            be ``None`` (one DICOM slice without thickness); ``None`` when the file gives no spacing.
        affine: NIfTI: the header's voxel-to-RAS affine of ``(X, Y, Z)`` (NRRD/MetaImage: converted from ITK's
            LPS geometry); DICOM series: the RAS affine of the ``(columns, rows, slices)`` NIfTI mask written for
            it; ``None`` otherwise.
        axes: ``None``: the array is in the reader's usual layout (a NIfTI's ``(Z, X, Y)``, a series'
            ``(slices, rows, columns)``). Otherwise the volume was stored as sagittal or coronal slices and is read
            as axial ones (:func:`tumorseg.data.formats.orientation.slice_axes`): the array is the usual layout
            transposed by ``axes``; writers put masks back with :meth:`stored`.
        view_affine: with ``axes``: the RAS affine of the array's ``(H, W, Z)`` axes (what :meth:`display` turns).
        orientation: DICOM ImageOrientationPatient (six direction cosines, LPS), when given.
        datasets: DICOM: the source pydicom datasets in array order (what a DICOM SEG references).
        series: DICOM: a series folder (``True``) rather than one file.
    """

    source: Path
    kind: Kind
    name: str
    shape: tuple[int, ...]
    source_shape: tuple[int, ...]
    spacing_mm: tuple[float | None, float, float] | None = None
    affine: np.ndarray | None = None
    orientation: tuple[float, ...] | None = None
    datasets: list = field(default_factory=list, repr=False)
    series: bool = False
    axes: tuple[int, int, int] | None = None
    view_affine: np.ndarray | None = field(default=None, repr=False)

    def display(self) -> np.ndarray | None:
        """The nibabel orientation transform that shows a slice ``array[k]`` in the radiological view
        (:mod:`tumorseg.data.formats.orientation`); ``None``: shown as stored (images, DICOM without
        orientation)."""
        from tumorseg.data.formats.orientation import dicom_slice_affine, display_ornt

        if self.view_affine is not None:
            return display_ornt(self.view_affine)
        if self.kind in ("nifti", "itk") and self.affine is not None:
            return display_ornt(self.affine)
        if self.kind == "dicom" and self.orientation is not None:
            return display_ornt(dicom_slice_affine(self.orientation))
        return None

    def check_mask(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` as ``(Z, H, W) bool``, refused unless it matches the array read.

        Raises:
            DataError: naming the source, the mask's shape and the one expected.
        """
        mask = np.asarray(mask)
        want = (self.shape[0], *self.shape[-2:])
        if mask.shape != want:
            raise DataError(f"{self.source}: mask shape {mask.shape} differs from the input's {want} (Z, H, W).")
        return mask.astype(bool, copy=False)

    def stored(self, mask: np.ndarray) -> np.ndarray:
        """A ``(Z, H, W)`` mask of the array read, in the reader's usual layout (undoes :attr:`axes`)."""
        return self.source_layout(self.check_mask(mask))

    def source_layout(self, values: np.ndarray) -> np.ndarray:
        """:meth:`stored` for any ``(Z, H, W)`` values of the array read (a probability map), kept as they are.

        Raises:
            DataError: ``values`` do not match the array read.
        """
        values = np.asarray(values)
        want = (self.shape[0], *self.shape[-2:])
        if values.shape != want:
            raise DataError(f"{self.source}: map shape {values.shape} differs from the input's {want} (Z, H, W).")
        return values if self.axes is None else values.transpose(np.argsort(self.axes))


class ReaderWriter:
    """One format's reader and mask writer (see the module docstring for the array layout)."""

    kind: Kind

    def read(self, path: Path) -> tuple[np.ndarray, Properties]:
        """``(array, properties)`` of ``path``; sizes are checked against :mod:`tumorseg.limits` before decoding.

        Raises:
            DataError: unreadable, over the limits, or not this format (one line naming the file).
        """
        raise NotImplementedError

    def write_mask(self, mask: np.ndarray, properties: Properties, out: Path, algorithm: str = "model") -> list[Path]:
        """Write ``mask`` (``(Z, H, W) bool``, the array's slices) into the folder ``out`` with the source's
        geometry; returns the files written. ``algorithm`` names the model in outputs that record it (DICOM SEG).

        Raises:
            DataError: the mask does not match the source.
        """
        raise NotImplementedError

    def write_probabilities(self, prob: np.ndarray, properties: Properties, out: Path) -> list[Path]:
        """Write the model's probabilities ``prob`` (``(Z, H, W) uint8``: probability × 255, the array's slices) into
        ``out`` beside the mask, with the source's geometry (``<name>_prob.*``); returns the files written.

        Raises:
            DataError: the map does not match the source.
        """
        raise NotImplementedError
