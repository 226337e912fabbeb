"""Several trained networks as one model: the mean of their probabilities (e.g. the K models of a cross-validation),
or the first one's output where the others agree that a tumour is near (``combine="agree"``).

nnU-Net predicts with the ensemble of its five fold models; tumorseg can too, for users who want accuracy over
speed. An ensemble is an ordinary checkpoint (``--model ensemble``), so ``predict``, ``evaluate``, ``serve`` and
the ONNX export take it like any other file:

* :class:`Ensemble`: ``members`` is a list of ``{"name": ..., "kwargs": {...}}`` model specs (2 to
  :data:`MAX_MEMBERS`, no nesting); the output for ``(B, C, H, W)`` input is the logit of the mean of the members'
  foreground probabilities, ``(B, 1, H, W)``. Parameter names ``members.<i>.<member's own name>``.
* ``combine="agree"`` (a *consensus*): the first member draws the mask, the others only vote on where a tumour
  may be. The output is the first member's logits wherever every other member's probability, max-pooled over a
  ``(2·agree_radius + 1)²`` window, reaches ``agree_threshold``, and :data:`~tumorseg.models.presence.OFF_LOGIT`
  (probability ~0) elsewhere: a slice on which another member finds nothing comes out empty, and a blob of the
  first member far from anything the others mark is erased. Use it to pair a model that outlines tumours well
  but marks something on every slice (the bundled ``t1c``, trained on tumour slices only) with one trained to
  leave tumour-free slices empty. Plain tensor operations (``max_pool2d``, ``where``), so it exports to ONNX.
* ``combine="decide"`` (a *cascade*, two members): the second member decides whether a slice holds a tumour —
  exactly as it would alone, its own TTA, threshold, clean-up and presence gate (``decide_post``, its
  post-processing, stored with the ensemble) — and the first draws the mask on the slices it marks; elsewhere
  the probabilities are 0 (TTA turned off, e.g. ``--no-tta``, turns it off for both members: one pass each, the
  fastest run). The decision needs the second member's TTA-averaged, post-processed output, so it is
  made outside the network, in :func:`tumorseg.inference.predictor.cascade_probabilities`, which
  :func:`~tumorseg.inference.predictor.predict_probabilities` calls (``predict``, ``evaluate``, ``serve``). The
  ONNX export holds both members as one graph with two outputs, and ONNX Runtime applies the same rule
  (:mod:`tumorseg.inference.onnx`). ``forward`` alone gates by the second member's image maximum (an
  approximation, for code that calls the network directly). On CV folds 2–4 of ``t1c``, the shipped fine-tune
  deciding and its figshare-only start drawing scored figshare 0.746 against the fine-tune's 0.725, marking the same
  tumour-free slices (``docs/results/t1c-cascade-cpu/``).
* :func:`make_ensemble`: checkpoints → one ensemble checkpoint. The members must read their input the same way
  (image size, channels, intensity normalisation, loader); preprocessing, modality and post-processing are the
  first member's (its calibrated threshold, TTA and clean-up settings; calibrate the ensemble itself to choose
  others). The split is the members' merged: a slice any member trained on counts as trained on, one any validated
  on as validation (:func:`_merged_split`), so ``evaluate`` never scores an ensemble on its members' training slices.
  ``tumorseg ensemble A.pt B.pt ... --out ENS.pt`` is the command line.

Cost: one forward pass per member (K times the time of one model).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tumorseg.errors import CheckpointError
from tumorseg.models.base import SegmentationModel
from tumorseg.models.presence import OFF_LOGIT

MAX_MEMBERS = 16
COMBINE = ("mean", "agree", "decide")
# preprocessing entries that must agree between members: they decide what the network sees
SAME_INPUT = ("image_size", "in_channels", "scale", "intensity", "loader", "channels", "context_slices")
INPUT_DEFAULTS = {"in_channels": 1, "scale": "x/255", "intensity": "none", "context_slices": 0}  # what a checkpoint without the key means
_EPS = 1e-6


def input_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """The first of :data:`SAME_INPUT` on which two checkpoints' ``preprocessing`` dicts differ, as
    ``"key: a_value vs b_value"`` (missing keys read as :data:`INPUT_DEFAULTS`); ``None`` when they see input alike."""
    for key in SAME_INPUT:
        mine, theirs = (d.get(key, INPUT_DEFAULTS.get(key)) for d in (a, b))
        if mine != theirs:
            return f"{key}: {mine!r} vs {theirs!r}"
    return None


class Ensemble(SegmentationModel):
    """``combine="mean"``: the mean of the members' probabilities, returned as logits ``(B, 1, H, W)`` (clamped
    to [1e-6, 1 - 1e-6] before the logit, so the output stays finite). ``combine="agree"``: the first member's
    logits where each other member's max-pooled probability is ``>= agree_threshold``, ``OFF_LOGIT`` elsewhere
    (see the module doc; ``agree_radius`` 0 = pixel by pixel). ``stride``: the least common multiple of the
    members'."""

    def __init__(self, members: list | None = None, in_channels: int = 1, out_channels: int = 1,
                 combine: str = "mean", agree_threshold: float = 0.5, agree_radius: int = 0,
                 decide_post: dict | None = None):
        super().__init__()
        from tumorseg.models import build_model

        if not isinstance(members, list) or not 2 <= len(members) <= MAX_MEMBERS:
            raise ValueError(f"an ensemble needs a list of 2 to {MAX_MEMBERS} member models")
        if combine not in COMBINE:
            raise ValueError(f"combine {combine!r}: use one of {', '.join(COMBINE)}")
        self.combine = combine
        self.agree_threshold = float(agree_threshold)
        self.agree_radius = int(agree_radius)
        self.decide_post: dict[str, Any] = {}
        if combine == "decide":
            if len(members) != 2:
                raise ValueError("combine 'decide' takes two members: the one that draws, then the one that decides")
            self.decide_post = _decide_post(decide_post)
        nets = []
        for spec in members:
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                    or not isinstance(spec.get("kwargs", {}), dict):
                raise ValueError("each ensemble member must be {'name': str, 'kwargs': dict}")
            if spec["name"] == "ensemble":
                raise ValueError("ensembles do not nest")
            kw = spec.get("kwargs", {})
            if kw.get("in_channels", 1) != in_channels:
                raise ValueError(f"member '{spec['name']}' takes {kw.get('in_channels', 1)} channels, "
                                 f"the ensemble {in_channels}")
            nets.append(build_model(spec["name"], **kw))
        self.members = nn.ModuleList(nets)
        self.stride = math.lcm(*(int(m.stride) for m in nets))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(x)
        if self.combine == "agree":
            return self._agree(x, self.agree_threshold, self.agree_radius)
        if self.combine == "decide":  # in-network approximation (a whole-image vote); cascade_probabilities is the rule
            return self._agree(x, float(self.decide_post["threshold"]), max(x.shape[-2:]))
        p = torch.stack([m.probabilities(m(x)) for m in self.members]).mean(0)
        return torch.logit(p.clamp(_EPS, 1 - _EPS))

    def _agree(self, x: torch.Tensor, threshold: float, radius: int) -> torch.Tensor:
        first = self.members[0]
        out = first(x)
        if not first.returns_logits:
            out = torch.logit(out.clamp(_EPS, 1 - _EPS))
        keep = None
        for m in self.members[1:]:
            p = m.probabilities(m(x))
            ok = window_max(p, radius) >= threshold
            keep = ok if keep is None else keep & ok
        return torch.where(keep, out, torch.full_like(out, OFF_LOGIT))


