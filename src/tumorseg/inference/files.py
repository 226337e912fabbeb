"""File-level prediction: image files, folders and volumes in, masks (and overlays) out.

Inputs are read and masks written through :mod:`tumorseg.io`. Each 2-D mask is
``<stem>.png``, one 8-bit channel with values 0/255 and the input's own width
and height. Overlays (``<stem>_overlay.png``) draw the mask in red over the
image with its outline. Volumes: see :mod:`tumorseg.inference.volumes`.

Without ``--model`` every input gets the bundled model that fits it
(:mod:`tumorseg.inference.choose`; one ``model: NAME (reason)`` line is logged
per distinct choice). A folder of LGG patients (``kaggle_3m``-like) gives its
image slices, never its ``*_mask.tif`` files. :class:`PredictReport` says which
inputs had no tumour found.

One bad input never stops a folder: :func:`predict_inputs` writes every
mask it can, and returns the inputs it could not read with the reason
(also written to ``OUT/failed.csv``); ``strict=True`` (and
:func:`predict_files`, the library form) raises at the first instead.
"""

from __future__ import annotations

import csv
import logging
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from tumorseg import limits
from tumorseg.data.formats import nifti
from tumorseg.data.formats.lgg import slice_number
from tumorseg.data.imageio import write_mask_png
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError, TumorsegError, why
from tumorseg.inference.montage import montage, overlay, shown_slices
from tumorseg.inference.postprocess import apply_records, apply_volumes, needs_probabilities
from tumorseg.inference.predictor import Predictor
from tumorseg.inference.summary import VolumeSummary, summarise, write_summaries
from tumorseg.inference.volumes import (Prediction, far_off_note, output_name, predict_volumes, read_model_input,
                                       select_series, split_volume_inputs, stacks_among)
from tumorseg.io import SUPPORTED, ImageIO, write_mask, write_probabilities
from tumorseg.models.zoo import single_slice_note

log = logging.getLogger(__name__)

EXPORT_PAYS_OFF = 100  # images; see predict_inputs
MAX_WARNINGS = 3  # unusual-brightness warnings printed per model for a folder of images, then a count
MAX_VOLUME_SLICES = 1024  # a patient folder with more numbered slices is predicted as separate images (memory bound)


def _is_mask_file(p: Path) -> bool:
    """``*_mask.tif``/``*_mask.png``: a ground-truth mask of the LGG/Kaggle layouts, never an image to predict."""
    return p.stem.lower().endswith("_mask")


def _folder_images(folder: Path) -> list[Path]:
    """Images of one folder (non-recursive), masks and TIFF stacks (volumes: :func:`split_volume_inputs` gives
    them) left out; an LGG root (``TCGA_*/`` patient folders with ``*_mask.tif``) gives the image slices of every
    patient folder, in slice order."""
    from tumorseg.data.formats import lgg
    from tumorseg.data.formats._common import natural_key

    dirs = lgg.patient_dirs(folder) or [folder]  # [folder] itself for one patient, its TCGA_*/ for many
    found = [p for d in dirs for p in sorted(d.iterdir(), key=lambda q: natural_key(q.name))
             if p.is_file() and p.suffix.lower() in ImageIO.suffixes and not _is_mask_file(p)]
    stacks = set(stacks_among(found))
    return [p for p in found if p not in stacks] if stacks else found


