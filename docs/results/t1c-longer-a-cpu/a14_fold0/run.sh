#!/bin/bash
# As run on the 2-core VM (2026-12-06, 14:16-15:31 UTC; the first two epochs shared the machine with two CI runs).
# A (t1c-prior) trained 14 epochs on CV fold 0 (the 9-epoch recipe's fold 0: /work/a9/fold_0), then its cascade with fold 0's B
cd /work/main
T=.venv/bin/tumorseg; W=/work/a14
echo "=== start $(date -u +%H:%M:%S)"
OMP_NUM_THREADS=2 $T train --data ../shared/data/figshare --preset t1c-prior --epochs 14 --time-budget off \
  --split-file /work/splits/fold_0.json --out $W/fold_0 --no-progress > $W/fold_0.log 2>&1
echo "=== trained $(date -u +%H:%M:%S)"
$T ensemble $W/fold_0/best.pt /work/mixprior/ft_0/best.pt --combine decide --out $W/casc_0.pt
OMP_NUM_THREADS=2 $T evaluate --model $W/casc_0.pt --data /tmp/t1c-data --split all --out $W/ev_0 --no-progress > $W/ev_0.log 2>&1
.venv/bin/python docs/results/t1c-negatives-prior-cpu/figsplit.py $W/ev_0/per_case.csv
.venv/bin/python docs/results/t1c-negatives-prior-cpu/figsplit.py /work/a9/ev9_0/per_case.csv
echo "=== done $(date -u +%H:%M:%S)"
