"""ONNX export of a checkpoint, and running the exported file with ONNX Runtime.

The exported graph carries the model's input normalisation and output
activation, so a user of the ``.onnx`` file alone gets the same probabilities
as ``tumorseg predict``:

* input ``image``: ``float32 (B, C, S, S)``, **raw pixel values 0..255**
  (not scaled), ``B`` dynamic, ``C`` = ``in_channels`` and ``S`` =
  ``image_size`` from the metadata (256 for the seed);
* inside: ``x / 255`` → model → sigmoid (only for models that return logits);
* output ``probability``: ``float32 (B, 1, S, S)`` in [0, 1].

A cascade (``tumorseg ensemble A B --combine decide``) exports both members into one file, with a second output
``decide_probability`` (the deciding member's probabilities, same shape). Its mask is ``probability``, kept on the
slices where ``decide_probability`` — averaged over the same flips when TTA is on and ``decide_post["tta"]``, then
thresholded and cleaned up with ``decide_post`` (stored in the metadata's model kwargs) — marks anything, and empty
on the others: :func:`tumorseg.inference.predictor.onnx_probabilities` applies that rule, as
:func:`~tumorseg.inference.predictor.cascade_probabilities` does in PyTorch.

Resizing to ``S×S`` is *not* in the graph: like :class:`tumorseg.inference.predictor.Predictor`,
resize the grayscale image to ``S×S`` (bilinear, PIL), run the graph, resize
the probabilities back to the image's size (bilinear) and threshold with
``postprocess.threshold``. Everything needed is stored in the model's
``metadata_props`` (keys ``tumorseg.*``; JSON values) and in a JSON file
beside it (``model.onnx`` → ``model.json``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tumorseg import __version__
from tumorseg.config import cache_root
from tumorseg.errors import CheckpointError, TumorsegError
from tumorseg.inference.postprocess import settings
from tumorseg.models import returns_logits
from tumorseg.models.ensemble import is_cascade
from tumorseg.models.checkpoint import (atomic_write, file_sha256, load_checkpoint, model_from_checkpoint,
                                       resolve_checkpoint)

log = logging.getLogger(__name__)

ONNX_FORMAT = "tumorseg-onnx"
INPUT_NAME, OUTPUT_NAME = "image", "probability"
DECIDE_NAME = "decide_probability"  # a cascade's second output: the deciding member's probabilities
INPUT_DOC = "float32 (batch, in_channels, image_size, image_size), raw pixel values 0..255 (the graph divides by 255)"
OUTPUT_DOC = "float32 (batch, 1, image_size, image_size), tumour probability in [0, 1]"
DECIDE_DOC = (f"{DECIDE_NAME}, float32 (batch, 1, image_size, image_size): the deciding member's probability; the mask "
              f"is {OUTPUT_NAME} on the slices where it, post-processed with model.kwargs.decide_post, marks "
              "anything, and empty on the others")
DEFAULT_OPSET = 18


class _WithPrePost(nn.Module):
    """``(B, C, S, S)`` raw 0..255 → ``(B, 1, S, S)`` probabilities: the deployable graph. For a cascade
    (:func:`tumorseg.models.ensemble.is_cascade`), a pair: the drawing member's probabilities, then the deciding
    member's (the rule between them runs outside the graph)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.logits = returns_logits(model)
        self.cascade = getattr(model, "combine", None) == "decide"

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = x / 255.0
        if self.cascade:
            draw, decide = self.model.members
            return draw.probabilities(draw(x)), decide.probabilities(decide(x))
        y = self.model(x)
        return torch.sigmoid(y) if self.logits else y


