"""Multi-page TIFF stacks: one volume saved as one TIFF file of same-size grayscale pages, as Fiji / ImageJ saves a
stack (File > Save As > Tiff...) and many viewers export a series. Read as ``(Z, H, W)`` slices (page k is slice k,
rows and columns as stored: shown as Fiji shows them), with the voxel size of ImageJ's calibration; masks are
written back as an ImageJ stack of the same size and calibration, so they open over the scan in Fiji.

Which files: a ``.tif`` / ``.tiff`` whose second page has the first one's size
(:func:`tumorseg.data.imageio.stack_size`); a second page of another size (a thumbnail) leaves a 2-D image.

Pixels are decoded by Pillow, the reader of every other TIFF here, with its codecs (none, LZW, deflate, PackBits,
JPEG), one page at a time into one buffer whose size was checked against :mod:`tumorseg.limits` first. Counting
the pages reads every page's header, so at most the limits' ``max_slices`` + 1 are walked: a file that claims
millions of tiny pages stops there. The ImageJ header (the first page's ImageDescription, ``ImageJ=1.54f\\nimages=40\\nslices=40\\n
unit=mm\\nspacing=5.0\\n``) is a few ``key=value`` lines, parsed here (tifffile parses it too, but it is an
optional extra and cannot decode LZW without imagecodecs).

Voxel size (``(slice, row, column)`` mm): a calibrated ImageJ stack gives it (``unit=`` a length, the X/Y
Resolution tags as pixels per unit, ``spacing=`` the slice distance, 1 unit when absent as in ImageJ); an
uncalibrated one (``unit=pixel`` or none, the usual for a TIFF not written by ImageJ) gives ``None``: areas and
volumes are then reported in voxels, not mm² and mL.

Refused in one line that names the file and the fix: pages of different sizes or types, colour or palette pages,
an ImageJ hyperstack with several channels or several time points of several slices, more pages than the limits'
``max_slices``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from tumorseg import limits
from tumorseg.data.imageio import DAMAGED as _DAMAGED
from tumorseg.data.imageio import stack_size
from tumorseg.errors import DataError

TIFF_SUFFIXES = (".tif", ".tiff")
_MODES = {"L": np.uint8, "I;16": np.uint16, "I;16L": np.uint16, "I;16B": np.uint16, "I": np.int32, "F": np.float32}
# mm per unit of an ImageJ calibration ("micron" is how ImageJ writes µm; "\\u00B5m" its escaped form)
_UNITS = {"mm": 1.0, "millimeter": 1.0, "millimetre": 1.0, "cm": 10.0, "centimeter": 10.0, "m": 1000.0,
          "meter": 1000.0, "micron": 1e-3, "um": 1e-3, "µm": 1e-3, "\\u00b5m": 1e-3, "nm": 1e-6, "inch": 25.4,
          "in": 25.4}
_DESCRIPTION, _X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT = 270, 282, 283, 296


def is_stack(path: str | Path) -> bool:
    """Whether ``path`` is a ``.tif`` / ``.tiff`` file holding a stack of same-size pages (headers only; an
    unreadable file is not one: the image reader names its fault)."""
    path = Path(path)
    return path.suffix.lower() in TIFF_SUFFIXES and path.is_file() and holds_stack(path)


def holds_stack(source: str | Path | BinaryIO) -> bool:
    """Whether a file (a path, whatever its name, or a binary file object: an upload's bytes) is a TIFF whose second
    page has the first one's size (:func:`tumorseg.data.imageio.stack_size`); two page headers read."""
    try:
        with Image.open(source) as img:
            return img.format == "TIFF" and stack_size(img) is not None
    except (UnidentifiedImageError, Image.DecompressionBombError, *_DAMAGED):
        return False


def imagej_header(description: str | bytes | None) -> dict[str, str]:
    """The ``key=value`` lines of an ImageJ ImageDescription (``{}`` when it is not one: no ``ImageJ=`` line)."""
    if isinstance(description, bytes):
        description = description.decode("latin-1")
    if not description or not description.startswith("ImageJ="):
        return {}
    return {k.strip().lower(): v.strip() for k, v in re.findall(r"^([^=\n]+)=([^\n]*)$", description, re.MULTILINE)}


def voxel_mm(img: Image.Image) -> tuple[float, float, float] | None:
    """``(slice, row, column)`` voxel size in mm of an opened stack's ImageJ calibration, or ``None`` (module
    docstring)."""
    header = imagej_header(img.tag_v2.get(_DESCRIPTION))
    factor = _UNITS.get(header.get("unit", "").lower())
    if factor is None:
        return None
    try:
        column = factor / float(img.tag_v2[_X_RESOLUTION])  # pixels per unit
        row = factor / float(img.tag_v2.get(_Y_RESOLUTION, img.tag_v2[_X_RESOLUTION]))
        depth = factor * abs(float(header.get("spacing", 1.0)))
    except (KeyError, ValueError, ZeroDivisionError, TypeError):
        return None
    sizes = (depth, row, column)
    return sizes if all(np.isfinite(s) and s > 0 for s in sizes) else None


def _check_layout(header: dict[str, str], path: Path) -> None:
    """Refuse an ImageJ hyperstack that is not one volume (several channels, or time points of several slices)."""
    def count(key: str) -> int:
        try:
            return int(header.get(key, "1"))
        except ValueError:
            return 1

    channels, slices, frames = count("channels"), count("slices"), count("frames")
    if channels > 1:
        raise DataError(f"{path}: an ImageJ hyperstack of {channels} channels; save each channel as its own stack "
                        "(Fiji: Image > Color > Split Channels) and give the one to segment.")
    if frames > 1 and slices > 1:
        raise DataError(f"{path}: an ImageJ hyperstack of {frames} time points of {slices} slices; save one time "
                        "point as its own stack (Fiji: Image > Duplicate, one frame) and give that.")


def read_stack(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    """A TIFF stack's pages as ``(Z, H, W)`` values of their stored type (``uint8``, ``uint16``, ``int32`` or
    ``float32``) and :func:`voxel_mm`.

    Raises:
        DataError: unreadable, not one volume, pages that differ, colour pages, over the limits (also their
            ``max_slices``; one line naming the file and the fix).
    """
    path = Path(path)
    unreadable = f"{path}: not a readable TIFF stack"
    try:
        img = Image.open(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{unreadable} ({exc.__class__.__name__}).") from None
    with img:
        width, height = img.size
        limits.check_slice(height, width, str(path))
        if img.mode in ("RGB", "RGBA", "CMYK", "YCbCr", "P", "LA", "PA"):
            raise DataError(f"{path}: a stack of colour or palette ({img.mode}) pages; save it as 8- or 16-bit "
                            "grayscale (Fiji: Image > Type > 8-bit, or Image > Color > Split Channels for one "
                            "channel) and give that.")
        if img.mode not in _MODES and img.mode != "1":
            raise DataError(f"{path}: pages of Pillow mode {img.mode}; save the stack as 8-, 16- or 32-bit grayscale.")
        mode, dtype = img.mode, _MODES.get(img.mode, np.uint8)
        _check_layout(imagej_header(img.tag_v2.get(_DESCRIPTION)), path)
        spacing = voxel_mm(img)
        pages = _count_pages(img, path)
        limits.check_volume((pages, height, width), np.dtype(dtype).itemsize, str(path))
        out = np.empty((pages, height, width), dtype)
        for k in range(pages):
            try:
                img.seek(k)
                size, page_mode = img.size, img.mode
            except _DAMAGED as exc:
                raise DataError(f"{unreadable}: the header of page {k + 1} is damaged ({exc.__class__.__name__}); the "
                                "file is truncated or damaged.") from None
            if size != (width, height) or page_mode != mode:
                raise DataError(f"{path}: page {k + 1} is a {size[0]}×{size[1]} {page_mode} image, page 1 a "
                                f"{width}×{height} {mode} one; save the slices of one volume with one size and type.")
            try:
                out[k] = np.asarray(img.convert("L") if mode == "1" else img, dtype=dtype)
            except _DAMAGED as exc:  # truncated / corrupt page data
                raise DataError(f"{unreadable}: page {k + 1} cannot be decoded ({exc.__class__.__name__}); the "
                                "file is truncated or damaged.") from None
    return out, spacing


def _count_pages(img: Image.Image, path: Path) -> int:
    """The pages of an opened stack, walking at most the limits' ``max_slices`` + 1 page headers; ``img`` left at
    page 1.

    Raises:
        LimitExceeded: more pages than ``max_slices`` (:func:`tumorseg.limits.check_slices`).
    """
    count = 1
    while True:
        try:
            img.seek(count)
        except EOFError:
            break
        except _DAMAGED as exc:
            raise DataError(f"{path}: not a readable TIFF stack: the header of page {count + 1} is damaged "
                            f"({exc.__class__.__name__}); the file is truncated or damaged.") from None
        count += 1
        limits.check_slices(count, str(path))
    img.seek(0)
    return count


def write_stack(values: np.ndarray, spacing_mm: tuple[float | None, float, float] | None, out: Path) -> Path:
    """Write ``(Z, H, W) uint8`` values as a deflate-compressed TIFF stack at ``out``, with the ImageJ header and
    resolution of ``spacing_mm`` (``(slice, row, column)`` mm; ``None``: uncalibrated), so Fiji opens it as a stack
    over the scan it was read from."""
    values = np.asarray(values, np.uint8)
    lines = ["ImageJ=1.11a", f"images={len(values)}", f"slices={len(values)}"]
    info: dict[int, object] = {}
    if spacing_mm is not None and spacing_mm[1] and spacing_mm[2]:
        lines.append("unit=mm")
        if spacing_mm[0]:
            lines.append(f"spacing={spacing_mm[0]:g}")
        info = {_X_RESOLUTION: 1.0 / spacing_mm[2], _Y_RESOLUTION: 1.0 / spacing_mm[1], _RESOLUTION_UNIT: 1}
    info[_DESCRIPTION] = "\n".join([*lines, "loop=false"]) + "\n"
    pages = [Image.fromarray(np.ascontiguousarray(v), "L") for v in values]
    out.parent.mkdir(parents=True, exist_ok=True)
    pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:], compression="tiff_deflate",
                  tiffinfo=info)
    return out
