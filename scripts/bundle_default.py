"""Bundle a finished run's ``best.pt`` as tumorseg's default model (``src/tumorseg/weights/default.pt``).

    python scripts/bundle_default.py runs/cpu-fast [--onnx]
    python scripts/bundle_default.py runs/gpu/final-bundled --cv runs/gpu/cv-bundled --onnx

Keeps the weights, preprocessing, calibrated post-processing, config and split
(a weights-only checkpoint, loaded with ``torch.load(weights_only=True)``), with
the training machine's paths taken out of the config (``data``, ``out``,
``split_file``, ``init_from``, ``cache``: see ``without_machine_paths``), and
adds the run's test metrics (``RUN_DIR/test/metrics.json``) — or, for a model
trained on every patient (no test part), the cross-validation results of its
recipe (``--cv CV_DIR/cv_summary.json``) — so ``/api/model`` and the model card
can show them. ``--onnx`` also exports
``weights/default.onnx`` so ``predict`` on CPU uses ONNX Runtime at once.

    python scripts/bundle_default.py --strip-paths [--split-patients ../shared/data/figshare]

rewrites the already bundled ``default.pt`` without machine paths (and, given
its training data, with ``split_patients``; every tensor is checked
bit-identical) and records its new SHA-256 in ``default.onnx``/``default.json``
(metadata only; the graph is not re-exported).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tumorseg.models.checkpoint import DEFAULT_MODEL, load_checkpoint, save_checkpoint, without_machine_paths


def bundle(run_dir: Path, onnx: bool, cv: Path | None = None, hardware: str | None = None) -> None:
    ckpt = without_machine_paths(load_checkpoint(run_dir / "best.pt"))
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


def rewrite_bundled(data: Path | None = None, path: Path = DEFAULT_MODEL) -> None:
    """Rewrite an already bundled checkpoint's metadata, keeping every tensor bit-identical: take the machine
    paths out of its config and, with ``data``, add ``split_patients`` (who each split case id belongs to) read
    from ``data``, after checking that ``data`` with the stored seed and fractions gives exactly the stored split.
    Then point its ONNX twin (same stem, ``.onnx`` + ``.json``) at the new file's SHA-256 (metadata only)."""
    import torch

    from tumorseg.data import read_dataset
    from tumorseg.data.splits import split_records
    from tumorseg.inference.onnx import file_sha256

    before = load_checkpoint(path)
    new = without_machine_paths(before)
    changed = {"config"}
    if data is not None:
        cfg = before["config"]
        records = read_dataset(data, cfg.get("data_format", "auto"), **cfg.get("data_options", {}))
        again = split_records(records, cfg["split_fractions"], cfg["seed"])
        if any(again[k] != before["split"][k] for k in again):
            raise SystemExit(f"{data}: does not give the checkpoint's stored split; not the data it was trained on")
        new["split_patients"] = {r.case_id: r.patient for r in records if r.patient}
        changed.add("split_patients")
    save_checkpoint(new, path)
    path.chmod(0o644)
    after = load_checkpoint(path)
    if set(after) != set(before) | changed or any(after[k] != before[k] for k in before if k not in changed | {"state_dict"}):
        raise SystemExit(f"{path}: more than {sorted(changed)} changed")
    sd0, sd1 = before["state_dict"], after["state_dict"]
    if list(sd0) != list(sd1) or not all(sd0[k].dtype == sd1[k].dtype and torch.equal(sd0[k], sd1[k]) for k in sd0):
        raise SystemExit(f"{path}: weights changed while rewriting the metadata")
    digest = file_sha256(path)
    onnx_path, json_path = path.with_suffix(".onnx"), path.with_suffix(".json")
    if onnx_path.exists():
        import onnx

        proto = onnx.load(str(onnx_path))
        graph = proto.graph.SerializeToString()
        for entry in proto.metadata_props:
            if entry.key == "tumorseg.checkpoint_sha256":
                entry.value = digest
        onnx.save(proto, str(onnx_path))
        if onnx.load(str(onnx_path)).graph.SerializeToString() != graph:
            raise SystemExit(f"{onnx_path}: graph changed while updating its metadata")
    if json_path.exists():
        meta = json.loads(json_path.read_text())
        meta["checkpoint_sha256"] = digest
        json_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{path}: rewrote {sorted(changed)} ({len(sd1)} tensors bit-identical), sha256 {digest}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strip-paths", action="store_true", help="only rewrite the bundled default.pt without machine paths")
    p.add_argument("--split-patients", type=Path, default=None, metavar="DATA",
                   help="with --strip-paths: also store who each split case id belongs to, read from DATA (the "
                        "training data; checked against the stored split)")
    p.add_argument("run_dir", type=Path, nargs="?")
    p.add_argument("--onnx", action="store_true", help="also write weights/default.onnx")
    p.add_argument("--cv", type=Path, default=None, help="cross-validation folder of the same recipe (cv_summary.json)")
    p.add_argument("--hardware", default=None, help="where it was trained, e.g. 'NVIDIA H200'")
    a = p.parse_args()
    if a.strip_paths:
        rewrite_bundled(a.split_patients)
    elif a.run_dir is None:
        p.error("give RUN_DIR (or --strip-paths)")
    else:
        bundle(a.run_dir, a.onnx, a.cv, a.hardware)