def collect_inputs(inputs: Sequence[str | Path], failed: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Expand files and folders into image paths, in a stable order.

    Folders are read non-recursively, except a folder of LGG patients
    (``kaggle_3m``-like), whose patient folders are read too; mask files
    (``*_mask.*``) in folders are never predicted.

    With a ``failed`` list, a missing path or an unsupported file is appended
    to it as ``(path, reason)`` instead of raised.

    Raises:
        DataError: a path does not exist or a file has an unsupported extension (without ``failed``),
            two inputs share a stem, or nothing at all was found.
    """
    found: list[Path] = []

    def bad(item: Path, reason: str) -> None:
        if failed is None:
            raise DataError(f"{item}: {reason}")
        failed.append((item, reason))

    for item in map(Path, inputs):
        if item.is_dir():
            found += _folder_images(item)
        elif item.is_file():
            if item.suffix.lower() not in ImageIO.suffixes:
                bad(item, _unsupported(item))
                continue
            found.append(item)
        else:
            bad(item, "no such file or folder.")
    if not found and not failed:
        from tumorseg.data.formats.dicom import is_dicom_file

        labels_only = [str(d) for d in map(Path, inputs) if d.is_dir() and any(is_dicom_file(p) for p in d.iterdir())]
        if labels_only:  # DICOM files, none an image (input_kind): a SEG, RTSTRUCT or report beside no series
            raise DataError(f"{labels_only[0]}: its DICOM files are labels or reports (SEG, RTSTRUCT, SR...), no image "
                            "series; give the folder that holds the series (or the folder above both).")
        raise DataError(f"no images found in {', '.join(map(str, inputs))} (supported: {', '.join(ImageIO.suffixes)}; "
                        "volumes: .nii/.nii.gz files, BraTS case folders, DICOM files or series folders, or folders of those).")
    return _once(found)


def _once(found: list[Path]) -> list[Path]:
    """``found`` without byte-for-byte copies of an earlier file of the same name (the Kaggle LGG archive holds the
    dataset twice: ``kaggle_3m/`` and ``lgg-mri-segmentation/kaggle_3m/``), which are named in one log line.

    Raises:
        DataError: two different files would be written under one name (naming both).
    """
    import filecmp

    first: dict[str, Path] = {}
    kept, copies = [], []
    for p in found:
        if p.stem in first:
            if filecmp.cmp(first[p.stem], p, shallow=False):
                copies.append((first[p.stem], p))
                continue
            raise DataError(f"{first[p.stem]} and {p} would both be written as '{p.stem}.png'; rename one or predict "
                            "them separately.")
        first[p.stem] = p
        kept.append(p)
    if copies:
        where = sorted({str(c.parent.parent if c.parent.parent != c.parent else c.parent) for _, c in copies})
        log.warning("%d image%s under %s %s copies of images of the same name already listed (e.g. %s = %s); each "
                    "is predicted once", len(copies), "s" if len(copies) > 1 else "", ", ".join(where[:3]),
                    "are exact" if len(copies) > 1 else "is an exact", copies[0][1], copies[0][0])
    return kept


OTHER_ARCHIVES = (".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz")


def _unsupported(item: Path) -> str:
    """Why ``item`` (a file that is no input of any kind) is not predicted, and what is."""
    if item.suffix.lower() in OTHER_ARCHIVES:
        return f"an archive tumorseg does not open ('{item.suffix}'); unpack it and give the folder, or make it a .zip."
    return f"unsupported file type '{item.suffix}'. Supported: {SUPPORTED}, or a .zip of those."


Read = tuple[Path, "object | None", "str | None"]  # (path, what read(path) gave or None, reason it failed or None)


def _prefetch(files: Sequence[Path], batch_size: int, read: Callable[[Path], object],
              strict: bool = True) -> Iterator[list[Read]]:
    """Yield batches of ``(path, read(path), None)``, reading ahead in one background thread.

    The queue holds at most two batches, which bounds memory. A file that
    cannot be read (a :class:`TumorsegError`, or anything the decoders raise)
    is re-raised here, in the caller's thread, with ``strict``; otherwise it
    comes as ``(path, None, reason)`` and reading goes on.
    """
    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def one(p: Path) -> Read:
        try:
            return p, read(p), None
        except TumorsegError as exc:
            if strict:
                raise
            return p, None, str(exc).removeprefix(f"{p}: ")
        except Exception as exc:  # noqa: BLE001 - a decoder failure we did not foresee is still this file's
            if strict:
                raise DataError(f"{p}: cannot be read ({why(exc, 200)}).") from None
            return p, None, f"cannot be read ({why(exc, 200)})."

    def work() -> None:
        try:
            for start in range(0, len(files), batch_size):
                if stop.is_set():
                    return
                q.put([one(p) for p in files[start : start + batch_size]])
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)
            return
        q.put(None)

    thread = threading.Thread(target=work, name="tumorseg-reader", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a pending put so the thread ends
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass


@dataclass
class PredictReport:
    """What :func:`predict_inputs` did: the files written, one :class:`Prediction` per input predicted, and the
    inputs that failed with the reason (also in ``failed_csv``)."""

    written: list[Path] = field(default_factory=list)
    results: list[Prediction] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    failed_csv: Path | None = None
    folders: list[VolumeSummary] = field(default_factory=list)  # LGG patient folders predicted slice by slice

    @property
    def summaries(self) -> list[VolumeSummary]:
        """One per volume input and per LGG patient folder, in the order they were predicted (``summary.json``)."""
        return [r.summary for r in self.results if r.summary is not None] + self.folders

    def written_line(self, out: str | Path) -> str:
        """One terminal line naming what was written: "25 masks written to OUT", or with DICOM inputs "1 mask,
        1 DICOM SEG and 1 RTSTRUCT written to OUT" (``*_seg.dcm``, ``*_rtstruct.dcm`` and ``--probabilities`` maps
        counted apart; overlay pictures are not listed)."""
        segs = sum(p.name.endswith("_seg.dcm") for p in self.written)
        structs = sum(p.name.endswith("_rtstruct.dcm") for p in self.written)
        probs = sum(len(r.maps) for r in self.results)
        masks = len(self.written) - segs - structs
        parts = [f"{masks} mask{'s' * (masks != 1)}"] + [f"{n} {what}{'s' * (n != 1)}" for n, what in (
            (segs, "DICOM SEG"), (structs, "RTSTRUCT"), (probs, "probability map")) if n]
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"{listed} written to {out}"

    def summary_lines(self, max_listed: int = 10) -> list[str]:
        """Plain-language lines for the terminal: "no tumour found" for each empty input (up to
        ``max_listed``), and a count when there are several inputs. Slices of an LGG patient folder are left out:
        its summary line (logged when the folder was finished) speaks for them."""
        in_folders = {Path(s.input) for s in self.folders}
        results = [r for r in self.results if r.source.parent not in in_folders]
        shared = Counter(r.source.name for r in results)

        def named(r: Prediction) -> str:  # p1/image.nii.gz and p2/image.nii.gz: by their outputs' names
            return r.summary.name if shared[r.source.name] > 1 and r.summary is not None else r.source.name

        empty = [r for r in results if r.n_tumour == 0]
        lines = []
        for r in empty[:max_listed]:
            where = f" in any of its {r.n_slices} slices" if r.n_slices > 1 else ""
            lines.append(f"{named(r)}: no tumour found{where} ({_by(r)})")
        if len(empty) > max_listed:
            lines.append(f"... and {len(empty) - max_listed} more inputs with no tumour found")
        for r in results:
            if r.n_tumour and r.n_slices > 1:
                lines.append(f"{named(r)}: tumour found in {r.n_tumour} of {r.n_slices} slices ({_by(r)})")
        for s in self.folders:
            model = next((r.model for r in self.results if r.source.parent == Path(s.input)), "?")
            found = f"tumour found in {s.slices_with_tumour} of" if s.tumour_found else "no tumour found in any of its"
            lines.append(f"{s.name}: {found} {s.n_slices} slices (model {model})")
        images = [r for r in results if r.n_slices == 1]
        if len(images) > 1:
            n_empty = sum(r.n_tumour == 0 for r in images)
            lines.append(f"{len(images)} images: tumour found in {len(images) - n_empty}, no tumour found in {n_empty}")
        elif images and images[0].n_tumour:
            lines.append(f"{images[0].source.name}: tumour found ({_by(images[0])})")
        for model in dict.fromkeys(r.model for r in images if r.n_tumour):  # each model's caveat once
            if note := single_slice_note(model):
                lines.append(f"note: {note}")
        return lines


def _by(result: Prediction) -> str:
    return "finished by an earlier run, --resume" if result.model == RESUMED else f"model {result.model}"


def write_failures(failed: list[tuple[Path, str]], out: Path) -> Path | None:
    """``out/failed.csv`` (``input,reason``) when something failed; a stale one from an earlier run is removed."""
    target = out / "failed.csv"
    if not failed:
        target.unlink(missing_ok=True)
        return None
    with open(target, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["input", "reason"])
        w.writerows((str(p), reason) for p, reason in failed)
    return target


def plan_models(inputs: Sequence[Path], model: str | Path | None) -> dict[str, list[Path]]:
    """Group inputs by the model that predicts them: ``model`` for all when given, else each input's
    :func:`tumorseg.inference.choose.choose_model` (a folder of images is decided per file).

    Returns ``{model: [inputs]}`` in first-seen order, and logs one ``model: NAME (reason)`` line per
    distinct choice.
    """
    if model is not None:
        return {str(model): list(inputs)}
    from tumorseg.inference.choose import choose_model

    groups: dict[str, list[Path]] = {}
    reasons: dict[tuple[str, str], int] = {}
    for item in inputs:
        choice = choose_model(item)
        groups.setdefault(choice.name, []).append(item)
        reasons[(choice.name, choice.reason)] = reasons.get((choice.name, choice.reason), 0) + 1
    for (name, reason), n in reasons.items():
        log.info("model: %s (%s)%s", name, reason, f" for {n} inputs" if n > 1 else "")
    return groups


@dataclass
class PlannedInput:
    """One line of ``predict --list``: an input as ``predict`` would take it, and the model it would get."""

    input: str  # the path (a series: "folder [series 5 'Ax T2 FLAIR']")
    name: str  # what its outputs are named after
    kind: str  # "DICOM series", "NIfTI volume", ..., "images"
    size: str  # "24 files", "412 images"
    model: str  # "flair (DICOM series 'Ax T2 FLAIR' described as FLAIR)"


def _count(n: int, noun: str) -> str:
    """``"1 file"``, ``"3 files"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def plan_inputs(inputs: Sequence[str | Path], model: str | Path | None = None,
                series: Sequence[str] | None = None, as_volume: bool = False,
                volume: int | None = None) -> list[PlannedInput]:
    """What ``predict`` would do with ``inputs`` (``predict --list``), reading headers only: each volume input
    (NIfTI file, case folder, DICOM file, series or series of a study / export tree) with the model it would get,
    each folder whose images are the slices of one volume (:func:`slice_volumes`; ``as_volume`` as in
    :func:`predict_inputs`), and the other image files counted per model. Nothing is predicted or written.

    Raises:
        DataError: as :func:`predict_inputs` would before predicting (no inputs, clashing names, ``series`` matching
            nothing).
    """
    from tumorseg.data.archive import unpacked_inputs

    failed: list[tuple[Path, str]] = []
    with unpacked_inputs(inputs, failed) as unpacked, nifti.reading_volume(volume):
        try:
            rows = _plan_inputs(unpacked.inputs, model, series, as_volume) if unpacked.inputs or not failed else []
        except TumorsegError as exc:  # a message names paths inside an archive as the user knows them
            exc.args = (unpacked.shown(exc.args[0]), *exc.args[1:]) if exc.args else exc.args
            raise
        for row in rows:
            row.input = unpacked.shown(row.input)
    return rows + [PlannedInput(str(p), "-", "unreadable", "-", reason) for p, reason in failed]


