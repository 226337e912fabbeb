#!/bin/bash
# t1c final + its 5 CV fold models as one ensemble (mean of probabilities), with the bundled t1c's volume rule
# usage (repository root): CV=CV_DIR bash docs/results/t1c-fold-ensemble-cpu/run.sh OUT   (CV_DIR: tumorseg cv --preset t1c)
export OMP_NUM_THREADS=2
E=${1:-runs/ens-t1c}   # output folder
mkdir -p $E
BRATS15="--data ../shared/data/samples/brats/brats_2013_pat0001_1 --format brats --modality t1c --labels 1,3,4 --empty-fraction 1"
LGG_POST="--data ../shared/data/lgg/kaggle_3m --format lgg --channels post"
tumorseg ensemble src/tumorseg/models/bundled/t1c.pt ${CV:-runs/cv-t1c}/fold_{0,1,2,3,4}/best.pt --out $E/ens6.pt > $E/make.log 2>&1
for part in brats15 lgg-post; do
  [ $part = brats15 ] && args=$BRATS15 || args=$LGG_POST
  for M in t1c $E/ens6.pt; do
    N=$(basename $M .pt)
    /usr/bin/time -f "%e s" tumorseg evaluate --model $M $args --split all --out $E/$N-$part --no-progress --device cpu \
      > $E/$N-$part.log 2>&1
  done
done
# the ensemble one slice at a time (no 3-D rule)
tumorseg evaluate --model $E/ens6.pt $BRATS15 --split all --no-one-lesion --out $E/ens6-brats15-slices --no-progress --device cpu
echo done > $E/done
