"""Inference speed of tumorseg models, written as JSON (not part of the test suite).

Measures the whole :meth:`tumorseg.inference.predictor.Predictor.probabilities` path a
user runs — resize to the model's size, the network, resize the probabilities
back — for

* ``seed-ae`` in PyTorch eager (the original autoencoder),
* the default model (``resolve_checkpoint(None)``: the bundled ``t1c``; when
  none is bundled, the ``t1c`` preset's ``effunet`` with random weights —
  speed does not depend on the weights; the JSON says which) in PyTorch eager,
* the default model in ONNX Runtime (exported to a temporary folder),

* with ``--model LABEL=CHECKPOINT`` (repeatable), that checkpoint too, eager and in ONNX
  Runtime (e.g. a GPU-trained network too large to bundle, to say how much slower it is),

at batch 1 and 16, for 256×256 and 512×512 input slices, in one run so the
ratios hold. Per configuration: slices/second over all timed calls, and the
p50/p95 latency of one call (one batch) and per slice.

    python benchmarks/inference.py --out benchmarks/results/inference.json

The default run takes about 2–4 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tumorseg import __version__
from tumorseg.errors import CheckpointError
from tumorseg.inference.onnx import OnnxModel, export_onnx
from tumorseg.inference.predictor import Predictor
from tumorseg.models import build_model
from tumorseg.models.checkpoint import load_checkpoint, make_checkpoint, resolve_checkpoint, save_checkpoint
from tumorseg.training.presets import preset


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _random_checkpoint(name: str, kwargs: dict, folder: Path, size: int = 256) -> Path:
    torch.manual_seed(0)
    path = folder / f"{name}.pt"
    save_checkpoint(make_checkpoint(name, kwargs, build_model(name, **kwargs), {"image_size": size, "in_channels": 1,
                                                                                "threshold": 0.5}), path)
    return path


def default_model(folder: Path) -> tuple[Path, str]:
    """The bundled default checkpoint, or a random-weight stand-in with its architecture (the ``t1c`` preset's)."""
    try:
        return resolve_checkpoint(None), "bundled t1c model (src/tumorseg/models/bundled/t1c.pt)"
    except CheckpointError:
        p = preset("t1c")
        return (_random_checkpoint(p["model"], p["model_kwargs"], folder, p["image_size"]),
                f"no bundled model: '{p['model']}' {p['model_kwargs']} at {p['image_size']}² (t1c preset) "
                "with random weights")


def _onnx_predictor(checkpoint: Path, onnx_path: Path, threads: int) -> Predictor:
    """``checkpoint`` exported to ``onnx_path`` and run by ONNX Runtime with ``threads`` threads (no TTA)."""
    export_onnx(checkpoint, onnx_path)
    return Predictor(None, load_checkpoint(checkpoint), torch.device("cpu"), str(checkpoint),
                     onnx=OnnxModel(onnx_path, threads=threads), tta=False)


def time_config(predictor: Predictor, side: int, batch: int, min_reps: int, max_reps: int,
                budget_s: float) -> dict:
    """Time ``predictor.probabilities`` on batches of ``batch`` random ``side×side`` uint8 slices."""
    rng = np.random.default_rng(side * 100 + batch)
    images = [rng.integers(0, 256, (side, side), dtype=np.uint8) for _ in range(batch)]
    predictor.probabilities(images, batch)  # warm-up (allocations, ORT graph optimisation)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        predictor.probabilities(images, batch)
        times.append(time.perf_counter() - t0)
    t = np.array(times)
    return {
        "input": f"{side}x{side}", "batch": batch, "calls": len(t),
        "slices_per_s": round(batch * len(t) / float(t.sum()), 2),
        "latency_ms_p50": round(float(np.percentile(t, 50)) * 1000, 2),
        "latency_ms_p95": round(float(np.percentile(t, 95)) * 1000, 2),
        "ms_per_slice_p50": round(float(np.percentile(t, 50)) * 1000 / batch, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="benchmarks/results/inference.json")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="CPU threads (torch and ORT)")
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--min-reps", type=int, default=3)
    ap.add_argument("--max-reps", type=int, default=50)
    ap.add_argument("--budget-s", type=float, default=6.0, help="time per configuration after min-reps")
    ap.add_argument("--note", default="", help="free text stored in the JSON (e.g. 'training job running')")
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=CHECKPOINT",
                    help="also time this checkpoint (eager and ONNX Runtime); repeatable")
    a = ap.parse_args(argv)
    extra = {}
    for spec in a.model:
        label, _, path = spec.partition("=")
        if not label or not path or not Path(path).is_file():
            ap.error(f"--model {spec!r}: give LABEL=CHECKPOINT with an existing checkpoint file")
        extra[label] = Path(path)
    torch.set_num_threads(a.threads)
    sizes = [int(s) for s in a.sizes.split(",")]
    batches = [int(b) for b in a.batches.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seed = _random_checkpoint("seed-ae", {}, tmp)
        default_path, default_desc = default_model(tmp)
        t0 = time.perf_counter()
        onnx_pred = _onnx_predictor(default_path, tmp / "default.onnx", a.threads)
        export_s = time.perf_counter() - t0
        runs = {
            "seed-ae eager": Predictor.from_checkpoint(seed, "cpu", backend="torch", tta=False),
            "default eager": Predictor.from_checkpoint(default_path, "cpu", backend="torch", tta=False),
            "default onnxruntime": onnx_pred,
        }
        for label, path in extra.items():
            runs[f"{label} eager"] = Predictor.from_checkpoint(path, "cpu", backend="torch", tta=False)
            runs[f"{label} onnxruntime"] = _onnx_predictor(path, tmp / f"{label}.onnx", a.threads)
        results = []
        for label, pred in runs.items():
            for side in sizes:
                for batch in batches:
                    r = {"config": label, "model": pred.name, "backend": pred.backend,
                         **time_config(pred, side, batch, a.min_reps, a.max_reps, a.budget_s)}
                    print(json.dumps(r))
                    results.append(r)

    def per_slice(label: str, side: int, batch: int) -> float:
        return next(r["ms_per_slice_p50"] for r in results
                    if r["config"] == label and r["input"] == f"{side}x{side}" and r["batch"] == batch)

    ratios = {}
    for side in sizes:
        for batch in batches:
            base = per_slice("seed-ae eager", side, batch)
            ratios[f"{side}_b{batch}"] = {
                "default_eager_vs_seed_eager": round(base / per_slice("default eager", side, batch), 2),
                "default_onnx_vs_seed_eager": round(base / per_slice("default onnxruntime", side, batch), 2),
                "default_onnx_vs_default_eager": round(
                    per_slice("default eager", side, batch) / per_slice("default onnxruntime", side, batch), 2),
                **{f"{label}_onnx_vs_default_onnx": round(
                    per_slice("default onnxruntime", side, batch) / per_slice(f"{label} onnxruntime", side, batch), 3)
                   for label in extra},
            }
    report = {
        "benchmark": "tumorseg inference: Predictor.probabilities (resize in, model, resize out), random uint8 slices",
        "command": "python benchmarks/inference.py " + " ".join(argv if argv is not None else os.sys.argv[1:]),
        "default_model": default_desc,
        "extra_models": {label: str(path) for label, path in extra.items()},
        "onnx_export_s": round(export_s, 1),
        "tta": "off (one forward pass per slice; TTA costs 3 passes)",
        "machine": {"cpu": _cpu_name(), "logical_cpus": os.cpu_count(), "threads": a.threads,
                    "load_avg_at_end": os.getloadavg(), "python": platform.python_version(),
                    "torch": torch.__version__, "onnxruntime": _ort_version(), "tumorseg": __version__},
        "note": a.note,
        "ratios_speedup_per_slice_p50": ratios,
        "results": results,
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {out}")
    return 0


def _ort_version() -> str:
    try:
        import onnxruntime

        return onnxruntime.__version__
    except ImportError:
        return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
