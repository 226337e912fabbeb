"""Batched training augmentation on tensors, on any device: the one implementation behind every data path.

:func:`augment_batch` takes ``images (B, C, H, W) float`` in [0, 1] and
``masks (B, 1, H, W) float`` in {0, 1} on the CPU or a GPU and returns both
augmented, every sample with its own random draw:

* geometry, one ``grid_sample`` per tensor: horizontal/vertical flips, an
  optional transpose (with the flips: all eight 90° turns and mirror images
  of the slice, for models that should not depend on how a format stores a
  slice), rotation, scale and translation (one affine matrix per sample), plus an
  optional elastic deformation (a smooth random displacement field: random
  offsets on a coarse ``elastic_grid`` × ``elastic_grid`` lattice, upsampled
  bicubically). Images are sampled bilinearly, masks by nearest neighbour, so
  masks stay binary; outside the image is 0.
* brain only (optional, per sample): everything outside a crude brain mask set
  to 0, so that a slice looks skull-stripped like BraTS volumes (see
  :func:`strip_skull`); the tumour and a margin around it are always kept.
* intensity, per sample: contrast around the image mean, brightness, gamma,
  Gaussian noise; the result is clamped to [0, 1].

Randomness comes from ``generator`` (a ``torch.Generator`` on the tensors'
device; ``None``: that device's global generator), so seeding it reproduces a
batch exactly on the same device. CPU and CUDA generators are different
algorithms: one seed gives different (equally distributed) draws there.

Presets (:data:`PRESETS`): ``light`` and ``mri`` are the recipes training has
always used (see :mod:`tumorseg.data.transforms`); ``strong`` adds translation and
elastic deformation to ``mri``; ``mri-strip`` adds the brain-only view to ``mri``
(a model trained on slices with skull loses accuracy on skull-stripped ones:
the bundled ``t1c`` model's Dice on its 264 figshare val slices falls from 0.726
to 0.509 on brain-only views eroded by 18 px; ``docs/results/t1c-scratch-cpu/``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F

from tumorseg.errors import TumorsegError, did_you_mean


@dataclass(frozen=True)
class AugmentParams:
    """Probabilities and ranges of one augmentation recipe (all ranges symmetric around "no change").

    Attributes:
        p_hflip, p_vflip: probability of a left-right / up-down flip.
        p_affine: probability of a random rotation/scale/translation.
        rot_deg: rotation drawn from ±``rot_deg`` degrees.
        scale: zoom factor drawn from 1 ± ``scale``.
        translate: shift drawn from ± ``translate`` × the image size, per axis.
        p_elastic: probability of an elastic deformation.
        elastic_alpha: largest displacement of a lattice point, as a fraction of the image size.
        elastic_grid: lattice points per axis (≥ 2); fewer points give smoother fields.
        p_intensity: probability of the intensity jitter (contrast, brightness, gamma, noise together).
        contrast: contrast factor from 1 ± ``contrast`` (around the image mean).
        brightness: offset from ± ``brightness``.
        gamma: exponent ``exp(u)``, ``u`` from ± ``gamma``.
        noise: Gaussian noise whose standard deviation is drawn from [0, ``noise``].
        p_transpose: probability of swapping the slice's two axes (the first geometric step; with
            ``p_hflip = p_vflip = p_transpose = 0.5`` each of the 8 turns and mirror images is equally likely). Exact
            on square slices; a non-square slice is also stretched back to its own shape.
        p_strip: probability of the brain-only view (:func:`strip_skull`).
        strip_depth: the head mask is eroded by a depth drawn from [``strip_depth``/3, ``strip_depth``] ×
            the image size (0.07 at 256²: 6–18 px, about the scalp and skull of an adult head).
    """

    p_hflip: float = 0.0
    p_vflip: float = 0.0
    p_affine: float = 0.0
    rot_deg: float = 0.0
    scale: float = 0.0
    translate: float = 0.0
    p_elastic: float = 0.0
    elastic_alpha: float = 0.0
    elastic_grid: int = 5
    p_intensity: float = 0.0
    contrast: float = 0.0
    brightness: float = 0.0
    gamma: float = 0.0
    noise: float = 0.0
    p_strip: float = 0.0
    strip_depth: float = 0.0
    p_transpose: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p_hflip", "p_vflip", "p_affine", "p_elastic", "p_intensity", "p_strip", "p_transpose"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.scale < 1.0 or not 0.0 <= self.contrast < 1.0:
            raise ValueError(f"scale and contrast must be in [0, 1), got {self.scale} and {self.contrast}")
        if self.elastic_grid < 2:
            raise ValueError(f"elastic_grid must be at least 2, got {self.elastic_grid}")
        if not 0.0 <= self.strip_depth < 0.25:
            raise ValueError(f"strip_depth must be in [0, 0.25), got {self.strip_depth}")


PRESETS: dict[str, AugmentParams] = {
    "light": AugmentParams(p_hflip=0.5, p_affine=0.5, rot_deg=10, scale=0.10,
                           p_intensity=0.8, contrast=0.15, brightness=0.08, gamma=0.2, noise=0.02),
    "mri": AugmentParams(p_hflip=0.5, p_vflip=0.2, p_affine=0.6, rot_deg=15, scale=0.15,
                         p_intensity=0.9, contrast=0.25, brightness=0.12, gamma=0.3, noise=0.03),
}
PRESETS["strong"] = replace(PRESETS["mri"], translate=0.05, p_elastic=0.3, elastic_alpha=0.02, elastic_grid=5)
PRESETS["mri-strip"] = replace(PRESETS["mri"], p_strip=0.3, strip_depth=0.07)
# every in-plane layout equally likely: a NIfTI slice is the transpose of the same slice in DICOM or PNG, and
# other tools turn them further (docs/results/orientation-cpu/)
PRESETS["mri-turn"] = replace(PRESETS["mri"], p_vflip=0.5, p_transpose=0.5)


def augment_params(name: str) -> AugmentParams | None:
    """The preset called ``name``; ``None`` for ``"none"``/``""``/``None`` (no augmentation).

    Raises:
        TumorsegError: unknown name (with the closest known one).
    """
    if name in ("none", "", None):
        return None
    if name not in PRESETS:
        raise TumorsegError(f"unknown augmentation '{name}'.{did_you_mean(name, PRESETS)} "
                            f"Known: none, {', '.join(PRESETS)}.")
    return PRESETS[name]


@contextmanager
def one_thread(device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block with one intra-op thread when ``device`` is the CPU (elsewhere: unchanged).

    Augmentation is many small element-wise ops; on a busy machine every parallel op waits for its slowest
    thread: one 128² item took 118 ms with 2 threads under load against 1 ms with one.
    """
    threads = torch.get_num_threads()
    if torch.device(device).type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _on_host(device: torch.device) -> bool:
    """True where reading a value costs no device sync (the CPU): there only the samples drawn for a change
    are computed. Elsewhere whole batches are, with ``torch.where``: the same values, no host round trip."""
    return device.type == "cpu"


