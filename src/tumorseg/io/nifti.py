"""NIfTI volumes (``.nii``, ``.nii.gz``): read as axial slices, masks written with the source's affine and header."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tumorseg.data.formats import nifti
from tumorseg.data.formats._common import require
from tumorseg.data.formats.orientation import STORED_AXES, slice_axes
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
    (a web upload).
    """

    cache: bool = True
    kind = "nifti"

    def read(self, path: Path) -> tuple[np.ndarray, Properties]:
        path = Path(path)
        vol = nifti.read_volume(path, cache=self.cache)[0]  # (X, Y, Z) uint8
        affine = require("nibabel", "reading NIfTI volumes").load(str(path)).affine  # header only
        vx = nifti.voxel_mm(path)  # (X, Y, Z) mm, or None
        axes, plane = slice_axes(affine, vx)
        if axes != STORED_AXES:
            log.info("%s: stored as %s slices; read as axial slices (array axes reordered, no resampling), the "
                     "mask written in the file's own layout", path.name, plane)
        elif plane != "axial":
            log.warning("%s: %s slices %s; predicted in that plane, though the models were trained on axial "
                        "slices (a volume with near-isotropic voxels would be read as axial)", path.name, plane,
                        "of unknown voxel size" if vx is None else "of %s mm" % "×".join(f"{v:g}" for v in vx))
        array = vol.transpose(axes)  # (Z, H, W), a view; by default (X, Y, Z) -> (Z, X, Y): array[k] is vol[:, :, k]
        cols = [axes[1], axes[2], axes[0], 3]
        return array, Properties(path, "nifti", nifti.nifti_stem(path), array.shape, vol.shape,
                                 tuple(vx[a] for a in axes) if vx else None, affine[:, cols], axes=axes)

    def write_mask(self, mask: np.ndarray, properties: Properties, out: Path, algorithm: str = "model") -> list[Path]:
        mask = properties.check_mask(mask)  # (Z, H, W)
        target = Path(out) / f"{properties.name}_mask.nii.gz"
        return [nifti.save_mask_like(mask.transpose(np.argsort(properties.axes)), properties.source, target)]
