"""Dataset format readers: each turns a folder on disk into ``list[SliceRecord]``.

``FORMATS`` is the registry; :func:`read_dataset` picks a reader by name or,
with ``fmt="auto"``, by asking each reader's ``detect(path)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tumorseg.data.formats import paired
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError, did_you_mean

# name -> (detect(path) -> bool, read(path, **options) -> list[SliceRecord])
FORMATS: dict[str, tuple[Callable[[Path], bool], Callable[..., list[SliceRecord]]]] = {
    "paired": (paired.detect, paired.read),
}


def read_dataset(path: str | Path, fmt: str = "auto", **options) -> list[SliceRecord]:
    """Read the dataset at ``path`` into slice records.

    Raises:
        DataError: the folder does not exist, no reader recognises it, or the
            reader finds problems (the message names the file).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    if fmt == "auto":
        for name, (detect, _) in FORMATS.items():
            if detect(path):
                fmt = name
                break
        else:
            raise DataError(
                f"{path}: cannot tell the dataset format. Expected e.g. an 'images/' folder "
                f"with a matching 'masks/' folder. Known formats: {', '.join(FORMATS)}."
            )
    if fmt not in FORMATS:
        raise DataError(f"unknown format '{fmt}'.{did_you_mean(fmt, FORMATS)} Known: {', '.join(FORMATS)}.")
    return FORMATS[fmt][1](path, **options)
