"""best.pt (selected by val Dice on 5-8 val patients) vs last.pt (the end of the cosine schedule) of the shipped
flair recipe's five CV folds, each scored on its own test patients with one fixed post-processing (the bundled
flair's settings, and the a-priori settings of flair-post-policy-cpu)."""
import json, os, subprocess, sys
import torch
APRIORI = {"threshold": 0.5, "tta": True, "min_component_px": 0, "presence_prob": 0.0, "presence_px": 0,
           "largest_component_3d": True, "lesion_core_prob": 0.95, "lesion_slice_share": 0.0, "z_smooth": 0.0,
           "hysteresis_prob": 0.0}
SHIPPED = torch.load("src/tumorseg/models/bundled/flair.pt", weights_only=True, map_location="cpu")["postprocess"]
out = sys.argv[1] if len(sys.argv) > 1 else "/work/exp/lastpt"
res = {}
for k in range(5):
    best = torch.load(f"/work/exp/fema/base/fold_{k}/best.pt", weights_only=True, map_location="cpu")
    last = torch.load(f"/work/exp/fema/base/fold_{k}/last.pt", weights_only=True, map_location="cpu")
    last = {key: v for key, v in last.items() if key != "train_state"}
    for which, ck in (("last", last), ("best", best)):
        for policy, post in (("shipped", SHIPPED), ("apriori", APRIORI)):
            ev = f"{out}/{which}_{k}_{policy}"
            if not os.path.exists(f"{ev}/metrics.json"):
                model = f"{out}/tmp.pt"
                torch.save({**ck, "postprocess": dict(post)}, model)
                subprocess.run(["tumorseg", "evaluate", "--model", model, "--data", "../shared/data/lgg/kaggle_3m",
                                "--out", ev, "--no-progress"], check=True, capture_output=True)
            m = json.load(open(f"{ev}/metrics.json"))
            p = m["presence"]
            res[f"{which}_{k}_{policy}"] = {"volume_dice": round(m["per_volume"]["mean_dice"], 4), "fp": p["fp"],
                                            "n_free": p["n_tumour_free"], "tp": p["tp"], "n_tumour": p["n_tumour"]}
            print(which, k, policy, res[f"{which}_{k}_{policy}"], flush=True)
json.dump(res, open(f"{out}/result.json", "w"), indent=1)