def _uniform(lo: float, hi: float, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, device=device)


def _chance(p: float, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``(n,) bool``: each True with probability ``p``. Always draws, so later draws do not depend on ``p``."""
    return torch.rand(n, generator=generator, device=device) < p


class Geometry(NamedTuple):
    """Per-sample geometry drawn by :func:`draw_geometry` (all on the tensors' device)."""

    theta: torch.Tensor  # (B, 2, 3): input point = theta @ (x, y, 1) of the output point, normalised coordinates
    field: torch.Tensor | None  # (B, H, W, 2) elastic displacement (0 where not drawn), or None
    resample: torch.Tensor  # (B,) bool: the sample goes through grid_sample (affine, elastic or transpose), not only flips
    hflip: torch.Tensor  # (B,) bool
    vflip: torch.Tensor  # (B,) bool

    def grid(self, height: int, width: int, index: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, H, W, 2)`` sampling grid for ``grid_sample(align_corners=False)`` (of the samples ``index`` only,
        when given): what ``F.affine_grid`` gives for ``theta`` (computed by broadcasting: several times faster
        on a CPU), plus the elastic field."""
        t, field = self.theta, self.field
        if index is not None:
            t, field = t[index], None if field is None else field[index]
        dev = t.device
        xs = (torch.arange(width, device=dev, dtype=t.dtype) * 2 + 1) / width - 1  # pixel centres in [-1, 1]
        ys = (torch.arange(height, device=dev, dtype=t.dtype) * 2 + 1) / height - 1
        xs, ys = xs.view(1, 1, width), ys.view(1, height, 1)
        coef = t[:, :, :, None, None]  # (B, 2, 3, 1, 1)
        grid = torch.stack([coef[:, 0, 0] * xs + coef[:, 0, 1] * ys + coef[:, 0, 2],
                            coef[:, 1, 0] * xs + coef[:, 1, 1] * ys + coef[:, 1, 2]], dim=-1)  # (B, H, W, 2)
        return grid if field is None else grid + field


def draw_geometry(params: AugmentParams, batch: int, height: int, width: int,
                  generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Geometry:
    """Flips, affine and elastic displacement of ``params``, drawn per sample (the identity for a sample that
    drew no change). Always draws the same numbers in the same order, whatever was chosen."""
    device = torch.device(device)
    g, n = generator, batch
    hflip, vflip = _chance(params.p_hflip, n, g, device), _chance(params.p_vflip, n, g, device)
    fx, fy = 1.0 - 2.0 * hflip.float(), 1.0 - 2.0 * vflip.float()  # -1: flipped
    affine = _chance(params.p_affine, n, g, device)
    on = affine.float()
    angle = torch.deg2rad(_uniform(-params.rot_deg, params.rot_deg, n, g, device)) * on
    s = 1.0 / (1.0 + _uniform(-params.scale, params.scale, n, g, device) * on)  # grid scale > 1 zooms out
    # normalised coordinates span 2 per image size
    shift = _uniform(-params.translate, params.translate, 2 * n, g, device).view(n, 2) * 2.0 * on[:, None]
    cos, sin = s * torch.cos(angle), s * torch.sin(angle)
    # input point = s·R·F·(output point) + t, F = diag(fx, fy): the flips are folded into the same matrix
    theta = torch.stack([torch.stack([cos * fx, -sin * fy, shift[:, 0]], 1),
                         torch.stack([sin * fx, cos * fy, shift[:, 1]], 1)], 1)  # (B, 2, 3)
    elastic = _chance(params.p_elastic, n, g, device) & (params.elastic_alpha > 0)
    field = None
    if params.p_elastic > 0 and params.elastic_alpha > 0:
        k = params.elastic_grid
        coarse = (torch.rand(n, 2, k, k, generator=g, device=device) * 2 - 1) * (2.0 * params.elastic_alpha)
        field = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)  # (B, 2, H, W)
        field = field.permute(0, 2, 3, 1) * elastic.float()[:, None, None, None]
    resample = affine | elastic
    if params.p_transpose > 0:  # drawn last and only when asked, so the other recipes' draws stay as they were
        swap = _chance(params.p_transpose, n, g, device)
        # transposing the output point first (input = s·R·F·T·out + t) swaps the matrix's first two columns
        theta = torch.where(swap[:, None, None], theta[:, :, [1, 0, 2]], theta)
        resample = resample | swap  # a pixel-centre grid: exact on square slices
    return Geometry(theta, field, resample, hflip, vflip)


def apply_geometry(images: torch.Tensor, masks: torch.Tensor, geo: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample images (bilinear) and masks (nearest) on ``geo``'s grid.

    On a GPU the whole batch is resampled (no host sync). On the CPU, where asking costs nothing, only the
    samples that need interpolation are; flip-only samples are flipped directly (the same values).
    """
    h, w = images.shape[-2:]
    if not _on_host(images.device):
        grid = geo.grid(h, w)
        return (F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="zeros", align_corners=False),
                F.grid_sample(masks, grid.to(masks.dtype), mode="nearest", padding_mode="zeros", align_corners=False))
    images, masks = images.clone(), masks.clone()
    for flip, dim in ((geo.hflip & ~geo.resample, -1), (geo.vflip & ~geo.resample, -2)):
        if bool(flip.any()):
            images[flip], masks[flip] = images[flip].flip(dim), masks[flip].flip(dim)
    idx = geo.resample.nonzero().flatten()
    if len(idx):
        grid = geo.grid(h, w, idx)
        images[idx] = F.grid_sample(images[idx], grid.to(images.dtype), mode="bilinear", padding_mode="zeros",
                                    align_corners=False)
        masks[idx] = F.grid_sample(masks[idx], grid.to(masks.dtype), mode="nearest", padding_mode="zeros",
                                   align_corners=False)
    return images, masks


def jitter_intensity(images: torch.Tensor, params: AugmentParams,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Contrast, brightness, gamma and noise of ``params`` on ``(B, C, H, W)`` in [0, 1], per sample; clamped.

    On the CPU only the samples drawn for jitter are computed (the same values as the GPU's whole-batch way).
    """
    n, dev, g = images.shape[0], images.device, generator
    on = _chance(params.p_intensity, n, g, dev)
    draws = torch.stack([_uniform(1 - params.contrast, 1 + params.contrast, n, g, dev),
                         _uniform(-params.brightness, params.brightness, n, g, dev),
                         torch.exp(_uniform(-params.gamma, params.gamma, n, g, dev)),
                         _uniform(0.0, params.noise, n, g, dev)], 1).view(n, 4, 1, 1, 1)  # contrast, offset, γ, σ
    noise = torch.randn(images.shape, generator=g, device=dev, dtype=images.dtype)

    def jitter(x: torch.Tensor, d: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return ((x - mean) * d[:, 0] + mean + d[:, 1]).clamp(0, 1) ** d[:, 2] + z * d[:, 3]

    if not _on_host(dev):
        return torch.where(on.view(n, 1, 1, 1), jitter(images, draws, noise), images).clamp(0, 1)
    idx = on.nonzero().flatten()
    out = images.clone()
    if len(idx):
        out[idx] = jitter(images[idx], draws[idx], noise[idx])
    return out.clamp_(0, 1)


def _erosion_depth(mask: torch.Tensor, steps: int) -> torch.Tensor:
    """``(B, 1, H, W)`` chessboard distance (in px, capped at ``steps``) from each pixel of a 0/1 ``mask`` to
    the nearest pixel outside it (beyond the border counts as outside): the sum of ``steps`` successive 3×3
    erosions."""
    depth, cur = torch.zeros_like(mask), mask
    for _ in range(steps):
        cur = -F.max_pool2d(-F.pad(cur, (1, 1, 1, 1), value=0.0), 3, 1, 0)
        depth = depth + cur
    return depth


def brain_masks(images: torch.Tensor, depth_px: torch.Tensor) -> torch.Tensor:
    """A crude brain mask per slice: the head, found by thresholding, closed and eroded by ``depth_px``.

    Args:
        images: ``(B, C, H, W)`` float in [0, 1] (channel mean used).
        depth_px: ``(B,)`` erosion depth per slice, in pixels of ``images`` (0: the head mask itself).

    Returns:
        ``(B, 1, H, W)`` float 0/1. Worked out on a copy shrunk to about 64 px (4× at 256², so depths are
        resolved to 4 px there): the head is where the smoothed slice exceeds a fifth of its 99th percentile,
        closed with a 5×5 window (dark ventricles and skull stay inside), then eroded. Not a brain
        extraction: on an axial slice it removes the scalp and skull ring, on a coronal one the outer rim.
    """
    h, w = images.shape[-2:]
    f = max(1, max(h, w) // 64)
    gray = images.mean(dim=1, keepdim=True)
    small = F.avg_pool2d(gray, f, f, ceil_mode=True) if f > 1 else gray
    small = F.avg_pool2d(small, 3, 1, 1, count_include_pad=False)
    level = torch.quantile(small.flatten(1), 0.99, dim=1).view(-1, 1, 1, 1) * 0.2
    head = (small > level).to(images.dtype)
    head = F.pad(head, (2, 2, 2, 2), value=0.0)  # so that the closing cannot fill up to the border
    head = (-F.max_pool2d(-F.max_pool2d(head, 5, 1, 2), 5, 1, 2))[..., 2:-2, 2:-2]  # closing
    steps = -(-max(h, w) // 4) // f + 1
    depth = _erosion_depth(head, steps) * f  # in full-size pixels
    depth = F.interpolate(depth, size=(h, w), mode="bilinear", align_corners=False)
    return (depth >= depth_px.view(-1, 1, 1, 1).to(images.dtype).clamp(min=0.5)).to(images.dtype)


def strip_skull(images: torch.Tensor, masks: torch.Tensor, params: AugmentParams,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """The brain-only view of ``params`` (``p_strip``, ``strip_depth``) on ``(B, C, H, W)`` images, per sample.

    Pixels outside :func:`brain_masks` become 0, except the tumour (``masks (B, 1, H, W)``) and 4 px around
    it, so the image never loses what its mask marks. Draws nothing when ``p_strip`` is 0 (recipes without
    it keep their random streams), otherwise the same numbers in the same order whatever was chosen.
    """
    if params.p_strip == 0 or params.strip_depth == 0:
        return images
    n, dev, g = images.shape[0], images.device, generator
    on = _chance(params.p_strip, n, g, dev)
    size = max(images.shape[-2:])
    depth = torch.round(_uniform(params.strip_depth / 3, params.strip_depth, n, g, dev) * size)
    idx = on.nonzero().flatten() if _on_host(dev) else torch.arange(n, device=dev)
    if len(idx) == 0:
        return images
    keep = torch.maximum(brain_masks(images[idx], depth[idx]), F.max_pool2d(masks[idx], 9, 1, 4))
    if _on_host(dev):
        out = images.clone()
        out[idx] = images[idx] * keep
        return out
    return torch.where(on.view(n, 1, 1, 1), images * keep, images)


def is_identity(params: AugmentParams) -> bool:
    """True when ``params`` can never change an image (every probability 0)."""
    return max(params.p_hflip, params.p_vflip, params.p_affine, params.p_elastic, params.p_intensity,
               params.p_strip, params.p_transpose) == 0.0


def augment_batch(images: torch.Tensor, masks: torch.Tensor, params: AugmentParams | None,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch (see the module docstring); ``params=None`` returns the inputs unchanged.

    Args:
        images: ``(B, C, H, W)`` float in [0, 1].
        masks: ``(B, 1, H, W)`` float in {0, 1}, on the same device.
        params: the recipe (:data:`PRESETS` or an :class:`AugmentParams`).
        generator: a ``torch.Generator`` on the tensors' device, or ``None`` for the global one.

    Returns:
        ``(images, masks)`` of the same shapes and dtypes; masks still in {0, 1}. Never a host sync.

    Raises:
        ValueError: shapes that do not match.
    """
    if params is None or is_identity(params):
        return images, masks
    if images.ndim != 4 or masks.shape != (images.shape[0], 1, *images.shape[2:]):
        raise ValueError(f"augment_batch needs images (B, C, H, W) and masks (B, 1, H, W); "
                         f"got {tuple(images.shape)} and {tuple(masks.shape)}")
    b, _, h, w = images.shape
    images, masks = apply_geometry(images, masks, draw_geometry(params, b, h, w, generator, images.device))
    images = strip_skull(images, masks, params, generator)
    return jitter_intensity(images, params, generator), masks

