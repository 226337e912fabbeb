"""nnU-Net raw datasets and the Medical Segmentation Decathlon (MSD): which scan of a case a bundled model reads.

Layout understood::

    Dataset001_BrainTumour/dataset.json        {"channel_names": {"0": "FLAIR", "1": "T1w", "2": "T1gd", "3": "T2w"}}
    Dataset001_BrainTumour/imagesTs/BRATS_485_0000.nii.gz ... BRATS_485_0003.nii.gz   (one file per channel)
    Dataset001_BrainTumour/labelsTr/BRATS_001.nii.gz                                   (labels: never inputs)

nnU-Net v2 names its channels in ``channel_names``; nnU-Net v1 and the MSD's ``dataset.json`` in ``modality``. A file
``<case>_<XXXX>.nii.gz`` (four digits: the channel) in a folder whose ``dataset.json`` (in the folder or the one
above it) names channels is a channel of case ``<case>``: ``FLAIR`` → ``"flair"``, ``T1gd`` / ``T1c`` / ``T1ce`` →
``"t1c"``, ``T1w`` / ``T1`` → ``"t1"``, ``T2w`` / ``T2`` → ``"t2"``; masks are named after the case (``BRATS_485``),
as nnU-Net names its predictions. The MSD's own ``Task01_BrainTumour/imagesTr/BRATS_001.nii.gz`` holds all four
channels in one 4-D file: a NIfTI named without a channel number in a folder whose ``dataset.json`` names two or more
channels is read as its FLAIR channel, else its T1gd one (:func:`stacked_channel`; only that volume is decoded). A
4-D file of four volumes named as that task names them (``BRATS_001.nii.gz``) is read the same way without a
``dataset.json``, by the task's published channel order (:data:`TASK01_CHANNELS`); any other 4-D file without such a
``dataset.json`` is refused with the volume to save on its own (:func:`four_d_advice`).
Written by hand: nnU-Net itself reads these names, but is a training framework, not a reader to depend on.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from tumorseg.data.formats._common import require

_CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})\.nii(?:\.gz)?$", re.I)
_MAX_JSON = 1 << 20  # a dataset.json is a few kB; a larger file is not read
_TASK01_FILE = re.compile(r"^BRATS_\d{3}\.nii(?:\.gz)?$")  # Task01_BrainTumour/imagesTr/BRATS_001.nii.gz
TASK01_CHANNELS = {0: "FLAIR", 1: "T1w", 2: "t1gd", 3: "T2w"}
"""The channel order of the MSD's ``Task01_BrainTumour`` (its ``dataset.json``'s ``modality``), for its 4-D files
read without that ``dataset.json`` (one file copied out, or uploaded to the web page)."""
_NAMES = {"flair": "flair", "t2flair": "flair", "t2-flair": "flair", "t1gd": "t1c", "t1c": "t1c", "t1ce": "t1c",
          "t1-gd": "t1c", "t1+c": "t1c", "t1post": "t1c", "t1w": "t1", "t1": "t1", "t2w": "t2", "t2": "t2"}


def modality_of(name: str) -> str | None:
    """``"flair"``, ``"t1c"``, ``"t1"``, ``"t2"`` for a channel name of a ``dataset.json`` (case and spaces
    ignored: ``"FLAIR"``, ``"T1gd"``, ``"t1 ce"``); ``None`` for another (``"CT"``, ``"ADC"``)."""
    return _NAMES.get(re.sub(r"[\s_]", "", str(name)).lower())


def channel_names(folder: Path) -> dict[int, str] | None:
    """``{0: "FLAIR", 1: "T1w", ...}`` from the ``dataset.json`` in ``folder`` or its parent (``channel_names``,
    else ``modality``); ``None`` when there is none, it is unreadable or it names no channels."""
    for where in (folder, folder.parent):
        found = _channels(where / "dataset.json")
        if found is not None:
            return found
    return None


@lru_cache(maxsize=64)
def _channels(path: Path) -> dict[int, str] | None:
    try:
        if not path.is_file() or path.stat().st_size > _MAX_JSON:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        names = data.get("channel_names") or data.get("modality")
        return {int(k): str(v) for k, v in names.items()} if isinstance(names, dict) and names else None
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        return None


def channel_of(path: Path) -> tuple[str, int, str] | None:
    """``(case, channel, channel name)`` for a channel file of a dataset whose ``dataset.json`` names that channel
    (``BRATS_485_0000.nii.gz`` -> ``("BRATS_485", 0, "FLAIR")``); ``None`` otherwise."""
    m = _CHANNEL_FILE.match(path.name)
    if m is None:
        return None
    names = channel_names(path.parent)
    channel = int(m.group("channel"))
    if names is None or channel not in names:
        return None
    return m.group("case"), channel, names[channel]


def task01_channels(name: str, volumes: int) -> dict[int, str] | None:
    """:data:`TASK01_CHANNELS` for a file named as the MSD's ``Task01_BrainTumour`` names its 4-D images
    (``BRATS_001.nii.gz``: ``BRATS_`` and three digits, not a channel file) holding four volumes; else ``None``."""
    return dict(TASK01_CHANNELS) if volumes == 4 and _TASK01_FILE.match(name) else None


def stacked_names(path: Path, volumes: int) -> tuple[dict[int, str], str] | None:
    """The channel names of a 4-D NIfTI of ``volumes`` volumes and where they come from: the ``dataset.json`` in its
    folder or the one above (``"dataset.json"``), else the MSD Task01 order for a file named like that task's
    (:func:`task01_channels`: ``"the MSD Task01 order"``); ``None`` for neither."""
    names = channel_names(path.parent)
    if names:
        return names, "dataset.json"
    names = task01_channels(path.name, volumes)
    return (names, "the MSD Task01 order") if names else None


def preferred_channel(names: dict[int, str]) -> tuple[int, str] | None:
    """``(volume, channel name)`` a bundled model reads of a stacked file whose channels are ``names``: the FLAIR
    channel, else the contrast-enhanced T1; ``None`` when there is neither."""
    return next(((k, v) for wanted in ("flair", "t1c") for k, v in sorted(names.items()) if modality_of(v) == wanted),
                None)


def _stacked(path: Path, shape: tuple[int, ...] | None = None) -> tuple[int, str, str] | None:
    """``(volume, channel name, where the names come from)`` of :func:`stacked_channel`."""
    if _CHANNEL_FILE.match(path.name) or not re.search(r"\.nii(\.gz)?$", path.name, re.I):
        return None
    if shape is None:
        if channel_names(path.parent) is None and not _TASK01_FILE.match(path.name):
            return None  # no names either way: the header is not read
        try:
            shape = require("nibabel", "reading NIfTI volumes").load(str(path)).shape  # the header only
        except Exception:  # unreadable: the reader says why
            return None
    if len(shape) != 4 or shape[3] < 2:
        return None
    found = stacked_names(path, shape[3])
    if found is None or len(found[0]) < 2:
        return None
    picked = preferred_channel(found[0])
    return (*picked, found[1]) if picked else None


def stacked_channel(path: Path, shape: tuple[int, ...] | None = None) -> tuple[int, str] | None:
    """``(volume, channel name)`` to read of an MSD file holding every channel of its case in one 4-D NIfTI
    (``imagesTr/BRATS_001.nii.gz`` with ``{"modality": {"0": "FLAIR", ...}}`` -> ``(0, "FLAIR")``): the FLAIR channel,
    else the contrast-enhanced T1. The names come from the ``dataset.json`` beside it, else from the MSD Task01
    order when the file is named like that task's and holds four volumes (:func:`stacked_names`). ``None`` for a
    channel file (``BRATS_001_0000.nii.gz``), a file with fewer than two named channels or neither of those, a file
    whose header is not 4-D (a 3-D scan left in the folder is read as it is) and any other file. ``shape``: the
    header's, when the caller has read it (then the file is not opened again)."""
    found = _stacked(path, shape)
    return found[:2] if found else None


