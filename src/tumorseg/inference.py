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

from tumorseg.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint
from tumorseg.data.imageio import resize_image
from tumorseg.device import resolve_device
from tumorseg.models import to_probabilities
from tumorseg.postprocess import binarize, settings


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, images: np.ndarray, device: torch.device | str = "cpu", batch_size: int = 16,
    tta: bool = False,
) -> np.ndarray:
    """Foreground probabilities for ``(N, S, S) uint8`` images at the model's size.

    Returns ``(N, S, S) float32`` in [0, 1]. With ``tta``, the mean of the
    probabilities for the image and its horizontal and vertical flips (each
    flipped back). Puts ``model`` in eval mode and restores its previous mode
    afterwards.
    """
    was_training = model.training
    model.eval()
    out = np.empty(images.shape, dtype=np.float32)
    try:
        for sl in _batches(len(images), batch_size):
            x = torch.from_numpy(images[sl]).to(device).float().div_(255.0).unsqueeze(1)
            p = to_probabilities(model, model(x))
            if tta:
                for dim in (-1, -2):
                    p = p + to_probabilities(model, model(x.flip(dim))).flip(dim)
                p = p / 3
            out[sl] = p.squeeze(1).float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


class Predictor:
    """A model plus its preprocessing and threshold, ready for images of any size.

    Example::

        p = Predictor.from_checkpoint("runs/seed/best.pt")
        mask = p.predict(gray_uint8_image)   # (H, W) bool, same H, W as the input
    """

    def __init__(self, model: nn.Module, checkpoint: dict[str, Any], device: torch.device, source: str = ""):
        self.model = model.to(device).eval()
        self.checkpoint = checkpoint
        self.device = device
        self.source = source
        pre = checkpoint["preprocessing"]
        self.image_size: int = int(pre["image_size"])
        self.post = settings(checkpoint)
        self.threshold: float = float(self.post["threshold"])
        self.name: str = checkpoint["model"]["name"]

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "auto") -> "Predictor":
        """Load ``path`` (a checkpoint file, or ``None``/``"default"`` for the bundled model)."""
        path = resolve_checkpoint(path)
        ckpt = load_checkpoint(path)
        return cls(model_from_checkpoint(ckpt, path), ckpt, resolve_device(device), str(path))

    def probabilities(self, images: list[np.ndarray], batch_size: int = 16) -> list[np.ndarray]:
        """Per-image probability maps ``(H_i, W_i) float32`` for grayscale ``uint8`` inputs of any size."""
        out: list[np.ndarray] = []
        for sl in _batches(len(images), batch_size):
            chunk = images[sl]
            small = np.stack([resize_image(im, self.image_size) for im in chunk])
            probs = predict_probabilities(self.model, small, self.device, batch_size, tta=bool(self.post["tta"]))
            for im, p in zip(chunk, probs):
                if p.shape != im.shape:
                    t = torch.from_numpy(p)[None, None]
                    p = F.interpolate(t, size=im.shape, mode="bilinear", align_corners=False)[0, 0].numpy()
                out.append(p)
        return out

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Binary mask ``(H, W) bool`` for one grayscale ``(H, W) uint8`` image."""
        return self.binarize(self.probabilities([image])[0])

    def binarize(self, prob: np.ndarray) -> np.ndarray:
        """Apply the checkpoint's threshold and small-component removal to one ``(H, W)`` map."""
        return binarize(prob, self.threshold, int(self.post["min_component_px"]), self.image_size)
