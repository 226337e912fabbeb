"""Bundle a finished run's ``best.pt`` as tumorseg's default model (``src/tumorseg/weights/default.pt``).

    python scripts/bundle_default.py runs/cpu-fast [--onnx]
    python scripts/bundle_default.py runs/gpu/final-bundled --cv runs/gpu/cv-bundled --onnx

Keeps the weights, preprocessing, calibrated post-processing, config and split
(a weights-only checkpoint, loaded with ``torch.load(weights_only=True)``), and
adds the run's test metrics (``RUN_DIR/test/metrics.json``) — or, for a model
trained on every patient (no test part), the cross-validation results of its
recipe (``--cv CV_DIR/cv_summary.json``) — so ``/api/model`` and the model card
can show them. ``--onnx`` also exports
``weights/default.onnx`` so ``predict`` on CPU uses ONNX Runtime at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tumorseg.models.checkpoint import DEFAULT_MODEL, load_checkpoint, save_checkpoint


def bundle(run_dir: Path, onnx: bool, cv: Path | None = None, hardware: str | None = None) -> None:
    ckpt = load_checkpoint(run_dir / "best.pt")
    ckpt.pop("train_state", None)
    metrics = dict(ckpt.get("metrics", {}))
    if (run_dir / "test" / "metrics.json").exists():
        test = json.loads((run_dir / "test" / "metrics.json").read_text())
        metrics |= {"test_dice": test["mean_dice"], "test_iou": test["mean_iou"], "test_images": test["n_images"]}
    elif cv is None:
        raise SystemExit(f"{run_dir}: no test/metrics.json; give --cv CV_DIR with the recipe's cross-validation.")
    if cv is not None:
        s = json.loads((cv / "cv_summary.json").read_text())
        metrics |= {"cv_folds": len(s["folds_done"]), "cv_images": s["n_images"],
                    "cv_dice_mean": s["dice_mean_over_folds"], "cv_dice_std": s["dice_std_over_folds"],
                    "cv_iou_mean": s["iou_mean_over_folds"], "cv_iou_std": s["iou_std_over_folds"]}
    if hardware:
        metrics["trained_on_hardware"] = hardware
    ckpt["metrics"] = metrics
    save_checkpoint(ckpt, DEFAULT_MODEL)
    print(f"{DEFAULT_MODEL}: {DEFAULT_MODEL.stat().st_size / 1e6:.1f} MB, metrics {ckpt['metrics']}")
    if onnx:
        from tumorseg.inference.onnx import export_onnx

        out = DEFAULT_MODEL.with_suffix(".onnx")
        export_onnx(DEFAULT_MODEL, out)
        print(f"{out}: {out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--onnx", action="store_true", help="also write weights/default.onnx")
    p.add_argument("--cv", type=Path, default=None, help="cross-validation folder of the same recipe (cv_summary.json)")
    p.add_argument("--hardware", default=None, help="where it was trained, e.g. 'NVIDIA H200'")
    a = p.parse_args()
    bundle(a.run_dir, a.onnx, a.cv, a.hardware)
