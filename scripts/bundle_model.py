"""Bundle a finished run's ``best.pt`` as a named tumorseg model (``src/tumorseg/models/bundled/NAME.*``).

    python scripts/bundle_model.py runs/t1c-ft --name t1c --cv runs/cv-t1c
    python scripts/bundle_model.py runs/flair --name flair --cv runs/cv-flair --card notes/flair.md
    python scripts/bundle_model.py cascade.pt --name t1c --cv runs/cv-cascade --fp16 --no-onnx

Writes ``NAME.pt`` (a weights-only checkpoint: weights, preprocessing,
calibrated post-processing, config, split; no optimizer state), ``NAME.onnx``
and ``NAME.json`` (ONNX export and its metadata, so ``predict`` on a CPU uses
ONNX Runtime at once) and, with ``--card``, copies the model card to
``NAME.md``. The checkpoint gains:

* ``metrics``: the run's test scores (``RUN_DIR/test/metrics.json``) and, for a
  model trained on every patient (no test part), the cross-validation of its
  recipe (``--cv CV_DIR/cv_summary.json``): Dice, IoU, presence
  sensitivity/specificity and per-volume Dice, as ``tumorseg models`` shows;
* ``preprocessing["modality"]``: the model's MRI sequence (from the registry,
  :mod:`tumorseg.models.zoo`), which prediction uses to pick the LGG TIFF
  channel and the BraTS volume;
* ``preprocessing["input_stats"]`` when the run has none (runs from before it
  existed): brightness statistics of its training slices, recomputed from the
  data named in ``config.json`` and the ``train`` ids of ``split.json``, so
  ``predict`` can warn about inputs far from them.

The numbers to put in the card are printed at the end. ``--fp16`` stores the
weights as float16 (half the bytes in the wheel; they load back into the
float32 network, and ``NAME.onnx`` is exported from them): for networks like
``--preset servable`` (3.7 M parameters) whose float32 ``.pt`` and ``.onnx``
together would pass the 25 MB a bundled model may take.

    python scripts/bundle_model.py --name t1c --set largest_component_3d=true

changes post-processing settings (:mod:`tumorseg.inference.postprocess`) of an
installed bundled model instead: ``NAME.pt`` is rewritten and re-exported to
``NAME.onnx``/``NAME.json``; everything else stays as it was.

    python scripts/bundle_model.py --name flair --view display

feeds the installed model a volume's slices in the radiological view (``preprocessing["view"]``), as its training
slices were laid out, instead of the file's own array layout; re-exported likewise.

    python scripts/bundle_model.py --name t1c --cv docs/results/t1c-negatives-prior-cpu/cv

(``--cv`` without RUN_DIR) replaces the cross-validation numbers stored in an
installed bundled model (every ``cv_*`` metric) with those of ``CV_DIR``, for a
CV that finished after the model was bundled; weights and post-processing stay
as they are (``NAME.onnx``/``NAME.json`` are exported again: they carry the
metrics and the checkpoint's digest).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from tumorseg.data import load_slices, read_dataset
from tumorseg.data.input_stats import MAX_SLICES, training_stats
from tumorseg.data.splits import load_split
from tumorseg.models import zoo
from tumorseg.options import post_setting
from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint, without_machine_paths


def cv_metrics(cv: Path) -> dict:
    """The ``cv_*`` metrics stored in a bundled checkpoint, from ``CV_DIR/cv_summary.json`` (``folds_done`` and
    ``n_images``, then each ``<key>_mean_over_folds`` / ``_std_over_folds`` it has: ``tumorseg cv`` writes all of
    them; a summary of a post-processing study may hold only the volume-level ones); ``cv_folds_planned`` (the
    folds ``CV_DIR/splits/`` defines) too when not every fold is done yet."""
    s = json.loads((cv / "cv_summary.json").read_text())
    out = {"cv_folds": len(s["folds_done"]), "cv_images": s["n_images"]}
    for key in ("dice", "iou", "sensitivity", "specificity", "fp_slice_rate", "volume_dice"):
        if f"{key}_mean_over_folds" in s:
            out[f"cv_{key}_mean"] = s[f"{key}_mean_over_folds"]
            out[f"cv_{key}_std"] = s[f"{key}_std_over_folds"]
    planned = len(list((cv / "splits").glob("fold_*.json")))
    if planned > out["cv_folds"]:
        out["cv_folds_planned"] = planned
    return out


def train_stats(run_dir: Path, ckpt: dict) -> dict:
    """Brightness statistics of the run's training slices (at most ``MAX_SLICES``, evenly spaced)."""
    cfg = json.loads((run_dir / "config.json").read_text())
    wanted = set(load_split(run_dir / "split.json")["train"])
    records = [r for r in read_dataset(cfg["data"], cfg.get("data_format", "auto"), **cfg.get("data_options", {}))
               if r.case_id in wanted]
    keep = np.unique(np.linspace(0, len(records) - 1, min(len(records), MAX_SLICES)).round().astype(int))
    pre = ckpt["preprocessing"]  # normalised as in training: what the model saw
    images = load_slices([records[i] for i in keep], int(pre["image_size"]), intensity=pre.get("intensity", "none")).images
    return training_stats(images)