def modality(path: Path) -> str | None:
    """The modality of a channel file (:func:`channel_of`, :func:`modality_of`) or of the volume read of an MSD 4-D
    file (:func:`stacked_channel`); ``None`` for any other file."""
    found = channel_of(path)
    if found:
        return modality_of(found[2])
    stacked = stacked_channel(path)
    return modality_of(stacked[1]) if stacked else None


def describe(path: Path) -> str | None:
    """How a note names a channel file (``"nnU-Net/MSD channel 0000 'FLAIR' of dataset.json"``) or an MSD 4-D file
    (``"MSD 4-D file: its volume 0 'FLAIR' of dataset.json"``, or ``of the MSD Task01 order``), else ``None``."""
    found = channel_of(path)
    if found:
        return f"nnU-Net/MSD channel {found[1]:04d} '{found[2]}' of dataset.json"
    stacked = _stacked(path)
    return f"MSD 4-D file: its volume {stacked[0]} '{stacked[1]}' of {stacked[2]}" if stacked else None


def preferred(scans: list[Path]) -> list[Path]:
    """Of a folder's channel files, one per case: its FLAIR channel, else its contrast-enhanced T1 channel, else
    every channel of it (each then predicted with a note); files that are no channel files are kept."""
    cases: dict[str, list[Path]] = {}
    others = []
    for p in scans:
        found = channel_of(p)
        if found is None:
            others.append(p)
        else:
            cases.setdefault(found[0], []).append(p)
    kept = []
    for files in cases.values():
        for wanted in ("flair", "t1c"):
            hits = [p for p in files if modality(p) == wanted]
            if hits:
                kept += hits[:1]
                break
        else:
            kept += files
    order = {p: i for i, p in enumerate(scans)}
    return sorted(others + kept, key=order.__getitem__)


def case_name(path: Path) -> str | None:
    """The case a FLAIR or contrast-enhanced T1 channel file belongs to, which its mask is named after
    (``BRATS_485``: :func:`preferred` keeps one such channel per case); ``None`` for other files and channels (then
    named by the file, so two channels of one case never clash)."""
    found = channel_of(path)
    return found[0] if found and modality_of(found[2]) in ("flair", "t1c") else None


def four_d_advice(path: Path, volumes: int, otherwise: str) -> str:
    """What to do with a 4-D file of ``volumes`` volumes that is not read (no :func:`stacked_channel`): ``otherwise``
    (the general advice), after the channel names when a ``dataset.json`` beside it names any (``"its dataset.json
    names them 0 T1w, 1 T2w; save ..."``)."""
    names = channel_names(path.parent)
    if not names:
        return otherwise
    listed = ", ".join(f"{k} {v}" for k, v in sorted(names.items()))
    stacked = stacked_channel(path, (0, 0, 0, volumes))  # the caller read the header: 4-D, `volumes` deep
    if len(names) < 2:
        why = f"one channel, but the file holds {volumes} volumes"
    elif stacked is None:
        why = "no FLAIR or T1gd among them"
    else:
        why = f"but the file holds no volume {stacked[0]}"
    return f"its dataset.json names them {listed} ({why}); {otherwise}"
