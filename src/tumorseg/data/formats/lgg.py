"""LGG MRI Segmentation (Kaggle ``kaggle_3m``, Buda et al. 2019; TCGA-LGG via TCIA).

Layout::

    DIR/TCGA_<inst>_<id>_<date>/TCGA_<inst>_<id>_<date>_<n>.tif       256×256×3 uint8
    DIR/TCGA_<inst>_<id>_<date>/TCGA_<inst>_<id>_<date>_<n>_mask.tif  256×256 uint8, 0/255
    DIR/data.csv                                                      optional, per-patient clinical data

(``DIR`` may also be one patient folder.) The three channels are
pre-contrast, FLAIR, post-contrast; the masks outline the FLAIR abnormality.
``channels="flair"`` (default) keeps FLAIR only, ``"all"`` keeps the three
(models then need ``in_channels=3``); ``"pre"``, ``"post"`` or a comma list
(``"flair,post"``) pick others. Images are already 8-bit and used as they
are. Patient = folder; a slice's ``slice_index`` is the file's number ``<n>`` (a patient's slices form a
volume). Many slices have empty masks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tumorseg.data.formats._common import Loaded, natural_key
from tumorseg.data.imageio import IMAGE_SUFFIXES, open_image, read_mask
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError

CHANNEL_NAMES = ("pre-contrast", "flair", "post-contrast")
_ALIASES = {"pre": 0, "pre-contrast": 0, "t1": 0, "flair": 1, "post": 2, "post-contrast": 2, "t1c": 2}
NORMALISATION = "none (8-bit as distributed)"
_SUFFIXES = (".tif", ".tiff")


def parse_channels(channels: str | tuple[int, ...] | None) -> tuple[int, ...]:
    """``"flair"`` -> ``(1,)``, ``"all"`` -> ``(0, 1, 2)``, ``"flair,post"`` -> ``(1, 2)``."""
    if channels is None:
        return (1,)
    if isinstance(channels, (tuple, list)):
        return tuple(int(c) for c in channels)
    if channels == "all":
        return (0, 1, 2)
    picked = []
    for name in channels.split(","):
        key = name.strip().lower()
        if key not in _ALIASES:
            raise DataError(f"--channels '{name}': use flair (default), all, pre, post, or a comma list like flair,post.")
        picked.append(_ALIASES[key])
    return tuple(picked)


def _is_mask(p: Path) -> bool:
    return p.stem.endswith("_mask")


def slice_number(p: Path) -> int | None:
    """``n`` for a numbered slice file ``<patient>/<patient>_<n>.<ext>`` (its place in the patient's volume): an
    LGG slice ``.tif``, or any image file named the same way (``.png``, ``.jpg``... slices exported one by one),
    which ``predict`` then treats as one volume; else ``None`` (masks, other names, other suffixes)."""
    prefix, _, n = p.stem.rpartition("_")
    if p.suffix.lower() in IMAGE_SUFFIXES and prefix == p.parent.name and n.isdigit():
        return int(n)
    return None


def patient_dirs(path: Path) -> list[Path]:
    """``[path]`` when it is one patient folder (has ``*_mask.tif``), else its patient subfolders (maybe none)."""
    if any(_is_mask(p) for p in path.glob("*_mask.tif*")):
        return [path]
    return sorted((d for d in path.iterdir() if d.is_dir() and any(d.glob("*_mask.tif*"))), key=lambda d: d.name)


def detect(path: Path) -> bool:
    return path.is_dir() and bool(patient_dirs(path))


def read(path: Path, channels: str | None = "flair") -> list[SliceRecord]:
    """One record per ``<folder>_<n>.tif`` with its ``_mask.tif``, in slice order.

    Raises:
        DataError: no patient folders, an image without a mask or a mask
            without an image (the first file named, the rest counted).
    """
    picked = parse_channels(channels)
    names = tuple(CHANNEL_NAMES[c] for c in picked)
    dirs = patient_dirs(path)
    if not dirs:
        raise DataError(f"{path}: no LGG patient folders (TCGA_*/ with *_mask.tif files).")
    records, missing, orphans = [], [], []
    for d in dirs:
        files = [p for p in d.iterdir() if p.suffix.lower() in _SUFFIXES]
        masks = {p.stem[: -len("_mask")]: p for p in files if _is_mask(p)}
        images = sorted((p for p in files if not _is_mask(p)), key=lambda p: natural_key(p.name))
        for img in images:
            mask = masks.pop(img.stem, None)
            if mask is None:
                missing.append(img)
                continue
            records.append(SliceRecord(
                case_id=img.stem, image=img, mask=mask, patient=d.name, loader="lgg", slice_index=slice_number(img),
                options=(("channels", picked), ("channel_names", names)),
            ))
        orphans += masks.values()
    if missing:
        raise DataError(
            f"{missing[0]}: image has no mask (expected {missing[0].with_name(missing[0].stem + '_mask.tif')})"
            f"{f'; {len(missing) - 1} more' if len(missing) > 1 else ''}. Add the masks or remove those images."
        )
    if orphans:
        raise DataError(f"{orphans[0]}: mask has no image{f'; {len(orphans) - 1} more' if len(orphans) > 1 else ''}.")
    return records


def read_tif_channels(path: Path) -> np.ndarray:
    """A TIFF as ``(C, H, W) uint8`` (``C`` = 1 for grayscale, 3 for RGB)."""
    with open_image(path) as im:  # checks the declared size before decoding
        try:
            arr = np.asarray(im)
        except (OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"{path}: not a readable TIFF ({exc.__class__.__name__}). Remove or replace it.") from None
    if arr.dtype != np.uint8:
        raise DataError(f"{path}: {arr.dtype} TIFF; the LGG set is 8-bit RGB.")
    return arr[None] if arr.ndim == 2 else np.moveaxis(arr[..., :3], -1, 0)


def load(record: SliceRecord) -> Loaded:
    """Image ``(H, W) uint8`` for one channel or ``(C, H, W) uint8``; mask ``(H, W) bool`` (255 -> True)."""
    arr = read_tif_channels(record.image)
    picked = record.option("channels", (1,))
    if arr.shape[0] == 1:
        if len(picked) > 1:
            raise DataError(f"{record.image}: grayscale TIFF, but --channels asks for {len(picked)} channels.")
        image = arr[0]
    else:
        image = arr[list(picked)]
        image = image[0] if len(picked) == 1 else image
    mask = read_mask(record.mask) if record.mask else np.zeros(arr.shape[1:], bool)
    if mask.shape != arr.shape[1:]:
        raise DataError(
            f"{record.mask}: mask is {mask.shape[1]}×{mask.shape[0]} but its image {record.image} is "
            f"{arr.shape[2]}×{arr.shape[1]}. Masks must have their image's size."
        )
    return Loaded(image, mask, float(image.min()), float(image.max()), "uint8", 0)
