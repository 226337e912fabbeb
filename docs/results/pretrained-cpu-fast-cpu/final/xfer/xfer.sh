#!/bin/bash
# transfer checks of the fold models: effunet (cpu-fast now) vs the U-Net (cpu-fast-unet), same folds and budget
# usage (repository root): EFF=runs/cpufast-effunet UNET=runs/cpufast-unet bash docs/results/pretrained-cpu-fast-cpu/final/xfer/xfer.sh
# (as run: EFF=/work/cpufast/effunet UNET=/work/cpufast/budget; fold 4 of effunet afterwards: EFF_FOLDS=4 UNET_FOLDS= LGG_FOLDS=)
export OMP_NUM_THREADS=${THREADS:-1}
O=runs/xfer; mkdir -p $O
run() { # CKPT NAME
  tumorseg evaluate --model $1 --data ../shared/data/samples/brats/brats_2013_pat0001_1 --format brats \
    --modality t1c --labels 1,3,4 --empty-fraction 1 --split all --one-lesion --out $O/$2-brats15 --no-progress --device cpu > $O/$2-brats15.log 2>&1
}
runlgg() {
  tumorseg evaluate --model $1 --data ../shared/data/lgg/kaggle_3m --format lgg --channels post \
    --split all --one-lesion --out $O/$2-lgg --no-progress --device cpu > $O/$2-lgg.log 2>&1
}
for K in ${EFF_FOLDS-0 1 2 3}; do run $EFF/fold_$K/best.pt eff$K; done
for K in ${UNET_FOLDS-3 4}; do run $UNET/fold_$K/best.pt unet$K; done
for K in ${LGG_FOLDS-3}; do runlgg $EFF/fold_$K/best.pt eff$K; runlgg $UNET/fold_$K/best.pt unet$K; done
echo done > $O/done
