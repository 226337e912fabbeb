"""NIfTI volumes (``.nii``, ``.nii.gz``): read as axial slices, masks written with the source's affine and header."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tumorseg import limits
from tumorseg.data.formats import nifti
from tumorseg.data.formats._common import require
from tumorseg.data.formats.orientation import STORED_AXES, axial_view
from tumorseg.io.base import Properties, ReaderWriter

log = logging.getLogger(__name__)


@dataclass
class NiftiIO(ReaderWriter):
    """One 3-D NIfTI volume.

    ``read`` gives ``(Z, X, Y) uint8``: slice k is the volume's ``[:, :, k]``
    (the third array axis: axial in BraTS) — unless the volume is stored as sagittal or coronal slices
    with near-isotropic voxels: then its axes are reordered so that the slices are axial
    (:func:`tumorseg.data.formats.orientation.slice_axes`; ``Properties.axes``). Scaled once per volume
    (:func:`tumorseg.data.formats.nifti.read_volume`; its declared size checked
    against :mod:`tumorseg.limits` before any voxel is decoded). ``write_mask``
    writes ``OUT/<stem>_mask.nii.gz``: ``uint8`` 0/1 in the source's own array layout, with its shape,
    affine and header geometry (qform/sform codes included).

    ``cache``: keep the last few volumes read in memory (training, CLI); ``False`` for a file read once
    (a web upload). ``volume``: which volume of a 4-D file to read (``None``: an MSD file's FLAIR by its
    ``dataset.json``, :func:`tumorseg.data.formats.nifti.open_nifti`; any other 4-D file is refused).
    """

    cache: bool = True
    volume: int | None = None
    kind = "nifti"

    def read(self, path: Path) -> tuple[np.ndarray, Properties]:
        path = Path(path)
        vol = nifti.read_volume(path, cache=self.cache, volume=self.volume)[0]  # (X, Y, Z) uint8
        affine = require("nibabel", "reading NIfTI volumes").load(str(path)).affine  # header only
        return volume_properties(vol, affine, nifti.voxel_mm(path), path, "nifti", nifti.nifti_stem(path))

    def write_mask(self, mask: np.ndarray, properties: Properties, out: Path, algorithm: str = "model") -> list[Path]:
        target = Path(out) / f"{properties.name}_mask.nii.gz"
        return [nifti.save_mask_like(np.moveaxis(properties.stored(mask), 0, -1), properties.source, target)]

    def write_probabilities(self, prob: np.ndarray, properties: Properties, out: Path) -> list[Path]:
        target = Path(out) / f"{properties.name}_prob.nii.gz"  # uint8 with slope 1/255: readers see 0-1
        return [nifti.save_mask_like(np.moveaxis(properties.source_layout(prob), 0, -1), properties.source, target,
                                     slope=1 / 255)]


def volume_properties(vol: np.ndarray, affine: np.ndarray, zooms: tuple[float, float, float] | None, path: Path,
                      kind: str, name: str) -> tuple[np.ndarray, Properties]:
    """A volume's ``(X, Y, Z) uint8`` voxels as the ``(Z, X, Y)`` slices predicted and their :class:`Properties`
    (the one layout of NIfTI and NRRD/MetaImage volumes, :class:`NiftiIO`): slice k is ``vol[:, :, k]``, unless a
    near-isotropic sagittal or coronal volume is read as axial slices
    (:func:`~tumorseg.data.formats.orientation.axial_view`).

    Args:
        vol: ``(X, Y, Z) uint8`` voxels; affine: their ``(4, 4)`` voxel-to-RAS affine; zooms: voxel size in mm
            along ``X, Y, Z`` (``None``: unknown, then no spacing and no mL).
        path, kind, name: the source, its :class:`Properties` kind and the stem outputs are named after.
    """
    array = np.moveaxis(vol, -1, 0)  # (X, Y, Z) -> (Z, X, Y), a view: array[k] is vol[:, :, k]
    spacing = (zooms[2], zooms[0], zooms[1]) if zooms else None
    axes, view, axial_spacing = axial_view(affine, zooms, STORED_AXES, path.name, log)
    if axes is not None:  # a near-isotropic sagittal/coronal volume, read as axial slices
        array, spacing = array.transpose(axes), axial_spacing
    limits.check_slices(array.shape[0], str(path))  # each slice is a model call
    return array, Properties(path, kind, name, array.shape, vol.shape, spacing, affine, axes=axes, view_affine=view)
