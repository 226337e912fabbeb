"""Score mask files against truth files: ``tumorseg score PRED TRUTH`` — masks from tumorseg or any other tool
(nnU-Net, MONAI, a colleague's hand outlines) measured with the same rules as ``evaluate``.

Inputs: two files, or two folders (searched to any depth). Supported: 2-D masks (PNG, TIFF, JPEG, BMP: 0/255 or
0/1, as ``check-data`` reads them; figshare ``<n>.mat`` slices: their ``tumorMask``) and volumes (NIfTI, NRRD /
MetaImage with the ``itk`` extra, multi-page TIFF stacks as ``predict`` writes them for a Fiji stack; any value > 0 is
tumour, or only the ``labels`` given, which apply to the truth: BraTS ``--labels 1,3``).

Pairing, by name: a file's *key* is its name in lower case without extension and without trailing ``_mask``,
``-seg``, ``_label``, ``_gt``, ``_pred``... or modality tags (``-t2f``, ``_flair``, ``_t1ce``...), so
``BraTS-GLI-00001-000-t2f_mask.nii.gz`` (``predict``'s) pairs with ``BraTS-GLI-00001-000-seg.nii.gz`` and
``TCGA_CS_4942_19970222_12.png`` with ``TCGA_CS_4942_19970222_12_mask.tif``. Where a folder holds both images and
masks (a BraTS case tree, the LGG set), only the files named as masks are taken; ``predict``'s overlays and
probability maps (``_overlay``, ``_prob``) never are. Two files with one key on one side are an error naming both.
A truth file that pairs with nothing by its key pairs by its folder's name (``case1/OTMultiClass.nii.gz`` with
``case1_mask.nii.gz``), else by its path below TRUTH (``p1/image_seg.nii.gz`` with ``p1_image_mask.nii.gz``:
``predict``'s name for a scan found in a folder below its input). BIDS derivatives pair with ``predict``'s masks of
a BIDS dataset: their derivative entities and suffix are dropped too (``sub-01_ses-1_desc-tumor_mask.nii.gz``,
``..._label-tumor_dseg.nii.gz`` -> ``sub-01_ses-1``, the name ``predict`` gives that session's ``anat/`` folder).

DICOM SEG objects (``predict``'s for a DICOM series, 3D Slicer's, OHIF's) and RT Structure Sets (RTSTRUCT: their
tumour ROIs' contours, :mod:`tumorseg.data.formats.rtstruct`) pair instead by the series they label
(``ReferencedSeriesSequence``): a SEG with the other side's SEG or RTSTRUCT of the same series, over every slice of
that series (frames a SEG leaves out are empty), in the axial slices ``predict`` reads the series as
(:func:`tumorseg.data.formats.dicom_labelled.seg_mask`); ``labels`` are then segment numbers (RTSTRUCT: ROI
numbers). The series must lie under either side (or beside a SEG given as a file).

What is scored (:func:`tumorseg.evaluation.evaluate.summarise`): one row per 2-D mask, or per slice of a volume
(axial slices, as ``evaluate`` and ``predict`` read the volume: :func:`tumorseg.data.formats.orientation.slice_axes`);
per-volume Dice per volume and per folder ``P/`` of slices named ``P_<n>`` (an LGG patient); presence (sensitivity,
specificity, false-positive slice rate). A truth without a prediction is scored as an empty prediction (so a
tool that skips hard cases cannot look better) and named; predictions without a truth are counted and left out. A
pair that cannot be scored (unreadable, sizes differ) is reported in one line and listed; the others are scored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError

log = logging.getLogger(__name__)

IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
VOLUME_EXTS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
MAT_EXTS = (".mat",)  # a figshare slice: its tumorMask is the truth
MASK_TAGS = ("mask", "seg", "segmentation", "label", "labels", "labelmap", "gt", "truth", "groundtruth", "pred",
             "prediction", "dseg")  # dseg: a BIDS derivative's discrete segmentation
MODALITY_TAGS = ("t2f", "t1c", "t1n", "t2w", "flair", "t1ce", "t1gd", "t1", "t2")
SKIP_TAGS = ("overlay", "prob")  # predict's pictures and probability maps
NOT_TUMOUR = ("*brain*mask*", "*mask*brain*", "*skull*")  # brain masks of skull stripping (DeepMedic's brainmask)
_TAG = re.compile(r"[-_.]([a-z0-9]+)$")
# what a BIDS derivative's name adds to its source scan's entities (sub-01_space-orig_label-tumor_desc-manual_mask)
_BIDS_DERIVED = re.compile(r"_(?:space|res|den|label|desc)-[A-Za-z0-9]+")


def _ext(path: Path) -> str | None:
    name = path.name.lower()
    return next((e for e in VOLUME_EXTS + IMAGE_EXTS + MAT_EXTS if name.endswith(e)), None)


def _tags(name: str) -> tuple[str, list[str]]:
    """``(name without extension and trailing tags, the tags stripped, in lower case)``; see the module doc."""
    ext = _ext(Path(name))
    stem = name[: -len(ext)] if ext else name
    tags = []
    while (m := _TAG.search(stem.lower())) and m.group(1) in MASK_TAGS + MODALITY_TAGS + SKIP_TAGS:
        tags.append(m.group(1))
        stem = stem[: m.start()]
    return stem, tags


def case_of(path: Path) -> str:
    """The case a mask file names (module doc): ``BraTS-GLI-00001-000-seg.nii.gz`` -> ``BraTS-GLI-00001-000``;
    files are paired by this name in lower case. A BIDS name loses its derivative entities too
    (``sub-01_ses-1_desc-tumor_mask.nii.gz`` -> ``sub-01_ses-1``, as ``predict`` names a BIDS session's mask)."""
    stem = _tags(path.name)[0]
    return _BIDS_DERIVED.sub("", stem) if stem.startswith("sub-") else stem


def _files(root: Path, truth: bool, required: bool = True) -> list[Path]:
    """The mask files under ``root`` (a file or a folder; see the module doc). On the ``truth`` side, a folder of
    images and masks together (a BraTS tree, the LGG set) gives its masks only.

    Raises:
        DataError: no mask file (when ``required``; else ``[]``).
    """
    if root.is_file():
        if not required:
            return [root] if _ext(root) else []
        if _ext(root) is None:
            raise DataError(f"{root}: not a mask file tumorseg scores; expected "
                            f"{', '.join(IMAGE_EXTS + VOLUME_EXTS + MAT_EXTS)}.")
        return [root]
    if not root.is_dir():
        raise DataError(f"{root}: no such file or folder.")
    found = [p for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".") and _ext(p)
             and not set(_tags(p.name)[1]) & set(SKIP_TAGS)
             and (_ext(p) not in MAT_EXTS or p.stem.isdigit())]  # figshare slices are <n>.mat (not cvind.mat)
    masks = [p for p in found if set(_tags(p.name)[1]) & set(MASK_TAGS) or _label_named(p)]
    if truth and masks:
        found = masks
    elif truth and required and found and all(set(_tags(p.name)[1]) & set(MODALITY_TAGS) for p in found):
        raise DataError(f"{root}: holds scans ({', '.join(p.name for p in found[:2])}{', ...' * (len(found) > 2)}) "
                        "but no truth mask (a file named -seg, _mask, OT..., or a DICOM SEG); give as TRUTH the "
                        "folder that holds the labels.")
    if not found and required:
        raise DataError(f"{root}: no mask files ({', '.join(IMAGE_EXTS + VOLUME_EXTS + MAT_EXTS)}, or DICOM SEG) "
                        "found.")
    return found


