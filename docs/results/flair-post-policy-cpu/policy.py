"""Per-fold calibration on 5-8 val patients, or one post-processing for every model?  Each CV fold model at hand
scored on its own test patients (`tumorseg evaluate`, LGG FLAIR, per-volume Dice) three ways:

* own      - its post-processing as its training run calibrated it on its val patients (what `train` ships);
* shipped  - the bundled flair model's settings (calibrated on the final model's 5 val patients: those patients
             are among the 40, so this is mildly optimistic);
* apriori  - settings fixed without looking at any result: threshold 0.5, flip TTA, the one-lesion rule with the
             most confident lesion (p >= 0.95, as flair ships it), nothing else (no presence gate, smoothing,
             clean-up or trimming).

    PATH=.venv/bin:$PATH OMP_NUM_THREADS=1 python docs/results/flair-post-policy-cpu/policy.py OUT NAME=RUNS ...
    # RUNS/fold_K/best.pt, K = 0..4 (missing folds skipped) -> OUT/policy.json
"""
import json, os, subprocess, sys

import torch

APRIORI = {"threshold": 0.5, "tta": True, "min_component_px": 0, "presence_prob": 0.0, "presence_px": 0,
           "largest_component_3d": True, "lesion_core_prob": 0.95, "lesion_slice_share": 0.0, "z_smooth": 0.0,
           "hysteresis_prob": 0.0}
SHIPPED = torch.load("src/tumorseg/models/bundled/flair.pt", weights_only=True, map_location="cpu")["postprocess"]

out, sets = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
os.makedirs(out, exist_ok=True)
result = {"apriori": APRIORI, "shipped": SHIPPED, "models": {}}
for name, runs in sets:
    for k in range(5):
        src = f"{runs}/fold_{k}/best.pt"
        if not os.path.exists(src):
            continue
        ck = torch.load(src, weights_only=True, map_location="cpu")
        row = {"own_settings": ck["postprocess"]}
        for policy, post in (("own", None), ("shipped", SHIPPED), ("apriori", APRIORI)):
            model = src
            if post is not None:
                model = f"{out}/{name}_{k}_{policy}.pt"
                torch.save({**ck, "postprocess": dict(post)}, model)
            ev = f"{out}/{name}_{k}_{policy}"
            if not os.path.exists(f"{ev}/metrics.json"):
                subprocess.run(["tumorseg", "evaluate", "--model", model, "--data", "../shared/data/lgg/kaggle_3m",
                                "--out", ev, "--no-progress"], check=True, capture_output=True)
            m = json.load(open(f"{ev}/metrics.json"))
            p = m["presence"]
            row[policy] = {"volume_dice": round(m["per_volume"]["mean_dice"], 4), "tumour_slices_found": p["tp"],
                           "tumour_slices": p["n_tumour"], "tumour_free_marked": p["fp"],
                           "tumour_free": p["n_tumour_free"]}
            if post is not None:
                os.remove(model)
        result["models"][f"{name}/fold_{k}"] = row
        print(name, k, {q: row[q]["volume_dice"] for q in ("own", "shipped", "apriori")}, flush=True)
json.dump(result, open(f"{out}/policy.json", "w"), indent=1)
