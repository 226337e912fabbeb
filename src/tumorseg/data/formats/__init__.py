"""Dataset format readers: each turns a folder on disk into ``list[SliceRecord]``.

``FORMATS`` is the registry; :func:`read_dataset` picks a reader by name or,
with ``fmt="auto"``, by asking each reader's ``detect(path)`` in order.
Readers whose slices are not one plain image file each (``.mat`` files, NIfTI
volumes, 3-channel TIFFs) set ``SliceRecord.loader``; :func:`load_record`
decodes any record into the one internal layout (``uint8`` image, ``bool``
mask) via ``LOADERS``. Format-specific options (``channels``, ``modality``,
...) go to the readers that take them; giving one to a reader that does not
is an error rather than silently ignored.

=============  =====================================================  =================
name           layout                                                 options
=============  =====================================================  =================
paired         ``images/`` + ``masks/`` (+ ``metadata.csv``)           masks_dir
figshare-mat   figshare 1512427 ``N.mat`` (v7.3), loose or zipped      —
lgg            Kaggle LGG ``kaggle_3m``: ``TCGA_*/..._n(_mask).tif``   channels
brats          NIfTI case folders (BraTS old/new naming, or globs;    modality, labels,
               also NRRD / MetaImage files)
                                                                      empty_fraction,
                                                                      image_glob, label_glob
nnunet         nnU-Net raw / MSD: ``dataset.json`` + ``imagesTr/`` +    modality, labels,
               ``labelsTr/`` (a file per channel, or the MSD's 4-D    empty_fraction
               files)
dicom-seg      DICOM series + DICOM SEG labels (Slicer, OHIF, ours)    labels (segments)
=============  =====================================================  =================
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tumorseg.data import unpacked
from tumorseg.data.formats import dicom_labelled, figshare, lgg, nifti, nnunet, paired
from tumorseg.data.formats._common import Loaded
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError, did_you_mean

# name -> (detect(path) -> bool, read(path, **options) -> list[SliceRecord]); auto-detection tries them in order
FORMATS: dict[str, tuple[Callable[[Path], bool], Callable[..., list[SliceRecord]]]] = {
    "paired": (paired.detect, paired.read),
    "lgg": (lgg.detect, lgg.read),
    "nnunet": (nnunet.detect, nnunet.read),  # before brats, which would take imagesTr/ for a case folder
    "brats": (nifti.detect, nifti.read),
    "figshare-mat": (figshare.detect, figshare.read),
    "dicom-seg": (dicom_labelled.detect, dicom_labelled.read),  # last: detecting reads DICOM headers
}

# SliceRecord.loader -> (load(record) -> Loaded, normalisation description)
LOADERS: dict[str, tuple[Callable[[SliceRecord], Loaded], str]] = {
    "figshare-mat": (figshare.load, figshare.NORMALISATION),
    "lgg": (lgg.load, lgg.NORMALISATION),
    "nifti": (nifti.load, nifti.NORMALISATION),
    "dicom-seg": (dicom_labelled.load, dicom_labelled.NORMALISATION),
}

# CLI spelling of each reader option, for error messages
OPTION_FLAGS = {"masks_dir": "--masks", "channels": "--channels", "modality": "--modality", "labels": "--labels",
                "empty_fraction": "--empty-fraction", "image_glob": "--image-glob", "label_glob": "--label-glob"}


def is_dataset_archive(path: str | Path) -> bool:
    """A ``*.zip`` file that is not a figshare archive of ``N.mat`` files (those the figshare reader reads in place)."""
    from tumorseg.data.archive import is_zip

    return is_zip(path) and not figshare.holds_mat_files(Path(path))


def recognised(folder: Path) -> bool:
    """Some reader's ``detect`` accepts ``folder``."""
    return any(detect(folder) for detect, _ in FORMATS.values())


def dataset_root(path: str | Path, progress: bool = False) -> Path:
    """What to read for ``--data path``: ``path`` itself, or for a dataset archive (:func:`is_dataset_archive`) its
    dataset folder, unpacked once into the cache (:func:`tumorseg.data.unpacked.dataset_root`; ``progress``: a
    progress bar while unpacking).

    Raises:
        DataError: an archive that cannot be read safely, or no room for it on the cache disk.
    """
    path = Path(path)
    return unpacked.dataset_root(path, recognised, progress) if is_dataset_archive(path) else path


