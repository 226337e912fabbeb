"""Multi-page TIFF stacks (a volume as Fiji / ImageJ saves it): read as ``(Z, H, W)`` slices, masks written back
as an ImageJ stack of the same size and calibration (:mod:`tumorseg.data.formats.tiff_stack`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tumorseg.data.formats import tiff_stack
from tumorseg.data.formats.scaling import volume_to_uint8
from tumorseg.io.base import Properties, ReaderWriter


class TiffStackIO(ReaderWriter):
    """One multi-page TIFF of same-size grayscale pages. ``read`` gives ``(Z, H, W) uint8``: page k is slice k,
    rows and columns as stored, scaled once per volume as a NIfTI volume is
    (:func:`~tumorseg.data.formats.scaling.volume_to_uint8`); ``spacing_mm`` from the ImageJ calibration (``None``
    when uncalibrated); shown as stored (a TIFF says nothing of orientation). ``write_mask`` writes
    ``OUT/<stem>_mask.tif``, an 8-bit stack with values 0/255 (ImageJ's binary images) and the source's calibration,
    so it opens over the scan in Fiji; ``write_probabilities`` ``OUT/<stem>_prob.tif`` (probability × 255)."""

    kind = "tiff"

    def read(self, path: Path) -> tuple[np.ndarray, Properties]:
        path = Path(path)
        raw, spacing = tiff_stack.read_stack(path)  # (Z, H, W) as stored; sizes checked before decoding
        array = volume_to_uint8(raw)
        return array, Properties(path, "tiff", path.stem, array.shape, raw.shape, spacing)

    def write_mask(self, mask: np.ndarray, properties: Properties, out: Path, algorithm: str = "model") -> list[Path]:
        values = properties.check_mask(mask).astype(np.uint8) * 255
        return [tiff_stack.write_stack(values, properties.spacing_mm, Path(out) / f"{properties.name}_mask.tif")]

    def write_probabilities(self, prob: np.ndarray, properties: Properties, out: Path) -> list[Path]:
        values = properties.source_layout(prob).astype(np.uint8)
        return [tiff_stack.write_stack(values, properties.spacing_mm, Path(out) / f"{properties.name}_prob.tif")]