def _label_named(path: Path) -> bool:
    """Named as a label file by the NIfTI reader's rules (:func:`tumorseg.data.formats.nifti.is_label_name`), and not
    as a mask of something other than the tumour (:data:`NOT_TUMOUR`)."""
    from fnmatch import fnmatch

    from tumorseg.data.formats.nifti import is_label_name

    return is_label_name(path) and not any(fnmatch(path.name.lower(), h) for h in NOT_TUMOUR)


def _by_case(root: Path, files: list[Path]) -> dict[str, tuple[str, Path]]:
    """Lower-case case name -> ``(case name, file)``. Files that share a name (``case1/OTMultiClass.nii.gz``,
    ``case2/OTMultiClass.nii.gz``) are named by their folder instead.

    Raises:
        DataError: two files still share a name.
    """
    names: dict[str, list[Path]] = {}
    for p in files:
        names.setdefault(case_of(p).lower(), []).append(p)
    out: dict[str, tuple[str, Path]] = {}
    for group in names.values():
        for p in group:
            case = case_of(p) if len(group) == 1 else _tags(p.parent.name)[0]
            if case.lower() in out:
                other = out[case.lower()][1]
                raise DataError(f"{root}: {other.relative_to(root) if root.is_dir() else other} and "
                                f"{p.relative_to(root) if root.is_dir() else p} both pair as '{case}'; give the two "
                                "folders (or files) whose masks you want compared.")
            out[case.lower()] = (case, p)
    return out


