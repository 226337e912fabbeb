#!/bin/bash
# t1c final + its 5 CV fold models as one ensemble (mean of probabilities), with the bundled t1c's volume rule
# usage (repository root): CV=CV_DIR bash docs/results/t1c-fold-ensemble-cpu/run.sh OUT   (CV_DIR: tumorseg cv --preset t1c)
export OMP_NUM_THREADS=2
E=${1:-runs/ens-t1c}   # output folder
mkdir -p $E
tumorseg ensemble src/tumorseg/models/bundled/t1c.pt ${CV:-runs/cv-t1c}/fold_{0,1,2,3,4}/best.pt --out $E/ens6.pt > $E/make.log 2>&1
for M in t1c $E/ens6.pt; do
  N=$(basename $M .pt)
  /usr/bin/time -f "%e s" tumorseg evaluate --model $M --data ../shared/data/samples/brats/brats_2013_pat0001_1 --format brats \
    --modality t1c --labels 1,3,4 --empty-fraction 1 --split all --out $E/$N-brats15 --no-progress --device cpu > $E/$N-brats15.log 2>&1
done
for M in t1c $E/ens6.pt; do
  N=$(basename $M .pt)
  /usr/bin/time -f "%e s" tumorseg evaluate --model $M --data ../shared/data/lgg/kaggle_3m --format lgg --channels post \
    --split all --out $E/$N-lgg-post --no-progress --device cpu > $E/$N-lgg-post.log 2>&1
done
# and the ensemble one slice at a time (no 3-D rule):
tumorseg evaluate --model $E/ens6.pt --data ../shared/data/samples/brats/brats_2013_pat0001_1 --format brats \
  --modality t1c --labels 1,3,4 --empty-fraction 1 --split all --no-one-lesion --out $E/ens6-brats15-slices --no-progress --device cpu
echo done > $E/done
