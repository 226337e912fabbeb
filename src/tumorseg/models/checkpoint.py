"""Self-describing checkpoints, written atomically and read without unpickling code.

A checkpoint is a ``torch.save`` of a plain dict (tensors, numbers, strings,
lists, dicts only), so it loads with ``torch.load(weights_only=True)``, which
refuses any pickled object that would run code::

    {
      "format": "tumorseg-checkpoint", "format_version": 1,
      "tumorseg_version": "0.1.0",
      "model": {"name": "seed-ae", "kwargs": {...}},
      "preprocessing": {"image_size": 256, "in_channels": 1, "scale": "x/255", "threshold": 0.5},
      "state_dict": {...},
      "metrics": {...}, "config": {...}, "split": {"train": [...], ...},
      "split_patients": {case_id: patient, ...},   # when the data names patients
      "train_state": {...}   # only in last.pt: optimizer, scheduler, scaler, epoch/step, RNG states, history (see tumorseg.training.trainer)
    }
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tumorseg import __version__
from tumorseg.errors import CheckpointError
from tumorseg.models import build_model, zoo
from tumorseg.models.checks import check_checkpoint_content

FORMAT = "tumorseg-checkpoint"
FORMAT_VERSION = 1


def atomic_write(path: str | Path, write_fn) -> None:
    """Call ``write_fn(tmp_path)`` then fsync and rename onto ``path``.

    A crash at any point leaves either the old file or the new one, never a
    truncated file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_fn(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def make_checkpoint(
    model_name: str,
    model_kwargs: dict[str, Any],
    model: nn.Module,
    preprocessing: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """Assemble the checkpoint dict; ``extra`` adds metrics, config, split, train_state."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tumorseg_version": __version__,
        "model": {"name": model_name, "kwargs": dict(model_kwargs)},
        "preprocessing": dict(preprocessing),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }


def save_checkpoint(ckpt: dict[str, Any], path: str | Path) -> None:
    atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


# config fields that name files or folders on the machine that trained (data_options' masks_dir too)
MACHINE_PATH_KEYS = ("data", "out", "split_file", "init_from", "cache")


def without_machine_paths(ckpt: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``ckpt`` whose ``config`` names no file or folder of the training machine, for shipping.

    :data:`MACHINE_PATH_KEYS` (and ``data_options["masks_dir"]``) are set to
    ``None``; nothing else changes: the weights are the same tensor objects,
    and the split's case ids stay (they name slices of the dataset, not
    places on a disk).
    """
    out = dict(ckpt)
    cfg = dict(ckpt.get("config") or {})
    for key in MACHINE_PATH_KEYS:
        if key in cfg:
            cfg[key] = None
    if (cfg.get("data_options") or {}).get("masks_dir") is not None:
        cfg["data_options"] = {**cfg["data_options"], "masks_dir": None}
    if "config" in ckpt:
        out["config"] = cfg
    return out


BUNDLED_DIR = Path(__file__).parent / "bundled"  # src/tumorseg/models/bundled/ (see tumorseg.models.zoo)
DEFAULT_MODEL = BUNDLED_DIR / "t1c.pt"  # the model used when --model is "default" (an alias of "t1c")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks: identifies a checkpoint in exports and ensembles."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_checkpoint(name: str | Path | None) -> Path:
    """Map ``None`` or a bundled name (``"t1c"``, ``"flair"``, ``"default"``) to its file; other values are paths.

    See :func:`tumorseg.models.zoo.resolve`.

    Raises:
        CheckpointError: unknown name (with the list of names), or a bundled model not installed in this build.
    """
    return zoo.resolve(name)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate a tumorseg checkpoint (never executes pickled code).

    Raises:
        CheckpointError: missing, truncated/corrupt, not a tumorseg
            checkpoint, containing disallowed objects, from a newer format, or
            with content that does not describe a buildable model of sane size
            (:func:`tumorseg.models.checks.check_checkpoint_content`).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found. Pass a file written by 'tumorseg train' (e.g. RUN_DIR/best.pt).")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))  # what the pickle asked to import (and was refused)
        if found is None:  # not a pickle weights_only understands: a foreign file, or a raw pickle
            raise CheckpointError(
                f"{path}: not a readable checkpoint (not a file 'tumorseg train' writes; nothing in it was run)."
            ) from None
        raise CheckpointError(
            f"{path}: refused to load: the file contains Python objects that could run code ({found.group(1)}); "
            "nothing in it was run. Only load checkpoints you trust and that tumorseg wrote."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt: {exc.__class__.__name__}).") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tumorseg checkpoint (no '{FORMAT}' header). Train one with 'tumorseg train'.")
    version = ckpt.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version} is newer than this tumorseg ({__version__}, format "
            f"{FORMAT_VERSION}). Upgrade tumorseg."
        )
    check_checkpoint_content(ckpt, str(path))  # schema, sizes and weight shapes, before any model is built
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> nn.Module:
    """Rebuild the model described by ``ckpt`` and load its weights (eval mode)."""
    spec = ckpt["model"]
    kwargs = dict(spec.get("kwargs", {}))
    if kwargs.get("pretrained"):  # initial weights (effunet's ImageNet encoder): the checkpoint's replace them,
        kwargs["pretrained"] = False  # so they are neither read nor needed (their package may be absent)
    model = build_model(spec["name"], **kwargs)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit model '{spec['name']}': {str(exc)[:300]}") from None
    return model.eval()