def detect_format(path: str | Path) -> str:
    """Name of the first registered format whose ``detect`` accepts ``path``.

    Raises:
        DataError: ``path`` does not exist, or no reader recognises it.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    path = dataset_root(path)
    for name, (detect, _) in FORMATS.items():
        if detect(path):
            return name
    if dicom_labelled.holds_dicom(path):
        raise DataError(f"{path}: DICOM images without DICOM SEG labels. To segment them: tumorseg predict {path} "
                        "--out OUT; to score a model on them, label the series (3D Slicer, OHIF) and save each "
                        "segmentation as DICOM SEG in the same tree.")
    raise DataError(
        f"{path}: cannot tell the dataset format. Expected an 'images/' + 'masks/' folder, figshare N.mat files, "
        f"LGG TCGA_*/ folders of .tif, NIfTI case folders, an nnU-Net/MSD dataset (dataset.json + imagesTr/), or DICOM series with DICOM SEG labels. Known formats: {', '.join(FORMATS)} (--format NAME)."
    )


def read_dataset(path: str | Path, fmt: str = "auto", **options: Any) -> list[SliceRecord]:
    """Read the dataset at ``path`` (a folder, a file some readers take, or a ``.zip`` of either:
    :mod:`tumorseg.data.unpacked`) into slice records.

    Options whose value is ``None`` are dropped (``None`` means "not given").

    Raises:
        DataError: the folder does not exist, no reader recognises it, an
            option does not apply to the format, or the reader finds problems
            (the message names the file).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    fmt = fmt or "auto"
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"unknown format '{fmt}'.{did_you_mean(fmt, FORMATS)} Known: {', '.join(FORMATS)}.")
    reader = FORMATS[fmt][1]
    accepted = inspect.signature(reader).parameters
    given = {k: v for k, v in options.items() if v is not None}
    stray = [k for k in given if k not in accepted]
    if stray:
        raise DataError(f"{OPTION_FLAGS.get(stray[0], stray[0])} does not apply to format '{fmt}' ({path}).")
    root = dataset_root(path)
    try:
        return reader(root, **given)
    except DataError as exc:
        if root == path:
            raise
        raise type(exc)(unpacked.shown(str(exc), path)) from None  # name the archive, not the cache folder


def load_record(record: SliceRecord) -> Loaded:
    """Decode one record at its native size (plain image files or the record's loader)."""
    if record.loader is None:
        import numpy as np

        from tumorseg.data.imageio import read_gray, read_mask

        img = read_gray(record.image)
        mask = read_mask(record.mask) if record.mask is not None else None
        if mask is not None and mask.shape != img.shape:
            raise DataError(
                f"{record.mask}: mask is {mask.shape[1]}×{mask.shape[0]} but its image {record.image} is "
                f"{img.shape[1]}×{img.shape[0]}. Masks must have their image's size."
            )
        if mask is None:
            mask = np.zeros(img.shape, dtype=bool)
        return Loaded(img, mask, float(img.min()), float(img.max()), "uint8", 0)
    if record.loader not in LOADERS:
        raise DataError(f"{record.case_id}: unknown loader '{record.loader}'. Known: {', '.join(LOADERS)}.")
    return LOADERS[record.loader][0](record)


def record_geometry(record: SliceRecord) -> tuple[Any, tuple[float, float]] | None:
    """The volume a record's slice belongs to, as ``(Z, H, W) uint8`` slices in the record's layout, and their
    in-plane spacing ``(row, column)`` in mm (NIfTI / NRRD volumes, DICOM series with SEG labels); ``None`` for
    records without geometry (2-D files, LGG TIFFs, figshare ``.mat``). What ``evaluate`` needs to give a volume's
    slices the field of view ``predict`` gives them (:mod:`tumorseg.inference.field_of_view`)."""
    if record.loader == "nifti":
        return nifti.record_geometry(record)
    if record.loader == "dicom-seg":
        return dicom_labelled.record_geometry(record)
    return None


def describe_records(records: list[SliceRecord]) -> dict[str, Any]:
    """What a model trained on ``records`` expects as input, for the checkpoint's ``preprocessing``.

    Returns ``{"loader", "channels" (names), "normalisation", "reader_options"}``
    where ``reader_options`` holds the settings prediction must repeat
    (``channels`` indices for LGG TIFFs, ``modality``/``labels`` for NIfTI).
    """
    if not records:
        return {}
    r = records[0]
    names = list(r.option("channel_names", ("gray",)))
    info: dict[str, Any] = {"loader": r.loader or "image", "channels": names,
                            "normalisation": LOADERS[r.loader][1] if r.loader in LOADERS else "x/255 of 8-bit grayscale"}
    if r.loader == "lgg":
        info["reader_options"] = {"channels": list(r.option("channels"))}
    elif r.loader == "nifti":
        info["reader_options"] = {"modality": ",".join(names) if names and names[0] in nifti.MODALITIES else "flair",
                                  "labels": list(r.option("labels") or [])}
    return info


def merge_options(path: str | Path, fmt: str, stored: dict[str, Any], given: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Resolve ``fmt`` for ``path`` and combine reader options: ``stored`` ones (from a checkpoint's
    config) that this format's reader takes, overridden by ``given`` ones (the command line)."""
    if fmt in (None, "auto"):
        fmt = detect_format(path)
    if fmt not in FORMATS:
        return fmt, dict(given)
    accepted = inspect.signature(FORMATS[fmt][1]).parameters
    return fmt, {**{k: v for k, v in (stored or {}).items() if k in accepted}, **given}
