"""Training augmentation for MRI slices, on torch tensors.

``build_transform(name, image_size)`` returns a callable
``(image (C, S, S) float in [0, 1], mask (1, S, S) float in {0, 1}) -> (image, mask)``.

Why not MONAI's ``Rand*d`` transforms: each keeps its own NumPy RandomState,
which the trainer's checkpoint does not capture, so a resumed run would see
different augmentations. These draw only from torch's global generator
(saved and restored with every checkpoint), and do the same things:

* ``"light"``: horizontal flip, small rotation (±10°) and scale (0.9–1.1),
  brightness/contrast/gamma jitter, Gaussian noise.
* ``"mri"``: as light, plus vertical flips, ±15°, scale 0.85–1.15, stronger
  intensity jitter.

Geometry is applied to image (bilinear) and mask (nearest) with the same
affine grid, so labels never become fractional.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from tumorseg.errors import TumorsegError, did_you_mean

Transform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

PRESETS: dict[str, dict[str, float]] = {
    "light": dict(p_hflip=0.5, p_vflip=0.0, rot_deg=10, scale=0.10, p_affine=0.5,
                  brightness=0.08, contrast=0.15, gamma=0.2, noise=0.02, p_intensity=0.8),
    "mri": dict(p_hflip=0.5, p_vflip=0.2, rot_deg=15, scale=0.15, p_affine=0.6,
                brightness=0.12, contrast=0.25, gamma=0.3, noise=0.03, p_intensity=0.9),
}


def _u(lo: float, hi: float) -> float:
    return lo + (hi - lo) * torch.rand(()).item()


class Augment:
    """Random flips, rotation/scale, intensity jitter and noise (see module docstring)."""

    def __init__(self, p_hflip, p_vflip, rot_deg, scale, p_affine, brightness, contrast, gamma, noise, p_intensity):
        self.__dict__.update(locals())
        del self.__dict__["self"]

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.rand(()) < self.p_hflip:
            image, mask = image.flip(-1), mask.flip(-1)
        if torch.rand(()) < self.p_vflip:
            image, mask = image.flip(-2), mask.flip(-2)
        if torch.rand(()) < self.p_affine:
            a = math.radians(_u(-self.rot_deg, self.rot_deg))
            s = 1.0 / _u(1 - self.scale, 1 + self.scale)  # grid scale: >1 zooms out
            theta = torch.tensor([[s * math.cos(a), -s * math.sin(a), 0.0], [s * math.sin(a), s * math.cos(a), 0.0]])
            grid = F.affine_grid(theta[None], [1, *image.shape], align_corners=False)
            image = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
            mask = F.grid_sample(mask[None], grid, mode="nearest", padding_mode="zeros", align_corners=False)[0]
        if torch.rand(()) < self.p_intensity:
            mean = image.mean()
            image = (image - mean) * _u(1 - self.contrast, 1 + self.contrast) + mean
            image = image + _u(-self.brightness, self.brightness)
            image = image.clamp(0, 1) ** math.exp(_u(-self.gamma, self.gamma))
            image = image + torch.randn_like(image) * _u(0, self.noise)
        return image.clamp_(0, 1), mask


def build_transform(name: str, image_size: int | None = None) -> Transform | None:
    """The augmentation called ``name`` (``"none"`` → ``None``)."""
    if name in ("none", "", None):
        return None
    if name not in PRESETS:
        raise TumorsegError(f"unknown augmentation '{name}'.{did_you_mean(name, PRESETS)} Known: none, {', '.join(PRESETS)}.")
    return Augment(**PRESETS[name])
