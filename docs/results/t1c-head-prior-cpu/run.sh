#!/bin/bash
# As run on the 2-core VM (2026-12-05), from the repository root, one job at a time (OMP_NUM_THREADS=2).
# SPLITS: the split files of the t1c recipe's 5-fold CV (docs/results/t1c-effunet-cpu/; tumorseg cv --preset
# cpu-fast --augment mri --folds 5 wrote them as RUN/fold_K/split.json; folds 0-2 are in splits/ here).
SPLITS=${SPLITS:-/work/cpufast/effmri}
OUT=${OUT:-/work/prior}
export OMP_NUM_THREADS=2
# the t1c recipe with the head's bias started at logit(0.01) (fold 0, then folds 1 and 2)
for K in 0 1 2; do
  tumorseg train --data ../shared/data/figshare --preset t1c --model-kwargs '{"decoder_width": 8, "head_prior": 0.01}' \
    --split-file $SPLITS/fold_$K/split.json --out $OUT/fold_$K --no-progress
done
# the recipe as shipped, fold 0 again on the same idle machine (its 25-minute budget then also planned 7 epochs)
tumorseg train --data ../shared/data/figshare --preset t1c --split-file $SPLITS/fold_0/split.json --out $OUT/base_0 --no-progress
# LGG post-contrast volumes / single slices and the BraTS 2015 T1c sample, each fold-0 model
bash docs/results/t1c-head-prior-cpu/eval.sh $OUT/fold_0/best.pt $OUT/eval-prior
bash docs/results/t1c-head-prior-cpu/eval.sh $OUT/base_0/best.pt $OUT/eval-base
# its confidence: a presence gate chosen on the fold's figshare val slices (keep 98 % of them), then LGG / BraTS
python docs/results/t1c-head-prior-cpu/gate.py $OUT/fold_0 $OUT/gate-prior.json
python docs/results/t1c-head-prior-cpu/gate.py $OUT/base_0 $OUT/gate-base.json
(cd $OUT && python $OLDPWD/docs/results/t1c-head-prior-cpu/quantiles.py gate-prior gate-base) > docs/results/t1c-head-prior-cpu/peak_quantiles.jsonl
