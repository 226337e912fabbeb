#!/bin/bash
# The shipped t1c fine-tuned on figshare + mirrored figshare slices + tumour-free and tumour LGG post-contrast
# slices (2-core CPU VM, ~30 min training, ~10 min per model to evaluate). Usage, from the repository root:
#   bash docs/results/t1c-mixed-finetune-cpu/run.sh FINAL_T1C_RUN/best.pt RUN OUT
# FINAL_T1C_RUN: the run bundled as t1c (../t1c-effunet-cpu/final/). Nothing is written into the repository.
set -e
BASE=$1; RUN=$2; OUT=$3; HERE=$(dirname "$0")
export OMP_NUM_THREADS=2
python scripts/prepare_t1c_data.py --figshare ../shared/data/figshare --lgg ../shared/data/lgg/kaggle_3m \
    --out /tmp/t1c-mix2 --no-pre --mirror --lgg-positives          # train 4182, val 404, test 164 (6.5 min)
# the 164 tumour-free test slices as a folder of their own; the 6 LGG test patients as volumes
python - <<'PY'
import csv, json, os
d = json.load(open("/tmp/t1c-mix2/split.json")); test = set(d["test"])
rows = [r for r in csv.DictReader(open("/tmp/t1c-mix2/metadata.csv")) if r["index"] in test]
for sub in ("images", "masks"):
    os.makedirs(f"/tmp/lgg-neg-test/{sub}", exist_ok=True)
    for r in rows:
        os.symlink(os.path.realpath(f"/tmp/t1c-mix2/{sub}/{r['index']}.png"), f"/tmp/lgg-neg-test/{sub}/{r['index']}.png")
with open("/tmp/lgg-neg-test/metadata.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
os.makedirs("/tmp/lgg6", exist_ok=True)
for p in sorted({r["patient_group"] for r in rows}):
    os.symlink(os.path.realpath(f"../shared/data/lgg/kaggle_3m/{p}"), f"/tmp/lgg6/{p}")
PY
tumorseg train --data /tmp/t1c-mix2 --split-file /tmp/t1c-mix2/split.json --preset t1c --init-from "$BASE" \
    --loss dice-bce-presence --epochs 3 --lr 5e-4 --warmup-epochs 0.2 --time-budget 40m --out "$RUN" --no-progress
bash "$HERE/eval.sh" t1c "$OUT/shipped"
bash "$HERE/eval.sh" "$RUN/best.pt" "$OUT/ft-mix"
