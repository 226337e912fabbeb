"""Per-case test rows of the cascade ("B says whether, A draws") chosen by ``../t1c-agree-cpu/search.py`` on a CV
fold's val slices, from the probabilities that search cached, in the columns of ``tumorseg evaluate``'s
``per_case.csv`` (``tumorseg.evaluation.evaluate.score_masks``).

usage: python docs/results/t1c-cascade-cpu/cases.py SEARCH.json CACHE_PREFIX METADATA.csv OUT.csv [b-decides]

With ``b-decides``, no setting of the search is used: a slice is marked when B's own output is (B's calibrated
threshold, TTA and clean-up, ``post_b``: the fine-tune's decision exactly as it ships alone), and then holds A's
mask (``post_a``); otherwise it is empty. Nothing is chosen on val for this rule.

SEARCH.json: the search's output for the fold (its ``split``, ``chosen`` setting and A's post-processing);
CACHE_PREFIX: its ``--cache`` (``PREFIX_test.npz``); METADATA.csv: ``scripts/prepare_t1c_data.py``'s
(index, patient_group, label_name). Prints the figshare / LGG parts as a check against the search's own
``test_chosen``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tumorseg.evaluation.evaluate import score_masks
from tumorseg.inference.postprocess import apply

sys.path.insert(0, str(Path(__file__).parents[1] / "t1c-agree-cpu"))
from search import combine  # noqa: E402  (the search's own combination, so the rows match what it chose)


def b_decides(pa: np.ndarray, pb: np.ndarray, post_a: dict, post_b: dict) -> np.ndarray:
    """(N, S, S) bool: A's mask on the slices B marks, empty elsewhere (``pa``, ``pb``: (3, N, S, S) flips)."""
    mask_a = apply(pa.astype(np.float32).mean(0), post_a)
    mask_b = apply(pb.astype(np.float32).mean(0) if post_b.get("tta") else pb[0].astype(np.float32), post_b)
    return mask_a & mask_b.reshape(len(mask_b), -1).any(1)[:, None, None]


def main(search_json: Path, cache: Path, metadata: Path, out: Path, rule: str = "chosen") -> None:
    r = json.loads(search_json.read_text())
    ids = json.loads(Path(r["split"]).read_text())["test"]
    z = np.load(cache.with_name(f"{cache.stem}_test.npz"))
    c = r["chosen"]
    if rule == "b-decides":
        masks = b_decides(z["pa"], z["pb"], r["post_a"], r["post_b"])
    else:
        prob = combine(z["pa"], z["pb"], c["agree_threshold"], c["agree_radius"])
        masks = apply(prob, {**r["post_a"], "presence_prob": c["presence_prob"], "presence_px": c["presence_px"]})
    meta = {row["index"]: row for row in csv.DictReader(open(metadata))}
    records = [SimpleNamespace(case_id=i, patient=meta[i]["patient_group"], label=meta[i]["label_name"]) for i in ids]
    rows = score_masks(masks, SimpleNamespace(masks=z["truth"], records=records))
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    fig = [x for x in rows if not x["case_id"].startswith("TCGA")]
    lgg = [x for x in rows if x["case_id"].startswith("TCGA")]
    print(f"{rule}: figshare {len(fig)}: Dice {np.mean([x['dice'] for x in fig]):.4f} (search's chosen setting: "
          f"{r['test_chosen']['dice_tumour_slices']:.4f}), left empty {sum(x['predicted_area_px'] == 0 for x in fig)}; "
          f"LGG tumour-free marked {sum(x['predicted_area_px'] > 0 for x in lgg)} / {len(lgg)}")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:5]), *sys.argv[5:6])
