"""BIDS raw datasets (the Brain Imaging Data Structure of OpenNeuro, dcm2bids, HeuDiConv): their anatomical scans.

Layout understood (https://bids-specification.readthedocs.io, "Anatomy imaging data")::

    root/dataset_description.json
    root/sub-01/[ses-pre/]anat/sub-01[_ses-pre][_acq-x][_ce-gadolinium][_rec-x][_run-1]_<suffix>.nii.gz
    root/derivatives/  root/sourcedata/  root/code/  ...   (not raw scans: never inputs)

Modality of a scan, from its suffix and its ``ce-`` (contrast agent) entity: ``FLAIR`` → ``"flair"``; ``T1w`` with
``ce-<agent>`` → ``"t1c"`` (contrast-enhanced); ``T1w`` without → ``"t1"`` (pre-contrast); ``T2w`` → ``"t2"``; any
other suffix (``PDw``, ``T2starw``, maps...) → ``None``. An ``anat`` folder (or a subject / session folder holding
the scans) is one case named after its subject and session (``sub-01_ses-pre``), so every subject's outputs get
names of their own. Written by hand: pybids would parse the same names, but it is a large dependency (SQL index,
pandas) for six regular expressions.
"""

from __future__ import annotations

import re
from pathlib import Path

# sub-<label>[_<key>-<label>...]_<suffix>.<extension>: the entities, the suffix
_NAME = re.compile(r"^(sub-[A-Za-z0-9]+(?:_[A-Za-z]+-[A-Za-z0-9]+)*)_([A-Za-z0-9]+)"
                   r"\.(?:nii|nii\.gz|nrrd|nhdr|mha|mhd)$", re.I)
# not raw scans (BIDS: derived data, source data before conversion, code, stimuli): never searched for inputs
NOT_RAW = frozenset({"derivatives", "sourcedata", "code", "stimuli"})
# datatype folders of a subject / session that may hold anatomical scans
_DATATYPES = frozenset({"anat"})
_SUFFIXES = {"flair": "flair", "t2w": "t2"}  # lower-cased suffix -> modality (T1w: by its ce- entity)


def parse(filename: str) -> tuple[dict[str, str], str] | None:
    """``({"sub": "01", "ce": "gd"}, "T1w")`` for ``sub-01_ce-gd_T1w.nii.gz``; ``None`` for a name that is no BIDS
    scan name."""
    m = _NAME.match(Path(filename).name)
    if m is None:
        return None
    entities = dict(part.split("-", 1) for part in m.group(1).split("_"))
    return entities, m.group(2)


def modality(filename: str) -> str | None:
    """``"flair"``, ``"t1c"``, ``"t1"``, ``"t2"`` or ``None`` (see the module docstring); ``None`` for a name that is
    no BIDS scan name."""
    parsed = parse(filename)
    if parsed is None:
        return None
    entities, suffix = parsed
    if suffix.lower() == "t1w":
        return "t1c" if entities.get("ce") else "t1"
    return _SUFFIXES.get(suffix.lower())


def describe(filename: str) -> str | None:
    """How a note names a BIDS scan's modality (``"BIDS FLAIR '_FLAIR'"``, ``"BIDS contrast-enhanced T1w
    'ce-gd'"``, ``"BIDS T1w without a ce- entity (pre-contrast)"``); ``None`` for a name that is no BIDS scan name."""
    parsed = parse(filename)
    if parsed is None:
        return None
    entities, suffix = parsed
    if suffix.lower() == "t1w":
        if entities.get("ce"):
            return f"BIDS contrast-enhanced T1w 'ce-{entities['ce']}'"
        return "BIDS T1w without a ce- entity (pre-contrast T1)"
    return f"BIDS {suffix} scan" if suffix.lower() != "flair" else f"BIDS FLAIR '_{suffix}'"


def preferred(scans: list[Path]) -> list[Path]:
    """The scans of a BIDS ``anat/`` folder that is no single case (two FLAIR runs) a bundled model reads: its FLAIR
    scans, else its contrast-enhanced T1w scans, else all of them (each then predicted with a note); ``scans``
    unchanged when they are not all BIDS-named."""
    if not scans or not all(parse(p.name) for p in scans):
        return scans
    for wanted in ("flair", "t1c"):
        hits = [p for p in scans if modality(p.name) == wanted]
        if hits:
            return hits
    return scans


def is_dataset_root(folder: Path) -> bool:
    """Whether ``folder`` holds a BIDS ``dataset_description.json``."""
    return (folder / "dataset_description.json").is_file()


def is_not_raw(folder: Path) -> bool:
    """A BIDS dataset's ``derivatives/``, ``sourcedata/``, ``code/`` or ``stimuli/`` folder (beside its
    ``dataset_description.json``): never searched for scans to predict (derivatives hold other tools' outputs,
    sourcedata the DICOMs the scans were converted from)."""
    return folder.name in NOT_RAW and is_dataset_root(folder.parent)


def case_name(folder: Path) -> str | None:
    """``"sub-01_ses-pre"`` for ``.../sub-01/ses-pre/anat`` (also for ``.../sub-01/ses-pre`` and, without sessions,
    ``"sub-01"`` for ``.../sub-01/anat`` and ``.../sub-01``); ``None`` for a folder that is none of these."""
    parts = list(folder.parts)
    if parts and parts[-1] in _DATATYPES:
        parts.pop()
    if len(parts) >= 2 and parts[-1].startswith("ses-") and parts[-2].startswith("sub-"):
        return f"{parts[-2]}_{parts[-1]}"
    if parts and parts[-1].startswith("sub-"):
        return parts[-1]
    return None