# the deciding member's post-processing that a cascade keeps (tumorseg.inference.postprocess names them; the
# volume rules are the ensemble's own): name -> (default, low, high); tta is true/false
DECIDE_POST: dict[str, tuple[Any, float, float]] = {
    "threshold": (0.5, 0.0, 1.0), "tta": (False, 0, 1), "min_component_px": (0, 0, 65536),
    "presence_prob": (0.0, 0.0, 1.0), "presence_px": (0, 0, 65536)}


def _decide_post(values: Any) -> dict[str, Any]:
    """``values`` with defaults filled in, if it is a dict of :data:`DECIDE_POST` keys in range; else ValueError."""
    if not isinstance(values, dict) or set(values) - set(DECIDE_POST):
        raise ValueError(f"combine 'decide' needs decide_post, a dict of {', '.join(DECIDE_POST)}")
    out = {k: values.get(k, default) for k, (default, _, _) in DECIDE_POST.items()}
    for key, (default, low, high) in DECIDE_POST.items():
        v = out[key]
        ok = isinstance(v, bool) if isinstance(default, bool) else \
            isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high
        if not ok:
            raise ValueError(f"decide_post {key}={v!r}: out of range")
    return out


def is_cascade(checkpoint: dict[str, Any]) -> bool:
    """Whether ``checkpoint`` is an ensemble with ``combine="decide"`` (a cascade)."""
    return ((checkpoint.get("model") or {}).get("kwargs") or {}).get("combine") == "decide"


def window_max(p: torch.Tensor, r: int) -> torch.Tensor:
    """``(B, C, H, W)``: each pixel's maximum over the ``(2r + 1)²`` window around it (``r`` 0: ``p`` itself).

    Computed as rows' then columns' maximum (the same numbers as one square max-pool, in ``O(r)`` instead of
    ``O(r²)`` operations a pixel); a window that covers the whole image from every pixel (``r ≥ max(H, W) − 1``)
    is the image's maximum, so ``r`` 255 at 256² makes a member a whole-image vote ("is there a tumour at all").
    """
    if r <= 0:
        return p
    if r >= max(p.shape[-2:]) - 1:
        return p.amax((-2, -1), keepdim=True).expand_as(p)
    p = nn.functional.max_pool2d(p, (1, 2 * r + 1), stride=1, padding=(0, r))
    return nn.functional.max_pool2d(p, (2 * r + 1, 1), stride=1, padding=(r, 0))


