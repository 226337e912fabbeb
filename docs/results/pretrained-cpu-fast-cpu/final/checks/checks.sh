#!/bin/bash
# real-scan checks of a t1c candidate against the shipped t1c (2-core CPU, one thread: runs beside training)
# usage (from the repository root): bash docs/results/pretrained-cpu-fast-cpu/final/checks/checks.sh CKPT NAME
export OMP_NUM_THREADS=1
C=$1; N=$2; O=runs/checks/$N
mkdir -p $O
tumorseg evaluate --model $C --data ../shared/data/samples/brats/brats_2013_pat0001_1 --format brats \
  --modality t1c --labels 1,3,4 --empty-fraction 1 --split all --out $O/brats15 --no-progress --device cpu > $O/brats15.log 2>&1
tumorseg evaluate --model $C --data ../shared/data/lgg/kaggle_3m --format lgg --channels post \
  --split all --out $O/lgg-post --no-progress --device cpu > $O/lgg-post.log 2>&1
tumorseg predict --model $C ../shared/data/samples/brats/BraTS-GLI-00001-000/BraTS-GLI-00001-000-t1c.nii.gz \
  --out $O/brats-gli --no-progress > $O/brats-gli.log 2>&1
echo done > $O/done
tumorseg evaluate --model $C --data ../shared/data/figshare-native --split val --out $O/native-val --no-progress --device cpu > $O/native-val.log 2>&1
tumorseg evaluate --model $C --data ../shared/data/figshare --split val --out $O/fs-val --no-progress --device cpu > $O/fs-val.log 2>&1
echo done2 > $O/done2