@contextlib.contextmanager
def _quiet_loggers(*names: str):
    """Silence the exporter's chatty INFO logs (and its 'torchvision is not installed' warnings)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def onnx_metadata(ckpt: dict[str, Any], sha256: str = "") -> dict[str, Any]:
    """The description stored with an exported model (plain JSON-able values)."""
    pre = dict(ckpt["preprocessing"])
    return {
        "format": ONNX_FORMAT,
        "tumorseg_version": __version__,
        "model": {"name": ckpt["model"]["name"], "kwargs": dict(ckpt["model"].get("kwargs", {}))},
        "preprocessing": pre,
        "postprocess": settings(ckpt),
        "metrics": {k: v for k, v in (ckpt.get("metrics") or {}).items() if isinstance(v, (int, float, str))},
        "image_size": int(pre["image_size"]),
        "in_channels": int(pre.get("in_channels", 1)),
        "input": INPUT_DOC,
        "output": OUTPUT_DOC,
        "resize": "bilinear to image_size x image_size before; probabilities bilinear back to the input size after",
        "checkpoint_sha256": sha256,
    } | ({"decide_output": DECIDE_DOC} if is_cascade(ckpt) else {})


def export_onnx(checkpoint: str | Path | None, out: str | Path, opset: int = DEFAULT_OPSET,
                check: bool = True) -> Path:
    """Export ``checkpoint`` (a file, or ``None``/``"default"``) to a single-file ``out`` ONNX model.

    Writes ``out`` (weights inside, batch size dynamic) and ``out`` with suffix
    ``.json`` (the same metadata as ``metadata_props``). With ``check``, the
    file is first written under a temporary name beside ``out``, run once with
    ONNX Runtime and compared with PyTorch on a random batch, and only renamed
    to ``out`` when they agree: a failed check leaves ``out`` as it was (or
    absent), so :func:`find_onnx` never picks up an unchecked export.

    Raises:
        CheckpointError: the checkpoint cannot be read.
        TumorsegError: the exporter fails or the exported graph disagrees with PyTorch.
    """
    import onnx

    path = resolve_checkpoint(checkpoint)
    ckpt = load_checkpoint(path)
    meta = onnx_metadata(ckpt, file_sha256(path))
    wrapped = _WithPrePost(model_from_checkpoint(ckpt, path)).eval()
    outputs = [OUTPUT_NAME, DECIDE_NAME] if wrapped.cascade else [OUTPUT_NAME]
    s, c = meta["image_size"], meta["in_channels"]
    example = torch.rand(2, c, s, s) * 255
    try:
        with warnings.catch_warnings(), _quiet_loggers("torch.onnx", "onnx_ir", "onnxscript"):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapped, (example,), dynamo=True, verbose=False, opset_version=opset,
                input_names=[INPUT_NAME], output_names=outputs,
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
            )
        proto = program.model_proto
    except Exception as exc:  # the exporter raises many types; report them as one user-facing error
        raise TumorsegError(f"ONNX export of model '{meta['model']['name']}' failed: {exc.__class__.__name__}: "
                            f"{str(exc).splitlines()[0][:300]}") from exc
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"tumorseg.{key}", json.dumps(value) if not isinstance(value, str) else value
    proto.doc_string = f"tumorseg {meta['model']['name']}: input {INPUT_DOC}; output {OUTPUT_DOC}."
    out = Path(out)

    def save_and_check(tmp: str) -> None:
        onnx.save_model(proto, tmp, save_as_external_data=False)
        if check:
            _check_against_torch(tmp, wrapped, c, s, out)

    # written under a temporary name and checked there: only a file that passed the check ever gets the name
    # find_onnx / cached_onnx look for (a failed check leaves the old file, or none, and raises)
    atomic_write(out, save_and_check)
    atomic_write(out.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))
    return out


def _check_against_torch(path: str | Path, wrapped: nn.Module, c: int, s: int, out: Path) -> None:
    """Run the ONNX file at ``path`` on a random batch and compare with ``wrapped`` in PyTorch (max abs diff 1e-4).

    Raises:
        TumorsegError: the graph disagrees (``out`` names the file the user asked for; nothing is written there).
    """
    x = (torch.rand(3, c, s, s) * 255).round()
    with torch.no_grad():
        ref = wrapped(x)
    refs = ref if isinstance(ref, tuple) else (ref,)
    got = OnnxModel(path).run_all(x.numpy())
    diff = max(float(np.abs(g - r[:, 0].numpy()).max()) for g, r in zip(got, refs, strict=True))  # (B, S, S) each
    if diff > 1e-4:
        raise TumorsegError(f"{out}: exported graph disagrees with PyTorch (max abs difference {diff:.2e}); "
                            "nothing was written. Report this with the checkpoint's model name and kwargs.")
    log.info("exported %s (max |onnx - torch| = %.1e on a random batch)", out, diff)


class OnnxModel:
    """An exported tumorseg ``.onnx`` file in an ONNX Runtime CPU session.

    ``run(x)`` maps ``(B, C, S, S)`` or ``(B, S, S)`` pixel values 0..255
    (uint8 or float32) to ``(B, S, S) float32`` probabilities; ``run_all(x)``
    returns every output (a cascade's two, see the module doc). ``meta`` is
    the stored :func:`onnx_metadata`; ``decide_post`` a cascade's deciding
    post-processing, else ``None``.
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: ONNX model not found. Write one with 'tumorseg export --onnx {path}'.")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception classes for corrupt files
            raise CheckpointError(f"{path}: not a readable ONNX model ({exc.__class__.__name__}).") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if props.get("tumorseg.format") != ONNX_FORMAT:
            raise CheckpointError(f"{path}: not an ONNX model written by 'tumorseg export' (no tumorseg metadata).")
        self.meta: dict[str, Any] = {k.removeprefix("tumorseg."): _maybe_json(v) for k, v in props.items()
                                     if k.startswith("tumorseg.")}
        self.path = path
        self.outputs = [o.name for o in self.session.get_outputs()]
        kwargs = (self.meta.get("model") or {}).get("kwargs") or {}
        self.decide_post: dict[str, Any] | None = kwargs.get("decide_post") if kwargs.get("combine") == "decide" \
            else None
        if (self.decide_post is not None) != (DECIDE_NAME in self.outputs):
            raise CheckpointError(f"{path}: a cascade's ONNX file needs outputs {OUTPUT_NAME} and {DECIDE_NAME} "
                                  "(export it again with 'tumorseg export').")

    def checkpoint_view(self) -> dict[str, Any]:
        """The parts of a checkpoint dict that prediction needs (model, preprocessing, postprocess, metrics)."""
        return {k: self.meta[k] for k in ("model", "preprocessing", "postprocess", "metrics") if k in self.meta}

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.run_all(x, [OUTPUT_NAME])[0]

    def run_all(self, x: np.ndarray, outputs: list[str] | None = None) -> list[np.ndarray]:
        """``(B, S, S) float32`` for each of ``outputs`` (default: all the file's, in order)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 3:
            x = x[:, None]  # (B, S, S) -> (B, 1, S, S)
        got = self.session.run(outputs or self.outputs, {INPUT_NAME: np.ascontiguousarray(x)})
        return [y[:, 0] for y in got]


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def cache_dir() -> Path:
    """Where automatic exports are kept: ``onnx/`` in :func:`tumorseg.config.cache_root`."""
    return cache_root() / "onnx"


def find_onnx(checkpoint: str | Path) -> Path | None:
    """A ready-made export of ``checkpoint``: ``<checkpoint>.onnx`` beside it or a cached one, else ``None``.

    A file beside the checkpoint (e.g. the bundled ``models/bundled/flair.onnx``)
    counts only if its stored SHA-256 matches the checkpoint's.
    """
    path = Path(checkpoint)
    digest = file_sha256(path)
    sidecar = path.with_suffix(".onnx")
    if sidecar.is_file():
        try:
            if OnnxModel(sidecar).meta.get("checkpoint_sha256") == digest:
                return sidecar
        except TumorsegError:
            pass
    target = _cache_path(digest)
    return target if target.is_file() else None


def _cache_path(digest: str) -> Path:
    return cache_dir() / f"{digest[:24]}-{__version__}.onnx"


def cached_onnx(checkpoint: str | Path) -> Path:
    """:func:`find_onnx`, exporting into :func:`cache_dir` on first use (keyed by the file's SHA-256), in a child
    process (:func:`export_apart`)."""
    found = find_onnx(checkpoint)
    if found is not None:
        return found
    target = _cache_path(file_sha256(checkpoint))
    log.info("exporting %s to ONNX once (cached at %s)", checkpoint, target)
    return export_apart(checkpoint, target)


_CHILD = """import sys
from tumorseg.errors import TumorsegError
from tumorseg.inference.onnx import export_onnx
try:
    export_onnx(sys.argv[1], sys.argv[2])
except TumorsegError as exc:
    print(exc, file=sys.stderr)
    sys.exit(3)
"""


def export_apart(checkpoint: str | Path, out: str | Path) -> Path:
    """:func:`export_onnx` in a child process. The exporter's working memory (for the bundled ``t1c``, about 300 MB
    that the allocator keeps after the export) leaves with the child, so a server that exported on its first start
    does not carry it for its whole life (``benchmarks/serve_hostile.py``: idle 866 MB after an in-process export,
    562 MB with the export ready).

    Raises:
        TumorsegError: the export failed (its message, as :func:`export_onnx` gives it).
    """
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _CHILD, str(checkpoint), str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise TumorsegError(lines[-1] if done.returncode == 3 and lines else
                            f"exporting {checkpoint} to ONNX failed in its child process (exit status "
                            f"{done.returncode}{': ' + lines[-1] if lines else ''}).")
    return Path(out)
