"""Bundle a finished run's ``best.pt`` as tumorseg's default model (``src/tumorseg/weights/default.pt``).

    python scripts/bundle_default.py runs/cpu-fast [--onnx]

Keeps the weights, preprocessing, calibrated post-processing, config and split
(a weights-only checkpoint, loaded with ``torch.load(weights_only=True)``), and
adds the run's test metrics (``RUN_DIR/test/metrics.json``) so ``/api/model``
and the model card can show them. ``--onnx`` also exports
``weights/default.onnx`` so ``predict`` on CPU uses ONNX Runtime at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tumorseg.checkpoint import DEFAULT_MODEL, load_checkpoint, save_checkpoint


def bundle(run_dir: Path, onnx: bool) -> None:
    ckpt = load_checkpoint(run_dir / "best.pt")
    ckpt.pop("train_state", None)
    test = json.loads((run_dir / "test" / "metrics.json").read_text())
    ckpt["metrics"] = {**ckpt.get("metrics", {}), "test_dice": test["mean_dice"], "test_iou": test["mean_iou"],
                       "test_images": test["n_images"]}
    save_checkpoint(ckpt, DEFAULT_MODEL)
    print(f"{DEFAULT_MODEL}: {DEFAULT_MODEL.stat().st_size / 1e6:.1f} MB, metrics {ckpt['metrics']}")
    if onnx:
        from tumorseg.export import export_onnx

        out = DEFAULT_MODEL.with_suffix(".onnx")
        export_onnx(DEFAULT_MODEL, out)
        print(f"{out}: {out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--onnx", action="store_true", help="also write weights/default.onnx")
    a = p.parse_args()
    bundle(a.run_dir, a.onnx)
