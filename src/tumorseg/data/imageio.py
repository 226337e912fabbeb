"""Reading 2-D images and masks into numpy arrays, with errors that name the file.

Conventions: images are returned as ``uint8`` arrays of shape ``(H, W)``
(grayscale); masks as ``bool`` arrays of shape ``(H, W)``. Resizing uses
bilinear interpolation for images and bilinear-then-threshold for masks (the
original project's ``mask = pixel > 127``), so labels never become fractional.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tumorseg import limits
from tumorseg.errors import DataError

# what Pillow raises on a damaged page header or truncated data (a missing tag: KeyError / TypeError "Missing
# dimensions")
DAMAGED = (OSError, ValueError, SyntaxError, KeyError, TypeError, struct.error)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MASK_THRESHOLD = 127


_BYTES_PER_SAMPLE = {"I;16": 2, "I;16B": 2, "I;16L": 2, "I": 4, "F": 4}


def open_image(path: str | Path) -> Image.Image:
    """Open an image file lazily and check its declared size against :mod:`tumorseg.limits` before any
    pixel is decoded (decompression bombs: a 100-byte PNG may declare 50000×50000). Call ``.load()``
    or ``np.asarray`` on the result to decode.

    Raises:
        DataError: missing, unreadable, or larger than the pixel limit (the message says which).
    """
    path = Path(path)
    try:
        img = Image.open(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found.") from None
    except Image.DecompressionBombError:  # > 2 × PIL.Image.MAX_IMAGE_PIXELS: far beyond our own caps too
        lim = limits.current()
        raise limits.LimitExceeded(f"{path}: declares more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels; at most "
                        f"{lim.max_pixels:,} per image are accepted; {lim.fix}.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        undecodable = undecodable_tiff(path)
        if undecodable:  # a valid TIFF of a pixel type Pillow does not decode (numpy's float64, signed 32-bit)
            raise DataError(undecodable) from None
        raise DataError(
            f"{path}: not a readable image ({exc.__class__.__name__}). "
            f"Supported: {', '.join(IMAGE_SUFFIXES)}; remove or replace the file."
        ) from None
    try:
        limits.check_image(*img.size, str(path), len(img.getbands()), _BYTES_PER_SAMPLE.get(img.mode, 1))
        _check_one_image(img, path)
    except DataError:
        img.close()
        raise
    return img


def undecodable_tiff(path: Path, where: str | None = None) -> str | None:
    """The one-line message for a TIFF that Pillow cannot open because of its pixel type (:func:`_tiff_pixel_type`),
    naming it ``where`` (default: ``path``), else ``None``."""
    pixel_type = _tiff_pixel_type(path)
    if not pixel_type:
        return None
    return (f"{where or path}: a TIFF of {pixel_type} pixels, which tumorseg's TIFF reader (Pillow) cannot decode; "
            "save it as 8- or 16-bit integers or 32-bit float (numpy and tifffile: tifffile.imwrite(path, "
            "array.astype('float32'))).")


def _tiff_pixel_type(path: Path) -> str | None:
    """``"float64"`` (the first page's numpy type) of a TIFF that tifffile (when installed) can parse but Pillow
    cannot open, when that type is one Pillow does not decode (not 8/16-bit unsigned or 32-bit float), else
    ``None``; only the first page's header is read."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            dtype = tif.pages.first.dtype
    except Exception:  # noqa: BLE001 - not a TIFF, or one tifffile cannot parse either: no hint
        return None
    return str(dtype) if dtype is not None and str(dtype) not in ("uint8", "uint16", "float32", "bool") else None


class ImageStack(DataError):
    """One image file holding a stack of same-size slices (:func:`open_image` refuses it: datasets, ``check-data``,
    an animated PNG; ``predict``, the web page and ``score`` read a multi-page TIFF as a volume,
    :mod:`tumorseg.io.tiff`). ``size``: ``(W, H)``."""

    def __init__(self, where: str, size: tuple[int, int]):
        self.size = size
        super().__init__(f"{where} holds a stack of {size[0]}×{size[1]} images (pages of a multi-page TIFF, or "
                         "frames), and tumorseg reads one 2-D slice per image file here; save the slices one per file "
                         "(Fiji: File > Save As > Image Sequence) or the stack as a NIfTI volume (to predict: also "
                         "a multi-page TIFF), and give that.")


def _check_one_image(img: Image.Image, path: Path) -> None:
    """Refuse a stack of slices in one file (a multi-page TIFF as Fiji/ImageJ saves a volume, an animated PNG):
    only its first image would be read, the rest silently lost. A second page of another size (a thumbnail, a
    reduced-resolution copy) is not a stack: such a file is read as its first image. Only the first two frames'
    headers are read (``is_animated`` says whether there is a second), however many a file declares.

    Raises:
        ImageStack: one line naming the file and the fix.
    """
    size = stack_size(img)
    if size is not None:
        raise ImageStack(f"{path}:", size)


def stack_size(img: Image.Image) -> tuple[int, int] | None:
    """``(W, H)`` of the pages when an opened image file holds a stack of same-size slices (its second frame has
    the first one's size: a multi-page TIFF, an animated PNG), else ``None`` (one image, or a second page of another
    size: a thumbnail). Reads the first two frames' headers only and leaves ``img`` at its first frame."""
    if not getattr(img, "is_animated", False):
        return None
    first = img.size
    try:
        img.seek(1)
        second = img.size
    except EOFError:
        return None
    except DAMAGED:  # a second page declared but damaged (a truncated stack): a stack, whose reader says what broke
        second = first
    finally:
        img.seek(0)
    return first if second == first else None


def open_decoded(path: Path) -> Image.Image:
    """:func:`open_image` and decode it, with every decoder failure as a one-line :class:`DataError`."""
    img = open_image(path)
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # truncated / corrupt data
        img.close()
        raise DataError(
            f"{path}: not a readable image ({exc.__class__.__name__}). "
            f"Supported: {', '.join(IMAGE_SUFFIXES)}; remove or replace the file."
        ) from None
    return img


def read_gray(path: str | Path) -> np.ndarray:
    """Read an image file as 8-bit grayscale ``(H, W) uint8``.

    Colour images are converted with ITU-R 601 luma (PIL ``"L"``); 16-bit
    images are rescaled by their own min/max into 0..255.
    """
    return gray(open_decoded(Path(path)))


def gray(img: Image.Image) -> np.ndarray:
    """A decoded image (:func:`open_image` + ``load``) as ``(H, W) uint8``, converted as :func:`read_gray` says."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if hi <= lo:
            return np.zeros(arr.shape, np.uint8)
        # (arr - lo) / (hi - lo) * 255, rounded: in place, so the only float copy is ``arr`` (8 bytes/pixel)
        np.subtract(arr, lo, out=arr)
        np.divide(arr, hi - lo, out=arr)
        np.multiply(arr, 255.0, out=arr)
        return np.round(arr, out=arr).astype(np.uint8)
    return np.asarray(img.convert("L"), dtype=np.uint8)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a binary mask as ``(H, W) bool``.

    Accepted encodings: 0/255 (the Kaggle layout; ``True`` where pixel > 127)
    and 0/1. Anything else (label maps such as BraTS 0/1/2/4, grayscale images
    passed as masks) raises :class:`DataError`, since thresholding would
    silently change its meaning.
    """
    path = Path(path)
    arr = np.asarray(open_decoded(path).convert("L"), dtype=np.uint8)
    values = np.unique(arr)
    if values.max(initial=0) <= 1:
        return arr > 0
    # Masks saved with lossy resizing have a thin band of intermediate values
    # at the border; a real label map or a photo has many.
    ambiguous = np.count_nonzero((arr > 10) & (arr < 245))
    if ambiguous > 0.05 * max(1, np.count_nonzero(arr)) or (len(values) <= 8 and values.max() < 200):
        shown = ", ".join(str(v) for v in values[:8]) + (" ..." if len(values) > 8 else "")
        raise DataError(
            f"{path}: mask is not binary (values {shown}). Masks must be 0/255 or 0/1; "
            "convert label maps to a binary tumour mask first."
        )
    return arr > MASK_THRESHOLD


def resize_image(img: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a ``(H, W) uint8`` image to ``size`` (int = square, or ``(H, W)``)."""
    h, w = (size, size) if isinstance(size, int) else size
    if img.shape == (h, w):
        return img
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))


def resize_mask(mask: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a ``(H, W) bool`` mask: bilinear on 0/255, then ``> 127``."""
    h, w = (size, size) if isinstance(size, int) else size
    if mask.shape == (h, w):
        return mask
    up = Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.BILINEAR)
    return np.asarray(up) > MASK_THRESHOLD


def write_mask_png(mask: np.ndarray, path: str | Path) -> None:
    """Write a ``(H, W) bool`` mask as 8-bit PNG with values 0 and 255."""
    Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(path)
