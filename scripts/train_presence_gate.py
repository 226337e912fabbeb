"""Train the tumour-presence gate of the ``t1c-unet`` model (``t1c`` until 2026-12-05), cross-validate it, and
build the gated checkpoint.

The gate (:mod:`tumorseg.models.presence`) learns "tumour on this slice or not" from
figshare T1c slices (every one a tumour) and the post-contrast channel of the LGG patients (tumour-free and
tumour slices), plus the LGG pre-contrast channel's tumour-free slices as more varied negatives. Splits are by
patient everywhere (figshare ``patient_group``, LGG patient): 5 figshare folds and 5 LGG folds
(``StratifiedGroupKFold``, figshare stratified by class, LGG by "patient has tumour slices").

``--mode cv --fold K``: test = figshare fold K + LGG fold K; val = fold K+1 of both (picks the epoch and sets
the threshold that keeps ``--keep`` of the figshare val slices); train = the other three folds. Writes
``fold_K.json`` (val history, test metrics, the BraTS samples as external checks) and ``fold_K_scores.csv``.

``--mode final``: train = the ``t1c`` model's own figshare train split + 4 LGG folds, val = its figshare val split
+ LGG fold 0; writes ``gate.pt``, ``final.json`` and, with ``--out-checkpoint``, the ``gated-unet`` checkpoint:
the U-Net's weights unchanged plus the gate and its threshold.

Examples::

    python scripts/train_presence_gate.py --mode cv --fold 0 --out runs/gate-cv
    python scripts/train_presence_gate.py --mode final --out runs/gate-final --out-checkpoint runs/gate-final/t1c.pt
    python scripts/bundle_model.py runs/gate-final --name t1c   # after checking runs/gate-final/t1c.pt

Slices are read once into ``--cache`` (uint8 arrays at 256², about 200 MB).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from tumorseg.data.dataset import load_slices
from tumorseg.data.formats import read_dataset
from tumorseg.models.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from tumorseg.models.presence import encoder_state_from_unet, gated_kwargs
from tumorseg.training.presence import WIDE_AUGMENT, PresenceSet, scores, train_presence

BRATS13 = "samples/brats/brats_2013_pat0001_1"
BRATS_GLI = "samples/brats/BraTS-GLI-00001-000"


def load_arrays(data: Path, cache: Path) -> dict[str, np.ndarray]:
    """figshare dev, LGG post- and pre-contrast and the two BraTS T1c samples as 256² uint8 arrays (cached)."""
    if cache.exists():
        with np.load(cache) as z:
            return dict(z)
    out: dict[str, np.ndarray] = {}

    def put(name: str, recs) -> None:
        a = load_slices(recs, 256, progress=True)
        out[f"{name}_images"] = a.images
        out[f"{name}_present"] = a.masks.any((1, 2))
        out[f"{name}_patient"] = np.array([str(r.patient) for r in recs])
        out[f"{name}_case"] = np.array([r.case_id for r in recs])
        out[f"{name}_label"] = np.array([str(r.label) for r in recs])

    put("fs", read_dataset(data / "figshare", "paired"))
    put("lgg", read_dataset(data / "lgg/kaggle_3m", "lgg", channels="post"))
    put("pre", read_dataset(data / "lgg/kaggle_3m", "lgg", channels="pre"))
    put("b13", read_dataset(data / BRATS13, "brats", modality="t1c", image_glob="T1c_*", label_glob="OT*",
                            labels="1,3,4", empty_fraction=1.0))
    put("b13all", read_dataset(data / BRATS13, "brats", modality="t1c", image_glob="T1c_*", label_glob="OT*",
                               labels="1,2,3,4", empty_fraction=1.0))
    put("gli", read_dataset(data / BRATS_GLI, "brats", modality="t1c", empty_fraction=1.0))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def folds(a: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Test indices of the 5 figshare and the 5 LGG folds (grouped by patient, stratified)."""
    sgk = StratifiedGroupKFold(5, shuffle=True, random_state=0)
    fs = [te for _, te in sgk.split(a["fs_images"], a["fs_label"], a["fs_patient"])]
    has = {p: a["lgg_present"][a["lgg_patient"] == p].any() for p in np.unique(a["lgg_patient"])}
    strat = np.array([has[p] for p in a["lgg_patient"]])
    lgg = [te for _, te in sgk.split(a["lgg_images"], strat, a["lgg_patient"])]
    return fs, lgg


