"""NRRD (``.nrrd``, ``.nhdr``) and MetaImage (``.mha``, ``.mhd``) volumes: read as axial slices exactly as a NIfTI
volume is, masks written back in the source's format and geometry (SimpleITK, the ``itk`` extra; the conventions are
converted in :mod:`tumorseg.data.formats.itk`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tumorseg.data.formats import itk, nifti
from tumorseg.io.base import Properties, ReaderWriter
from tumorseg.io.nifti import volume_properties


@dataclass
class ItkIO(ReaderWriter):
    """One NRRD / MetaImage volume. ``read`` gives ``(Z, X, Y) uint8`` exactly as
    :class:`~tumorseg.io.nifti.NiftiIO` does for the same voxels and affine (scaled once per volume by
    :func:`tumorseg.data.formats.nifti.read_volume`; a near-isotropic sagittal or coronal volume read as axial
    slices). ``write_mask`` writes ``OUT/<stem>_mask.nrrd`` (from ``.nrrd`` / ``.nhdr``) or ``OUT/<stem>_mask.mha``
    (from ``.mha`` / ``.mhd``): ``uint8`` 0/1, one file with compressed data, the source's size, spacing, origin
    and direction, so it opens over the scan in 3D Slicer or ITK-SNAP.

    ``cache``: keep the last few volumes read in memory (CLI); ``False`` for a file read once (a web upload).
    """

    cache: bool = True
    kind = "itk"

    def read(self, path: Path) -> tuple[np.ndarray, Properties]:
        path = Path(path)
        vol = nifti.read_volume(path, cache=self.cache)[0]  # (X, Y, Z) uint8; header and size checked first
        affine, zooms = itk.geometry(itk.read_header(path)[0])
        return volume_properties(vol, affine, zooms, path, "itk", path.stem)

    def write_mask(self, mask: np.ndarray, properties: Properties, out: Path, algorithm: str = "model") -> list[Path]:
        target = Path(out) / f"{properties.name}_mask{itk.mask_suffix(properties.source)}"
        return [itk.write_like(np.moveaxis(properties.stored(mask), 0, -1), properties.source, target)]

    def write_probabilities(self, prob: np.ndarray, properties: Properties, out: Path) -> list[Path]:
        target = Path(out) / f"{properties.name}_prob{itk.mask_suffix(properties.source)}"  # uint8 0-255
        return [itk.write_like(np.moveaxis(properties.source_layout(prob), 0, -1), properties.source, target)]
