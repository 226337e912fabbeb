"""Choose the agreement setting of ``t1c`` + a model trained with tumour-free slices, on validation slices only.

usage: python docs/results/t1c-agree-cpu/search.py DATA B.pt OUT.json [--a A.pt] [--split SPLIT.json] [--radii 0,4,...]

DATA: the folder ``scripts/prepare_t1c_data.py`` writes (``images/``, ``masks/``, ``split.json``): its ``val``
part (figshare val patients of the bundled ``t1c`` model + tumour-free post-contrast slices of 6 LGG patients)
chooses the setting, its ``test`` part (164 tumour-free post-contrast slices of 6 other LGG patients) is only
reported. A = the bundled ``t1c`` or ``--a``, B = ``B.pt``; ``--split`` replaces ``DATA/split.json`` (a CV fold's
split file: its val chooses, its test is reported), ``--cache PREFIX`` keeps the probabilities (``PREFIX_val.npz``, ``PREFIX_test.npz``) for a rerun, ``--radii`` /
``--thresholds`` the agreement radii / thresholds searched (px; 255 at 256²
makes B a whole-image vote: "B says whether, A draws"). For each agreement threshold and radius, the combined output is
computed exactly as ``Ensemble(combine="agree")`` with flip TTA does (per flip, A's logits where B's max-pooled
probability reaches the threshold, then the three flips averaged), then A's post-processing (threshold,
clean-up) is applied through ``tumorseg.inference.postprocess.apply``, and a presence gate on the combined output
(``presence_prob`` × ``presence_px``, the same rule as ``postprocess.binarize``: a slice is empty when its highest
probability is below ``presence_prob`` or its largest component has fewer than ``presence_px`` px). Chosen: the
highest mean Dice on the figshare val slices among settings that mark at most ``MAX_FP`` of the val tumour-free
slices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tumorseg.evaluation.metrics import dice_iou
from tumorseg.inference.postprocess import apply, settings, variants
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint
from tumorseg.models.ensemble import window_max
from tumorseg.models.presence import OFF_LOGIT

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
RADII = (0, 4, 8, 16, 32)
PRESENCE_PROB = (0.0, 0.7, 0.8, 0.9)
PRESENCE_PX = (0, 100, 200, 300, 400)
MAX_FP = 0.03


def load(data: Path, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    imgs = np.stack([np.asarray(Image.open(data / "images" / f"{i}.png").convert("L")) for i in ids])
    masks = np.stack([np.asarray(Image.open(data / "masks" / f"{i}.png").convert("L")) > 127 for i in ids])
    return imgs, masks


@torch.no_grad()
def flips(model, imgs: np.ndarray, bs: int = 32, intensity: str = "none") -> np.ndarray:
    """(3, N, S, S) float16: the model's probabilities for the image and its two flips, flipped back
    (``intensity``: the checkpoint's per-slice normalisation, applied first)."""
    from tumorseg.data.intensity import normalise

    imgs = np.stack([normalise(im, intensity) for im in imgs])
    out = np.empty((3,) + imgs.shape, np.float16)
    model.eval()
    for s in range(0, len(imgs), bs):
        x = torch.from_numpy(imgs[s:s + bs]).float().div(255).unsqueeze(1)
        for k, dims in enumerate(((), (-1,), (-2,))):
            xi = x.flip(dims) if dims else x
            p = model.probabilities(model(xi))
            out[k, s:s + bs] = (p.flip(dims) if dims else p)[:, 0].numpy()
    return out


def combine(pa: np.ndarray, pb: np.ndarray, thr: float, r: int) -> np.ndarray:
    """(N, S, S): the flip-averaged probabilities of the agreement ensemble."""
    off = 1 / (1 + np.exp(-OFF_LOGIT))
    acc = np.zeros(pa.shape[1:], np.float32)
    for k in range(3):
        b = window_max(torch.from_numpy(pb[k].astype(np.float32)).unsqueeze(1), r)
        keep = b[:, 0].numpy() >= thr
        acc += np.where(keep, pa[k].astype(np.float32), off)
    return acc / 3


def score(masks_pred: np.ndarray, truth: np.ndarray) -> dict:
    d, _ = dice_iou(torch.from_numpy(masks_pred), torch.from_numpy(truth))
    pos = truth.reshape(len(truth), -1).any(1)
    marked = masks_pred.reshape(len(masks_pred), -1).any(1)
    return {"dice_tumour_slices": float(d[pos].mean()) if pos.any() else None,
            "tumour_slices_left_empty": int((~marked[pos]).sum()), "tumour_slices": int(pos.sum()),
            "tumour_free_marked": int(marked[~pos].sum()), "tumour_free_slices": int((~pos).sum()),
            "fp_rate": float(marked[~pos].mean()) if (~pos).any() else None}


def gated_grid(prob: np.ndarray, truth: np.ndarray, post: dict) -> list[dict]:
    """Scores of A's post-processing (threshold, clean-up, no gate) plus every presence gate of the grid."""
    [(_, _, masks, largest)] = variants(prob, [float(post["threshold"])], [int(post["min_component_px"])])
    d, _ = dice_iou(torch.from_numpy(masks), torch.from_numpy(truth))
    d = np.asarray(d)
    pos = truth.reshape(len(truth), -1).any(1)
    peak = prob.reshape(len(prob), -1).max(1)
    out = []
    for pp in PRESENCE_PROB:
        for px in PRESENCE_PX:
            marked = (largest > 0) & (peak >= pp) & (largest >= px)
            out.append({"presence_prob": pp, "presence_px": px,
                        "dice_tumour_slices": float(np.where(marked, d, 0.0)[pos].mean()),
                        "tumour_slices_left_empty": int((~marked[pos]).sum()), "tumour_slices": int(pos.sum()),
                        "tumour_free_marked": int(marked[~pos].sum()), "tumour_free_slices": int((~pos).sum()),
                        "fp_rate": float(marked[~pos].mean())})
    return out


def main(data: Path, b_path: Path, out: Path, a_path: Path | None = None, split_path: Path | None = None,
         radii: tuple[int, ...] = RADII, thresholds: tuple[float, ...] = THRESHOLDS, cache: Path | None = None) -> None:
    torch.set_num_threads(2)
    split = json.loads((split_path or data / "split.json").read_text())
    a_ck = load_checkpoint(a_path or Path(__file__).parents[3] / "src/tumorseg/models/bundled/t1c.pt")
    b_ck = load_checkpoint(b_path)
    a, b = model_from_checkpoint(a_ck), model_from_checkpoint(b_ck)
    post_a = settings(a_ck)
    post_b = settings(b_ck)
    result: dict = {"a": str(a_path) if a_path else "bundled t1c", "b": str(b_path), "split": str(split_path or ""), "post_a": post_a, "post_b": post_b, "max_fp": MAX_FP}
    parts = {}
    for part in ("val", "test"):
        ids = split[part]
        cached = cache.with_name(f"{cache.stem}_{part}.npz") if cache else None
        if cached and cached.exists():  # the same models and ids: probabilities computed once
            z = np.load(cached)
            parts[part] = (z["truth"], z["pa"], z["pb"])
        else:
            imgs, truth = load(data, ids)
            parts[part] = (truth, flips(a, imgs, intensity=a_ck.get("preprocessing", {}).get("intensity", "none")),
                           flips(b, imgs, intensity=b_ck.get("preprocessing", {}).get("intensity", "none")))
            if cached:
                np.savez(cached, truth=parts[part][0], pa=parts[part][1], pb=parts[part][2])
        print(part, len(ids), flush=True)
    for part, (truth, pa, pb) in parts.items():
        result[f"{part}_a_alone"] = score(apply(pa.astype(np.float32).mean(0), post_a), truth)
        pbm = pb.astype(np.float32).mean(0) if post_b.get("tta") else pb[0].astype(np.float32)
        result[f"{part}_b_alone"] = score(apply(pbm, post_b), truth)
    grid = []
    truth, pa, pb = parts["val"]
    for thr in thresholds:
        for r in radii:
            for s in gated_grid(combine(pa, pb, thr, r), truth, post_a):
                grid.append({"agree_threshold": thr, "agree_radius": r, **s})
            print(thr, r, max(grid[-len(PRESENCE_PROB) * len(PRESENCE_PX):],
                              key=lambda g: (g["fp_rate"] <= MAX_FP, g["dice_tumour_slices"])), flush=True)
    result["val_grid"] = grid
    ok = [g for g in grid if g["fp_rate"] <= MAX_FP] or grid
    best = max(ok, key=lambda g: (g["dice_tumour_slices"], -g["fp_rate"]))
    result["chosen"] = {k: best[k] for k in ("agree_threshold", "agree_radius", "presence_prob", "presence_px")}
    result["val_chosen"] = best
    truth, pa, pb = parts["test"]
    gate = {"presence_prob": best["presence_prob"], "presence_px": best["presence_px"]}
    result["test_chosen"] = score(apply(combine(pa, pb, best["agree_threshold"], best["agree_radius"]),
                                        {**post_a, **gate}), truth)
    out.write_text(json.dumps(result, indent=1))
    print("chosen", result["chosen"], "test", result["test_chosen"])


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--a", type=Path, default=None)
    ap.add_argument("--split", type=Path, default=None)
    ap.add_argument("--radii", default=",".join(map(str, RADII)))
    ap.add_argument("--thresholds", default=",".join(map(str, THRESHOLDS)))
    ap.add_argument("--cache", type=Path, default=None, help="PREFIX: probabilities kept in PREFIX_val.npz / _test.npz")
    a = ap.parse_args()
    main(a.data, a.b, a.out, a.a, a.split, tuple(int(r) for r in a.radii.split(",")),
         tuple(float(t) for t in a.thresholds.split(",")), a.cache)