def _plan_inputs(inputs: Sequence[str | Path], model: str | Path | None, series: Sequence[str] | None,
                 as_volume: bool) -> list[PlannedInput]:
    """:func:`plan_inputs` once archives are unpacked."""
    from tumorseg.data.formats.dicom import DicomSeries
    from tumorseg.inference.choose import choose_model
    from tumorseg.inference.volumes import input_kind

    volumes, images = split_volume_inputs(inputs)
    if series:
        volumes = select_series(volumes, series)
    failed: list[tuple[Path, str]] = []
    files = collect_inputs(images, failed) if images or not volumes else []
    kinds = {"nifti": "NIfTI volume", "nifti-case": "NIfTI case folder", "itk": "NRRD/MetaImage volume",
             "tiff-stack": "TIFF stack (volume)", "dicom": "DICOM file",
             "dicom-series": "DICOM series"}

    def chosen(item) -> str:
        if model is not None:
            return f"{model} (--model)"
        choice = choose_model(item)
        return f"{choice.name} ({choice.reason})"

    rows = []
    for v in volumes:
        if isinstance(v, DicomSeries):
            size = _count(len(v.files), "file")
        elif v.is_dir():
            size = _count(sum(1 for p in v.iterdir() if p.is_file()), "file")
        else:
            size = "1 file"
        rows.append(PlannedInput(str(v), output_name(v), kinds.get(input_kind(v) or "", "volume"), size, chosen(v)))
    folders, number = slice_volumes(files, as_volume), slice_numbering(as_volume)
    slices: dict[Path, list[Path]] = {}  # folder -> its slices, for the folders that are volumes
    for f in files:
        if f.parent in folders and number(f) is not None:
            slices.setdefault(f.parent, []).append(f)
    for folder, found in slices.items():
        rows.append(PlannedInput(str(folder), folder.name, "slices of one volume", _count(len(found), "image"),
                                 chosen(found[0])))
    by_model: dict[str, int] = {}
    for f in files:
        if f.parent in slices and number(f) is not None:
            continue
        line = chosen(f)
        by_model[line] = by_model.get(line, 0) + 1
    rows += [PlannedInput(", ".join(map(str, images)), "<stem> of each", "images", _count(n, "image"), line)
             for line, n in by_model.items()]
    rows += [PlannedInput(str(p), "-", "unreadable", "-", reason) for p, reason in failed]
    return rows


