"""Prediction inputs beyond 2-D image files: NIfTI, NRRD and MetaImage volumes, BraTS case folders, DICOM files and
series.

Every input is read and its mask written through :mod:`tumorseg.io`, so outputs keep the input's geometry
(the files are listed there):

* NIfTI file ``x.nii.gz`` or BraTS case folder ``<case>/`` -> ``OUT/<name>_mask.nii.gz``:
  the input's shape, affine and header geometry (qform/sform), ``uint8`` 0/1.
  Slices are predicted along the third array axis (axial in BraTS), or as axial slices of a
  near-isotropic sagittal/coronal volume or series (:mod:`tumorseg.io`);
  slices without brain (all zero) get an empty mask.
* NRRD ``x.nrrd`` / ``x.nhdr`` or MetaImage ``x.mha`` / ``x.mhd`` -> ``OUT/x_mask.nrrd`` / ``OUT/x_mask.mha``
  (:mod:`tumorseg.io.itk`; SimpleITK): read and predicted exactly as the same voxels in a NIfTI file. A folder of
  such files gives each file.
* multi-page TIFF ``x.tif`` holding a stack of same-size slices (Fiji / ImageJ's volume) -> ``OUT/x_mask.tif``, an
  ImageJ stack of the same size and calibration (:mod:`tumorseg.io.tiff`); pages predicted as stored. A folder
  gives each such file as its own volume, beside its 2-D images.
* DICOM file ``x.dcm`` -> ``OUT/x.png`` (a multi-frame file: ``OUT/x/x_NNN.png``);
  a series folder -> ``OUT/<series>/<series>_NNN.png`` and ``OUT/<series>_mask.nii.gz``;
  both also ``OUT/<name>_seg.dcm``, a DICOM Segmentation referencing the source images, and
  ``OUT/<name>_rtstruct.dcm``, the masks' outlines as an RT Structure Set (not for a multi-frame file).
  A folder holding several series (a study) gives each image series as its own input, named
  ``<folder>_s<number>_<description>`` (:func:`tumorseg.data.formats.dicom.list_series`; reports, SEGs and
  localizers are left out), each with the model its description calls for (:mod:`tumorseg.inference.choose`).
* With ``with_overlay`` (``predict --overlay``): ``OUT/<name>_overlay.png``, up to 16 slices with their
  masks in the radiological view (:mod:`tumorseg.inference.montage`).
* Every volume input adds a row to ``OUT/summary.json`` and ``OUT/summary.csv``
  (slices with tumour, volume in mL, longest axial diameter:
  :mod:`tumorseg.inference.summary`), logged as one line per volume; ``predict`` adds a row per LGG patient folder
  (:mod:`tumorseg.inference.files`) and writes the two files once for all its inputs.

Intensities: :func:`tumorseg.data.formats.scaling.volume_to_uint8`, one
scale per volume (a NIfTI volume, a series, or a file's frames; DICOM after
RescaleSlope/Intercept) from the foreground's 0.5–99.5 percentiles,
background 0 — as the NIfTI reader does for training.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from tumorseg.data.context import gather
from tumorseg.data.formats import bids, decathlon, lgg, nifti, tiff_stack
from tumorseg.data.formats._common import natural_key
from tumorseg.data.formats.dicom import (DicomSeries, folders_below, holds_dicom_images, is_dicom_file,
                                         list_series)
from tumorseg.data.formats.orientation import from_display, to_display_any
from tumorseg.data.formats.paired import MASK_SUFFIXES
from tumorseg.data.input_stats import far_off, label_levels
from tumorseg.errors import DataError, TumorsegError
from tumorseg.inference.field_of_view import window_for
from tumorseg.inference.montage import montage
from tumorseg.inference.postprocess import VolumeMasks
from tumorseg.inference.predictor import Predictor
from tumorseg.io import (ImageIO, Properties, is_itk_volume, luma, probability_bytes, read_input, write_mask,
                         write_probabilities)
from tumorseg.inference.summary import VolumeSummary, summarise, write_summaries

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """What one input gave: the files written, its slice count, how many slices have a predicted tumour
    (``n_tumour == 0``: "no tumour found"), the model used (:attr:`Predictor.label`) and, for volumes, the
    per-volume :class:`~tumorseg.inference.summary.VolumeSummary` (tumour volume in mL, diameter, ...)."""

    source: Path
    outputs: list[Path]
    n_slices: int
    n_tumour: int
    model: str
    summary: VolumeSummary | None = None
    maps: list[Path] = field(default_factory=list)  # probability maps written (predict --probabilities)

    @classmethod
    def of(cls, source: Path, outputs: list[Path], masks: np.ndarray, predictor: Predictor,
           summary: VolumeSummary | None = None) -> "Prediction":
        """From the predicted ``(N, H, W) bool`` masks of ``source``."""
        return cls(source, outputs, len(masks), int(masks.reshape(len(masks), -1).any(1).sum()), predictor.label,
                   summary)


class NamedVolume(type(Path())):
    """A volume file found in a subfolder of an input, whose outputs are named after its path below the input
    (``root/p1/image.nii.gz`` -> ``p1_image_mask.nii.gz``), so that scans of one name in different folders (every
    patient's ``image.nii.gz``) never overwrite each other. Otherwise it is the file's path (equal to it, hashed
    alike); paths derived from it (``.parent``...) carry no name (plain paths from Python 3.12 on)."""

    output_name: str = ""  # "" on derived paths: named as any path

    @classmethod
    def below(cls, path: Path, root: Path) -> NamedVolume:
        """``path``, named ``A_B_<stem>`` after its folders ``A/B/`` below ``root``."""
        volume = cls(path)
        stem = nifti.nifti_stem(path) if nifti.is_nifti(path) else path.stem
        # a BIDS scan's name holds its subject and session already, an nnU-Net channel file its case: unique in
        # their dataset
        unique = bids.parse(path.name) or decathlon.channel_of(path) or decathlon.stacked_channel(path)
        volume.output_name = decathlon.case_name(path) or (
            stem if unique else "_".join((*path.parent.relative_to(root).parts, stem)))
        return volume

    def with_segments(self, *segments):  # Python >= 3.12 builds derived paths with this
        return Path(*segments)


def input_kind(path: Path | DicomSeries) -> str | None:
    """``"nifti"``, ``"nifti-case"``, ``"itk"`` (a NRRD or MetaImage file), ``"tiff-stack"`` (a multi-page TIFF of
    same-size slices), ``"dicom"``, ``"dicom-series"`` (a folder, or one
    :class:`~tumorseg.data.formats.dicom.DicomSeries` of a folder) or ``None`` (an image file/folder, or a folder of
    NRRD/MetaImage files or TIFF stacks: :func:`split_volume_inputs` gives each file)."""
    if isinstance(path, DicomSeries):
        return "dicom-series"
    if path.is_file():
        if nifti.is_nifti(path):
            return "nifti"
        if is_itk_volume(path):
            return "itk"
        return "tiff-stack" if tiff_stack.is_stack(path) else ("dicom" if is_dicom_file(path) else None)
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file()]
        if any(nifti.is_nifti(p) for p in files) and nifti.is_case_folder(path):  # else: separate scans, each a file
            return "nifti-case"
        if any(is_dicom_file(p) for p in files) and holds_dicom_images(path):  # not a folder of labels only
            return "dicom-series"
    return None


def split_volume_inputs(inputs: Sequence[str | Path]) -> tuple[list[Path | DicomSeries], list[str | Path]]:
    """Separate NIfTI/NRRD/MetaImage/DICOM inputs (handled here) from image files/folders (handled by
    ``predict_files``).

    A DICOM folder holding several image series (a study) gives each series (:func:`_series_of`); a folder holding
    NRRD or MetaImage files, or NIfTI scans that are no case folder
    (:func:`~tumorseg.data.formats.nifti.is_case_folder`: ``p1.nii.gz, p2.nii.gz``), gives each of them (in name
    order; label files left out). A folder of
    volume folders (a BraTS download: one case folder each; or one DICOM series folder each) gives
    each of those subfolders, in name order; it stays an image folder too when it also holds image files of its
    own (they are predicted as well). Deeper down (up to six levels; :func:`_nested_inputs`), DICOM series folders
    (a CD or PACS export: ``export/PATIENT/STUDY/SERIES/``) give their series, named after their path below the
    input (``PATIENT_STUDY_SERIES``), so that series folders of the same name in different studies never overwrite
    each other's outputs; NIfTI case folders give themselves (a folder holding a BraTS download); and LGG
    folders (a ``kaggle_3m`` root or one patient's folder, below an input that is not one itself) are image
    inputs (:func:`tumorseg.inference.files.collect_inputs` reads their slices, never their masks). So a folder
    holding several datasets gives all of them. Other subfolders are left alone; those holding images (not mask
    folders, :func:`is_mask_folder`) are named in a log line, with the fix (give them as inputs).

    Raises:
        DataError: two volume inputs would write outputs of the same name (naming both).
    """
    volumes, images = [], []
    for item in inputs:
        path = Path(item)
        if input_kind(path):
            volumes += _series_of(path)
            continue
        cases = _volume_subfolders(path) if path.is_dir() else []
        volumes += [v for case in cases for v in _series_of(case)]
        itk_files = _plain_volumes(path) if path.is_dir() else []
        volumes += itk_files
        nested, lgg_folders = _nested_inputs(path) if path.is_dir() else ([], [])
        volumes += nested
        images += lgg_folders
        if not (cases or itk_files or nested or lgg_folders) or _has_images(path):
            images.append(item)  # a folder of volumes with image files of its own (a README or DICOMDIR is not one)
    _check_names(volumes)
    return volumes, images


def _series_of(path: Path) -> list[Path | DicomSeries]:
    """``[path]``, or each series of a DICOM folder that holds several (:func:`list_series`, headers only).
    A folder whose headers cannot be grouped stays one input: reading it reports the problem, as one input's
    failure."""
    if input_kind(path) != "dicom-series":
        return [path]
    try:
        found = list_series(path)
    except DataError:
        return [path]
    if len(found) > 1:
        _log_series(path, found)
        return list(found)
    return [path]


def _log_series(path: Path, found: Sequence[DicomSeries]) -> None:
    log.info("%s: %d DICOM series, each predicted on its own: %s", path, len(found),
             "; ".join(f"{s.name} ({len(s.files)} file{'s' if len(s.files) > 1 else ''})" for s in found))


def _nested_inputs(root: Path) -> tuple[list[Path | DicomSeries], list[Path]]:
    """Inputs in folders below ``root`` (in name order; :func:`~tumorseg.data.formats.dicom.folders_below`, down to
    :data:`~tumorseg.data.formats.dicom.TREE_DEPTH` levels): ``(volumes, lgg_folders)``.

    ``volumes``: DICOM series two or more levels down, each named ``A_B_C`` after its folder's path below ``root``
    (a folder whose headers cannot be grouped is one input: its reader reports the problem), NIfTI case folders
    two or more levels down (depth 1: :func:`_volume_subfolders`), and the scans of other folders one or more levels
    down (NIfTI files that are no case, NRRD, MetaImage, TIFF stacks: ``p1/image.nii.gz``, a dcm2niix export), each a
    :class:`NamedVolume` named ``A_B_<stem>`` after its path. ``lgg_folders``: LGG roots or patient folders
    (``*_mask.tif`` beside the slices, :func:`tumorseg.data.formats.lgg.detect`) one or more levels down, unless
    ``root`` is one itself (then :func:`tumorseg.inference.files.collect_inputs` reads its patients). Folders that
    are volumes or LGG folders are not searched further."""
    kinds: dict[Path, str | None] = {}
    patients = set(lgg.patient_dirs(root))  # an LGG root's (or patient folder's): read as the root's images
    root_is_lgg = bool(patients)

    def kind(d: Path) -> str | None:
        if d not in kinds:  # an LGG folder; or a patient's slices without masks (P/P_<n>.tif: read as one volume)
            kinds[d] = input_kind(d) or ("lgg" if not root_is_lgg and (lgg.detect(d) or _numbered_slices(d))
                                         else None)
        return kinds[d]

    found: list[Path | DicomSeries] = []
    lgg_folders: list[Path] = []
    skipped: list[Path] = []
    for d in folders_below(root, enter=lambda d: kind(d) is None and not bids.is_not_raw(d)):
        rel = d.relative_to(root).parts
        if bids.is_not_raw(d):  # a BIDS dataset's derivatives/, sourcedata/...: other tools' outputs, the DICOMs
            continue
        if kind(d) == "lgg":
            lgg_folders.append(d)
        elif kind(d) is None and d not in patients and not is_mask_folder(d):
            found += [NamedVolume.below(v, root) for v in _plain_volumes(d)  # scans, each its own input; not
                      if not _is_predict_output(v)]  # the maps of an earlier run into a folder inside the input
            if _has_images(d):
                skipped.append(d)
        if len(rel) < 2:  # depth 1 volumes: _volume_subfolders
            continue
        if kind(d) == "nifti-case":
            found.append(d)
        if kind(d) != "dicom-series":
            continue
        try:
            series = list_series(d, "_".join(rel))
        except DataError:
            found.append(d)
            continue
        if len(series) > 1:
            _log_series(d, series)
        found += series
    # in path order (the walk goes level by level: sub-03/anat would come before sub-02/ses-1/anat); a folder's
    # series keep their order
    found.sort(key=lambda v: [natural_key(part) for part in
                              (v.folder if isinstance(v, DicomSeries) else v).relative_to(root).parts])
    if skipped:
        names = [str(d.relative_to(root)) for d in skipped]
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        log.info("%s: not read, image files in %s %s%s (only the images of a folder given as input are predicted; give "
                 "%s as input%s)", root, "subfolders" if len(names) > 1 else "subfolder", ", ".join(names[:5]), more,
                 "them" if len(names) > 1 else "it", "s" if len(names) > 1 else "")
    return found, lgg_folders


MASK_FOLDERS = ("mask", "label", "seg", "gt", "ground_truth", "groundtruth", "truth")  # how their names begin


def is_mask_folder(folder: Path) -> bool:
    """Named as a folder of masks (``masks/``, ``labels/``, nnU-Net's ``labelsTr/``, ``segmentations/``, ``gt/``...):
    never an input, nor one to suggest."""
    return folder.name.lower().startswith(MASK_FOLDERS)


def _is_predict_output(path: Path) -> bool:
    """Named as ``predict`` names its outputs: ``*_mask`` (also a label name) and ``*_prob`` probability maps."""
    stem = nifti.nifti_stem(path) if nifti.is_nifti(path) else path.stem
    return stem.lower().endswith(("_prob", "_mask"))


def _has_images(folder: Path) -> bool:
    """Whether ``folder`` holds 2-D image files of its own (TIFF stacks are volumes, not images)."""
    images = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in ImageIO.suffixes]
    return len(stacks_among(images)) < len(images)


def _plain_volumes(folder: Path) -> list[Path]:
    """The volume files of a folder that is no case folder (:func:`tumorseg.data.formats.nifti.is_case_folder`):
    NRRD / MetaImage files and NIfTI scans, label files left out, in name order, then its TIFF stacks (not
    ``*_mask.tif``); each is its own input. Of BIDS scans only the FLAIR ones, else the contrast-enhanced T1w ones
    (:func:`tumorseg.data.formats.bids.preferred`); of nnU-Net channel files one per case
    (:func:`tumorseg.data.formats.decathlon.preferred`)."""
    files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: natural_key(p.name))
    scans = [p for p in files if (is_itk_volume(p) or nifti.is_nifti(p)) and not nifti.is_label_name(p)]
    return decathlon.preferred(bids.preferred(scans)) + stacks_among(files)


def stacks_among(files: Sequence[Path]) -> list[Path]:
    """The TIFF stacks (:func:`tumorseg.data.formats.tiff_stack.is_stack`) of ``files``, masks and ``predict``'s
    outputs (``*_mask.tif``, ``*_prob.tif``) left out; each file's header read once per run."""
    return [p for p in files if p.suffix.lower() in tiff_stack.TIFF_SUFFIXES and not _is_predict_output(p)
            and _is_stack(*nifti.file_key(p))]


@lru_cache(maxsize=8192)
def _is_stack(path: Path, size: int, mtime_ns: int) -> bool:  # size, mtime: a file rewritten is read again
    return tiff_stack.is_stack(path)


def _numbered_slices(folder: Path) -> bool:
    """Whether ``folder`` ``P/`` holds image slices named ``P_<n>`` (:func:`tumorseg.data.formats.lgg.slice_number`):
    an LGG patient's images without their masks (a held-out set), or any scan exported slice by slice."""
    return not is_mask_folder(folder) and any(p.is_file() and lgg.slice_number(p) is not None
                                              for p in folder.iterdir())


def output_name(volume: Path | DicomSeries) -> str:
    """The name a volume input's outputs are written under (``<name>_mask.nii.gz`` ...): a series' name, a NIfTI
    file's stem, a DICOM file's stem, a folder's name; a :class:`NamedVolume`'s path below its input."""
    if isinstance(volume, DicomSeries):
        return volume.name
    if isinstance(volume, NamedVolume) and volume.output_name:
        return volume.output_name
    if volume.is_file():  # an nnU-Net channel file: its case (BRATS_485_0000.nii.gz -> BRATS_485)
        return decathlon.case_name(volume) or (nifti.nifti_stem(volume) if nifti.is_nifti(volume)
                                               else volume.stem)  # x.nrrd, x.mha -> x
    return bids.case_name(volume) or volume.name  # a BIDS anat/ folder: sub-01_ses-x


def _check_names(volumes: Sequence[Path | DicomSeries]) -> None:
    first: dict[str, Path | DicomSeries] = {}
    for v in volumes:
        name = output_name(v)
        if name in first:
            raise DataError(f"{first[name]} and {v} would both be written as '{name}_...'; rename one or predict them "
                            "separately (--out another folder).")
        first[name] = v


def _dicom_series_of(volume: Path | DicomSeries) -> DicomSeries | None:
    """The :class:`DicomSeries` a volume input is (a series, or the only series of a DICOM folder), else ``None``."""
    if isinstance(volume, DicomSeries):
        return volume
    if input_kind(volume) == "dicom-series":
        try:
            found = list_series(volume)
        except DataError:
            return None
        return found[0] if len(found) == 1 else None
    return None


def series_label(series: DicomSeries) -> str:
    """``5 'Ax T2 FLAIR'``: how a series is named in messages and ``predict --list``."""
    number = "" if series.number is None else str(series.number)
    return " ".join(x for x in (number, repr(series.description) if series.description else "") if x) or series.name


def select_series(volumes: Sequence[Path | DicomSeries], wanted: Sequence[str]) -> list[Path | DicomSeries]:
    """The DICOM series among ``volumes`` that ``wanted`` asks for (``predict --series``): a SeriesNumber
    (``5``), or a piece of the SeriesDescription, case-insensitive (``flair``, ``t1 post``); any of them matches.
    Volumes that are not DICOM series (NIfTI, single DICOM files) are kept.

    Raises:
        DataError: no DICOM series matches (the message lists the series found).
    """
    words = [w.strip().lower() for w in wanted if w.strip()]
    kept, series_seen, matched = [], [], 0
    for volume in volumes:
        series = _dicom_series_of(volume)  # headers read once per volume
        if series is None:
            kept.append(volume)
            continue
        series_seen.append(series)
        desc = series.description.lower()
        if any((w.isdigit() and series.number == int(w)) or (not w.isdigit() and w in desc) for w in words):
            kept.append(volume)
            matched += 1
    if not matched:
        found = "; ".join(series_label(s) for s in series_seen[:12]) or "none"
        raise DataError(f"no DICOM series matches --series {' '.join(map(repr, wanted))} (a SeriesNumber or part of "
                        f"the SeriesDescription); the series found: {found}.")
    log.info("--series %s: %d of %d DICOM series kept", " ".join(wanted), matched, len(series_seen))
    return kept


def _volume_subfolders(folder: Path) -> list[Path]:
    """The subfolders of ``folder`` that are BraTS case folders or DICOM series folders, by name (not a BIDS
    dataset's ``derivatives/``, ``sourcedata/``...)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and input_kind(p) and not bids.is_not_raw(p))


def read_model_input(path: Path, predictor: Predictor) -> tuple[np.ndarray, Properties]:
    """Read a 2-D image file (:class:`tumorseg.io.ImageIO`) as the checkpoint's input: ``(H, W)`` or
    ``(C, H, W) uint8``, and its :class:`~tumorseg.io.Properties` (for writing its mask).

    A colour image whose channels are equal is grayscale; a colour PNG/JPG for
    a one-channel model is converted to luma (a photo, not a stack). A
    3-channel TIFF is a stack of MRI channels (LGG): a model trained on LGG
    channels picks those (FLAIR for ``--channels flair``), as training did, and a
    one-channel model of a known modality (:attr:`Predictor.modality`) picks
    its channel (``flair`` → FLAIR, ``t1c`` → post-contrast);
    any other channel mismatch is refused by :meth:`Predictor.check_channels`,
    never averaged away. A mask file (``x_mask.png`` of two grey levels) is refused (:func:`refuse_label_file`).
    """
    image, props = _read_slice(path, predictor)
    refuse_label_file(path, [image])
    if predictor.context and image.ndim == 2 and lgg.slice_number(path) is not None:
        image = _with_neighbour_files(path, image, predictor)
    return image, props


def _with_neighbour_files(path: Path, image: np.ndarray, predictor: Predictor) -> np.ndarray:
    """``(2k + 1, H, W)``: a numbered slice ``<patient>_<n>.tif`` (LGG; or ``.png``...) with the files
    ``<patient>_<n±d>.<same suffix>`` beside it,
    for a model of neighbouring slices (:mod:`tumorseg.data.context`); past the volume's end, a missing or
    unreadable file (reported on its own as that file's failure) or one of another size, the last slice found
    stands in (as in training), so a bad neighbour never costs a good slice its prediction."""
    n = lgg.slice_number(path)

    def neighbour(d: int) -> np.ndarray | None:
        other = path.with_name(f"{path.parent.name}_{n + d}{path.suffix}")
        try:
            found = _read_slice(other, predictor)[0] if other.is_file() else None
        except TumorsegError:
            return None
        return found if found is not None and found.shape == image.shape else None

    return np.stack(gather(predictor.context, image, neighbour))


def _read_slice(path: Path, predictor: Predictor) -> tuple[np.ndarray, Properties]:
    """One file as the model's one-slice input (:func:`read_model_input` without neighbours)."""
    array, props = ImageIO().read(path)  # (1, H, W) or (1, 3, H, W); the declared size checked first
    image = array[0]
    stack_file = path.suffix.lower() in (".tif", ".tiff")
    picked = predictor.checkpoint["preprocessing"].get("reader_options", {}).get("channels")
    if not picked and stack_file and predictor.slice_channels == 1 and predictor.modality in ("flair", "t1c"):
        picked = lgg.parse_channels(predictor.modality)  # a FLAIR model reads the FLAIR channel, T1c post-contrast
    stack = stack_file or predictor.slice_channels > 1 or picked
    if image.ndim == 3 and not stack:  # a colour picture (PNG/JPG) for a one-channel model: luma, as always
        log.warning("%s: colour image converted to grayscale for a one-channel model", path)
        image = luma(image)
    elif image.ndim == 3 and picked and len(picked) == predictor.slice_channels:  # LGG: pre-contrast, FLAIR, post
        stand_ins = [c for c in picked if c != 1 and len(image) == 3 and image[1].any()
                     and np.array_equal(image[c], image[1])]
        if stand_ins:
            _warn_flair_stand_in(path.parent, lgg.CHANNEL_NAMES[stand_ins[0]], predictor.label)
        image = image[list(picked)]
        image = image[0] if len(picked) == 1 else image
    predictor.check_channels(image, str(path))
    return image, props


@lru_cache(maxsize=256)
def _warn_flair_stand_in(folder: Path, channel: str, model: str) -> None:
    """One warning per folder (and model) whose LGG TIFFs carry FLAIR in place of a missing sequence."""
    log.warning("%s: the %s channel of its TIFFs is a copy of FLAIR (kaggle_3m's stand-in for a missing sequence), "
                "so model %s reads FLAIR images there; --model flair fits them", folder, channel, model)


def read_for_model(path: Path, predictor: Predictor) -> np.ndarray:
    """:func:`read_model_input` without the properties."""
    return read_model_input(path, predictor)[0]


def predict_stack(slices: list[np.ndarray], predictor: Predictor, batch_size: int, bar=None,
                  keep: np.ndarray | None = None, *, lock: AbstractContextManager | None = None,
                  skip_empty: bool = True, adjacent: bool = True, pixel_mm: Sequence[float] | None = None,
                  name: str = "", display: np.ndarray | None = None,
                  report: dict | None = None, post: dict | None = None) -> np.ndarray:
    """Binary masks ``(N, H, W) bool`` for the slices of one volume; the checkpoint's volume rules (``z_smooth``,
    ``hysteresis_prob``, ``largest_component_3d``; :mod:`tumorseg.inference.postprocess`) are applied to the stack
    when it has more than one slice.

    Args:
        slices: ``N`` arrays ``(H, W)`` (or ``(C, H, W)``) of one shape.
        bar: a progress bar updated per slice (``None``: none).
        keep: an ``(N, H, W) uint8`` array that receives each slice's probabilities x 255 (before any
            post-processing; 0 for the slices never run).
        lock: held around each model call (the web server: one call at a time).
        skip_empty: all-zero slices get empty masks without running the model.
        adjacent: the slices are a volume's neighbours, given to a model of neighbouring slices as stacks
            (:meth:`Predictor.inputs`); ``False``: each slice is an input as it is (an uploaded picture).
        pixel_mm: ``(row, column)`` spacing in mm: slices covering less than the models' training field of view
            are padded to it for the model, a batch at a time, and slices covering far more cropped around the head
            (:mod:`tumorseg.inference.field_of_view`); ``None``: as they are. name: the input, for that module's
            log line.
        display: the volume's :meth:`~tumorseg.io.Properties.display` transform: a model whose
            :attr:`Predictor.view` is ``"display"`` gets the slices in that layout (and its output is put back);
            ``None`` (no geometry), or another model: the slices as stored.
        report: receives ``"left_out"``, what the one-lesion rule left out
            (:class:`~tumorseg.inference.postprocess.LeftOut`), when the rule ran.
        post: post-processing settings for this call instead of ``predictor.post`` (the web page's "keep every
            lesion": the shared predictor is never changed).
    """
    display = display if predictor.view == "display" else None
    volume = VolumeMasks(len(slices), slices[0].shape[-2:], predictor.post if post is None else post,
                         predictor.image_size)
    window = window_for(slices, pixel_mm, name)
    todo = [i for i, s in enumerate(slices) if not skip_empty or s.any()]
    for start in range(0, len(todo), batch_size):
        idx = todo[start : start + batch_size]
        with lock or nullcontext():
            inputs = predictor.inputs(slices, idx) if adjacent else [slices[i] for i in idx]
            if window is not None:
                inputs = [window.apply(x) for x in inputs]
            if display is not None:
                inputs = [to_display_any(x, display) for x in inputs]
            probs = predictor.probabilities(inputs, batch_size)
        if display is not None:
            probs = [from_display(prob, display) for prob in probs]
        if window is not None:
            probs = [window.undo(prob) for prob in probs]
        for i, prob in zip(idx, probs):
            volume.add(i, prob)
            if keep is not None:
                keep[i] = probability_bytes(prob)
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.update(len(slices) - len(todo))
    return volume.masks(report)


def read_volume_input(path: Path | DicomSeries, predictor: Predictor) -> tuple[np.ndarray, Properties]:
    """A NIfTI file, BraTS case folder, DICOM file, series folder or series of a study folder as ``(Z, H, W)`` (``(Z, C, H, W)`` for a
    multi-modality case) ``uint8`` slices and the :class:`~tumorseg.io.Properties` its mask is written with.

    A case folder gives the model its modality: the checkpoint's reader option, else
    :attr:`Predictor.modality` (``t1c`` → ``-t1c``/``_t1ce``/``*t1c*``), else FLAIR; its outputs are named
    after the folder.
    """
    kind = input_kind(path)
    if isinstance(path, NamedVolume) and path.output_name:
        array, props = read_volume_input(Path(path), predictor)
        return array, dataclasses.replace(props, name=path.output_name)
    if kind not in ("nifti", "nifti-case"):
        return read_input(path)
    images = [path]
    if kind == "nifti-case":
        opts = predictor.checkpoint["preprocessing"].get("reader_options", {})
        images, _, _ = nifti.find_case_files(path, opts.get("modality") or predictor.modality or "flair",
                                             several="give the file to predict, or put each case in its own folder.",
                                             missing="The bundled models read FLAIR (flair) or contrast-enhanced T1 "
                                                     "(t1c); to predict another scan anyway, give its file.")
    if len(images) != predictor.slice_channels:
        raise DataError(
            f"{path}: gives {len(images)} modality volume(s) but the model was trained on {predictor.slice_channels} "
            f"channel(s) ({', '.join(predictor.checkpoint['preprocessing'].get('channels', []))}). "
            "Pass the case folder so the model's modalities are found."
        )
    read = [read_input(p) for p in images]  # each (Z, X, Y) uint8
    if len({a.shape for a, _ in read}) > 1:
        raise DataError(f"{path}: modality volumes differ in shape ({[a.shape for a, _ in read]}).")
    array, props = read[0] if len(read) == 1 else (np.stack([a for a, _ in read], axis=1), read[0][1])  # (Z, C, X, Y)
    return array, dataclasses.replace(props, name=output_name(path), shape=array.shape)


def predict_volume(path: Path | DicomSeries, predictor: Predictor, out: Path, batch_size: int = 16,
                   progress: bool = True, with_overlay: bool = False, probabilities: bool = False) -> Prediction:
    """Predict one NIfTI volume, BraTS case folder, DICOM file or series into ``out`` (see module docstring);
    ``with_overlay`` also writes ``out/<name>_overlay.png`` (:func:`tumorseg.inference.montage.montage`, the
    radiological view; a picture, not listed among the masks in the outputs, as for 2-D images);
    ``probabilities`` also writes the model's probabilities with the input's geometry
    (:func:`tumorseg.io.write_probabilities`: ``<name>_prob.nii.gz`` ...; one byte a voxel while predicting)."""
    array, props = read_volume_input(path, predictor)
    slices = list(array)
    refuse_label_file(path, slices)
    warn_if_far_off(path, slices, predictor)
    bar = tqdm(total=len(slices), desc=f"predicting {props.name}", unit="slice",
               disable=not progress or len(slices) == 1, leave=False)
    keep = np.zeros((len(slices), *slices[0].shape[-2:]), np.uint8) if probabilities else None
    lesions: dict = {}
    masks = predict_stack(slices, predictor, batch_size, bar, keep, name=str(path),  # (Z, H, W)
                          pixel_mm=props.spacing_mm[1:] if props.spacing_mm else None, display=props.display(),
                          report=lesions)
    bar.close()
    written = write_mask(masks, props, out, predictor.name)
    maps = write_probabilities(keep, props, out) if keep is not None else []
    summary = summarise(masks, props.spacing_mm, props.name, predictor.label, lesions.get("left_out"))
    volume_file = [p for p in written if nifti.is_volume(p) or props.kind == "tiff"]  # a TIFF stack's: one file
    main = volume_file[0] if volume_file else written[0]
    summary.mask = str(main.relative_to(out) if len(masks) == 1 or volume_file else main.relative_to(out).parent)
    if with_overlay:
        measure = (summary.cross_section_slice, summary.cross_section_px) if summary.cross_section_px else None
        picture = montage(array, masks, props.display(), measure=measure)
        Image.fromarray(picture).save(out / f"{props.name}_overlay.png")
    result = Prediction.of(path, written, masks, predictor, summary)
    result.maps = maps
    return result


def predict_volumes(inputs: Sequence[Path | DicomSeries], predictor: Predictor, out: Path, batch_size: int = 16,
                    progress: bool = True, with_overlay: bool = False, write_summary: bool = True,
                    probabilities: bool = False) -> list[Prediction]:
    """Predict every NIfTI/DICOM input into ``out``; one :class:`Prediction` per input (``with_overlay``: and a
    picture of each; ``probabilities``: and its probability map; see :func:`predict_volume`).

    Logs each volume's summary line and, with at least one input and ``write_summary``, writes ``out/summary.json``
    and ``out/summary.csv`` (one row per volume, :mod:`tumorseg.inference.summary`; ``predict_inputs`` writes them
    once for all its volumes instead).
    """
    done: list[Prediction] = []
    out.mkdir(parents=True, exist_ok=True)
    for path in inputs:
        result = predict_volume(path, predictor, out, batch_size, progress, with_overlay, probabilities)
        result.summary.input = input_label(path)
        log.info("%s -> %s", result.summary.line(), out / result.summary.mask)
        done.append(result)
    if done and write_summary:
        write_summaries([r.summary for r in done], out)
    return done


def input_label(path: Path | DicomSeries) -> str:
    """How ``summary.csv``'s ``input`` names a volume input: its path, and of a 4-D NIfTI read as ``predict --volume
    K`` asked (:func:`tumorseg.data.formats.nifti.reading_volume`) `` [volume K]``, so that the row says which volume
    it is and ``--resume`` tells two volumes of one file apart."""
    k = nifti.chosen_volume()
    if k is not None and not isinstance(path, DicomSeries) and nifti.is_nifti(Path(path)) and \
            nifti.volume_count(Path(path)) > 1:
        return f"{path} [volume {k}]"
    return str(path)


def far_off_note(source: Path, slices: list[np.ndarray], predictor: Predictor) -> str | None:
    """A warning naming ``source`` and the model when the slices' brightness is far from the model's training
    data (:func:`tumorseg.data.input_stats.far_off`), else ``None`` (also for checkpoints without statistics).
    A blank input (every pixel of every slice the same value; NaN/inf are read as 0) gets its own warning: its
    "no tumour found" says nothing about a scan."""
    if all(np.ptp(s) == 0 for s in slices):
        what = "every pixel" if len(slices) == 1 else f"every voxel of its {len(slices)} slices"
        return (f"{source}: blank input ({what} the same value after reading; NaN/inf count as 0), so nothing "
                "was there to segment. Check the file (export, windowing, the right series).")
    levels = label_levels(slices)
    if levels is not None:
        return (f"{source}: only {len(levels)} grey levels as read ({', '.join(map(str, levels))}), as in a mask or "
                "label file, not a scan, so its result means nothing; predict the scan it outlines.")
    if predictor.input_stats is None:
        return None
    picked = slices[:: max(1, len(slices) // 64)]
    if predictor.context:  # a stack of neighbouring slices: its own slice is the centre one
        picked = [s[s.shape[0] // 2] if s.ndim == 3 else s for s in picked]
    why = far_off([predictor.normalised(s) for s in picked], predictor.input_stats)
    if why is None:
        return None
    kind = {"t1c": "a T1c (contrast-enhanced T1)", "flair": "a FLAIR"}.get(predictor.modality or "", "the kind of")
    return (f"{source}: unusual input for model '{predictor.label}': {why}. Check that it is {kind} scan scaled "
            "like the training data, or choose another --model.")


def refuse_label_file(source: Path | DicomSeries, slices: list[np.ndarray]) -> None:
    """Refuse an input that is a mask or label file: **named** as one
    (:func:`tumorseg.data.formats.nifti.is_label_name`: ``*mask*``, ``*seg*``, ``*label*``, ``OT*``...) **and**
    holding only a mask's few grey levels (:func:`tumorseg.data.input_stats.label_levels`), or a single one (a 0/1
    mask volume, whose flat intensity window reads it as all 0; an empty mask): ``x_mask.tif`` given to ``predict``
    instead of ``x.tif``, a BraTS ``-seg.nii.gz``. Either alone is not enough: ``t1c_masked.nii.gz`` is a scan, and
    a label-like file of another name gets :func:`far_off_note`'s warning instead. Folders never give such files
    as inputs.

    Raises:
        DataError: one line naming the file, its grey levels and the scan beside it to predict instead, if found.
    """
    if isinstance(source, DicomSeries) or not nifti.is_label_name(Path(source)):
        return
    levels = label_levels(slices)
    if levels is not None:
        what = f"only the grey levels {', '.join(map(str, levels))}"
    elif all(np.ptp(s) == 0 for s in slices):  # a 0/1 mask volume scales to one value (its window is flat)
        what = "one grey level as read"
    else:
        return
    source = Path(source)
    scan = _scan_beside(source)
    instead = f" ({scan.name} beside it)" if scan else ""
    raise DataError(f"{source}: a mask or label file (named so, and {what}), not a scan; predict the scan it "
                    f"outlines{instead}.")


def _scan_beside(label: Path) -> Path | None:
    """The scan a label file outlines, when one lies beside it: ``x_mask.tif`` -> ``x.tif`` (the suffixes
    ``_mask``, ``-seg``... of :data:`tumorseg.data.formats.paired.MASK_SUFFIXES` taken off), else the first file of
    the same type beside it that is not named as a label (``case-t1c.nii.gz`` beside ``case-seg.nii.gz``)."""
    volume = nifti.is_nifti(label) or is_itk_volume(label)
    stem = nifti.nifti_stem(label) if volume else label.stem
    suffix = label.name[len(stem):]
    for end in MASK_SUFFIXES[1:]:
        if stem.lower().endswith(end) and (found := label.with_name(stem[: -len(end)] + suffix)).is_file():
            return found
    try:
        beside = sorted(p for p in label.parent.iterdir() if p.is_file() and p.name.lower().endswith(suffix.lower())
                        and not nifti.is_label_name(p) and not _is_predict_output(p))
    except OSError:
        return None
    return beside[0] if beside else None


def warn_if_far_off(source: Path, slices: list[np.ndarray], predictor: Predictor) -> bool:
    """Log :func:`far_off_note` as a warning (never refuses the input); returns whether it warned."""
    note = far_off_note(source, slices, predictor)
    if note:
        log.warning("%s", note)
    return note is not None
