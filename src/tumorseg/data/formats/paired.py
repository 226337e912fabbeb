"""Paired folders: ``images/<name>.<ext>`` with ``masks/<name>.<ext>`` (Kaggle layout).

Also accepted: mask names with a ``_mask``/``_seg`` suffix, a mask folder
given explicitly (``masks_dir``), and a ``metadata.csv`` sidecar beside
``images/`` with columns ``index`` (the image stem), a patient column
(``patient_group`` preferred, else ``patient_id``/``patient``) and a class
column (``label_name`` or ``label``). Sidecar rows whose image is absent (the
``heldout`` rows of ../shared/data/figshare) are skipped.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from tumorseg.data.imageio import IMAGE_SUFFIXES
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError

MASK_SUFFIXES = ("", "_mask", "_seg", "-mask", "-seg")
PATIENT_COLUMNS = ("patient_group", "patient_id", "patient")
CLASS_COLUMNS = ("label_name", "label", "class")


def detect(path: Path) -> bool:
    return (path / "images").is_dir()


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _list_images(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: _natural_key(p.name),
    )


def read_metadata(path: Path) -> dict[str, dict[str, str]]:
    """Read ``metadata.csv`` into ``{index: row}``; empty dict when absent."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        key = "index" if "index" in cols else ("image" if "image" in cols else None)
        if key is None:
            raise DataError(f"{path}: needs an 'index' (image name) column; found {cols}.")
        return {Path(row[key]).stem: row for row in reader}


def read(path: Path, masks_dir: str | Path | None = None, require_masks: bool = True) -> list[SliceRecord]:
    """Read a paired-folder dataset.

    Args:
        path: dataset root holding ``images/`` (and usually ``masks/``).
        masks_dir: mask folder when it is not ``path/masks``.
        require_masks: when true, an image without a mask or a mask without an
            image is an error (listing up to 5 offending files).

    Returns:
        Records in natural filename order (``2.png`` before ``10.png``).
    """
    images_dir = path / "images"
    if not images_dir.is_dir():
        raise DataError(f"{path}: no 'images/' folder. Put the slices in {images_dir} and the masks in {path / 'masks'}.")
    masks = Path(masks_dir) if masks_dir else path / "masks"
    files = [p for p in _list_images(images_dir)]
    if not files:
        raise DataError(f"{images_dir}: the folder is empty. Add images ({', '.join(IMAGE_SUFFIXES)}).")
    strays = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    if strays:
        raise DataError(
            f"{strays[0]}: not an image file (supported: {', '.join(IMAGE_SUFFIXES)}). "
            f"Remove it{f' and {len(strays) - 1} more' if len(strays) > 1 else ''} from {images_dir}."
        )

    mask_by_stem: dict[str, Path] = {}
    if masks.is_dir():
        for m in _list_images(masks):
            stem = m.stem
            for suf in MASK_SUFFIXES[1:]:
                if stem.endswith(suf):
                    stem = stem[: -len(suf)]
                    break
            mask_by_stem[stem] = m
    elif require_masks:
        raise DataError(f"{path}: no masks folder '{masks}'. Put one mask per image there, or pass --masks DIR.")

    meta = read_metadata(path / "metadata.csv")
    cols = next(iter(meta.values())).keys() if meta else []
    pcol = next((c for c in PATIENT_COLUMNS if c in cols), None)
    ccol = next((c for c in CLASS_COLUMNS if c in cols), None)

    records, missing = [], []
    image_stems = set()
    for img in files:
        stem = img.stem
        if stem in image_stems:
            raise DataError(f"{img}: two images share the name '{stem}'. Rename one of them.")
        image_stems.add(stem)
        mask = mask_by_stem.get(stem)
        if mask is None and require_masks:
            missing.append(img)
            continue
        row = meta.get(stem, {})
        records.append(
            SliceRecord(
                case_id=stem,
                image=img,
                mask=mask,
                patient=(row.get(pcol) or None) if pcol else None,
                label=(row.get(ccol) or None) if ccol else None,
            )
        )
    if missing:
        raise DataError(
            f"{missing[0]}: image has no mask in {masks} (expected e.g. {masks / missing[0].name})"
            f"{f'; {len(missing) - 1} more images lack masks' if len(missing) > 1 else ''}. "
            "Add the masks or remove those images."
        )
    orphans = sorted(set(mask_by_stem) - image_stems, key=_natural_key)
    if orphans and require_masks:
        raise DataError(
            f"{mask_by_stem[orphans[0]]}: mask has no image in {images_dir}"
            f"{f'; {len(orphans) - 1} more masks lack images' if len(orphans) > 1 else ''}. "
            "Add the images or remove those masks."
        )
    return records
