"""Every fold model at hand scored with ONE post-processing, the bundled flair model's (threshold 0.45, flip TTA,
presence gate 0.8 / 300 px, z-smoothing 0.2, most confident lesion p >= 0.95), instead of each fold's own
calibration on its 5-8 val patients: what the weights alone give. As run on the 2-core VM, 2026-12-07:

    PATH=.venv/bin:$PATH OMP_NUM_THREADS=1 python docs/results/flair-ema-cpu/fixed_post.py

Caveat: those settings were chosen on the final flair model's 5 val patients, who are among the 40 CV patients, so
they are not independent of every fold's test patients (mildly optimistic for both arms alike).
"""
import sys, json, subprocess, torch, os
shipped = torch.load("src/tumorseg/models/bundled/flair.pt", weights_only=True, map_location="cpu")["postprocess"]
res = {}
for tag, runs in (("ema", "/work/exp/fema/runs"), ("base", "/work/exp/fema/base")):
    for k in range(5):
        src = f"{runs}/fold_{k}/best.pt"
        if not os.path.exists(src):
            continue
        ck = torch.load(src, weights_only=True, map_location="cpu")
        ck["postprocess"] = dict(shipped)
        dst = f"/work/exp/fixedpost/{tag}_{k}.pt"
        torch.save(ck, dst)
        subprocess.run(["tumorseg", "evaluate", "--model", dst, "--data", "../shared/data/lgg/kaggle_3m", "--out",
                        f"/work/exp/fixedpost/{tag}_{k}", "--no-progress"], check=True, capture_output=True)
        m = json.load(open(f"/work/exp/fixedpost/{tag}_{k}/metrics.json"))
        res[f"{tag}_{k}"] = (round(m["per_volume"]["mean_dice"], 4), m["presence"]["fp"], m["presence"]["tp"])
        print(tag, k, res[f"{tag}_{k}"], flush=True)
print(shipped)
