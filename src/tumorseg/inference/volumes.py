"""Prediction inputs beyond 2-D image files: NIfTI volumes, BraTS case folders, DICOM files and series.

Outputs keep the input's geometry:

* NIfTI file ``x.nii.gz`` or BraTS case folder ``<case>/`` -> ``OUT/<name>_mask.nii.gz``:
  the input's shape, affine and header geometry (qform/sform), ``uint8`` 0/1.
  Slices are predicted along the third array axis (axial in BraTS);
  slices without brain (all zero) get an empty mask.
* DICOM file ``x.dcm`` -> ``OUT/x.png`` (the slice's rows × columns, 0/255;
  a multi-frame file: ``OUT/x/x_NNN.png`` per frame).
* DICOM series folder ``<series>/`` (one series, sorted by
  ImagePositionPatient along the slice normal, else InstanceNumber) ->
  ``OUT/<series>/<series>_NNN.png`` per slice and ``OUT/<series>_mask.nii.gz``
  with the affine built from the DICOM geometry (converted to RAS).
* Every DICOM input also gives ``OUT/<name>_seg.dcm``, a DICOM Segmentation
  referencing the source images (:mod:`tumorseg.data.formats.dicom_seg`),
  when highdicom is installed and the source carries what a SEG must copy
  (otherwise a warning, and the other files as usual).
* Every volume input adds a row to ``OUT/summary.json`` and ``OUT/summary.csv``
  (slices with tumour, volume in mL, longest axial diameter:
  :mod:`tumorseg.inference.summary`), logged as one line per volume.

Intensities: :func:`tumorseg.data.formats.scaling.volume_to_uint8`, one
scale per volume (a NIfTI volume, a series, or a file's frames; DICOM after
RescaleSlope/Intercept) from the foreground's 0.5–99.5 percentiles,
background 0 — as the NIfTI reader does for training.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError
from tqdm.auto import tqdm

from tumorseg.data.formats import lgg, nifti
from tumorseg.data.formats._common import require
from tumorseg.data.formats.dicom import dicom_pixels, dicom_spacing, is_dicom_file, read_dicom, read_dicom_series
from tumorseg.data.formats.dicom_seg import write_seg
from tumorseg.data.formats.scaling import volume_to_uint8
from tumorseg.data.imageio import open_image, read_gray, write_mask_png
from tumorseg.data.input_stats import far_off
from tumorseg.errors import DataError
from tumorseg.inference.postprocess import keep_largest_3d
from tumorseg.inference.predictor import Predictor
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

    @classmethod
    def of(cls, source: Path, outputs: list[Path], masks: np.ndarray, predictor: Predictor,
           summary: VolumeSummary | None = None) -> "Prediction":
        """From the predicted ``(N, H, W) bool`` masks of ``source``."""
        return cls(source, outputs, len(masks), int(masks.reshape(len(masks), -1).any(1).sum()), predictor.label,
                   summary)


def input_kind(path: Path) -> str | None:
    """``"nifti"``, ``"nifti-case"``, ``"dicom"``, ``"dicom-series"`` or ``None`` (an image file/folder)."""
    if path.is_file():
        return "nifti" if nifti.is_nifti(path) else ("dicom" if is_dicom_file(path) else None)
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file()]
        if any(nifti.is_nifti(p) for p in files):
            return "nifti-case"
        if any(is_dicom_file(p) for p in files):
            return "dicom-series"
    return None


def split_volume_inputs(inputs: Sequence[str | Path]) -> tuple[list[Path], list[str | Path]]:
    """Separate NIfTI/DICOM inputs (handled here) from image files/folders (handled by ``predict_files``)."""
    volumes, images = [], []
    for item in inputs:
        (volumes if input_kind(Path(item)) else images).append(item)
    return [Path(v) for v in volumes], images


def read_for_model(path: Path, predictor: Predictor) -> np.ndarray:
    """Read a 2-D image file as the checkpoint's input: ``(H, W)`` or ``(C, H, W) uint8``.

    A colour image whose channels are equal is grayscale; a colour PNG/JPG for
    a one-channel model is converted to luma (a photo, not a stack). A
    3-channel TIFF is a stack of MRI channels (LGG): a model trained on LGG
    channels picks those (FLAIR for ``--channels flair``), as training did, and a
    one-channel model of a known modality (:attr:`Predictor.modality`) picks
    its channel (``flair`` → FLAIR, ``t1c`` → post-contrast);
    any other channel mismatch is refused by :meth:`Predictor.check_channels`,
    never averaged away.
    """
    try:
        with open_image(path) as im:  # refuses a declared size over tumorseg.limits before decoding
            arr = np.asarray(im) if im.mode in ("RGB", "RGBA") else None
    except (UnidentifiedImageError, OSError):
        arr = None  # read_gray raises the usual "not a readable image" error
    stack_file = path.suffix.lower() in (".tif", ".tiff")
    picked = predictor.checkpoint["preprocessing"].get("reader_options", {}).get("channels")
    if not picked and stack_file and predictor.in_channels == 1 and predictor.modality in ("flair", "t1c"):
        picked = lgg.parse_channels(predictor.modality)  # a FLAIR model reads the FLAIR channel, T1c post-contrast
    stack = stack_file or predictor.in_channels > 1 or picked
    if arr is None or (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2])):
        image = read_gray(path)
    elif not stack:  # a colour picture (PNG/JPG) for a one-channel model: luma, as the 2-D pipeline always did
        log.warning("%s: colour image converted to grayscale for a one-channel model", path)
        image = read_gray(path)
    else:  # a channel stack (LGG TIFF: pre-contrast, FLAIR, post-contrast)
        image = np.moveaxis(arr[..., :3], -1, 0)  # (3, H, W)
        if picked and len(picked) == predictor.in_channels:
            image = image[list(picked)]
            image = image[0] if len(picked) == 1 else image
    predictor.check_channels(image, str(path))
    return image


def _predict_stack(slices: list[np.ndarray], predictor: Predictor, batch_size: int, bar) -> np.ndarray:
    """Binary masks ``(N, H, W) bool`` for the slices of one volume; all-zero slices get empty masks without running
    the model; the checkpoint's ``largest_component_3d`` (:mod:`tumorseg.inference.postprocess`) is applied to the
    stack when it has more than one slice."""
    masks = np.zeros((len(slices), *slices[0].shape[-2:]), dtype=bool)
    todo = [i for i, s in enumerate(slices) if s.any()]
    for start in range(0, len(todo), batch_size):
        idx = todo[start : start + batch_size]
        for i, prob in zip(idx, predictor.probabilities([slices[i] for i in idx], batch_size)):
            masks[i] = predictor.binarize(prob)
        bar.update(len(idx))
    bar.update(len(slices) - len(todo))
    if predictor.post.get("largest_component_3d") and len(masks) > 1:
        masks = keep_largest_3d(masks)
    return masks


def predict_nifti(path: Path, predictor: Predictor, out: Path, batch_size: int = 16,
                  progress: bool = True) -> Prediction:
    """Predict a NIfTI volume or a BraTS case folder; write ``out/<name>_mask.nii.gz`` (see module docstring).

    A case folder gives the model its modality: the checkpoint's reader option, else
    :attr:`Predictor.modality` (``t1c`` → ``-t1c``/``_t1ce``/``*t1c*``), else FLAIR.
    """
    opts = predictor.checkpoint["preprocessing"].get("reader_options", {})
    if path.is_dir():
        images, _, _ = nifti.find_case_files(path, opts.get("modality") or predictor.modality or "flair")
        name = path.name
    else:
        images, name = [path], nifti.nifti_stem(path)
    if len(images) != predictor.in_channels:
        raise DataError(
            f"{path}: gives {len(images)} modality volume(s) but the model was trained on {predictor.in_channels} "
            f"channel(s) ({', '.join(predictor.checkpoint['preprocessing'].get('channels', []))}). "
            "Pass the case folder so the model's modalities are found."
        )
    vols = [nifti.read_volume(p)[0] for p in images]  # each (X, Y, Z) uint8
    if len({v.shape for v in vols}) > 1:
        raise DataError(f"{path}: modality volumes differ in shape ({[v.shape for v in vols]}).")
    vol = vols[0] if len(vols) == 1 else np.stack(vols)  # (X, Y, Z) or (C, X, Y, Z)
    slices = [vol[..., k] for k in range(vol.shape[-1])]
    warn_if_far_off(images[0] if len(images) == 1 else path, slices, predictor)
    bar = tqdm(total=len(slices), desc=f"predicting {name}", unit="slice", disable=not progress, leave=False)
    masks = _predict_stack(slices, predictor, batch_size, bar)  # (Z, X, Y)
    bar.close()
    target = nifti.save_mask_like(np.moveaxis(masks, 0, -1), images[0], out / f"{name}_mask.nii.gz")
    vx = nifti.voxel_mm(images[0])  # (X, Y, Z)
    summary = summarise(masks, (vx[2], vx[0], vx[1]) if vx else None, name)
    summary.mask = target.name
    return Prediction.of(path, [target], masks, predictor, summary)


def _seg(masks: np.ndarray, sources: list, target: Path, predictor: Predictor, where: Path) -> list[Path]:
    """Write the DICOM SEG beside the other outputs; a source that cannot carry one only costs a warning."""
    if importlib.util.find_spec("highdicom") is None:
        log.warning("%s not written: DICOM SEG output needs highdicom (pip install 'tumorseg[formats]')", target.name)
        return []
    try:
        return [write_seg(masks, sources, target, predictor.name, where)]
    except DataError as exc:
        log.warning("%s The other mask files are written all the same.", exc)
        return []


def predict_dicom(path: Path, predictor: Predictor, out: Path, batch_size: int = 16,
                  progress: bool = True) -> Prediction:
    """One DICOM file -> ``out/<stem>.png`` (or a PNG per frame) and ``out/<stem>_seg.dcm``; a series folder ->
    PNG per slice, a NIfTI mask volume and ``out/<series>_seg.dcm`` (see module docstring)."""
    if path.is_file():
        ds = read_dicom(path)
        pixels = dicom_pixels(ds, path)
        frames = pixels if pixels.ndim == 3 else pixels[None]  # multi-frame files: (frames, rows, cols)
        slices = list(volume_to_uint8(frames))
        warn_if_far_off(path, slices, predictor)
        masks = _predict_stack(slices, predictor, batch_size, tqdm(disable=True))
        if len(masks) == 1:
            written = [out / f"{path.stem}.png"]
        else:
            written = [out / path.stem / f"{path.stem}_{i:03d}.png" for i in range(len(masks))]
            written[0].parent.mkdir(parents=True, exist_ok=True)
        for m, t in zip(masks, written):
            write_mask_png(m, t)
        sp = dicom_spacing(ds)  # (row, col, slice)
        summary = summarise(masks, (sp[2], sp[0], sp[1]) if sp else None, path.stem)
        summary.mask = str(written[0].relative_to(out).parent if len(masks) > 1 else written[0].name)
        written += _seg(masks, [ds], out / f"{path.stem}_seg.dcm", predictor, path)
        return Prediction.of(path, written, masks, predictor, summary)
    volume, affine, dss = read_dicom_series(path)
    scaled = volume_to_uint8(volume)  # (Z, rows, cols), one scale for the whole series
    del volume
    warn_if_far_off(path, list(scaled), predictor)
    bar = tqdm(total=len(scaled), desc=f"predicting {path.name}", unit="slice", disable=not progress, leave=False)
    masks = _predict_stack(list(scaled), predictor, batch_size, bar)  # (Z, rows, cols)
    bar.close()
    folder = out / path.name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, m in enumerate(masks):
        write_mask_png(m, folder / f"{path.name}_{i:03d}.png")
        written.append(folder / f"{path.name}_{i:03d}.png")
    nib = require("nibabel", "writing NIfTI masks")
    vol = np.transpose(masks, (2, 1, 0)).astype(np.uint8)  # (Z, rows, cols) -> (cols, rows, Z)
    target = out / f"{path.name}_mask.nii.gz"
    img = nib.Nifti1Image(vol, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, str(target))
    col_mm, row_mm, step_mm = np.linalg.norm(affine[:3, :3], axis=0)  # affine axes: (cols, rows, slices)
    sp = dicom_spacing(dss[0])
    summary = summarise(masks, (step_mm if len(dss) > 1 else (sp[2] if sp else None), row_mm, col_mm), path.name)
    summary.mask = target.name
    written += [target] + _seg(masks, dss, out / f"{path.name}_seg.dcm", predictor, path)
    return Prediction.of(path, written, masks, predictor, summary)


def predict_volumes(inputs: Sequence[Path], predictor: Predictor, out: Path, batch_size: int = 16,
                    progress: bool = True) -> list[Prediction]:
    """Predict every NIfTI/DICOM input into ``out``; one :class:`Prediction` per input.

    With at least one input, also writes ``out/summary.json`` and
    ``out/summary.csv`` (one row per volume, :mod:`tumorseg.inference.summary`)
    and logs each volume's summary line.
    """
    done: list[Prediction] = []
    out.mkdir(parents=True, exist_ok=True)
    for path in inputs:
        kind = input_kind(path)
        predict = predict_nifti if kind in ("nifti", "nifti-case") else predict_dicom
        result = predict(path, predictor, out, batch_size, progress)
        result.summary.input = str(path)
        log.info("%s -> %s", result.summary.line(), result.outputs[-1])
        done.append(result)
    if done:
        write_summaries([r.summary for r in done], out)
    return done


def far_off_note(source: Path, slices: list[np.ndarray], predictor: Predictor) -> str | None:
    """A warning naming ``source`` and the model when the slices' brightness is far from the model's training
    data (:func:`tumorseg.data.input_stats.far_off`), else ``None`` (also for checkpoints without statistics)."""
    if predictor.input_stats is None:
        return None
    why = far_off([predictor.normalised(s) for s in slices[:: max(1, len(slices) // 64)]], predictor.input_stats)
    if why is None:
        return None
    kind = {"t1c": "a T1c (contrast-enhanced T1)", "flair": "a FLAIR"}.get(predictor.modality or "", "the kind of")
    return (f"{source}: unusual input for model '{predictor.label}': {why}. Check that it is {kind} scan scaled "
            "like the training data, or choose another --model.")


def warn_if_far_off(source: Path, slices: list[np.ndarray], predictor: Predictor) -> bool:
    """Log :func:`far_off_note` as a warning (never refuses the input); returns whether it warned."""
    note = far_off_note(source, slices, predictor)
    if note:
        log.warning("%s", note)
    return note is not None
