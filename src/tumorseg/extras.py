"""Optional dependencies: which ``pip install 'tumorseg[EXTRA]'`` brings a missing module.

``[all]`` installs every extra below (not the ``dev`` tools).
"""

from __future__ import annotations

from tumorseg.errors import TumorsegError

# top-level module -> extra that installs it (pyproject.toml [project.optional-dependencies])
EXTRAS = {
    "h5py": "formats", "nibabel": "formats", "pydicom": "formats", "tifffile": "formats", "SimpleITK": "itk",
    "onnx": "onnx", "onnxruntime": "onnx", "onnxscript": "onnx",
    "fastapi": "serve", "uvicorn": "serve", "multipart": "serve", "python_multipart": "serve", "starlette": "serve",
}


def extra_for(module: str | None) -> str | None:
    """The extra that provides ``module`` (``"onnx.helper"`` → ``"onnx"``), or ``None`` when no extra does."""
    return EXTRAS.get((module or "").split(".")[0])


def install_hint(module: str) -> str:
    """``pip install 'tumorseg[onnx]'`` (or ``pip install NAME`` for a module no extra provides)."""
    extra = extra_for(module)
    return f"pip install 'tumorseg[{extra}]' (or 'tumorseg[all]')" if extra else f"pip install {module.split('.')[0]}"


def missing_extra(exc: ImportError, what: str) -> TumorsegError:
    """The error for ``what`` (e.g. ``"'tumorseg export'"``) failing on a missing optional module."""
    name = exc.name or str(exc)
    return TumorsegError(f"{what} needs the '{name.split('.')[0]}' package, which is not installed. "
                         f"Install it with: {install_hint(name)}.")
