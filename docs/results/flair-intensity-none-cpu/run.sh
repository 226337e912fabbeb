# As run on the 2-core VM (torch 2.13.0+cpu), 2026-12-07, 1 thread per fold, two folds at a time (folds 0, 2, 4 in one
# chain, 1, 3 in the other, while tests ran beside them).
# The shipped flair recipe (--preset flair: mri-strip augmentation, started from t1c-unet) with the LGG TIFFs' own
# 8-bit scale (--intensity none) instead of the per-slice p99 normalisation, on the same CV folds.
for K in 0 1 2 3 4; do
  OMP_NUM_THREADS=1 tumorseg train --data ../shared/data/lgg/kaggle_3m --preset flair --intensity none \
    --split-file docs/results/flair-cv-cpu/splits/fold_$K.json --out /work/exp/fnone/fold_$K --no-progress
done
# each fold model scored as calibrated and with the shipped one-lesion rule (lesion_core_prob 0.95), on its 8 LGG
# test patients and on the BraTS 2013 FLAIR sample: the script of ../flair-lesion-core-cpu/, one fold at a time
for K in 0 1 2 3 4; do
  mkdir -p /work/exp/fnone-e$K && ln -sfn /work/exp/fnone/fold_$K /work/exp/fnone-e$K/fold_$K
  python docs/results/flair-lesion-core-cpu/evaluate_folds.py /work/exp/fnone-e$K /work/exp/fnone-eval$K
done
python docs/results/flair-intensity-none-cpu/table.py /work/exp   # -> folds.json, comparison.json, the table below
