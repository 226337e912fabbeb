"""Device selection."""

from __future__ import annotations

import torch

from tumorseg.errors import TumorsegError


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU. ``"cuda"`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TumorsegError("--device cuda: no CUDA GPU is visible to PyTorch. Use --device cpu or auto.")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise TumorsegError(f"unknown device '{name}': use auto, cpu or cuda[:N].")
    return torch.device(name)
