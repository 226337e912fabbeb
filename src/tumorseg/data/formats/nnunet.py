"""nnU-Net raw datasets and the Medical Segmentation Decathlon as labelled data (``evaluate``, ``train``, ``cv``).

Layout read (the channel names and file naming are :mod:`tumorseg.data.formats.decathlon`'s)::

    Task01_BrainTumour/dataset.json          {"modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}}
    Task01_BrainTumour/imagesTr/BRATS_001.nii.gz        4-D: every channel in one file (the MSD)
    Dataset001_BrainTumour/imagesTr/BRATS_001_0000.nii.gz ... _0003.nii.gz   or a file per channel (nnU-Net)
    .../labelsTr/BRATS_001.nii.gz                        the case's labels (0 background, 1, 2, 3 ...)

``--data`` is the dataset folder (then ``imagesTr`` + ``labelsTr``) or one of its ``images*`` folders (then the
``labels*`` folder of the same suffix, when there is one; without it the slices are unlabelled, for prediction).
``modality`` picks channels by the names ``dataset.json`` gives them (``flair``, ``t1c`` = T1gd ...; a comma list
for several channels); of a 4-D file only the chosen volumes are decoded. Every case's tumour slices and
``empty_fraction`` of its tumour-free brain slices are kept, as for BraTS case folders
(:func:`tumorseg.data.formats.nifti.case_records`); the target is any label > 0 unless ``labels`` picks some (the
MSD's tumour core: ``--labels 2,3``). Patient = case.
"""

from __future__ import annotations

from pathlib import Path

from tumorseg.data.formats import decathlon, nifti
from tumorseg.data.formats._common import natural_key, parse_int_set
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError


def _root_and_images(path: Path) -> tuple[Path, Path] | None:
    """``(dataset folder, images folder)`` when ``path`` is an nnU-Net / MSD dataset or one of its images folders."""
    if path.is_dir() and (path / "dataset.json").is_file():
        for name in ("imagesTr", "imagesTs"):
            if (path / name).is_dir():
                return path, path / name
        return None
    if path.is_dir() and path.name.lower().startswith("images") and (path.parent / "dataset.json").is_file():
        return path.parent, path
    return None


def detect(path: Path) -> bool:
    """A folder with a ``dataset.json`` naming channels and an ``imagesTr``/``imagesTs`` folder, or such a folder."""
    found = _root_and_images(path)
    return found is not None and decathlon.channel_names(found[1]) is not None


def channel_modalities(path: Path) -> set[str]:
    """The modalities (``flair``, ``t1c``, ``t1``, ``t2``) the ``dataset.json`` of the dataset at ``path`` names; empty
    when ``path`` is no such dataset."""
    found = _root_and_images(path)
    names = decathlon.channel_names(found[1]) if found else None
    return {m for v in (names or {}).values() if (m := decathlon.modality_of(v))}


def _labels_folder(images: Path) -> Path | None:
    folder = images.parent / ("labels" + images.name[len("images"):])
    return folder if folder.is_dir() else None


def _cases(images: Path) -> dict[str, dict[int, Path] | Path]:
    """``{case: {channel: file}}`` for channel files, ``{case: file}`` for files holding every channel (4-D)."""
    cases: dict[str, dict[int, Path] | Path] = {}
    for p in sorted(images.iterdir(), key=lambda p: natural_key(p.name)):
        if not (p.is_file() and nifti.is_nifti(p)):
            continue
        found = decathlon.channel_of(p)
        if found is not None:
            entry = cases.setdefault(found[0], {})
            if isinstance(entry, dict):
                entry[found[1]] = p
        else:
            cases.setdefault(nifti.nifti_stem(p), p)
    return cases


def read(path: Path, modality: str | None = "flair", labels: str | None = None,
         empty_fraction: float | None = 0.1) -> list[SliceRecord]:
    """Axial-slice records of every case of the dataset at ``path`` (see module docstring).

    Raises:
        DataError: not such a dataset, a modality ``dataset.json`` does not name (the names it has), a case missing
            a chosen channel, or a label volume that does not fit its image.
    """
    found = _root_and_images(Path(path))
    names = decathlon.channel_names(found[1]) if found else None
    if found is None or names is None:
        raise DataError(f"{path}: not an nnU-Net / Medical Segmentation Decathlon dataset (a folder with a "
                        "dataset.json naming its channels and an imagesTr/ folder); give that folder.")
    _, images = found
    mods = nifti.parse_modalities(modality)
    listed = ", ".join(f"{k} {v}" for k, v in sorted(names.items()))
    channels = []
    for m in mods:
        hits = [k for k, v in sorted(names.items()) if decathlon.modality_of(v) == m]
        if not hits:
            raise DataError(f"{path}: dataset.json names no {m} channel (it names {listed}); pick another --modality.")
        channels.append(hits[0])
    chosen = parse_int_set(labels, "--labels")
    frac = 0.1 if empty_fraction is None else float(empty_fraction)
    if not 0.0 <= frac <= 1.0:
        raise DataError(f"--empty-fraction {frac}: give a fraction between 0 and 1.")
    label_dir = _labels_folder(images)
    cases = _cases(images)
    if not cases:
        raise DataError(f"{images}: no NIfTI volumes (*.nii.gz) in it.")
    records: list[SliceRecord] = []
    for case, files in cases.items():
        if isinstance(files, dict):
            missing = [k for k in channels if k not in files]
            if missing:
                raise DataError(f"{images}: case {case} has no channel file {case}_{missing[0]:04d}.nii.gz "
                                f"({names[missing[0]]}); add it or pick another --modality.")
            vols, volumes = [files[k] for k in channels], None
        else:
            vols, volumes = [files] * len(channels), tuple(channels)
        label = None
        if label_dir is not None:
            label = next((label_dir / f"{case}{ext}" for ext in (".nii.gz", ".nii")
                          if (label_dir / f"{case}{ext}").is_file()), None)
        records += nifti.case_records(images / case, vols, label, "generic", chosen, frac, tuple(mods), volumes)
    return records
