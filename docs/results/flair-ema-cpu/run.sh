#!/bin/bash
# As run on the 2-core VM (torch 2.13.0+cpu), 2026-12-07, 09:51-11:40 UTC, from the repository root; 1 thread per
# training, two at a time (folds 0+2, then 1+3, then 4 beside the first baseline rerun; a CI run shared the VM from
# 10:37). The shipped flair recipe plus --ema 0.98 (new: train --ema), on the recipe's CV split files.
for K in 0 1 2 3 4; do
  OMP_NUM_THREADS=1 tumorseg train --data ../shared/data/lgg/kaggle_3m --preset flair --ema 0.98 \
    --split-file docs/results/flair-cv-cpu/splits/fold_$K.json --out /work/exp/fema/runs/fold_$K --no-progress
done
# the same recipe without --ema, today's code, folds 0 and 2: the training reproduces the shipped recipe's fold
# models (fold 0: the same loss and val Dice every epoch as ../flair-strip-cpu/fold_0/history.csv), but today's
# calibration also searches lesion_core_prob / lesion_slice_share, so it says what the calibration alone changes
for K in 0 2; do
  OMP_NUM_THREADS=1 tumorseg train --data ../shared/data/lgg/kaggle_3m --preset flair \
    --split-file docs/results/flair-cv-cpu/splits/fold_$K.json --out /work/exp/fema/base/fold_$K --no-progress
done
# the BraTS 2015 FLAIR sample, every fold model
S=../shared/data/samples/brats/brats_2013_pat0001_1
for R in runs base; do for K in 0 1 2 3 4; do
  [ -f /work/exp/fema/$R/fold_$K/best.pt ] || continue
  OMP_NUM_THREADS=1 tumorseg evaluate --model /work/exp/fema/$R/fold_$K/best.pt --data $S --format brats \
    --modality flair --image-glob 'Flair_*' --label-glob 'OT*' --empty-fraction 1 --split all \
    --out /work/exp/fema/brats/$R-fold_$K --no-progress
done; done
python docs/results/flair-ema-cpu/summary.py /work/exp/fema/runs /work/exp/fema/base /work/exp/fema/brats  # -> summary.json
for K in 0 1 2 3 4; do   # kept here: each EMA fold run's config, history and test metrics
  mkdir -p docs/results/flair-ema-cpu/fold_$K
  cp /work/exp/fema/runs/fold_$K/{config.json,history.csv} docs/results/flair-ema-cpu/fold_$K/
  cp /work/exp/fema/runs/fold_$K/test/metrics.json docs/results/flair-ema-cpu/fold_$K/test_metrics.json
  cp /work/exp/fema/runs/fold_$K/test/per_volume.csv docs/results/flair-ema-cpu/fold_$K/test_per_volume.csv
done