@dataclass
class _Segs:
    """The DICOM SEG and RTSTRUCT objects of both sides (:func:`tumorseg.data.formats.dicom_labelled.seg_objects`):
    ``uid``, the SeriesInstanceUID each file labels; ``series``, the image series found under either side by UID."""

    uid: dict[Path, str | None] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)

    def add(self, root: Path) -> dict[str, tuple[str, Path]]:
        """Read ``root``'s SEGs and series; returns its SEGs as ``_by_case`` does, keyed ``seg:<series UID>`` (a
        SEG pairs with the other side's SEG of the same series, whatever the files are called).

        Raises:
            DataError: two SEGs of one side label the same series.
        """
        from tumorseg.data.formats.dicom_labelled import seg_objects

        segs, series = seg_objects(root)
        for uid, s in series.items():
            self.series.setdefault(uid, s)
        out: dict[str, tuple[str, Path]] = {}
        for path, uid in segs:
            self.uid[path] = uid
            key = f"seg:{uid}"
            if key in out:
                raise DataError(f"{out[key][1]} and {path} both label the series {uid}; give the folders (or files) "
                                "whose SEGs you want compared.")
            out[key] = (path.stem, path)
        return out

    def named(self, entries: dict[str, tuple[str, Path]]) -> dict[str, tuple[str, Path]]:
        """``entries`` with each SEG's case named after its series (``folder_series``) where the series was found."""
        return {k: ((self.series[k[4:]].name or c) if k[4:] in self.series else c, p) for k, (c, p) in entries.items()}

    def read(self, path: Path, labels: tuple[int, ...] | None, roots: tuple[Path, ...]) -> _Mask:
        """A SEG's mask over its series (axial slices, as ``predict`` and ``evaluate`` read the series).

        Raises:
            DataError: its series is not under either side (nor beside a SEG given as a file).
        """
        from tumorseg.data.formats.dicom_labelled import seg_mask

        uid = self.uid[path]
        if uid not in self.series and path.parent not in roots:  # a SEG given as a file: its series beside it?
            roots += (path.parent,)
            self.add(path.parent)
            uid = self.uid[path]  # an RTSTRUCT naming only images is matched to their series now
        if uid not in self.series:
            raise DataError(f"{path}: the series it labels ({uid}) is not under {' or '.join(map(str, roots))}; "
                            "give as TRUTH the folder holding the series and its SEG.")
        mask, voxel_ml = seg_mask(path, self.series[uid], labels)
        return _Mask(np.ascontiguousarray(mask), True, None, voxel_ml)


@dataclass
class _Mask:
    """A mask file read as ``slices`` ``(Z, H, W) bool`` (Z = 1 for a 2-D mask), with what it was read as."""

    slices: np.ndarray
    volume: bool
    affine: np.ndarray | None = None
    voxel_ml: float | None = None


def _read(path: Path, labels: tuple[int, ...] | None) -> _Mask:
    """Read one mask file (2-D: :func:`tumorseg.data.imageio.read_mask`; volumes: size-checked before decoding,
    axial slices first; a TIFF stack: its pages).

    Raises:
        DataError: unreadable, not binary (2-D), non-integer labels (volumes), over the limits.
    """
    from tumorseg.data.formats import tiff_stack

    if _ext(path) in tiff_stack.TIFF_SUFFIXES and tiff_stack.is_stack(path):  # a multi-page TIFF: one volume
        values, spacing = tiff_stack.read_stack(path)  # (Z, H, W), pages as predict reads them
        return _Mask(_tumour(values, labels, path), True, None, float(np.prod(spacing)) / 1000.0 if spacing else None)
    if _ext(path) in IMAGE_EXTS + MAT_EXTS:
        from tumorseg.data.formats import figshare
        from tumorseg.data.imageio import read_mask

        if labels:
            raise DataError(f"{path}: --labels applies to label volumes; 2-D masks are read as tumour / no tumour.")
        return _Mask((figshare.read_mask(path) if _ext(path) in MAT_EXTS else read_mask(path))[None], False)
    from tumorseg.data.formats import itk, nifti
    from tumorseg.data.formats.orientation import slice_axes

    if itk.is_itk_volume(path):
        image, raw, affine, zooms = itk.read_image(path)
        values = np.array(raw)
        del image
    else:
        img, shape = nifti.open_nifti(path, "NIfTI mask")
        values, affine, zooms = nifti.voxels(img, shape, path), img.affine, nifti.voxel_mm(path)
    mask = _tumour(values, labels, path)
    axes, _ = slice_axes(affine, zooms)
    ml = float(np.prod(zooms)) / 1000.0 if zooms else None
    return _Mask(np.ascontiguousarray(mask.transpose(axes)), True, np.asarray(affine, float), ml)


