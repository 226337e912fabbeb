#!/bin/bash
# As run on the 2-core VM (2026-12-06, 13:36-14:11 UTC; stopped in fold 2), from the repository root. See README.md.
# B fine-tuned from the 9-epoch A (same preset t1c-negatives), per fold, then the cascade A9 + B9 through the product
cd /work/main
T=.venv/bin/tumorseg; W=/work/b9
for K in ${FOLDS:-0 1 2 3 4}; do
  echo "=== fold $K start $(date -u +%H:%M:%S)"
  OMP_NUM_THREADS=2 $T train --data /tmp/t1c-data --split-file /tmp/t1c-data/folds/mixed/fold_$K.json \
    --preset t1c-negatives --init-from /work/a9/fold_$K/best.pt --out $W/ft_$K --no-progress > $W/ft_$K.log 2>&1
  $T ensemble /work/a9/fold_$K/best.pt $W/ft_$K/best.pt --combine decide --out $W/casc_$K.pt
  OMP_NUM_THREADS=2 $T evaluate --model $W/casc_$K.pt --data /tmp/t1c-data --split all --out $W/ev_$K --no-progress > $W/ev_$K.log 2>&1
  .venv/bin/python docs/results/t1c-negatives-prior-cpu/figsplit.py $W/ev_$K/per_case.csv
  .venv/bin/python docs/results/t1c-negatives-prior-cpu/figsplit.py /work/a9/ev9_$K/per_case.csv
  echo "=== fold $K done $(date -u +%H:%M:%S)"
done
