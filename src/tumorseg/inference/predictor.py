"""Running a trained model: batched probabilities and a :class:`Predictor` for any image size.

Preprocessing is read from the checkpoint (``preprocessing``): grayscale, resize
to the model's size (bilinear), scale by 1/255. Probabilities are resized back
to each input's own size (bilinear) and thresholded there, so a 512×512 input
gets a 512×512 mask.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tumorseg.data.context import alone, volume_stacks
from tumorseg.data.dataset import resize_channels
from tumorseg.data.intensity import normalise
from tumorseg.device import resolve_device
from tumorseg.errors import TumorsegError
from tumorseg.inference import postprocess
from tumorseg.models import to_probabilities, zoo
from tumorseg.models.checks import check_preprocessing
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, images: np.ndarray, device: torch.device | str = "cpu", batch_size: int = 16,
    tta: bool = False,
) -> np.ndarray:
    """Foreground probabilities for ``(N, S, S)`` or ``(N, C, S, S) uint8`` images at the model's size.

    Returns ``(N, S, S) float32`` in [0, 1]. With ``tta``, the mean of the
    probabilities for the image and its horizontal and vertical flips (each
    flipped back). An image without signal (:func:`tumorseg.inference.postprocess.no_signal`: black, or
    nearly) gets 0 everywhere. Puts ``model`` in eval mode and restores its previous mode
    afterwards.
    """
    if getattr(model, "combine", None) == "decide":  # a cascade: one member decides, the other draws
        return cascade_probabilities(model, images, device, batch_size, tta)
    was_training = model.training
    model.eval()
    out = np.empty(images.shape[:1] + images.shape[-2:], dtype=np.float32)
    try:
        for sl in _batches(len(images), batch_size):
            x = torch.from_numpy(images[sl]).to(device).float().div_(255.0)
            if x.ndim == 3:
                x = x.unsqueeze(1)  # (B, S, S) -> (B, 1, S, S); (B, C, S, S) stays
            p = to_probabilities(model, model(x))
            if tta:
                for dim in (-1, -2):
                    p = p + to_probabilities(model, model(x.flip(dim))).flip(dim)
                p = p / 3
            out[sl] = p.squeeze(1).float().cpu().numpy()
            out[sl][postprocess.no_signal(images[sl])] = 0.0
    finally:
        model.train(was_training)
    return out


def cascade_probabilities(model: nn.Module, images: np.ndarray, device: torch.device | str = "cpu",
                          batch_size: int = 16, tta: bool = False) -> np.ndarray:
    """``(N, S, S) float32`` of a cascade (:class:`~tumorseg.models.ensemble.Ensemble` with ``combine="decide"``):
    the first member's probabilities on the images the second member marks with its own post-processing
    (``model.decide_post``: its threshold, clean-up and presence gate), 0 on the others. ``tta`` off turns TTA off
    for both members (one pass each, the cheapest run); on, each member uses TTA as its own settings say."""
    draw = predict_probabilities(model.members[0], images, device, batch_size, tta)
    vote = predict_probabilities(model.members[1], images, device, batch_size, tta and bool(model.decide_post["tta"]))
    return decided(draw, vote, model.decide_post)


def decided(draw: np.ndarray, vote: np.ndarray, decide_post: dict[str, Any]) -> np.ndarray:
    """A cascade's rule: ``draw`` ``(N, S, S)`` with the images that ``vote`` (same shape), post-processed with
    ``decide_post``, leaves empty set to 0 (in place; returned)."""
    marked = postprocess.apply(vote, decide_post).reshape(len(vote), -1).any(1)
    draw[~marked] = 0.0
    return draw


BACKENDS = ("auto", "onnx", "torch")
# The auto backend runs calls of fewer images than this in PyTorch eager, larger ones in ONNX Runtime. Measured on
# a 2-core CPU with t1c-unet (benchmarks/results/inference_t1c-unet.json, whole Predictor path, ms per slice p50):
# batch 1: ONNX 7.6 vs eager 8.8 at 256² (1.17x), 16.0 vs 10.2 at 512² (0.64x: slower); batch 16: ONNX 6.8 vs 16.7
# at 256² (2.5x), 8.2 vs 17.7 at 512² (2.2x). Batch 1 (one uploaded image, one file) is a wash at best for ONNX.
# The effunet t1c (benchmarks/results/inference.json) gains from ONNX at batch 1 too (14.0 vs 26.3 ms at 512²).
# Batches of 2-15 were not measured on the idle machine; ONNX takes them, as the batch-16 gain suggests.
ONNX_MIN_BATCH = 2


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(backend: str, device: torch.device) -> str:
    """Resolve ``"auto"``: ONNX Runtime on CPU when installed (for batches; see :data:`ONNX_MIN_BATCH`), else PyTorch.

    ONNX Runtime runs the bundled model about 2.2–2.5× faster than PyTorch
    eager per slice at batch 16 on a 2-core CPU, but not at batch 1 (0.64× to
    1.17×), so an auto :class:`Predictor` keeps both and runs single images in
    PyTorch. On CUDA, PyTorch is used.

    Raises:
        TumorsegError: unknown backend, or ``"onnx"`` asked for without onnxruntime or on a GPU device.
    """
    if backend not in BACKENDS:
        raise TumorsegError(f"unknown backend '{backend}'. Choose one of: {', '.join(BACKENDS)}.")
    if backend == "auto":
        return "onnx" if device.type == "cpu" and onnx_available() else "torch"
    if backend == "onnx":
        if not onnx_available():
            raise TumorsegError("backend 'onnx' needs onnx and onnxruntime: pip install 'tumorseg[onnx]'.")
        if device.type != "cpu":
            raise TumorsegError(f"backend 'onnx' runs on the CPU; use --device cpu or --backend torch for {device}.")
    return backend


def onnx_probabilities(onnx_model, images: np.ndarray, batch_size: int = 16, tta: bool = False) -> np.ndarray:
    """Like :func:`predict_probabilities`, with an :class:`tumorseg.inference.onnx.OnnxModel`; ``(N, S, S) float32``.

    A cascade's file (``onnx_model.decide_post`` set) gives both members' probabilities from one run; with ``tta``
    the deciding one is flip-averaged when its ``decide_post["tta"]`` says so, then :func:`decided` applies the
    rule, as :func:`cascade_probabilities` does in PyTorch.
    """
    decide = onnx_model.decide_post
    use_tta = [tta] if decide is None else [tta, tta and bool(decide["tta"])]  # per output
    outs = [np.empty(images.shape[:1] + images.shape[-2:], dtype=np.float32) for _ in use_tta]
    for sl in _batches(len(images), batch_size):
        x = images[sl].astype(np.float32)
        ps = onnx_model.run_all(x)
        if any(use_tta):  # same order as predict_probabilities: width flip, then height flip
            flips = [[np.flip(p, axis) for p in onnx_model.run_all(np.flip(x, axis))] for axis in (-1, -2)]
            ps = [(p + flips[0][i] + flips[1][i]) / 3 if use_tta[i] else p for i, p in enumerate(ps)]
        empty = postprocess.no_signal(images[sl])
        for out, p in zip(outs, ps):
            out[sl] = p
            out[sl][empty] = 0.0
    return outs[0] if decide is None else decided(outs[0], outs[1], decide)


class Predictor:
    """A model plus its preprocessing and threshold, ready for images of any size.

    Runs on PyTorch (``model``), on ONNX Runtime (``onnx``, an
    :class:`tumorseg.inference.onnx.OnnxModel`; then ``model`` may be ``None``)
    or, given both, on each where it is faster: calls of fewer than
    :data:`ONNX_MIN_BATCH` images in PyTorch eager, larger ones in ONNX Runtime
    (``backend`` is then ``"onnx+torch"``; :meth:`backend_for` says which one
    a call of ``n`` images uses). ``tta`` overrides the checkpoint's stored
    test-time-augmentation choice.

    Example::

        p = Predictor.from_checkpoint("runs/seed/best.pt")
        mask = p.predict(gray_uint8_image)   # (H, W) bool, same H, W as the input
    """

    def __init__(self, model: nn.Module | None, checkpoint: dict[str, Any], device: torch.device, source: str = "",
                 onnx=None, tta: bool | None = None):
        self.model = model.to(device).eval() if model is not None else None
        self.onnx = onnx
        self.backend = "torch" if onnx is None else "onnx" if model is None else "onnx+torch"
        self.checkpoint = checkpoint
        self.device = device
        self.source = source
        pre = checkpoint["preprocessing"]
        self.image_size: int = int(pre["image_size"])
        self.post = postprocess.settings(checkpoint)
        self.threshold: float = float(self.post["threshold"])
        self.name: str = checkpoint["model"]["name"]
        self.in_channels: int = int(pre.get("in_channels", 1))
        self.context: int = int(pre.get("context_slices", 0))  # 2.5-D: k slices each side (tumorseg.data.context)
        # channels of one slice as read: 1 for a model of neighbouring slices (its channels are slices), else all
        self.slice_channels: int = 1 if self.context else self.in_channels
        self.intensity: str = str(pre.get("intensity", "none"))
        self.modality: str | None = zoo.modality_of(checkpoint, source or None)  # "t1c", "flair" or None (unknown)
        self.input_stats: dict[str, Any] | None = pre.get("input_stats")  # training brightness (data.input_stats)
        # "display": a volume's slices are fed in the radiological view (anterior up; data.formats.orientation), as
        # its training slices were laid out; "stored" (default): in the file's own array layout
        self.view: str = str(pre.get("view", "stored"))
        self.label: str = zoo.name_of_file(source) or Path(source).name or self.name  # "t1c", "best.pt": messages
        if tta is not None:
            self.post["tta"] = bool(tta)

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "auto", backend: str = "auto",
                        tta: bool | None = None, export_if_missing: bool = False) -> "Predictor":
        """Load ``path``: a checkpoint file, ``None``/``"default"`` for the bundled model, or an exported ``.onnx``.

        ``backend``: ``"onnx"`` (ONNX Runtime; the checkpoint is exported once
        and cached, see :func:`tumorseg.inference.onnx.cached_onnx`), ``"torch"``, or
        ``"auto"``: on CPU with ONNX Runtime installed (:func:`choose_backend`)
        and an export ready (beside the checkpoint or cached) or
        ``export_if_missing`` (worth its few seconds for many images or a
        server), both: PyTorch for single images, ONNX Runtime for batches;
        otherwise PyTorch.
        """
        dev = resolve_device(device)
        if path is not None and str(path).lower().endswith(".onnx"):
            from tumorseg.inference.onnx import OnnxModel

            if backend == "torch":
                raise TumorsegError(f"{path} is an ONNX file; it runs only with --backend onnx (or auto).")
            choose_backend("onnx", dev)
            onnx_model = OnnxModel(path)
            view = onnx_model.checkpoint_view()
            check_preprocessing(view.get("preprocessing"), str(path))  # sizes from the file's metadata, in range
            return cls(None, view, dev, str(path), onnx=onnx_model, tta=tta)
        path = resolve_checkpoint(path)
        ckpt = load_checkpoint(path)
        onnx_model = None
        if choose_backend(backend, dev) == "onnx":
            from tumorseg.inference.onnx import OnnxModel, cached_onnx, find_onnx

            onnx_path = cached_onnx(path) if backend == "onnx" or export_if_missing else find_onnx(path)
            onnx_model = OnnxModel(onnx_path) if onnx_path is not None else None
        model = model_from_checkpoint(ckpt, path) if onnx_model is None or backend == "auto" else None
        return cls(model, ckpt, dev, str(path), onnx=onnx_model, tta=tta)

    def backend_for(self, n: int) -> str:
        """``"onnx"`` or ``"torch"``: what a call with ``n`` images runs on."""
        if self.onnx is None:
            return "torch"
        return "onnx" if self.model is None or n >= ONNX_MIN_BATCH else "torch"

    def predict_small(self, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Probabilities ``(N, S, S) float32`` for images already at the model's size (``uint8``)."""
        tta = bool(self.post["tta"])
        if self.backend_for(min(len(images), batch_size)) == "onnx":
            return onnx_probabilities(self.onnx, images, batch_size, tta=tta)
        return predict_probabilities(self.model, images, self.device, batch_size, tta=tta)

    def probabilities(self, images: list[np.ndarray], batch_size: int = 16) -> list[np.ndarray]:
        """Per-image probability maps ``(H_i, W_i) float32`` for ``uint8`` inputs of any size.

        Each input is ``(H, W)`` for one-channel models or ``(C, H, W)`` with
        the checkpoint's ``in_channels``; others raise (see :meth:`check_channels`). A model of neighbouring
        slices (:attr:`context` > 0) takes the stacks :meth:`inputs` makes, or one ``(H, W)`` slice as its own
        context (:func:`tumorseg.data.context.alone`).
        """
        out: list[np.ndarray] = []
        for sl in _batches(len(images), batch_size):
            chunk = images[sl]
            for im in chunk:
                self.check_channels(im)
            if self.context:
                chunk = [alone(im, self.context) if im.ndim == 2 else im for im in chunk]
            small = np.stack([resize_channels(self.normalised(im), self.image_size) for im in chunk])
            probs = self.predict_small(small, batch_size)
            for im, p in zip(chunk, probs):
                if p.shape != im.shape[-2:]:
                    t = torch.from_numpy(p)[None, None]
                    p = F.interpolate(t, size=im.shape[-2:], mode="bilinear", align_corners=False)[0, 0].numpy()
                out.append(p)
        return out

    def inputs(self, slices: list[np.ndarray], idx: list[int]) -> list[np.ndarray]:
        """What the model takes for slices ``idx`` of one volume's adjacent ``slices``: the slices themselves,
        or for a model of neighbouring slices their ``(2k + 1, H, W)`` stacks (:func:`volume_stacks`)."""
        if not self.context:
            return [slices[i] for i in idx]
        return volume_stacks(slices, idx, self.context)

    def check_channels(self, image: np.ndarray, source: str = "input") -> None:
        """Refuse an image whose channel count differs from the model's (never average channels silently).
        A model of neighbouring slices also takes one ``(H, W)`` slice (its own context).

        Raises:
            DataError: e.g. a 3-channel TIFF for a model trained on one channel.
        """
        have = 1 if image.ndim == 2 else int(image.shape[0])
        if have != self.slice_channels and not (self.context and have == self.in_channels):
            from tumorseg.errors import DataError

            names = self.checkpoint["preprocessing"].get("channels")
            raise DataError(
                f"{source}: has {have} channel(s) but the model '{self.label}' was trained on {self.slice_channels}"
                f"{' (' + ', '.join(names) + ')' if names else ''}. Give {self.slice_channels}-channel input "
                f"or use a model trained with --channels {'all' if have > 1 else 'flair'}."
            )

    def normalised(self, image: np.ndarray) -> np.ndarray:
        """``image`` as the model sees it before resizing: with the checkpoint's per-slice intensity
        normalisation (``preprocessing["intensity"]``, see :mod:`tumorseg.data.intensity`) when it has one."""
        return normalise(image, self.intensity)

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Binary mask ``(H, W) bool`` for one grayscale ``(H, W) uint8`` image."""
        return self.binarize(self.probabilities([image])[0])

    def binarize(self, prob: np.ndarray) -> np.ndarray:
        """Apply the checkpoint's threshold, small-component removal and tumour-presence gate to one ``(H, W)`` map."""
        return postprocess.apply(prob, self.post, self.image_size)
