"""Does predict's "close call" note (the one-lesion rule's runner-up scored >= 25 % of the kept lesion) mark the
LGG patients whose kept lesion is the wrong one?  For each CV fold model: its 8 test patients predicted with
`tumorseg predict` (the product path: LGG patient folders, the fold model's own post-processing, and again with
the shipped `flair` rule `lesion_core_prob` 0.95), summary.csv's runner-up fields, and each patient's per-volume
Dice against the masks, as kept and with every lesion (`--no-one-lesion`).

    python docs/results/flair-close-call-cpu/close_call.py RUNS OUT   # RUNS/fold_K/best.pt, K = 0..4 -> OUT/rows.json
"""
import csv, glob, json, os, re, subprocess, sys

import numpy as np
import torch
from PIL import Image

runs, out = sys.argv[1], sys.argv[2]
D = "../shared/data/lgg/kaggle_3m"
rows = []
for k in range(5):
    model = f"{runs}/fold_{k}/best.pt"
    if not os.path.exists(model):
        continue
    ck = torch.load(model, weights_only=True, map_location="cpu")
    test = sorted({ck["split_patients"][c] for c in ck["split"]["test"]})
    shipped = f"{out}/fold_{k}_lcp095.pt"  # the fold model with the shipped flair lesion rule
    ck["postprocess"] = {**ck["postprocess"], "largest_component_3d": True, "lesion_core_prob": 0.95}
    os.makedirs(out, exist_ok=True)
    torch.save(ck, shipped)
    for rule, m, extra in (("own", model, []), ("lcp095", shipped, []), ("all", model, ["--no-one-lesion"])):
        o = f"{out}/fold_{k}/{rule}"
        if not os.path.exists(f"{o}/summary.csv"):
            subprocess.run(["tumorseg", "predict", *[f"{D}/{p}" for p in test], "--model", m, "--out", o,
                            "--no-progress", *extra], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        summary = {r["name"]: r for r in csv.DictReader(open(f"{o}/summary.csv"))}
        for p in test:
            n = len(glob.glob(f"{D}/{p}/{p}_*_mask.tif"))
            truth = np.stack([np.array(Image.open(f"{D}/{p}/{p}_{i}_mask.tif")) > 0 for i in range(1, n + 1)])
            pred = np.stack([np.array(Image.open(f"{o}/{p}_{i}.png")) > 0 for i in range(1, n + 1)])
            tp, s = int((truth & pred).sum()), summary[p]
            rows.append(dict(fold=k, rule=rule, patient=p, dice=2 * tp / max(int(truth.sum() + pred.sum()), 1),
                             lesions_left_out=s["lesions_left_out"], runner_up_share=s["runner_up_share"],
                             runner_up_voxels=s["runner_up_voxels"], runner_up_slice=s["runner_up_slice"]))
json.dump(rows, open(f"{out}/rows.json", "w"), indent=1)
for rule in ("own", "lcp095"):
    kept = {(r["fold"], r["patient"]): r for r in rows if r["rule"] == rule}
    every = {(r["fold"], r["patient"]): r for r in rows if r["rule"] == "all"}
    print(f"\n{rule}: per-volume Dice {np.mean([r['dice'] for r in kept.values()]):.3f} over {len(kept)} patients")
    for key, r in sorted(kept.items(), key=lambda kv: -float(kv[1]["runner_up_share"] or 0)):
        share = float(r["runner_up_share"] or 0)
        if share >= 0.1 or r["dice"] < 0.5:
            print(f"  fold {key[0]} {key[1]}: Dice kept {r['dice']:.3f}, every lesion {every[key]['dice']:.3f}, "
                  f"runner-up share {share:.2f} ({r['runner_up_voxels']} px, slice {r['runner_up_slice']}), "
                  f"close call: {share >= 0.25}")

# which patients had tumour in the lesions the rule dropped: truth voxels in the 3-D components (26-connected) of
# the every-lesion masks that do not touch the kept masks (the kept lesion's trimmed end slices are not dropped
# lesions)
def dropped_hits(rule, k, p):
    from scipy import ndimage
    n = len(glob.glob(f"{D}/{p}/{p}_*_mask.tif"))
    load = lambda o: np.stack([np.array(Image.open(f"{o}/{p}_{i}.png")) > 0 for i in range(1, n + 1)])
    truth = np.stack([np.array(Image.open(f"{D}/{p}/{p}_{i}_mask.tif")) > 0 for i in range(1, n + 1)])
    every, kept = load(f"{out}/fold_{k}/all"), load(f"{out}/fold_{k}/{rule}")
    labels, _ = ndimage.label(every, structure=np.ones((3, 3, 3), bool))
    dropped = (labels > 0) & ~np.isin(labels, np.unique(labels[kept]))
    return int((truth & dropped).sum())

table = {}
for rule in ("own", "lcp095"):
    counts = {(c, h): 0 for c in (True, False) for h in (True, False)}
    for r in rows:
        if r["rule"] != rule:
            continue
        close = float(r["runner_up_share"] or 0) >= 0.25
        hit = dropped_hits(rule, r["fold"], r["patient"]) >= 100  # >= 100 tumour px dropped with the lesions
        r["tumour_dropped"] = hit
        counts[(close, hit)] += 1
    table[rule] = {f"close_call={c}, tumour_in_dropped={h}": n for (c, h), n in counts.items()}
    print(rule, table[rule])
json.dump({"rows": rows, "table": table}, open(f"{out}/rows.json", "w"), indent=1)
