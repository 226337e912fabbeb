"""Non-square slices: stretched to the model's square input (what the predictor does) vs zero-padded to a square.

The bundled ``t1c`` model on its own 264 figshare validation slices (patients it was not trained on),
each also given with 64 zero columns (or rows) added on both sides — a 256×384 (384×256) slice, like a
rectangular field of view — predicted (a) as ``Predictor.probabilities`` does (bilinear resize to 256×256,
aspect ratio not kept, probabilities resized back) and (b) first zero-padded, centred, to a 384×384 square
(aspect ratio kept; the brain ends up smaller in the model's input), the padding cropped off afterwards.
Mean per-image Dice against the mask padded alike. Run from the repository root (2-core CPU, ~2 minutes):

    python docs/results/letterbox-cpu/run.py > docs/results/letterbox-cpu/results.json
"""

import json

import numpy as np
import torch
import torch.nn.functional as F

from tumorseg.data.imageio import read_gray, read_mask
from tumorseg.evaluation.metrics import dice_iou
from tumorseg.inference.predictor import Predictor

DATA = "../shared/data/figshare"
PAD = 64


def padded_square(pred: Predictor, images: list[np.ndarray]) -> list[np.ndarray]:
    """Each ``(H, W)`` slice zero-padded, centred, to ``max(H, W)`` square, predicted, the padding cropped off."""
    out = []
    for im in images:
        h, w = im.shape
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        sq = np.pad(im, ((top, side - h - top), (left, side - w - left)))
        out.append(pred.probabilities([sq])[0][top:top + h, left:left + w])
    return out


def main() -> None:
    pred = Predictor.from_checkpoint("t1c", device="cpu", backend="torch")
    val = pred.checkpoint["split"]["val"]
    images = [read_gray(f"{DATA}/images/{i}.png") for i in val]
    masks = [read_mask(f"{DATA}/masks/{i}.png") for i in val]
    out = {"model": "t1c", "slices": len(val), "pad_px_each_side": PAD, "mean_dice": {}}
    for name, pad in (("square 256x256 (as stored)", None), ("wide 256x384", ((0, 0), (PAD, PAD))),
                      ("tall 384x256", ((PAD, PAD), (0, 0)))):
        ims = images if pad is None else [np.pad(im, pad) for im in images]
        gts = masks if pad is None else [np.pad(m, pad) for m in masks]
        runs = {"stretched (the predictor)": pred.probabilities(ims)}
        if pad is not None:
            runs["zero-padded to a square"] = padded_square(pred, ims)
        for how, probs in runs.items():
            d = [dice_iou(torch.from_numpy(pred.binarize(p))[None], torch.from_numpy(g)[None])[0][0]
                 for p, g in zip(probs, gts)]
            out["mean_dice"][f"{name}, {how}"] = round(float(np.mean(d)), 4)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