def _tumour(values: np.ndarray, labels: tuple[int, ...] | None, path: Path) -> np.ndarray:
    """A mask or label volume's tumour voxels: any value > 0, or only ``labels``.

    Raises:
        DataError: non-integer values (a probability map).
    """
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise DataError(f"{path}: holds non-integer values (a probability map?); expected a mask (0/1) or "
                            "labels (0, 1, 2, ...). Threshold it first.")
    return np.isin(values, labels) if labels else values > 0


@dataclass
class Scored:
    """What :func:`score_files` found: per-slice rows (``evaluate``'s columns), per-volume rows with mL, and the
    files that were not paired or could not be scored."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # truth files without a prediction (scored as empty)
    unpaired: list[str] = field(default_factory=list)  # predictions without a truth (left out)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (truth file, one-line reason)


def _group(case: str, path: Path) -> str:
    """The volume a 2-D mask belongs to: its folder ``P`` when named ``P_<n>...`` (an LGG patient), else none."""
    folder = path.parent.name
    return folder if folder and case.lower().startswith(folder.lower() + "_") else ""


def score_files(pred: str | Path, truth: str | Path, labels: tuple[int, ...] | None = None, distances: bool = True,
                progress: bool = True) -> Scored:
    """Pair and score the masks under ``pred`` against those under ``truth`` (see the module doc). Either may be a
    ``.zip`` of such files or folders (:mod:`tumorseg.data.archive`: unpacked into a temporary folder for the call;
    paths in the result and in messages are shown inside the archive, ``truth.zip/case/case-seg.nii.gz``).

    Raises:
        DataError: either side holds no mask file or has two files with one key, or no truth file could be scored;
            an archive that cannot be read safely.
    """
    from tumorseg.data.archive import unpacked_inputs

    with unpacked_inputs([pred, truth]) as unpacked:
        try:
            return _score(*map(Path, unpacked.inputs), labels, distances, progress, unpacked.shown)
        except DataError as exc:
            raise type(exc)(unpacked.shown(str(exc))) from None


def _score(pred: Path, truth: Path, labels: tuple[int, ...] | None, distances: bool, progress: bool,
           shown: Callable[[str | Path], str]) -> Scored:
    """:func:`score_files` on files and folders; ``shown`` writes a path as the user gave it (inside an archive)."""
    from tumorseg.evaluation.evaluate import score_masks

    segs = _Segs()
    seg_preds, seg_truths = segs.add(pred), segs.add(truth)
    preds = _by_case(pred, _files(pred, truth=False, required=not seg_preds)) | segs.named(seg_preds)
    truths = _by_case(truth, _files(truth, truth=True, required=not seg_truths)) | segs.named(seg_truths)
    if pred.is_file() and truth.is_file():
        if (pred in segs.uid or truth in segs.uid) and segs.uid.get(pred, "") != segs.uid.get(truth, ""):
            raise DataError(f"{pred} and {truth}: a DICOM SEG is scored against a SEG of the same series (this pair "
                            "labels different series, or only one is a SEG).")
        preds = {k: (truths[k][0], pred) for k in truths}  # two files are a pair whatever their names
    # a truth file whose name does not pair is paired by its folder (`case/OTMultiClass.nii.gz` with
    # `case_mask.nii.gz`), when it is the only such file in that folder
    folder_of = {k: _tags(t.parent.name)[0].lower() for k, (_, t) in truths.items()
                 if k not in preds and t not in segs.uid}
    shared = {f for f in folder_of.values() if list(folder_of.values()).count(f) > 1}
    # or by its path below TRUTH (`p1/image_seg.nii.gz` with `p1_image_mask.nii.gz`: predict's name for a scan found
    # in a folder below its input)
    by_path = {k: "_".join((*t.parent.relative_to(truth).parts, case_of(t))).lower() for k, (_, t) in truths.items()
               if k not in preds and t not in segs.uid and truth.is_dir() and t.parent != truth}
    pairs: dict[str, tuple[str, Path, Path | None]] = {}  # truth key -> (case, truth file, prediction or None)
    for k, (case, t_path) in truths.items():
        folder, path_key = folder_of.get(k), by_path.get(k)
        match = k if k in preds else folder if folder in preds and folder not in truths and folder not in shared \
            else path_key if path_key in preds and path_key not in truths else None
        pairs[k] = (case if match in (k, None) else preds[match][0], t_path, preds[match][1] if match else None)
    used = {p for _, _, p in pairs.values() if p is not None}
    result = Scored(unpaired=[shown(p) for _, p in preds.values() if p not in used])
    if not used:
        raise DataError(f"no file of {pred} pairs with one of {truth} by name (e.g. {next(iter(preds.values()))[1].name}"
                        f" vs {next(iter(truths.values()))[1].name}); name the masks as their truth files are, give "
                        "two files, or see `tumorseg score --help` for the pairing rule (a DICOM SEG pairs only with "
                        "a SEG of the same series).")
    for _, (case, t_path, p_path) in tqdm(sorted(pairs.items()), desc="scoring", unit="file", disable=not progress):
        try:
            t = segs.read(t_path, labels, (truth, pred)) if t_path in segs.uid else _read(t_path, labels)
            if p_path is not None:
                p = segs.read(p_path, None, (truth, pred)) if p_path in segs.uid else _read(p_path, None)
                if p.slices.shape != t.slices.shape:
                    def size(m: _Mask) -> str:
                        return "×".join(map(str, m.slices.shape if m.volume else m.slices.shape[1:]))
                    raise DataError(f"{p_path} is {size(p)} but its truth {t_path} is {size(t)}; masks must have "
                                    "their truth's size (tumorseg predict writes them so).")
                if t.affine is not None and p.affine is not None and not np.allclose(p.affine, t.affine,
                                                                                      atol=1e-3):
                    log.warning("%s: its geometry (affine) differs from %s's; scored voxel by voxel", shown(p_path),
                            shown(t_path))
                p_slices = p.slices
            else:
                result.missing.append(shown(t_path))
                p_slices = np.zeros_like(t.slices)
        except DataError as exc:
            result.failed.append((shown(t_path), shown(str(exc))))
            log.error("%s", shown(str(exc)))
            continue
        patient = case if t.volume else _group(case, t_path)
        records = [SliceRecord(f"{case}_z{z:03d}" if t.volume else case, t_path, t_path, patient or None,
                               slice_index=z if t.volume else None) for z in range(len(t.slices))]
        rows = score_masks(p_slices, SimpleNamespace(masks=t.slices, records=records), distances)
        for r in rows:
            r["truth_file"], r["pred_file"] = shown(t_path), shown(p_path) if p_path else ""
        result.rows += rows
        if t.volume and t.voxel_ml:
            result.volumes.append({"patient": case, "truth_ml": round(float(t.slices.sum()) * t.voxel_ml, 3),
                                   "predicted_ml": round(float(p_slices.sum()) * t.voxel_ml, 3)})
    if not result.rows:
        raise DataError(f"{truth}: no truth file could be scored ({len(result.failed)} failed; see above).")
    return result


def write_scores(result: Scored, out: Path | None) -> dict[str, Any]:
    """``metrics.json`` (``evaluate``'s summary plus what was missing, unpaired or failed), ``per_case.csv`` and,
    for volumes, ``per_volume.csv`` (with tumour volumes in mL) into ``out`` (``None``: nothing written); returns
    the summary."""
    import json

    from tumorseg.evaluation.evaluate import per_volume, summarise
    from tumorseg.evaluation.per_case import write_per_case

    summary = summarise(result.rows) | {"missing_predictions": result.missing, "unpaired_predictions":
                                        len(result.unpaired), "failed": [{"file": f, "reason": r}
                                                                         for f, r in result.failed]}
    if out is None:
        return summary
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    write_per_case(result.rows, out / "per_case.csv")
    volumes = per_volume(result.rows)
    if volumes:
        ml = {v["patient"]: v for v in result.volumes}
        write_per_case([v | {k: ml.get(v["patient"], {}).get(k, "") for k in ("truth_ml", "predicted_ml")}
                        for v in volumes], out / "per_volume.csv")
    return summary