def subset(a: dict[str, np.ndarray], fs_idx: np.ndarray, lgg_idx: np.ndarray, pre: bool) -> PresenceSet:
    """figshare slices ``fs_idx`` (reference positives) + LGG post-contrast ``lgg_idx`` (+ their patients'
    tumour-free pre-contrast slices when ``pre``)."""
    parts = [a["fs_images"][fs_idx], a["lgg_images"][lgg_idx]]
    present = [np.ones(len(fs_idx), bool), a["lgg_present"][lgg_idx]]
    ref = [np.ones(len(fs_idx), bool), np.zeros(len(lgg_idx), bool)]
    if pre:
        neg = lgg_idx[~a["pre_present"][lgg_idx]]
        parts.append(a["pre_images"][neg])
        present.append(np.zeros(len(neg), bool))
        ref.append(np.zeros(len(neg), bool))
    return PresenceSet(np.concatenate(parts), np.concatenate(present), np.concatenate(ref))


def external(model, a: dict[str, np.ndarray], thr: float) -> dict[str, float]:
    """The gate on the BraTS samples (never trained or tuned on): share of tumour-free / tumour slices kept."""
    out = {}
    on = scores(model, a["b13_images"]) >= thr  # b13all: the same slices, labelled with every tumour label
    for name in ("b13", "b13all"):
        p = a[f"{name}_present"]
        out[f"{name}_tumour_free_marked"] = float(on[~p].mean())
        out[f"{name}_tumour_kept"] = float(on[p].mean())
    out["brats_gli_slices_marked"] = float((scores(model, a["gli_images"]) >= thr).mean())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("cv", "final"), required=True)
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--unet", default="t1c-unet", help="the U-Net checkpoint to gate and to initialise the gate from "
                    "(a residual U-Net: t1c-unet, on which the gate was measured)")
    ap.add_argument("--cache", type=Path, default=Path("runs/gate-cache.npz"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--keep", type=float, default=0.99, help="share of figshare val slices the gate must keep")
    ap.add_argument("--no-pre", action="store_true", help="leave out the pre-contrast tumour-free slices")
    ap.add_argument("--augment", choices=("mri", "wide"), default="mri", help="wide: WIDE_AUGMENT (more zoom/shift)")
    ap.add_argument("--standardise", action="store_true", help="z-score each slice's foreground before the gate")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--out-checkpoint", type=Path)
    args = ap.parse_args(argv)

    a = load_arrays(args.data, args.cache)
    unet_path = resolve_checkpoint(args.unet)
    unet = load_checkpoint(unet_path)
    kw = unet["model"]["kwargs"]
    init = encoder_state_from_unet(unet["state_dict"], int(kw.get("levels", 5)))
    fs_folds, lgg_folds = folds(a)
    pre = not args.no_pre
    args.out.mkdir(parents=True, exist_ok=True)
    if args.mode == "cv":
        k, v = args.fold, (args.fold + 1) % 5
        rest_fs = np.concatenate([f for i, f in enumerate(fs_folds) if i not in (k, v)])
        rest_lgg = np.concatenate([f for i, f in enumerate(lgg_folds) if i not in (k, v)])
        train, val = subset(a, rest_fs, rest_lgg, pre), subset(a, fs_folds[v], lgg_folds[v], False)
        test_fs, test_lgg = fs_folds[k], lgg_folds[k]
    else:
        val_cases = set(unet["split"]["val"])
        is_val = np.array([c in val_cases for c in a["fs_case"]])
        rest_lgg = np.concatenate(lgg_folds[1:])
        train = subset(a, np.flatnonzero(~is_val), rest_lgg, pre)
        val = subset(a, np.flatnonzero(is_val), lgg_folds[0], False)
        test_fs = test_lgg = np.zeros(0, np.int64)
    print(f"gate {args.mode} fold {args.fold}: train {len(train)} slices ({int(train.present.sum())} with tumour), "
          f"val {len(val)}", flush=True)
    model, history = train_presence(train, val, init_encoder=init, width=int(kw.get("width", 8)),
                                    levels=int(kw.get("levels", 5)), num_res_units=int(kw.get("num_res_units", 1)),
                                    epochs=args.epochs, lr=args.lr, keep=args.keep, seed=args.fold,
                                    augment=WIDE_AUGMENT if args.augment == "wide" else "mri",
                                    standardise=args.standardise)
    best = next(h for h in history if h["best"])
    thr = best["threshold"]
    result = {"mode": args.mode, "fold": args.fold, "keep": args.keep, "epochs": args.epochs, "lr": args.lr,
              "augment": args.augment, "standardise": args.standardise,
              "pre_contrast_negatives": pre, "train_slices": len(train), "val_slices": len(val),
              "history": history, "threshold": thr, "external": external(model, a, thr)}
    if len(test_fs):
        s_fs, s_lgg = scores(model, a["fs_images"][test_fs]), scores(model, a["lgg_images"][test_lgg])
        on_fs, on_lgg, lgg_present = s_fs >= thr, s_lgg >= thr, a["lgg_present"][test_lgg]
        result["test"] = {
            "figshare_kept": float(on_fs.mean()),
            "figshare_kept_by_class": {c: float(on_fs[a["fs_label"][test_fs] == c].mean())
                                       for c in np.unique(a["fs_label"][test_fs])},
            "lgg_tumour_free_marked": float(on_lgg[~lgg_present].mean()),
            "lgg_tumour_kept": float(on_lgg[lgg_present].mean()),
            "figshare_slices": len(test_fs), "lgg_slices": len(test_lgg),
            "lgg_patients": sorted(set(a["lgg_patient"][test_lgg].tolist())),
            "auc": float(roc_auc_score(np.r_[np.ones(len(s_fs), bool), lgg_present], np.r_[s_fs, s_lgg])),
        }
        with open(args.out / f"fold_{args.fold}_scores.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["source", "case", "patient", "label", "present", "logit", "gate_on"])
            for src, idx, s in (("figshare", test_fs, s_fs), ("lgg_post", test_lgg, s_lgg)):
                pfx = "fs" if src == "figshare" else "lgg"
                for i, sc in zip(idx, s):
                    w.writerow([src, a[f"{pfx}_case"][i], a[f"{pfx}_patient"][i], a[f"{pfx}_label"][i],
                                int(a[f"{pfx}_present"][i]), f"{sc:.4f}", int(sc >= thr)])
    name = f"fold_{args.fold}.json" if args.mode == "cv" else "final.json"
    (args.out / name).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=1))
    if args.mode == "final":
        torch.save(model.state_dict(), args.out / "gate.pt")
        if args.out_checkpoint:
            ckpt = dict(unet)
            ckpt["model"] = {"name": "gated-unet",
                             "kwargs": gated_kwargs(kw, int(kw.get("width", 8)), thr, args.standardise)}
            ckpt["state_dict"] = {**unet["state_dict"], **{f"gate.{k}": v for k, v in model.state_dict().items()}}
            ckpt["presence_gate"] = {k: v for k, v in result.items() if k != "history"}
            save_checkpoint(ckpt, args.out_checkpoint)
            print(f"wrote {args.out_checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
