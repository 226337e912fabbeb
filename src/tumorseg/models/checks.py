"""Validation of what builds a model: ``--model-kwargs`` and the content of checkpoints.

Everything here runs *before* a real model is allocated. Keyword arguments
are checked against the constructor's signature (unknown names get "did you
mean"), their types against the defaults, their values against
:data:`BOUNDS`; then the model is built on PyTorch's ``meta`` device (no
memory) to count its parameters (at most :data:`MAX_PARAMETERS`) and, for a
checkpoint, to compare every tensor's shape with the stored weights.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch

from tumorseg.errors import CheckpointError, TumorsegError, did_you_mean

MAX_PARAMETERS = 500_000_000  # 2 GB of float32 weights; the largest preset (best) has 26 M
MAX_IMAGE_SIZE = 4096  # the model's input side (images are resized to it)
MAX_CHANNELS = 64
MAX_CONTEXT = 3  # --context-slices: at most 3 slices each side, 7 a stack (tumorseg.data.context)
# (min, max) of keyword arguments by name, for every registered model that takes them
BOUNDS: dict[str, tuple[float, float]] = {
    "width": (1, 1024), "levels": (1, 12), "num_res_units": (0, 8), "in_channels": (1, MAX_CHANNELS),
    "out_channels": (1, MAX_CHANNELS), "dropout": (0.0, 0.99), "gate_width": (1, 1024),
    "gate_threshold": (-1e4, 1e4), "decoder_width": (1, 64), "agree_threshold": (0.0, 1.0), "agree_radius": (0, 256),
}


def _constructor(name: str):
    from tumorseg.models import MODELS

    if name not in MODELS:
        raise TumorsegError(f"unknown model '{name}'.{did_you_mean(name, MODELS)} Known models: {', '.join(MODELS)}.")
    return MODELS[name]


def check_model_kwargs(name: str, kwargs: dict[str, Any], where: str = "--model-kwargs") -> None:
    """Refuse keyword arguments that model ``name`` does not take, or of the wrong type or size.

    Raises:
        TumorsegError: one line naming the key and the fix (e.g. ``"--model-kwargs: 'widht' is not an
            option of model 'unet'. Did you mean 'width'? Options: in_channels, ..."``).
    """
    ctor = _constructor(name)
    if not isinstance(kwargs, dict):
        raise TumorsegError(f"{where}: must be a JSON object like {{\"width\": 16}}, not {type(kwargs).__name__}.")
    params = {p.name: p for p in inspect.signature(ctor).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    for key, value in kwargs.items():
        if key not in params:
            raise TumorsegError(f"{where}: '{key}' is not an option of model '{name}'.{did_you_mean(str(key), params)} "
                                f"Options: {', '.join(params)}.")
        default = params[key].default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = True
        if not ok:
            raise TumorsegError(f"{where}: '{key}' must be {type(default).__name__} like {default!r}, "
                                f"not {value!r}.")
        if key in BOUNDS and not BOUNDS[key][0] <= value <= BOUNDS[key][1]:
            lo, hi = BOUNDS[key]
            raise TumorsegError(f"{where}: '{key}' {value!r} is out of range; use {lo:g}..{hi:g} "
                                f"(model '{name}' default: {default!r}).")


def meta_model(name: str, kwargs: dict[str, Any], where: str = "--model-kwargs") -> torch.nn.Module:
    """Model ``name`` built on the ``meta`` device (shapes only, no memory), after :func:`check_model_kwargs`.

    Raises:
        TumorsegError: the constructor rejects the arguments, or the model has more than
            :data:`MAX_PARAMETERS` parameters.
    """
    check_model_kwargs(name, kwargs, where)
    try:
        with torch.device("meta"):
            model = _constructor(name)(**kwargs)
    except (TypeError, ValueError, RuntimeError, AssertionError, IndexError, ZeroDivisionError) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
        raise TumorsegError(f"{where}: model '{name}' cannot be built with {kwargs}: {first}.") from None
    n = sum(p.numel() for p in model.parameters())
    if n > MAX_PARAMETERS:
        raise TumorsegError(f"{where}: model '{name}' with {kwargs} would have {n:,} parameters "
                            f"({4 * n / 2**30:,.1f} GiB); at most {MAX_PARAMETERS:,} are accepted. Use a smaller width.")
    return model


def check_preprocessing(pre: Any, where: str) -> None:
    """The ``preprocessing`` dict of a checkpoint or ONNX export: sizes, channels and threshold in range.

    Raises:
        CheckpointError: missing, or a value out of range.
    """
    if not isinstance(pre, dict):
        raise CheckpointError(f"{where}: has no 'preprocessing' section; it was not written by 'tumorseg train'.")
    size, chans, thr = pre.get("image_size"), pre.get("in_channels", 1), pre.get("threshold", 0.5)
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= MAX_IMAGE_SIZE:
        raise CheckpointError(f"{where}: preprocessing image_size {size!r} is not an integer in 8..{MAX_IMAGE_SIZE}; "
                              "the file is damaged or foreign.")
    if not isinstance(chans, int) or isinstance(chans, bool) or not 1 <= chans <= MAX_CHANNELS:
        raise CheckpointError(f"{where}: preprocessing in_channels {chans!r} is not an integer in 1..{MAX_CHANNELS}.")
    if not isinstance(thr, (int, float)) or isinstance(thr, bool) or not 0.0 <= thr <= 1.0:
        raise CheckpointError(f"{where}: threshold {thr!r} is not in 0..1.")
    k = pre.get("context_slices", 0)
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= MAX_CONTEXT or (k and chans != 2 * k + 1):
        raise CheckpointError(f"{where}: preprocessing context_slices {k!r} is not an integer in 0..{MAX_CONTEXT} "
                              f"that fits its {chans} input channels (2k + 1).")


def check_checkpoint_content(ckpt: dict[str, Any], where: str) -> None:
    """Schema and sizes of a loaded checkpoint, checked before any model is built.

    ``model`` names a registered model with valid kwargs (:func:`meta_model`),
    ``preprocessing`` passes :func:`check_preprocessing` and agrees with the
    kwargs' ``in_channels`` and the model's stride, ``postprocess`` (optional)
    is in range, and ``state_dict`` holds exactly the tensors, of exactly the
    shapes, the model has.

    Raises:
        CheckpointError: one line naming the file and what is wrong.
    """
    spec = ckpt.get("model")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise CheckpointError(f"{where}: has no valid 'model' section (name and kwargs).")
    kwargs = spec.get("kwargs", {})
    check_preprocessing(ckpt.get("preprocessing"), where)
    try:
        model = meta_model(spec["name"], kwargs, f"{where}: model kwargs")
    except TumorsegError as exc:
        raise CheckpointError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
    pre = ckpt["preprocessing"]
    if pre.get("in_channels", 1) != kwargs.get("in_channels", 1):
        raise CheckpointError(f"{where}: preprocessing says {pre.get('in_channels', 1)} input channels but the model "
                              f"is built for {kwargs.get('in_channels', 1)}.")
    stride = int(getattr(model, "stride", 16))
    if pre["image_size"] % stride:
        raise CheckpointError(f"{where}: image_size {pre['image_size']} is not a multiple of the model's stride {stride}.")
    post = ckpt.get("postprocess")
    try:
        post_ok = post is None or (isinstance(post, dict) and 0.0 <= float(post.get("threshold", 0.5)) <= 1.0
                                   and int(post.get("min_component_px", 0)) >= 0)
    except (TypeError, ValueError):
        post_ok = False
    if not post_ok:
        raise CheckpointError(f"{where}: postprocess {post!r} is out of range (threshold 0..1, min_component_px >= 0).")
    state = ckpt.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{where}: has no 'state_dict' of tensors.")
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    if want != have:
        diff = sorted(set(want) ^ set(have)) or [k for k in want if want[k] != have[k]]
        k = diff[0]
        raise CheckpointError(f"{where}: weights do not fit model '{spec['name']}' {kwargs}: '{k}' is "
                              f"{have.get(k, 'missing')} in the file, {want.get(k, 'absent')} in the model "
                              f"({len(diff)} tensor(s) differ).")


__all__ = ["BOUNDS", "MAX_PARAMETERS", "check_checkpoint_content", "check_model_kwargs", "check_preprocessing",
           "meta_model"]
