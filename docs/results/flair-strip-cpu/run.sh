# As run on the 2-core VM (torch 2.13.0+cpu), 2026-11-28, 1 thread per fold, two folds at a time.
# The shipped flair recipe plus brain-only views, on the CV folds of runs/cv1-flair (same train/val/test patients
# as the shipped recipe's CV, runs/zs2-cv1-flair = those fold models recalibrated, docs/results/flair-volume-post-cpu/).
S=../shared/data/samples/brats/brats_2013_pat0001_1
for k in 0 1 2 3 4; do
  OMP_NUM_THREADS=1 tumorseg train --data ../shared/data/lgg/kaggle_3m --preset flair --augment mri-strip \
    --split-file runs/cv1-flair/splits/fold_$k.json --out runs/fstrip/fold_$k
  for m in runs/fstrip/fold_$k runs/zs2-cv1-flair/fold_$k; do   # the BraTS 2015 FLAIR sample, both fold models
    tumorseg evaluate --model $m/best.pt --data $S --format brats --modality flair --image-glob 'Flair_*' \
      --label-glob 'OT*' --empty-fraction 1 --split all --out runs/fstrip/b15f-fold_$k-$(basename $(dirname $m))
  done
done
RUNS=runs python table.py comparison.json
