"""2-D image files (PNG, JPEG, TIFF, BMP): read as one slice, masks written as 8-bit PNG of the same size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tumorseg.data.imageio import IMAGE_SUFFIXES, gray, open_decoded, write_mask_png
from tumorseg.io.base import Properties, ReaderWriter


def luma(stack: np.ndarray) -> np.ndarray:
    """A colour stack ``(3, H, W) uint8`` as grayscale ``(H, W) uint8`` (ITU-R 601 luma, PIL ``"L"``)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(np.moveaxis(stack, 0, -1)), "RGB").convert("L"))


class ImageIO(ReaderWriter):
    """PNG/JPEG/TIFF/BMP (:data:`~tumorseg.data.imageio.IMAGE_SUFFIXES`), and figshare ``.mat`` slices
    (:func:`tumorseg.data.formats.figshare.read_image`: their image, percentile-scaled to 8 bits; the mask stored
    in the file is not read).

    ``read`` gives ``(1, H, W) uint8`` for grayscale images (16-bit ones
    rescaled by their own min/max, palette/other modes as PIL ``"L"``; an RGB
    image whose three channels are equal is grayscale too), and
    ``(1, 3, H, W) uint8`` for an RGB/RGBA image whose channels differ (an LGG
    TIFF: pre-contrast, FLAIR, post-contrast; alpha dropped). ``write_mask``
    writes ``OUT/<stem>.png``, one 8-bit channel with values 0/255, the image's
    size.
    """

    kind = "image"
    suffixes = (*IMAGE_SUFFIXES, ".mat")  # .mat: a figshare slice (MATLAB v7.3), its image scaled as in training

    def read(self, path: Path) -> tuple[np.ndarray, Properties]:
        path = Path(path)
        if path.suffix.lower() == ".mat":
            from tumorseg.data.formats.figshare import read_image

            image = read_image(path)[None]
            return image, Properties(path, "image", path.stem, image.shape, tuple(image.shape[1:]))
        with open_decoded(path) as img:  # the declared size is checked before decoding (tumorseg.limits)
            if img.mode in ("RGB", "RGBA"):
                rgb = np.asarray(img)
                source_shape = rgb.shape
                if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
                    array = rgb[None, ..., 0].copy()  # equals PIL's "L" conversion when R = G = B
                else:
                    array = np.moveaxis(rgb[..., :3], -1, 0)[None]  # (1, 3, H, W)
            else:
                array = gray(img)[None]
                source_shape = array.shape[1:]
        return array, Properties(path, "image", path.stem, array.shape, tuple(source_shape))

    def write_mask(self, mask: np.ndarray, properties: Properties, out: Path, algorithm: str = "model") -> list[Path]:
        mask = properties.check_mask(mask)
        target = Path(out) / f"{properties.name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_mask_png(mask[0], target)
        return [target]

    def write_probabilities(self, prob: np.ndarray, properties: Properties, out: Path) -> list[Path]:
        target = Path(out) / f"{properties.name}_prob.png"  # 8-bit gray: probability x 255
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(properties.source_layout(prob)[0].astype(np.uint8), mode="L").save(target)
        return [target]
