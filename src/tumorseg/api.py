"""tumorseg from Python: load a model once, then segment numpy arrays (or files, as ``tumorseg predict`` does)::

    import tumorseg
    seg = tumorseg.load("flair")                  # a bundled name, a checkpoint or an .onnx file; None: t1c
    mask = seg.segment(flair_slice)               # (H, W) bool, the input's size
    result = seg.segment_volume(flair_volume, spacing_mm=(5.0, 0.9, 0.9))   # (Z, H, W), slices first
    result.masks.shape, result.summary.line()     # "...: tumour in 12/40 slices, 23.40 mL, ..."
    tumorseg.predict(["case-t2f.nii.gz", "lgg_patient/"], out="masks")        # files, as the CLI

The same model, pre- and post-processing as ``predict`` (a volume gets the model's volume rules, e.g. the
one-lesion rule, exactly as a NIfTI file would). What this module adds is only the numpy side:

* **dtypes**: ``uint8`` is used as stored (as PNG / TIFF slices are); any other real dtype (int16 scanner values,
  z-scored BraTS floats) is scaled to 0..255 by its foreground percentiles, one scale per volume and channel, as
  NIfTI and DICOM files are (:func:`tumorseg.data.formats.scaling.volume_to_uint8`). ``bool`` and complex arrays
  are refused (``TypeError``).
* **shapes**: a slice is ``(H, W)`` or ``(C, H, W)``, a volume ``(Z, H, W)`` or ``(Z, C, H, W)``, slices first
  (a NIfTI array ``(X, Y, Z)`` is ``np.moveaxis(vol, -1, 0)``); ``C`` must be the model's channel count.
  Anything else raises :class:`~tumorseg.errors.DataError` naming the shape.

Nothing is written to disk except by :func:`predict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tumorseg.errors import DataError
from tumorseg.inference.predictor import Predictor
from tumorseg.inference.summary import VolumeSummary, summarise


@dataclass
class VolumeResult:
    """What :meth:`Segmenter.segment_volume` gives.

    Attributes:
        masks: ``(Z, H, W) bool``, one mask per input slice at the input's size.
        summary: slices with tumour, voxels, mL and longest axial diameter when ``spacing_mm`` was given
            (:class:`~tumorseg.inference.summary.VolumeSummary`; ``summary.line()`` is ``predict``'s line).
    """

    masks: np.ndarray
    summary: VolumeSummary


def _as_uint8(array: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """``array`` as the model's ``uint8`` input: kept when already ``uint8``, else scaled by foreground
    percentiles, each channel (``channel_axis``) on its own."""
    from tumorseg.data.formats.scaling import volume_to_uint8

    if array.dtype == np.uint8:
        return array
    if channel_axis is None:
        return np.ascontiguousarray(volume_to_uint8(array))
    return np.stack([volume_to_uint8(np.take(array, c, axis=channel_axis)) for c in range(array.shape[channel_axis])],
                    axis=channel_axis)


class Segmenter:
    """A loaded model (see :func:`load`); reuse it for many arrays."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor

    @property
    def name(self) -> str:
        """The model's name as messages give it (``"t1c"``, ``"flair"``, ``"best.pt"``)."""
        return self.predictor.label

    @property
    def channels(self) -> int:
        """Channels one input slice must have (1 for ``t1c`` and ``flair``)."""
        return self.predictor.slice_channels

    def _slice(self, image: np.ndarray, what: str) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim not in (2, 3) or min(image.shape, default=0) == 0:
            raise DataError(f"{what}: shape {image.shape}; a slice is (H, W) or (C, H, W), a volume goes to "
                            "segment_volume.")
        image = _as_uint8(image, 0 if image.ndim == 3 else None)
        self.predictor.check_channels(image, what)
        return image

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Tumour probabilities ``(H, W) float32`` in [0, 1] for one slice, before any threshold or clean-up."""
        return self.predictor.probabilities([self._slice(image, "image")])[0]

    def segment(self, image: np.ndarray) -> np.ndarray:
        """The mask ``(H, W) bool`` of one slice ``(H, W)`` / ``(C, H, W)``, with the model's threshold, clean-up and
        presence gate. A slice alone gets no volume rule: on a tumour-free slice ``t1c`` marks something almost
        always (its card), so pass whole volumes to :meth:`segment_volume` when you have them."""
        return self.predictor.binarize(self.probabilities(image))

    def segment_volume(self, volume: np.ndarray, spacing_mm: Sequence[float] | None = None, name: str = "",
                       batch_size: int = 16, progress: bool = False, affine: np.ndarray | None = None) -> VolumeResult:
        """Masks of a volume's slices, with the model's volume rules (as ``predict`` gives a NIfTI file).

        Args:
            volume: ``(Z, H, W)`` or ``(Z, C, H, W)``, slices first, any real dtype (module docstring).
            spacing_mm: ``(slice, row, column)`` spacing in mm, for mL and diameters, and so that slices covering
                less than 240 mm are padded for the model as ``predict`` pads them
                (:mod:`tumorseg.inference.field_of_view`); ``None``: voxels only, slices as they are.
            name: used in the summary and in the warning given when the volume's brightness is far from the
                model's training slices.
            batch_size: slices per model call. progress: show a progress bar.
            affine: the ``(4, 4)`` voxel-to-RAS affine of the ``(X, Y, Z)`` array whose slices ``volume`` holds
                (a NIfTI's ``img.affine``, with ``volume = np.moveaxis(vol, -1, 0)``): a model fed the radiological
                view (``flair``) then gets it, as ``predict`` feeds the file; ``None``: the slices as given.

        Slices that are all zero are not run through the model and get empty masks.
        """
        from tqdm.auto import tqdm

        from tumorseg.data.formats.orientation import display_ornt
        from tumorseg.inference.volumes import predict_stack, warn_if_far_off

        volume = np.asarray(volume)
        if volume.ndim not in (3, 4) or min(volume.shape, default=0) == 0:
            raise DataError(f"{name or 'volume'}: shape {volume.shape}; a volume is (Z, H, W) or (Z, C, H, W), slices "
                            "first (a NIfTI array (X, Y, Z): np.moveaxis(vol, -1, 0)); one slice goes to segment.")
        if spacing_mm is not None and (len(spacing_mm) != 3 or not all(float(s) > 0 for s in spacing_mm)):
            raise DataError(f"{name or 'volume'}: spacing_mm {tuple(spacing_mm)}; give (slice, row, column) in mm, "
                            "each > 0, or None.")
        slices = list(_as_uint8(volume, 1 if volume.ndim == 4 else None))
        self.predictor.check_channels(slices[0], name or "volume")
        warn_if_far_off(Path(name or "volume"), slices, self.predictor)
        with tqdm(total=len(slices), desc=f"predicting {name}".strip(), unit="slice", disable=not progress,
                  leave=False) as bar:
            lesions: dict = {}
            masks = predict_stack(slices, self.predictor, batch_size, bar, name=name,
                                  pixel_mm=tuple(spacing_mm)[1:] if spacing_mm is not None else None,
                                  display=display_ornt(affine) if affine is not None else None, report=lesions)
        return VolumeResult(masks, summarise(masks, spacing_mm, name, self.predictor.label, lesions.get("left_out")))


def load(model: str | Path | None = None, device: str = "auto", backend: str = "auto",
         one_lesion: bool | None = None, tta: bool | None = None) -> Segmenter:
    """Load a model for :meth:`Segmenter.segment` / :meth:`Segmenter.segment_volume`.

    Args:
        model: a bundled name (``"t1c"``, ``"flair"``, ``"t1c-unet"``; ``None`` or ``"default"``: ``t1c``), a
            checkpoint written by ``tumorseg train`` or an exported ``.onnx`` file. Unlike ``predict``, nothing
            is chosen from the input: arrays carry no file name or header that says FLAIR.
        device: ``"auto"`` (a GPU when there is one), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        backend: ``"auto"``, ``"torch"`` or ``"onnx"`` (ONNX Runtime, CPU), as ``predict --backend``.
        one_lesion: volumes keep only the most confident 3-D lesion (``True``), every lesion (``False``), or as
            the model stores it (``None``).
        tta: flip test-time augmentation on / off; ``None``: as the model stores it.

    Raises:
        CheckpointError: an unknown name (the message lists the names), or a file that is not a tumorseg model.
    """
    predictor = Predictor.from_checkpoint(model, device=device, backend=backend, tta=tta)
    if one_lesion is not None:
        predictor.post["largest_component_3d"] = bool(one_lesion)
    return Segmenter(predictor)


def predict(inputs: str | Path | Sequence[str | Path], out: str | Path, model: str | Path | None = None,
            **options) -> list[Path]:
    """``tumorseg predict INPUTS --out OUT``: every file, folder, NIfTI, NRRD, MetaImage, DICOM series or LGG patient
    folder in ``inputs`` segmented into ``out`` (masks at each input's size, ``summary.csv`` / ``summary.json`` for
    volumes, a DICOM SEG beside a DICOM series' mask). ``model=None`` gives each input the model that fits it, as the CLI
    does. ``options``: the keyword arguments of :func:`tumorseg.inference.files.predict_inputs` (``with_overlay``,
    ``one_lesion``, ``device``, ``progress``...). Returns the files written; the first unreadable input raises
    (:class:`~tumorseg.errors.DataError`, naming the file)."""
    from tumorseg.inference.files import predict_files

    inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    return predict_files(inputs, model, out, **options)