def predict_inputs(
    inputs: Sequence[str | Path],
    checkpoint: str | Path | None,
    out: str | Path,
    with_overlay: bool = False,
    device: str = "auto",
    batch_size: int = 16,
    progress: bool = True,
    backend: str = "auto",
    tta: bool | None = None,
    strict: bool = False,
    one_lesion: bool | None = None,
    series: Sequence[str] | None = None,
    resume: bool = False,
    as_volume: bool = False,
    probabilities: bool = False,
    volume: int | None = None,
) -> PredictReport:
    """Predict every input (image files, folders, NIfTI/DICOM volumes, ZIP archives of those) into ``out``.

    ``checkpoint``: a bundled name (``t1c``, ``flair``, ``default``), a file,
    or ``None``: each input then gets the model that fits it
    (:mod:`tumorseg.inference.choose`). 2-D images give ``out/<stem>.png``
    (0/255, the input's size); volumes keep their geometry
    (:mod:`tumorseg.inference.volumes`). Images are read in batches of
    ``batch_size`` by a background thread (at most two batches ahead), so
    memory stays flat however large the folder is. ``backend`` is
    ``auto``/``onnx``/``torch`` (see :meth:`Predictor.from_checkpoint`);
    ``tta`` overrides the checkpoint's setting, ``one_lesion`` its
    ``largest_component_3d`` (one lesion per volume). Without ``strict``, an input
    that cannot be read (corrupt, too large, wrong channels, missing) is
    skipped and listed in ``report.failed`` and ``out/failed.csv``; with
    ``strict`` the first one raises. ``series`` keeps only the DICOM series it names (numbers or pieces of
    descriptions: :func:`tumorseg.inference.volumes.select_series`). ``resume`` skips the volumes that an earlier
    run into ``out`` finished (:func:`_skip_finished`); image files are always predicted (they are fast).
    ``as_volume``: the images of each folder, ordered by the number that ends their names (``slice_7.png``), are the
    slices of one volume (:class:`_PatientVolumes`); without it only ``<folder>/<folder>_<n>.<ext>`` names are.
    A ``.zip`` is read as the folder it holds (:mod:`tumorseg.data.archive`: unpacked into a temporary folder for
    the run, its paths shown as ``study.zip/...`` in summaries and messages). ``probabilities``: also write each
    input's probability map beside its mask (:func:`tumorseg.io.write_probabilities`; the network's output with its
    TTA, before threshold and post-processing; listed in each :class:`Prediction`'s ``maps``). ``volume``: of each
    4-D NIfTI (several modalities or time points in one file), the volume to predict (0-based;
    :func:`tumorseg.data.formats.nifti.reading_volume`); without it an MSD file gives its FLAIR and any other 4-D
    file fails with the fix.

    Raises:
        TumorsegError: bad arguments, an unusable checkpoint, no inputs at all, or (``strict``) a bad input.
    """
    from tumorseg.data.archive import unpacked_inputs

    failed: list[tuple[Path, str]] = []
    with unpacked_inputs(inputs, None if strict else failed) as unpacked, nifti.reading_volume(volume):
        if failed and not unpacked.inputs:  # nothing but archives that cannot be read: listed in failed.csv
            Path(out).mkdir(parents=True, exist_ok=True)
            return PredictReport(failed=failed, failed_csv=write_failures(failed, Path(out)))
        try:
            report = _predict_inputs(unpacked.inputs, checkpoint, out, with_overlay, device, batch_size, progress,
                                     backend, tta, strict, one_lesion, series, resume, as_volume, unpacked.shown,
                                     probabilities)
        except TumorsegError as exc:
            exc.args = (unpacked.shown(exc.args[0]), *exc.args[1:]) if exc.args else exc.args
            raise
    if failed:
        report.failed[:0] = failed
        report.failed_csv = write_failures(report.failed, Path(out))
    return report


