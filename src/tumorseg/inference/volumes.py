"""Prediction inputs beyond 2-D image files: NIfTI volumes, BraTS case folders, DICOM files and series.

Outputs keep the input's geometry:

* NIfTI file ``x.nii.gz`` or BraTS case folder ``<case>/`` -> ``OUT/<name>_mask.nii.gz``:
  the input's shape, affine and header geometry (qform/sform), ``uint8`` 0/1.
  Slices are predicted along the third array axis (axial in BraTS);
  slices without brain (all zero) get an empty mask.
* DICOM file ``x.dcm`` -> ``OUT/x.png`` (the slice's rows × columns, 0/255).
* DICOM series folder ``<series>/`` (one series, sorted by
  ImagePositionPatient along the slice normal, else InstanceNumber) ->
  ``OUT/<series>/<series>_NNN.png`` per slice and ``OUT/<series>_mask.nii.gz``
  with the affine built from the DICOM geometry (converted to RAS).

Intensities are normalised as the readers do for training (see
:mod:`tumorseg.data.formats`): NIfTI per volume inside the brain, DICOM
(after RescaleSlope/Intercept) per image or per series by 0.5–99.5 percentiles.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError
from tqdm.auto import tqdm

from tumorseg.data.formats import nifti
from tumorseg.data.formats._common import require, to_uint8
from tumorseg.data.formats.dicom import dicom_pixels, is_dicom_file, read_dicom, read_dicom_series
from tumorseg.data.imageio import open_image, read_gray, write_mask_png
from tumorseg.errors import DataError
from tumorseg.inference.predictor import Predictor

log = logging.getLogger(__name__)


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
    channels picks those (FLAIR for ``--channels flair``), as training did;
    any other channel mismatch is refused by :meth:`Predictor.check_channels`,
    never averaged away.
    """
    try:
        with open_image(path) as im:  # refuses a declared size over tumorseg.limits before decoding
            arr = np.asarray(im) if im.mode in ("RGB", "RGBA") else None
    except (UnidentifiedImageError, OSError):
        arr = None  # read_gray raises the usual "not a readable image" error
    picked = predictor.checkpoint["preprocessing"].get("reader_options", {}).get("channels")
    stack = path.suffix.lower() in (".tif", ".tiff") or predictor.in_channels > 1 or picked
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
    """Binary masks ``(N, H, W) bool`` for 2-D slices; all-zero slices get empty masks without running the model."""
    masks = np.zeros((len(slices), *slices[0].shape[-2:]), dtype=bool)
    todo = [i for i, s in enumerate(slices) if s.any()]
    for start in range(0, len(todo), batch_size):
        idx = todo[start : start + batch_size]
        for i, prob in zip(idx, predictor.probabilities([slices[i] for i in idx], batch_size)):
            masks[i] = predictor.binarize(prob)
        bar.update(len(idx))
    bar.update(len(slices) - len(todo))
    return masks


def predict_nifti(path: Path, predictor: Predictor, out: Path, batch_size: int = 16, progress: bool = True) -> Path:
    """Predict a NIfTI volume or a BraTS case folder; write ``out/<name>_mask.nii.gz`` (see module docstring)."""
    opts = predictor.checkpoint["preprocessing"].get("reader_options", {})
    if path.is_dir():
        images, _, _ = nifti.find_case_files(path, opts.get("modality", "flair"))
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
    bar = tqdm(total=len(slices), desc=f"predicting {name}", unit="slice", disable=not progress, leave=False)
    masks = _predict_stack(slices, predictor, batch_size, bar)  # (Z, X, Y)
    bar.close()
    return nifti.save_mask_like(np.moveaxis(masks, 0, -1), images[0], out / f"{name}_mask.nii.gz")


def predict_dicom(path: Path, predictor: Predictor, out: Path, batch_size: int = 16, progress: bool = True) -> list[Path]:
    """One DICOM file -> ``out/<stem>.png``; a series folder -> PNG per slice plus a NIfTI mask volume."""
    if path.is_file():
        pixels = dicom_pixels(read_dicom(path), path)
        frames = pixels if pixels.ndim == 3 else pixels[None]  # multi-frame files: (frames, rows, cols)
        masks = _predict_stack([to_uint8(f) for f in frames], predictor, batch_size, tqdm(disable=True))
        if len(masks) == 1:
            target = out / f"{path.stem}.png"
            write_mask_png(masks[0], target)
            return [target]
        written = [out / path.stem / f"{path.stem}_{i:03d}.png" for i in range(len(masks))]
        written[0].parent.mkdir(parents=True, exist_ok=True)
        for m, t in zip(masks, written):
            write_mask_png(m, t)
        return written
    volume, affine, _ = read_dicom_series(path)
    scaled = to_uint8(volume)  # one scale for the whole series
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
    return written + [target]


def predict_volumes(inputs: Sequence[Path], predictor: Predictor, out: Path, batch_size: int = 16,
                    progress: bool = True) -> list[Path]:
    """Predict every NIfTI/DICOM input into ``out``; returns the files written."""
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    for path in inputs:
        kind = input_kind(path)
        if kind in ("nifti", "nifti-case"):
            written.append(predict_nifti(path, predictor, out, batch_size, progress))
        else:
            written += predict_dicom(path, predictor, out, batch_size, progress)
        log.info("%s -> %s", path, written[-1])
    return written