def half_weights(ckpt: dict) -> dict:
    """``ckpt`` with its float32 weights stored as float16 (half the bytes; loading casts them back to float32:
    ``load_state_dict`` copies into the network's own dtype). Other tensors (counters, ints) stay as they are."""
    sd = ckpt["state_dict"]
    return {**ckpt, "state_dict": {k: v.half() if v.dtype == torch.float32 else v for k, v in sd.items()}}


def bundle(run_dir: Path, name: str, cv: Path | None = None, card: Path | None = None,
           hardware: str | None = None, onnx: bool = True, dest: Path | None = None, fp16: bool = False) -> Path:
    """Write ``NAME.pt`` (+ ``.onnx``, ``.json``, ``.md``) into ``dest`` (default: the package's bundled folder);
    ``fp16``: store the weights as float16 (the ONNX file stays float32, exported from the stored weights)."""
    entry = zoo.get(name)
    dest = Path(dest or zoo.BUNDLED_DIR)
    ckpt = load_checkpoint(run_dir if run_dir.is_file() else run_dir / "best.pt")
    ckpt.pop("train_state", None)
    metrics = dict(ckpt.get("metrics", {}))
    if run_dir.is_dir() and (run_dir / "test" / "metrics.json").exists():
        test = json.loads((run_dir / "test" / "metrics.json").read_text())
        metrics |= {"test_dice": test["mean_dice"], "test_iou": test["mean_iou"], "test_images": test["n_images"]}
        if (test.get("presence") or {}).get("specificity") is not None:
            metrics |= {"test_sensitivity": test["presence"]["sensitivity"],
                        "test_specificity": test["presence"]["specificity"]}
    elif cv is None:
        raise SystemExit(f"{run_dir}: no test/metrics.json; give --cv CV_DIR with the recipe's cross-validation.")
    if cv is not None:
        metrics |= cv_metrics(cv)
    if hardware:
        metrics["trained_on_hardware"] = hardware
    ckpt["metrics"] = metrics
    pre = ckpt["preprocessing"]
    pre["modality"] = entry.modality
    if not pre.get("input_stats"):
        if run_dir.is_file():
            raise SystemExit(f"{run_dir}: has no input_stats; bundle its run folder instead.")
        pre["input_stats"] = train_stats(run_dir, ckpt)  # reads the data named in the run's config.json
    ckpt = without_machine_paths(ckpt)  # ship no path of the training machine
    if fp16:
        ckpt = half_weights(ckpt)
    target = dest / f"{entry.name}.pt"
    save_checkpoint(ckpt, target)
    print(f"{target}: {target.stat().st_size / 1e6:.1f} MB")
    if onnx:
        from tumorseg.inference.onnx import export_onnx

        out = export_onnx(target, target.with_suffix(".onnx"))  # writes NAME.json beside it
        print(f"{out}: {out.stat().st_size / 1e6:.1f} MB (+ {out.with_suffix('.json').name})")
    else:  # no twin: an earlier model's would only take space in the wheel (find_onnx ignores it: other digest)
        for suffix in (".onnx", ".json"):
            target.with_suffix(suffix).unlink(missing_ok=True)
    if card is not None:
        shutil.copyfile(card, target.with_suffix(".md"))
        print(f"{target.with_suffix('.md')}: model card copied from {card}")
    print("numbers for the model card:\n" + json.dumps({"metrics": metrics, "postprocess": ckpt.get("postprocess"),
                                                          "input_stats": pre["input_stats"]}, indent=2))
    return target


