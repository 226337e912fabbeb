#!/bin/bash
# evaluate a t1c fold model on the LGG post-contrast volumes (one-lesion rule on / off) and the BraTS 2015 T1c sample
# usage: eval.sh MODEL OUTDIR
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=2
M=$1; O=$2; mkdir -p $O
T=${TUMORSEG:-tumorseg}
$T evaluate --model $M --data ../shared/data/lgg/kaggle_3m --format lgg --channels post --split all --one-lesion \
  --out $O/lgg-vol --no-progress --device cpu > $O/lgg-vol.log 2>&1
$T evaluate --model $M --data ../shared/data/lgg/kaggle_3m --format lgg --channels post --split all --no-one-lesion \
  --out $O/lgg-slices --no-progress --device cpu > $O/lgg-slices.log 2>&1
$T evaluate --model $M --data ../shared/data/samples/brats/brats_2013_pat0001_1 --format brats --modality t1c \
  --labels 1,3,4 --empty-fraction 1 --split all --one-lesion --out $O/b15 --no-progress --device cpu > $O/b15.log 2>&1