def make_ensemble(checkpoints: list[str | Path], combine: str = "mean", agree_threshold: float = 0.5,
                  agree_radius: int = 0, postprocess: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ensemble checkpoint dict from 2 to :data:`MAX_MEMBERS` checkpoint files or bundled names
    (``combine``, ``agree_threshold``, ``agree_radius``: as :class:`Ensemble` takes them). Its post-processing is
    the first member's, with ``postprocess`` (settings checked by the caller, e.g. ``--set``) over it.

    Raises:
        CheckpointError: fewer than 2 or more than :data:`MAX_MEMBERS`, an ensemble among them, or members that
            read their input differently (naming the first difference).
    """
    from tumorseg import __version__
    from tumorseg.models import zoo
    from tumorseg.models.checkpoint import (FORMAT, FORMAT_VERSION, file_sha256, load_checkpoint, resolve_checkpoint,
                                          without_machine_paths)

    if not 2 <= len(checkpoints) <= MAX_MEMBERS:
        raise CheckpointError(f"an ensemble needs 2 to {MAX_MEMBERS} checkpoints, not {len(checkpoints)}.")
    paths = [resolve_checkpoint(c) for c in checkpoints]
    ckpts = [load_checkpoint(p) for p in paths]
    first = ckpts[0]["preprocessing"]
    for path, ck in zip(paths, ckpts):
        if ck["model"]["name"] == "ensemble":
            raise CheckpointError(f"{path}: is an ensemble already; list its members instead.")
    for path, ck in zip(paths[1:], ckpts[1:]):
        if diff := input_difference(ck["preprocessing"], first):
            raise CheckpointError(f"{path}: reads its input differently from {paths[0]} ({diff}); an ensemble's "
                                  "members must share image size, channels and normalisation.")
    if combine not in COMBINE:
        raise CheckpointError(f"combine {combine!r}: use one of {', '.join(COMBINE)}.")
    if combine == "decide" and len(ckpts) != 2:
        raise CheckpointError(f"--combine decide takes two checkpoints (the one that draws, then the one that "
                              f"decides), not {len(ckpts)}.")
    members = [{"name": ck["model"]["name"], "kwargs": dict(ck["model"].get("kwargs", {}))} for ck in ckpts]
    kwargs: dict[str, Any] = {"members": members, "in_channels": int(first.get("in_channels", 1))}
    if combine == "agree":
        kwargs.update(combine=combine, agree_threshold=float(agree_threshold), agree_radius=int(agree_radius))
    elif combine == "decide":  # the deciding member's threshold (older files: in preprocessing) and clean-up
        post = {"threshold": ckpts[1]["preprocessing"].get("threshold", 0.5), **(ckpts[1].get("postprocess") or {})}
        try:
            decide = _decide_post({k: post[k] for k in DECIDE_POST if k in post})
        except ValueError as e:
            raise CheckpointError(f"{paths[1]}: its post-processing cannot decide for a cascade ({e}).") from None
        kwargs.update(combine=combine, decide_post=decide)
    state = {f"members.{i}.{k}": v for i, ck in enumerate(ckpts) for k, v in ck["state_dict"].items()}
    pre = dict(first)
    modality = zoo.modality_of(ckpts[0], paths[0])  # e.g. "t1c" for the bundled file, which does not store it
    if modality and not pre.get("modality"):
        pre["modality"] = modality
    out: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "tumorseg_version": __version__,
        "model": {"name": "ensemble", "kwargs": kwargs},
        "preprocessing": pre,
        "state_dict": state,
        "metrics": {"ensemble_members": len(ckpts)},
        "ensemble_of": [{"file": p.name, "sha256": file_sha256(p), "metrics": ck.get("metrics", {}),
                         "config": without_machine_paths(ck).get("config")}  # each member's recipe
                        for p, ck in zip(paths, ckpts)],
    }
    if ckpts[0].get("postprocess") is not None or postprocess:
        out["postprocess"] = {**(ckpts[0].get("postprocess") or {}), **(postprocess or {})}
    out.update(_merged_split(ckpts))
    return out


def _merged_split(ckpts: list[dict[str, Any]]) -> dict[str, Any]:
    """What the ensemble has seen, for ``evaluate``: each slice in the most-seen part any member put it in —
    ``train`` if any member trained on it, else ``val`` if any validated on it, else ``test`` if any held it out.
    Models of one fold share one split, which stays as it is (``--split test`` scores that fold's test slices); a
    CV fold ensemble has no test part (``--split all`` then scores only slices none of them saw); a cascade whose
    second member trained on the first's data and more keeps the second's val and test parts."""
    splits = [ck.get("split") for ck in ckpts]
    patients: dict[str, Any] = {}
    for ck in ckpts:
        patients.update(ck.get("split_patients") or {})
    extra: dict[str, Any] = {"split_patients": patients} if patients else {}
    if any(not isinstance(sp, dict) for sp in splits):
        return extra
    merged: dict[str, list[str]] = {}
    taken: set[str] = set()
    for part in ("train", "val", "test"):
        ids = {c for sp in splits for c in sp.get(part, [])} - taken
        merged[part] = sorted(ids)
        taken |= ids
    return {"split": merged, **extra}