def update_installed(name: str, field: str, change, onnx: bool = True, dest: Path | None = None) -> Path:
    """Rewrite the installed bundled model ``name`` (in ``dest``, default the package's bundled folder) with its
    ``field`` (a dict) replaced by ``change(old_field)``, then re-export ``NAME.onnx``/``NAME.json`` when the
    model ships them (they carry the metrics, post-processing and the checkpoint's digest; a model bundled with
    ``--no-onnx`` is exported on first use instead). Weights stay as they are. Returns the path."""
    target = Path(dest or zoo.BUNDLED_DIR) / f"{zoo.get(name).name}.pt"
    ckpt = load_checkpoint(target)
    ckpt[field] = change(dict(ckpt.get(field) or {}))
    save_checkpoint(ckpt, target)
    print(f"{target}: {field} {json.dumps(ckpt[field])}")
    if onnx and target.with_suffix(".onnx").is_file():
        from tumorseg.inference.onnx import export_onnx

        export_onnx(target, target.with_suffix(".onnx"))
    return target


def set_cv(name: str, cv: Path, onnx: bool = True, dest: Path | None = None) -> Path:
    """Replace every ``cv_*`` metric of the installed bundled model ``name`` with :func:`cv_metrics` of ``cv``."""
    cv_new = cv_metrics(cv)
    return update_installed(name, "metrics", lambda m: {k: v for k, v in m.items() if not k.startswith("cv_")}
                            | cv_new, onnx, dest)


def set_postprocess(name: str, values: dict, onnx: bool = True, dest: Path | None = None) -> Path:
    """Update the ``postprocess`` settings of the installed bundled model ``name`` with ``values`` (known keys
    only)."""
    from tumorseg.inference.postprocess import check_settings

    try:
        check_settings(values)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    return update_installed(name, "postprocess", lambda old: old | values, onnx, dest)


def set_view(name: str, view: str, onnx: bool = True, dest: Path | None = None) -> Path:
    """Set how the installed bundled model ``name`` is fed a volume's slices (``preprocessing["view"]``):
    ``"display"``, the radiological view (anterior up), or ``"stored"``, the file's own array layout
    (:class:`tumorseg.inference.predictor.Predictor`)."""
    if view not in ("display", "stored"):
        raise SystemExit(f"--view {view}: use display or stored.")
    return update_installed(name, "preprocessing", lambda old: old | {"view": view}, onnx, dest)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, nargs="?", help="finished run to bundle (its best.pt), or a checkpoint file "
                   "such as an ensemble (tumorseg ensemble A B --combine decide --out ENS.pt); not with --set")
    p.add_argument("--set", dest="settings", type=post_setting, action="append", default=None, metavar="KEY=VALUE",
                   help="change a post-processing setting of the installed model NAME instead of bundling a run")
    p.add_argument("--name", required=True, choices=list(zoo.BUNDLED), help="bundled model name")
    p.add_argument("--cv", type=Path, default=None, help="cross-validation folder of the same recipe (cv_summary.json)")
    p.add_argument("--card", type=Path, default=None, help="model card (Markdown) to install as NAME.md")
    p.add_argument("--hardware", default=None, help="where it was trained, e.g. 'NVIDIA H200'")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export (NAME.onnx, NAME.json)")
    p.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the size in the wheel)")
    p.add_argument("--view", choices=("display", "stored"), default=None,
                   help="feed the installed model NAME a volume's slices in the radiological view (display) or as "
                        "stored, instead of bundling a run")
    a = p.parse_args()
    if a.view:
        set_view(a.name, a.view, onnx=not a.no_onnx)
        raise SystemExit(0)
    if a.settings:
        set_postprocess(a.name, dict(a.settings), onnx=not a.no_onnx)
        raise SystemExit(0)
    if a.run_dir is None and a.cv is not None:
        set_cv(a.name, a.cv, onnx=not a.no_onnx)
        raise SystemExit(0)
    if a.run_dir is None:
        p.error("give RUN_DIR to bundle, --set KEY=VALUE to change an installed model, or --cv CV_DIR alone to "
                "replace its cross-validation numbers")
    bundle(a.run_dir, a.name, a.cv, a.card, a.hardware, onnx=not a.no_onnx, fp16=a.fp16)