def _predict_inputs(inputs: Sequence[str | Path], checkpoint: str | Path | None, out: str | Path, with_overlay: bool,
                    device: str, batch_size: int, progress: bool, backend: str, tta: bool | None, strict: bool,
                    one_lesion: bool | None, series: Sequence[str] | None, resume: bool, as_volume: bool,
                    shown: Callable[[str], str], probabilities: bool = False) -> PredictReport:
    """:func:`predict_inputs` once archives are unpacked; ``shown`` writes an unpacked path as the archive's."""
    if batch_size < 1:
        raise TumorsegError(f"batch_size must be at least 1, not {batch_size}.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TumorsegError(f"{out}: is a file, not a folder; give --out a folder (it is created if missing).")
    report = PredictReport()
    volumes, images = split_volume_inputs(inputs)  # NIfTI/DICOM: geometry-keeping outputs, see tumorseg.inference.volumes
    if series:
        volumes = select_series(volumes, series)
    files = collect_inputs(images, None if strict else report.failed) if images or not volumes else []
    if resume:
        volumes = _skip_finished(volumes, out, report, shown)
    is_volume = set(volumes)
    groups = []
    for model, items in plan_models([*volumes, *files], checkpoint).items():
        vols = [p for p in items if p in is_volume]
        imgs = [p for p in items if p not in is_volume]
        # auto backend: an ONNX export (a few seconds, cached) pays off from about a hundred slices on a CPU
        predictor = Predictor.from_checkpoint(model, device, backend=backend, tta=tta,
                                              export_if_missing=len(imgs) + 64 * len(vols) >= EXPORT_PAYS_OFF)
        if one_lesion is not None:
            predictor.post["largest_component_3d"] = bool(one_lesion)
        if checkpoint is not None:
            log.info("model: %s (--model %s)", predictor.label, checkpoint)
        groups.append((predictor, vols, imgs))
    out.mkdir(parents=True, exist_ok=True)  # only now that every model is known to load
    for predictor, vols, imgs in groups:
        _predict_group(predictor, vols, imgs, out, report, with_overlay, batch_size, progress, strict, as_volume,
                       probabilities)
    report.written = [p for r in report.results for p in r.outputs]
    for r in report.results:  # every path in the report as the user gave it (an archive's as study.zip/...)
        if isinstance(r.source, Path):
            r.source = Path(shown(r.source))
    for s in report.summaries:
        s.input = shown(s.input)
    report.failed = [(_shown_input(p, shown), shown(reason)) for p, reason in report.failed]
    if report.summaries:  # every model group's volumes and patient folders in one summary.json / summary.csv
        write_summaries(report.summaries, out)
    report.failed_csv = write_failures(report.failed, out)
    log.debug("wrote %d files to %s; %d inputs failed", len(report.written), out, len(report.failed))
    return report


RESUMED = "earlier run"  # Prediction.model of a volume that --resume took from the earlier run's summary.json


def _shown_input(item, shown: Callable[[str], str]):
    """An input as the user gave it: a path (or a series' folder) inside an unpacked archive as ``study.zip/...``."""
    from dataclasses import replace

    from tumorseg.data.formats.dicom import DicomSeries

    return replace(item, folder=Path(shown(item.folder))) if isinstance(item, DicomSeries) else Path(shown(item))


def _skip_finished(volumes: list, out: Path, report: PredictReport, shown: Callable[[str], str] = str) -> list:
    """``volumes`` without those an earlier ``predict`` into ``out`` finished: a row in ``out/summary.json`` for the
    same input whose mask file is still there. Their rows are carried into ``report`` (and so into the new
    summary.json); the rest are returned, to be predicted. ``shown``: how summary.json writes an input's path
    (an archive's volumes as ``study.zip/...``)."""
    import json

    from tumorseg.inference.volumes import input_label, output_name

    try:
        rows = json.loads((out / "summary.json").read_text())["volumes"]
        known = {f.name for f in fields(VolumeSummary)}
        earlier = {(r["name"], r["input"]): VolumeSummary(**{k: v for k, v in r.items() if k in known}) for r in rows}
    except (OSError, ValueError, KeyError, TypeError):
        return volumes  # no (readable) summary: nothing is known to be finished
    todo = []
    for v in volumes:
        done = earlier.get((output_name(v), shown(input_label(v))))
        if done is not None and done.mask and (out / done.mask).exists():
            report.results.append(Prediction(v, [], done.n_slices, done.slices_with_tumour, RESUMED, done))
        else:
            todo.append(v)
    if len(todo) < len(volumes):
        log.info("--resume: %d of %d volume(s) already finished in %s (summary.json), not predicted again",
                 len(volumes) - len(todo), len(volumes), out)
    return todo


def _predict_group(predictor: Predictor, volumes: list[Path], files: list[Path], out: Path, report: PredictReport,
                   with_overlay: bool, batch_size: int, progress: bool, strict: bool, as_volume: bool = False,
                   probabilities: bool = False) -> None:
    """Predict one model's volumes, then its image files, appending to ``report.results`` (and, unless
    ``strict``, the inputs that cannot be read to ``report.failed``). LGG patient folders among the files get the
    model's volume rules as soon as their last slice is predicted (:class:`_PatientVolumes`). ``probabilities``:
    each input's probability map too (:func:`tumorseg.io.write_probabilities`)."""
    for volume in volumes:
        try:
            report.results += predict_volumes([volume], predictor, out, batch_size, progress, with_overlay,
                                              write_summary=False, probabilities=probabilities)
        except TumorsegError as exc:
            if strict:
                raise
            report.failed.append((volume, str(exc).removeprefix(f"{volume}: ")))
            continue
        write_summaries(report.summaries, out)  # after every volume: a run that dies keeps the rows it finished
    unusual = 0
    patients = _PatientVolumes(files, predictor, out, with_overlay, as_volume)
    bar = tqdm(total=len(files), desc="predicting", unit="img", disable=not progress or not files)
    for batch in _prefetch(files, batch_size, lambda p: read_model_input(p, predictor), strict):
        good = [(path, *read) for path, read, _ in batch if read is not None]  # (path, image, properties)
        report.failed += [(path, reason) for path, _, reason in batch if reason is not None]
        probs = predictor.probabilities([image for _, image, _ in good], batch_size) if good else []
        for (path, image, props), prob in zip(good, probs):
            note = far_off_note(path, [image], predictor)
            unusual += note is not None
            if note and unusual <= MAX_WARNINGS:
                log.warning("%s", note)
            mask = predictor.binarize(prob)
            [target] = write_mask(mask[None], props, out)  # out/<stem>.png, the input's size
            if with_overlay:
                _save_overlay(image, mask, out / f"{path.stem}_overlay.png")
            report.results.append(Prediction.of(path, [target], mask[None], predictor))
            if probabilities:  # out/<stem>_prob.png
                report.results[-1].maps = write_probabilities(prob[None], props, out)
            patients.add(report.results[-1], mask, prob)
        finished = len(patients.summaries)
        patients.done(len(batch))
        if len(patients.summaries) > finished:  # a patient folder finished: its row is kept even if the run dies
            write_summaries(report.summaries + patients.summaries, out)
        bar.update(len(batch))
    bar.close()
    report.folders += patients.summaries
    if unusual > MAX_WARNINGS:
        log.warning("%d of %d images in all look unusual for model '%s' (the first %d are named above).",
                    unusual, len(files), predictor.label, MAX_WARNINGS)


def _save_overlay(image: np.ndarray, mask: np.ndarray, target: Path) -> None:
    """The mask over the image (``(C, H, W)``: its middle channel) as an RGB PNG."""
    shown = image if image.ndim == 2 else image[image.shape[0] // 2]
    Image.fromarray(overlay(shown, mask)).save(target)


def trailing_number(path: Path) -> int | None:
    """The number that ends a file's name (``slice_012.png`` → 12, ``IM0007.tif`` → 7), or ``None``."""
    found = re.search(r"(\d+)$", path.stem)
    return int(found.group(1)) if found else None


def slice_numbering(as_volume: bool = False) -> Callable[[Path], int | None]:
    """How ``predict`` reads a slice's number from its file name: :func:`trailing_number` with ``as_volume``, else
    LGG's ``<folder>_<n>`` (:func:`~tumorseg.data.formats.lgg.slice_number`)."""
    return trailing_number if as_volume else slice_number


def slice_volumes(files: Sequence[Path], as_volume: bool = False) -> dict[Path, int]:
    """The folders among ``files`` whose images ``predict`` takes as the slices of one volume, each with the position
    in ``files`` of its last slice: images named ``<folder>_<n>`` (LGG's naming, any image suffix:
    :func:`~tumorseg.data.formats.lgg.slice_number`), or with ``as_volume`` every image of a folder whose name ends in
    a number (:func:`trailing_number`). Left out, with a warning: a folder with two files of one number
    or more than :data:`MAX_VOLUME_SLICES` numbered files (its images are predicted on their own). With
    ``as_volume``, a folder's unnumbered images are named in a warning: they are predicted on their own.
    """
    number = slice_numbering(as_volume)
    last: dict[Path, int] = {}
    numbers: dict[Path, dict[int, list[Path]]] = {}  # folder -> slice number -> its files
    unnumbered: dict[Path, int] = {}
    for i, f in enumerate(files):
        n = number(f)
        if n is None:
            unnumbered[f.parent] = unnumbered.get(f.parent, 0) + 1
        else:
            last[f.parent] = i
            numbers.setdefault(f.parent, {}).setdefault(n, []).append(f)
    for folder, found in numbers.items():
        twice = next((same for same in found.values() if len(same) > 1), None)
        if twice:
            log.warning("%s and %s: two slices numbered %d in one folder; the folder is predicted as separate "
                        "images, without the volume rules or a per-patient summary.", twice[0], twice[1].name,
                        number(twice[0]))
            del last[folder]
        elif len(found) > MAX_VOLUME_SLICES:
            log.warning("%s: %d numbered slices, more than a volume has (%d at most here); predicted as separate "
                        "images, without the volume rules or a per-patient summary.", folder, len(found),
                        MAX_VOLUME_SLICES)
            del last[folder]
        elif as_volume and unnumbered.get(folder):
            log.warning("%s: %d image(s) without a number at the end of the name, predicted on their own, not as "
                        "slices of the volume.", folder, unnumbered[folder])
    return last


class _PatientVolumes:
    """Slices predicted one by one that form a volume (a patient folder's ``<patient>_<n>.tif`` as LGG has them, or
    ``.png``... of the same naming; with ``as_volume`` every image of a folder whose name ends in a number:
    :func:`slice_volumes`) get the
    checkpoint's volume rules (:mod:`tumorseg.inference.postprocess`) as ``evaluate`` applies them, once the
    folder's last slice among ``files`` is predicted: the masks the rules change are written again (with their
    overlays), their :class:`Prediction` updated. Rules that read probabilities
    (``z_smooth``, ``hysteresis_prob``) use the probabilities kept for the folders still open — one
    patient at a time when a folder's slices come together, as ``collect_inputs`` orders them.

    Each finished folder also gets a :class:`~tumorseg.inference.summary.VolumeSummary` (in ``summaries``, its
    line logged): slices with tumour and voxels — no mL, image files carry no voxel size — and
    ``largest_slice`` = the slice number in the file names (``<patient>_<n>.tif``). A folder with two files of
    the same number, more than :data:`MAX_VOLUME_SLICES`, or slices holding more pixels in all than a volume file may
    (``max_voxels`` of :mod:`tumorseg.limits`: what is kept per folder stays bounded), is predicted as separate
    images (with a warning)."""

    def __init__(self, files: Sequence[Path], predictor: Predictor, out: Path, with_overlay: bool,
                 as_volume: bool = False):
        self.predictor, self.out, self.with_overlay = predictor, out, with_overlay
        self.number = slice_numbering(as_volume)
        self.on = bool(predictor.post.get("largest_component_3d")) or needs_probabilities(predictor.post)
        self.keep_probs = needs_probabilities(predictor.post)
        self.last = slice_volumes(files, as_volume)  # folder -> position of its last slice in files
        self.open: dict[Path, list[tuple[Prediction, np.ndarray, np.ndarray | None]]] = {}  # result, mask, prob
        self.pixels: dict[Path, int] = {}  # pixels kept so far per open folder
        self.seen = 0
        self.summaries: list[VolumeSummary] = []

    def add(self, result: Prediction, mask: np.ndarray, prob: np.ndarray) -> None:
        """A predicted slice, its mask as written and its probabilities; kept (the probabilities only when the
        rules need them; a 256² bool mask is 64 kB) if it belongs to a volume."""
        folder = result.source.parent
        if folder in self.last and self.number(result.source) is not None:
            self.pixels[folder] = self.pixels.get(folder, 0) + mask.size
            cap = limits.current().max_voxels
            if self.pixels[folder] > cap:
                log.warning("%s: its slices hold more than %d pixels in all, more than one volume may here; predicted "
                            "as separate images, without the volume rules or a per-patient summary.", folder, cap)
                del self.last[folder]
                self.open.pop(folder, None)
                return
            kept = prob if self.keep_probs else None  # float32, as evaluate has them: ~23 MB for 88 slices
            self.open.setdefault(folder, []).append((result, mask, kept))

    def done(self, n: int) -> None:
        """``n`` more of ``files`` were handled: finish every folder whose last slice is among them."""
        self.seen += n
        for folder in [f for f in self.open if self.last[f] < self.seen]:
            self._finish(self.open.pop(folder), folder)

    def _finish(self, slices: list[tuple[Prediction, np.ndarray, np.ndarray | None]], folder: Path) -> None:
        slices = sorted(slices, key=lambda s: self.number(s[0].source))
        preds = [r for r, _, _ in slices]
        masks = [m for _, m, _ in slices]
        if len({m.shape for m in masks}) > 1:
            return
        stack = np.stack(masks)
        lesions: dict = {}
        if self.on and len(preds) > 1:
            stack = self._apply_rules(slices, preds, stack, folder, lesions)
        left = lesions.get("left_out")  # one volume: the folder (its slice numbers as records' slice_index)
        summary = summarise(stack, None, folder.name, self.predictor.label, left[0] if left else None)
        summary.input, summary.mask = str(folder), re.sub(r"\d+$", "", preds[0].source.stem) + "*.png"
        if summary.largest_slice is not None:
            summary.largest_slice = self.number(preds[summary.largest_slice].source)
        log.info("%s", summary.line())
        self.summaries.append(summary)
        if self.with_overlay:
            self._save_montage(preds, stack, folder)

    def _save_montage(self, preds: list[Prediction], stack: np.ndarray, folder: Path) -> None:
        """``out/<patient>_overlay.png``: the patient at a glance (:func:`~tumorseg.inference.montage.montage`),
        tiles numbered as the files are; only the (at most 16) slices shown are read again. With no tumour found the
        tiles span the whole folder."""
        picks = shown_slices(stack, stack)  # masks stand in for the images: no tumour → evenly over all slices
        images = [read_model_input(preds[z].source, self.predictor)[0] for z in picks]
        if len({i.shape for i in images}) > 1:
            return
        labels = [self.number(preds[z].source) for z in picks]
        picture = montage(np.stack(images), stack[picks], labels=labels)
        Image.fromarray(picture).save(self.out / f"{folder.name}_overlay.png")

    def _apply_rules(self, slices: list[tuple[Prediction, np.ndarray, np.ndarray | None]], preds: list[Prediction],
                     stack: np.ndarray, folder: Path, report: dict | None = None) -> np.ndarray:
        """The volume rules on one folder's ``(Z, H, W)`` masks (slice-number order): masks they change are written
        again; returns the masks as written. ``report`` as in
        :func:`~tumorseg.inference.postprocess.apply_volumes`."""
        recs = [SliceRecord(r.source.stem, r.source, patient=str(folder), slice_index=self.number(r.source))
                for r in preds]
        if self.keep_probs:
            kept = apply_records(np.stack([p for _, _, p in slices]), self.predictor.post, recs,
                                 self.predictor.image_size, report)
        else:
            kept = apply_volumes(stack, self.predictor.post, recs, report=report)
        for r, before, after in zip(preds, stack, kept):
            if np.array_equal(before, after):
                continue
            write_mask_png(after, r.outputs[0])
            r.n_tumour = int(after.any())
            if self.with_overlay:
                image = read_model_input(r.source, self.predictor)[0]
                _save_overlay(image, after, self.out / f"{r.source.stem}_overlay.png")
        return kept


def predict_files(inputs: Sequence[str | Path], checkpoint: str | Path | None, out: str | Path,
                  **options) -> list[Path]:
    """:func:`predict_inputs` with ``strict=True``: returns the files written (masks; for volumes their NIfTI/PNG
    outputs; then the probability maps, with ``probabilities=True``); the first bad input raises."""
    report = predict_inputs(inputs, checkpoint, out, **{**options, "strict": True})
    return report.written + [m for r in report.results for m in r.maps]
