"""Post-processing of probability maps: threshold, then drop tiny connected components. The only place it is
implemented: :class:`~tumorseg.inference.predictor.Predictor`, ``evaluate`` and calibration all call :func:`apply`
(calibration through :func:`variants`, which gives the same masks for a grid of settings).

The settings live in a checkpoint under ``"postprocess"`` (chosen on
validation data only, never on test data)::

    {"threshold": 0.5, "tta": false, "min_component_px": 0, "presence_prob": 0.0, "presence_px": 0,
     "largest_component_3d": false, "lesion_core_prob": 0.0, "lesion_slice_share": 0.0, "z_smooth": 0.0,
     "hysteresis_prob": 0.0}

``min_component_px`` is counted at the model's input resolution and scaled by
area for other output sizes.

Tumour presence is a separate decision (a tumour-free slice must come out
empty, but the component clean-up always keeps the largest blob so that it
never erases a small real tumour): a slice is reported tumour-free when its
highest probability is below ``presence_prob`` or its largest component has
fewer than ``presence_px`` pixels (at the model's resolution). Both are 0
(off) unless calibration on validation data with tumour-free slices chose them.

**Volumes** (``largest_component_3d``, off unless chosen): when the slices
form a volume (a NIfTI file, a DICOM series, an LGG patient's numbered
slices), only the largest 26-connected component of the whole stack is kept
(:func:`keep_largest_3d`; the "remove all but the largest component" step
of nnU-Net's post-processing). A slice-wise model's false alarms are small,
scattered blobs on many slices; a glioma is one connected lesion across
neighbouring slices, so this empties most falsely marked slices. It would
drop all but one lesion of a multifocal tumour. :func:`apply_volumes` applies
it to scored slices grouped by volume; ``predict`` to each volume it reads.
``lesion_core_prob`` = p > 0 changes which component is kept: the one with the
most voxels of probability ≥ p (its confident core; ties and volumes without
such a voxel: the largest). A slice-wise model's biggest false alarm can be
larger than the tumour but is rarely as sure of itself: on the 40 LGG
post-contrast volumes the bundled ``t1c`` kept a component touching the tumour
in 31 patients with p = 0.95 against 27 by size
(``docs/results/t1c-volume-rules-cpu/``). ``lesion_slice_share`` = s > 0 then
empties the slices where the kept lesion covers less than s × the area of its
largest slice (:func:`trim_thin_slices`): a slice-wise model's lesion tends to
run on past the tumour's first and last slices (87 of the bundled ``t1c``'s 124
falsely marked slices in the 40 LGG post-contrast volumes did), often thinning
out there (``docs/results/t1c-lesion-core-cpu/z_extent.txt``). Both need
``largest_component_3d`` (with ``--no-one-lesion`` every lesion is kept whole).

**No signal, no tumour** (always on, not a setting): an image with fewer than :data:`MIN_SIGNAL_SHARE` of its pixels
(64 at 256²) brighter than :data:`SIGNAL_LEVEL` (of 255) at the model's input size — a black slice at the end of a volume, an
empty upload — gets probability 0 everywhere (:func:`no_signal`, applied where the network's probabilities are
computed: ``predict``, ``evaluate``, calibration, the web page). A network never shown such an image answers
anything: the bundled ``t1c`` marked a 1580-pixel blob (probability 0.67) on each of the 42 black LGG slices.

Two more volume settings use the probabilities, not only the masks (both off unless calibration chose them):
``z_smooth`` = a blends each slice's probabilities with its two neighbours' before thresholding,
``(1 - 2a)·p[z] + a·(p[z-1] + p[z+1])`` (a missing neighbour, at a volume's end or a gap, counts as the slice
itself): a 2-D model sees one slice, a lesion spans several, so faint edge slices next to a confident one are
raised and an isolated false alarm is lowered. ``hysteresis_prob`` keeps only the 3-D components (26-connected)
that hold at least one voxel with probability ≥ it (hysteresis thresholding: the threshold outlines, the
higher value decides that a lesion is there). Order: smoothing, threshold, clean-up and presence gate per
slice, hysteresis, largest component. :func:`binarize_volume` does it all for one volume; :func:`apply_records`
for scored slices described by records.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

DEFAULTS: dict[str, Any] = {"threshold": 0.5, "tta": False, "min_component_px": 0, "presence_prob": 0.0,
                            "presence_px": 0, "largest_component_3d": False, "lesion_core_prob": 0.0,
                            "lesion_slice_share": 0.0, "z_smooth": 0.0, "hysteresis_prob": 0.0}


SIGNAL_LEVEL = 8  # of 255: darker pixels are background (after the reader's scaling and the intensity mode)
MIN_SIGNAL_SHARE = 1 / 1024  # an image with fewer signal pixels than this share (64 at 256²) holds nothing to segment


def no_signal(images: np.ndarray) -> np.ndarray:
    """``(N,) bool``: which of the model-size ``uint8`` images ``(N, S, S)`` or ``(N, C, S, S)`` hold fewer than
    :data:`MIN_SIGNAL_SHARE` of their pixels (at least one) brighter than :data:`SIGNAL_LEVEL` in any channel (see
    the module docstring); their probabilities are set to 0. ``N`` = 0 gives an empty array."""
    lit = np.asarray(images) > SIGNAL_LEVEL
    if lit.ndim == 4:
        lit = lit.any(axis=1)
    if not len(lit):
        return np.zeros(0, bool)
    need = max(1, math.ceil(lit[0].size * MIN_SIGNAL_SHARE))
    return lit.reshape(len(lit), -1).sum(axis=1) < need


RANGES: dict[str, tuple[float, float]] = {"threshold": (0.0, 1.0), "presence_prob": (0.0, 1.0),
                                          "lesion_core_prob": (0.0, 1.0), "lesion_slice_share": (0.0, 1.0),
                                          "hysteresis_prob": (0.0, 1.0), "z_smooth": (0.0, 0.5),
                                          "min_component_px": (0, 65536), "presence_px": (0, 65536)}
"""Allowed ``[low, high)`` of the numeric settings (``z_smooth`` 0.5 would give the slice itself no weight)."""


def check_settings(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (post-processing settings given by a user, e.g. ``--set presence_px=300``) if every key is known
    and every number in :data:`RANGES`; ``tta`` and ``largest_component_3d`` must be ``true``/``false``.

    Raises:
        ValueError: naming the first bad setting and what to give instead.
    """
    for key, value in values.items():
        if key not in DEFAULTS:
            raise ValueError(f"--set {key}: not a post-processing setting; known: {', '.join(DEFAULTS)}")
        if key in RANGES:
            low, high = RANGES[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high:
                raise ValueError(f"--set {key}={value}: give a number in [{low}, {high}) (0 turns it off).")
            if isinstance(DEFAULTS[key], int) and value != int(value):
                raise ValueError(f"--set {key}={value}: give a whole number of pixels.")
        elif not isinstance(value, bool):
            raise ValueError(f"--set {key}={value}: give true or false.")
    return values


def settings(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Post-processing settings of a checkpoint, with defaults for older files."""
    out = dict(DEFAULTS)
    out["threshold"] = float(checkpoint.get("preprocessing", {}).get("threshold", out["threshold"]))
    out.update(checkpoint.get("postprocess") or {})
    return out


def remove_small_components(mask: np.ndarray, min_px: int) -> np.ndarray:
    """Drop 8-connected foreground components smaller than ``min_px`` pixels from a ``(H, W) bool`` mask.

    The largest component is always kept, so a small real tumour is never
    erased completely by this step.
    """
    if min_px <= 0 or not mask.any():
        return mask
    labels, sizes = component_labels(mask)
    if len(sizes) <= 1:
        return mask
    return keep_components(labels, sizes, min_px)


def keep_components(labels: np.ndarray, sizes: np.ndarray, min_px: int) -> np.ndarray:
    """The ``(H, W) bool`` mask of the components of :func:`component_labels` with at least ``min_px`` pixels,
    the largest always included."""
    keep = sizes >= min_px
    keep[np.argmax(sizes)] = True
    return keep[labels - 1] & (labels > 0)


def component_labels(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected components of a ``(H, W) bool`` mask: ``(labels (H, W) int, sizes (n,))``, label k ↔ sizes[k-1]."""
    if not mask.any():
        return np.zeros(mask.shape, np.int32), np.zeros(0, np.int64)
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    return labels, np.bincount(labels.ravel())[1:]


def binarize(prob: np.ndarray, threshold: float, min_component_px: int = 0, model_size: int | None = None,
             presence_prob: float = 0.0, presence_px: int = 0) -> np.ndarray:
    """Threshold a ``(H, W)`` probability map, clean it and apply the presence gate (module docstring).

    ``model_size`` rescales the pixel counts from the model's resolution to ``prob``'s.
    Returns ``(H, W) bool``; all ``False`` when the gate says "no tumour".
    """
    mask = prob > threshold
    if model_size:
        scale = prob.size / (model_size * model_size)
        min_component_px = int(round(min_component_px * scale))
        presence_px = int(round(presence_px * scale))
    if presence_prob > 0 and mask.any() and float(prob.max()) < presence_prob:
        return np.zeros_like(mask)
    mask = remove_small_components(mask, min_component_px)
    if presence_px > 0 and mask.any():
        _, sizes = component_labels(mask)
        if sizes.max() < presence_px:
            return np.zeros_like(mask)
    return mask



def apply(probs: np.ndarray, post: dict[str, Any], model_size: int | None = None) -> np.ndarray:
    """Binary masks for one ``(H, W)`` or a stack ``(N, H, W)`` of probability maps with a checkpoint's
    post-processing ``post`` (see :func:`settings`; ``tta`` is the caller's, it changes the probabilities).

    ``model_size``: the model's input side, when the maps were resized to the inputs' own size.
    Returns ``bool`` masks of ``probs``' shape.
    """
    p = {**DEFAULTS, **post}
    args = (float(p["threshold"]), int(p["min_component_px"]), model_size, float(p["presence_prob"]),
            int(p["presence_px"]))
    if probs.ndim == 2:
        return binarize(probs, *args)
    return np.stack([binarize(m, *args) for m in probs]) if len(probs) else probs > args[0]


@dataclass(frozen=True)
class LeftOut:
    """What the one-lesion rule (``largest_component_3d``) left out of one volume: how sure the choice was.

    Attributes:
        lesions: 3-D components dropped (0: the volume held one lesion, or none).
        voxels: the runner-up's voxels (the dropped component ranked next by the rule; 0 when none).
        share: the runner-up's score over the kept lesion's: confident voxels (probability ≥ ``lesion_core_prob``)
            when the rule counted them, else voxels; 0.0 when nothing was dropped. Near 1 the choice was a close
            call (a share ≥ :data:`CLOSE_CALL` marked each LGG CV patient whose kept lesion was the wrong one, on
            3-5 of 40 patients: ``docs/results/flair-close-call-cpu/``).
        largest_slice: the runner-up's slice with the most voxels (index into the stack; ``None`` when none).
    """

    lesions: int = 0
    voxels: int = 0
    share: float = 0.0
    largest_slice: int | None = None

    @property
    def close_call(self) -> bool:
        """Whether the runner-up scored at least :data:`CLOSE_CALL` of the kept lesion."""
        return is_close_call(self.share)


CLOSE_CALL = 0.25
"""A runner-up lesion with at least this share of the kept lesion's score makes the choice a close call (a note
in ``predict``'s line and ``summary.csv``; :class:`LeftOut`)."""


def is_close_call(share: float | str | None) -> bool:
    """Whether a runner-up share (:attr:`LeftOut.share`, or a ``runner_up_share`` cell read back from
    ``summary.json`` / ``per_volume.csv``: ``None`` or ``""`` when the rule did not run) makes a close call."""
    return float(share or 0) >= CLOSE_CALL


def choose_lesion(masks: np.ndarray, core: np.ndarray | None = None) -> tuple[np.ndarray, LeftOut]:
    """The one-lesion rule on a ``(Z, H, W) bool`` stack of adjacent slices: its largest 26-connected component
    (``scipy.ndimage``), or with ``core`` (same shape, bool: the voxels of probability ≥ ``lesion_core_prob``,
    module docstring) the component holding the most of them, ties by size (the largest when none holds any);
    ties after that: the component met first in C order. Returns the kept component ``(Z, H, W) bool`` and what
    was left out (:class:`LeftOut`). An empty stack is returned as is."""
    if not masks.any():
        return masks, LeftOut()
    labels, _ = ndimage.label(masks, structure=np.ones((3, 3, 3), bool))
    size = np.bincount(labels.ravel()).astype(np.int64)
    size[0] = 0
    score, judged = size, size
    if core is not None:
        confident = np.bincount(labels[masks & core], minlength=len(size)).astype(np.int64)
        confident[0] = 0
        if confident.any():
            score, judged = confident * (int(size.max()) + 1) + size, confident
    order = np.argsort(-score, kind="stable")  # label 0 (background) has score 0: last
    kept = int(order[0])
    runner = int(order[1]) if len(size) > 2 else 0
    if not runner:
        return labels == kept, LeftOut()
    where = labels == runner
    left = LeftOut(lesions=len(size) - 2, voxels=int(size[runner]),
                   share=round(float(judged[runner]) / max(float(judged[kept]), 1.0), 4),
                   largest_slice=int(np.argmax(where.reshape(len(where), -1).sum(axis=1))))
    return labels == kept, left


def keep_largest_3d(masks: np.ndarray, core: np.ndarray | None = None) -> np.ndarray:
    """The component :func:`choose_lesion` keeps: the largest 26-connected one of a ``(Z, H, W) bool`` stack, or
    with ``core`` the one holding most confident voxels; an empty stack is returned as is."""
    return choose_lesion(masks, core)[0]


def core_prob(post: dict[str, Any]) -> float:
    """``lesion_core_prob`` when it applies (the one-lesion rule is on), else 0."""
    return float(post.get("lesion_core_prob") or 0) if post.get("largest_component_3d") else 0.0


def slice_share(post: dict[str, Any]) -> float:
    """``lesion_slice_share`` when it applies (the one-lesion rule is on), else 0."""
    return float(post.get("lesion_slice_share") or 0) if post.get("largest_component_3d") else 0.0


def trim_thin_slices(masks: np.ndarray, share: float) -> np.ndarray:
    """``masks (Z, H, W) bool`` (one lesion's slices) with every slice whose area is below ``share`` × the largest
    slice's area emptied (a new array; ``masks`` itself when ``share`` ≤ 0 or nothing is marked). The largest slice
    always stays; a slice emptied in the middle leaves a gap."""
    if share <= 0 or not masks.any():
        return masks
    area = masks.reshape(len(masks), -1).sum(axis=1)
    return masks & (area >= share * area.max())[:, None, None]


def keep_seeded_3d(masks: np.ndarray, probs: np.ndarray, seed_prob: float) -> np.ndarray:
    """Hysteresis: the 26-connected components of ``masks (Z, H, W) bool`` that hold a voxel whose ``probs``
    (same shape) is ≥ ``seed_prob``; everything else is dropped (an empty result when none does)."""
    if not masks.any():
        return masks
    labels, n = ndimage.label(masks, structure=np.ones((3, 3, 3), bool))
    keep = np.zeros(n + 1, bool)
    keep[labels[masks & (probs >= seed_prob)]] = True
    keep[0] = False
    return keep[labels]


def _smooth_or_seed(post: dict[str, Any]) -> bool:
    """Whether ``post`` smooths across slices or grows lesions from seeds: rules that need a volume's probability
    maps themselves, not only its masks."""
    return float(post.get("z_smooth") or 0) > 0 or float(post.get("hysteresis_prob") or 0) > 0


def needs_probabilities(post: dict[str, Any]) -> bool:
    """Whether ``post``'s volume settings read the probabilities (``z_smooth``, ``hysteresis_prob``,
    ``lesion_core_prob`` with ``largest_component_3d``), so a volume's probability maps must be kept until all its
    slices are predicted."""
    return core_prob(post) > 0 or _smooth_or_seed(post)


def smooth_z(probs: np.ndarray, a: float, present: np.ndarray | None = None) -> np.ndarray:
    """``(1 - 2a)·p[z] + a·(p[z-1] + p[z+1])`` over a ``(Z, H, W)`` stack of adjacent slices' probabilities
    (float32 result, same shape). ``present`` ``(Z,) bool``: slices that exist (a gap's maps are ignored and its
    neighbours use themselves instead); the two end slices also use themselves for the missing neighbour.
    ``a`` in [0, 0.5); 0 returns ``probs`` unchanged."""
    if a <= 0 or len(probs) < 2:
        return probs
    p = probs.astype(np.float32)
    ok = np.ones(len(p), bool) if present is None else np.asarray(present, bool)
    out = (1 - 2 * a) * p
    for shift in (1, -1):
        idx = np.arange(len(p)) - shift
        valid = (idx >= 0) & (idx < len(p))
        valid[valid] &= ok[idx[valid]]
        src = np.where(valid, idx, np.arange(len(p))).clip(0, len(p) - 1)
        out += a * p[src]
    return out


def apply_volume(masks: np.ndarray, post: dict[str, Any], probs: np.ndarray | None = None,
                 core: np.ndarray | None = None, report: dict[str, Any] | None = None) -> np.ndarray:
    """The volume rules of ``post`` on one volume's ``(Z, H, W) bool`` masks (adjacent slices, no gaps):
    hysteresis (``hysteresis_prob``; needs the volume's ``probs``, same shape, as thresholded), then
    ``largest_component_3d`` (chosen by ``lesion_core_prob`` when ``probs`` are given, or ``core``: the voxels of
    probability ≥ it, bool, when only that was kept), then its thin slices dropped (``lesion_slice_share``). A single
    slice, or the rules off, returns ``masks`` unchanged. ``report``: receives ``"left_out"``, the
    :class:`LeftOut` of the one-lesion rule, when the rule ran."""
    if len(masks) < 2:
        return masks
    seed = float(post.get("hysteresis_prob") or 0)
    if seed > 0 and probs is not None:
        masks = keep_seeded_3d(masks, probs, seed)
    if post.get("largest_component_3d"):
        p = core_prob(post)
        if core is None and p > 0 and probs is not None:
            core = probs >= p
        masks, left = choose_lesion(masks, core if p > 0 else None)
        masks = trim_thin_slices(masks, slice_share(post))
        if report is not None:
            report["left_out"] = left
    return masks


def binarize_volume(probs: np.ndarray, post: dict[str, Any], model_size: int | None = None,
                    report: dict[str, Any] | None = None) -> np.ndarray:
    """Masks ``(Z, H, W) bool`` of one volume from its slices' probabilities ``(Z, H, W)`` (adjacent slices):
    ``z_smooth``, then :func:`apply` slice by slice, then :func:`apply_volume` (``report`` as there). ``model_size``
    as in :func:`apply`."""
    p = {**DEFAULTS, **post}
    probs = smooth_z(probs, float(p["z_smooth"]))
    return apply_volume(apply(probs, p, model_size), p, probs, report=report)


FLOAT32_VOXELS = 1 << 26  # VolumeMasks keeps larger volumes' probabilities as float16


class VolumeMasks:
    """Collects one volume's slices as they are predicted and gives its masks with all of ``post``'s rules
    (``predict``, the web page). Without ``z_smooth`` and ``hysteresis_prob`` each slice is thresholded at once
    and only ``(Z, H, W) bool`` is held (with ``lesion_core_prob`` also its confident voxels, one bit each: 4 MB
    for a 512×512×128 volume, where float32 probabilities would take 128 MB); with them its probabilities are kept until
    :meth:`masks`: float32 as ``evaluate`` has them up to :data:`FLOAT32_VOXELS` voxels (256 MB; a BraTS volume
    is 9 M), float16 beyond (2 bytes a voxel; a pixel on the threshold may then differ). Slices never added
    count as empty (probability 0).

    >>> vm = VolumeMasks(3, (4, 4), {"threshold": 0.5}); vm.add(1, np.full((4, 4), 0.9)); vm.masks().sum()
    16
    """

    def __init__(self, n: int, shape: tuple[int, int], post: dict[str, Any], model_size: int | None = None):
        self.post, self.model_size = {**DEFAULTS, **post}, model_size
        dtype = np.float32 if n * shape[0] * shape[1] <= FLOAT32_VOXELS else np.float16
        self.probs = np.zeros((n, *shape), dtype) if _smooth_or_seed(self.post) else None
        self._masks = None if self.probs is not None else np.zeros((n, *shape), bool)
        self.core_prob = core_prob(self.post)
        bits = (shape[0] * shape[1] + 7) // 8
        self._core = np.zeros((n, bits), np.uint8) if self.probs is None and self.core_prob > 0 else None

    def add(self, i: int, prob: np.ndarray) -> None:
        """Slice ``i``'s ``(H, W)`` probabilities."""
        if self.probs is not None:
            self.probs[i] = prob
            return
        self._masks[i] = apply(prob, self.post, self.model_size)
        if self._core is not None:
            self._core[i] = np.packbits(prob >= self.core_prob)

    def masks(self, report: dict[str, Any] | None = None) -> np.ndarray:
        """``(Z, H, W) bool``: :func:`binarize_volume` of the kept probabilities, or the volume rules on the
        slices' masks; ``report`` as in :func:`apply_volume`."""
        if self.probs is not None:
            return binarize_volume(self.probs, self.post, self.model_size, report)
        core = None
        if self._core is not None:
            n, h, w = self._masks.shape
            core = np.unpackbits(self._core, axis=1, count=h * w).astype(bool).reshape(n, h, w)
        return apply_volume(self._masks, self.post, core=core, report=report)


def volume_groups(records: Sequence[Any]) -> list[list[int]]:
    """Indices of ``records`` (:class:`~tumorseg.data.records.SliceRecord`) that form volumes, each list sorted by
    ``slice_index``: slices of one patient (and, for NIfTI records, one volume file; for DICOM + SEG records, one
    series) that all have a ``slice_index``. Records without patient or slice index belong to no group."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(records):
        if r.patient is None or r.slice_index is None:
            continue
        volume = {"nifti": str(r.image), "dicom-seg": r.option("series")}.get(r.loader)
        key = (r.patient, volume)
        groups.setdefault(key, []).append(i)
    return [sorted(g, key=lambda i: records[i].slice_index) for g in groups.values() if len(g) > 1]


def _stacked(values: np.ndarray, group: list[int],
             records: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``values[group]`` placed at their slice indices in a gap-filled ``(Z, ...)`` stack (gaps zero), the row of
    each group member, and which rows exist ``(Z,) bool``."""
    z = np.array([records[i].slice_index for i in group])
    rows = z - z.min()
    stack = np.zeros((int(rows.max()) + 1, *values.shape[1:]), values.dtype)
    stack[rows] = values[group]
    present = np.zeros(len(stack), bool)
    present[rows] = True
    return stack, rows, present


def apply_volumes(masks: np.ndarray, post: dict[str, Any], records: Sequence[Any],
                  probs: np.ndarray | None = None, report: dict[str, Any] | None = None) -> np.ndarray:
    """``masks (N, H, W) bool`` of slices described by ``records``, with the volume rules (hysteresis when
    ``probs (N, H, W)`` are given, ``largest_component_3d``) applied to each volume among them
    (:func:`volume_groups`). Slices missing from a volume (e.g. tumour-free slices left out when sampling) stay
    gaps: components never connect across them. Returns a new array (or ``masks`` itself when the rules are
    off). ``report``: receives ``"left_out"``, one :class:`LeftOut` per volume in :func:`volume_groups` order, its
    ``largest_slice`` a ``slice_index`` of ``records``, when the one-lesion rule ran."""
    # the rules that read probabilities here (z_smooth was applied before the masks were made)
    use_probs = probs is not None and (float(post.get("hysteresis_prob") or 0) > 0 or core_prob(post) > 0)
    if not (post.get("largest_component_3d") or use_probs) or not len(masks):
        return masks
    out = masks.copy()
    for group in volume_groups(records):
        stack, rows, _ = _stacked(masks, group, records)
        pstack = _stacked(probs, group, records)[0] if use_probs else None
        seen: dict[str, Any] = {}
        out[group] = apply_volume(stack, post, pstack, report=seen)[rows]
        if report is not None and "left_out" in seen:
            left = seen["left_out"]
            if left.largest_slice is not None:  # a row of the gap-filled stack -> the records' slice index
                first = min(records[i].slice_index for i in group)
                left = LeftOut(left.lesions, left.voxels, left.share, first + left.largest_slice)
            report.setdefault("left_out", []).append(left)
    return out


def dropped_lesions(every: np.ndarray, kept: np.ndarray, records: Sequence[Any]) -> np.ndarray:
    """What the one-lesion rule dropped, for scoring (``evaluate``): the voxels of the 3-D components of ``every``
    (``(N, H, W) bool``, the masks with the rule off) that touch nothing of ``kept`` (the masks with it on), within
    each volume of ``records`` (:func:`volume_groups`; components never connect across a gap). The kept lesion's
    end slices that ``lesion_slice_share`` emptied are part of a kept component, so they are not counted. Returns
    ``(N, H, W) bool``; all ``False`` outside volumes."""
    out = np.zeros(every.shape, bool)
    for group in volume_groups(records):
        stack, rows, _ = _stacked(every, group, records)
        if not stack.any():
            continue
        labels, _ = ndimage.label(stack, structure=np.ones((3, 3, 3), bool))
        touched = np.unique(labels[_stacked(kept, group, records)[0]])
        out[group] = ((labels > 0) & ~np.isin(labels, touched))[rows]
    return out


def apply_records(probs: np.ndarray, post: dict[str, Any], records: Sequence[Any],
                  model_size: int | None = None, report: dict[str, Any] | None = None) -> np.ndarray:
    """Masks ``(N, H, W) bool`` for model-size probability maps ``(N, H, W)`` of slices described by ``records``
    (``evaluate``, calibration): ``z_smooth`` within each volume (:func:`volume_groups`; neighbours across a gap
    are not used), :func:`apply` per slice, then :func:`apply_volumes` (``report`` as there)."""
    p = {**DEFAULTS, **post}
    probs = smooth_records(probs, records, float(p["z_smooth"]))
    return apply_volumes(apply(probs, p, model_size), p, records, probs, report)


def smooth_records(probs: np.ndarray, records: Sequence[Any], a: float) -> np.ndarray:
    """:func:`smooth_z` within each volume of ``records`` (:func:`volume_groups`) for their ``(N, H, W)``
    probability maps; slices of no volume are unchanged. ``a`` 0 returns ``probs`` itself, else a new array."""
    if a <= 0 or not len(probs):
        return probs
    out = probs.copy()
    for group in volume_groups(records):
        stack, rows, present = _stacked(probs, group, records)
        out[group] = smooth_z(stack, a, present)[rows]
    return out


def variants(probs: np.ndarray, thresholds: Sequence[float], min_pxs: Sequence[int]
             ) -> Iterator[tuple[float, int, np.ndarray, np.ndarray]]:
    """``(threshold, min_component_px, masks, largest)`` for every pair of settings on model-size maps
    ``(N, S, S)``: the masks :func:`apply` gives without a presence gate, each thresholded mask labelled once for
    all ``min_pxs`` (calibration), and the size of each mask's largest component ``(N,)`` (0 when empty; the
    clean-up always keeps it, so it is the same for every ``min_px``)."""
    for threshold in thresholds:
        raw = probs > threshold
        cleaned = {m: raw.copy() if m > 0 else raw for m in min_pxs}
        largest = np.zeros(len(raw), np.int64)
        for i, mask in enumerate(raw):
            labels, sizes = component_labels(mask)
            if len(sizes):
                largest[i] = int(sizes.max())
            if len(sizes) <= 1:
                continue
            for m in min_pxs:
                if m > 0:
                    cleaned[m][i] = keep_components(labels, sizes, m)
        for m in min_pxs:
            yield threshold, m, cleaned[m], largest
