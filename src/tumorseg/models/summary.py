"""Model summary (layer table, parameter count) via torchinfo, the maintained torchsummary."""

from __future__ import annotations

from torchinfo import summary as _summary

from tumorseg.models import build_model


def model_summary(name: str, image_size: int = 256, in_channels: int = 1, depth: int = 3, **model_kwargs) -> str:
    """The torchinfo table of model ``name`` (built with ``model_kwargs``) for a ``(1, in_channels, S, S)`` input."""
    model = build_model(name, in_channels=in_channels, **model_kwargs)
    stats = _summary(
        model, input_size=(1, in_channels, image_size, image_size), depth=depth, verbose=0,
        col_names=("input_size", "output_size", "kernel_size", "num_params"), device="cpu",
    )
    return str(stats)
