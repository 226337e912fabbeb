#!/bin/bash
# As run on the 2-core VM (2026-12-06, 08:02-09:37 UTC), from the repository root. The fifth t1c: the cascade's
# drawing member A trained 9 epochs instead of 5 (same recipe, split and seed), checked on val, real scans and
# one CV fold, then bundled. OLD: the fourth t1c.pt's deciding member (the third version, unchanged).
OLD=${OLD:-/work/final/old-t1c/t1c.pt}; W=${W:-/work/a9}; D=docs/results/t1c-longer-a-cpu
# 1. A on all figshare dev patients, the same 90/10 split as the fourth version's A (split.json identical)
OMP_NUM_THREADS=2 tumorseg train --data ../shared/data/figshare --preset t1c-prior --split 0.9,0.1,0 --epochs 9 \
  --time-budget 95m --out $W/run --no-progress        # the budget planned all 9 epochs (~4.5 min each)
tumorseg ensemble $W/run/best.pt $OLD --combine decide --set largest_component_3d=true --out $W/cascade.pt
# 2. the t1c card's checks, candidate and (figshare val only) the shipped fourth version
/work/a9/checks.sh $W/cascade.pt $W/cand      # = the commands below, for MODEL=$W/cascade.pt OUT=$W/cand
#   tumorseg evaluate --model MODEL --data ../shared/data/figshare --split val --out OUT/fig-val
#   for NOL in "" --no-one-lesion; do
#     tumorseg evaluate --model MODEL --data ../shared/data/samples/brats/brats_2013_pat0001_1 --format brats \
#       --modality t1c --labels 1,3,4 --empty-fraction 1 --split all $NOL --out OUT/b15$NOL
#     tumorseg evaluate --model MODEL --data ../shared/data/lgg/kaggle_3m --format lgg --channels post --split all \
#       $NOL --out OUT/lgg$NOL
#     tumorseg predict ../shared/data/samples/brats/BraTS-GLI-00001-000/BraTS-GLI-00001-000-t1c.nii.gz \
#       --model MODEL $NOL --out OUT/b23$NOL
#   done
tumorseg evaluate --model t1c --data ../shared/data/figshare --split val --out $W/base/fig-val   # before bundling
# 3. CV folds 0 and 1 (fold 1 after the bundling, 09:48-10:33): A with 9 epochs on fold K's split, its cascade with
#    fold K's B (../t1c-cascade-cpu/run.sh step 5), scored through the product on the fold's 720 test slices, against
#    product_K (the same with the 5-epoch A)
for K in 0 1; do
  OMP_NUM_THREADS=2 tumorseg train --data ../shared/data/figshare --preset t1c-prior --epochs 9 --time-budget off \
    --split-file /work/splits/fold_$K.json --out $W/fold_$K --no-progress
  tumorseg ensemble $W/fold_$K/best.pt /work/mixprior/ft_$K/best.pt --combine decide --out $W/casc9_$K.pt
  tumorseg evaluate --model $W/casc9_$K.pt --data /tmp/t1c-data --split all --out $W/ev9_$K
  python docs/results/t1c-negatives-prior-cpu/figsplit.py $W/ev9_$K/per_case.csv
  python docs/results/t1c-negatives-prior-cpu/figsplit.py docs/results/t1c-cascade-cpu/product_$K/per_case.csv
done
# 4. shipped: the fifth t1c (CV stored: the fourth version's recipe, ../t1c-cascade-cpu/cv)
python scripts/bundle_model.py $W/cascade.pt --name t1c --cv docs/results/t1c-cascade-cpu/cv --fp16 --no-onnx \
  --hardware "2-core AMD EPYC VM, CPU only (torch 2.13.0+cpu)"
tumorseg evaluate --model t1c --data ../shared/data/figshare --split val --out $W/bundled-fig-val   # 0.7649 (fp16)
# 5. CV folds 2-4 (2026-12-06, 10:49-13:11 UTC, /work/a9/folds234.sh, fold 4 started again at 12:32 after the loop stopped
#    on a comparison file folds 3-4 lack; alone on the VM but for test runs and one CI run): step 3
#    for K in 2 3 4, then the 9-epoch recipe's 5-fold CV as tumorseg models reads it, and every arm on the same
#    figshare test slices
for K in 2 3 4; do
  OMP_NUM_THREADS=2 tumorseg train --data ../shared/data/figshare --preset t1c-prior --epochs 9 --time-budget off \
    --split-file /work/splits/fold_$K.json --out $W/fold_$K --no-progress
  tumorseg ensemble $W/fold_$K/best.pt /work/mixprior/ft_$K/best.pt --combine decide --out $W/casc9_$K.pt
  tumorseg evaluate --model $W/casc9_$K.pt --data /tmp/t1c-data --split all --out $W/ev9_$K
  python docs/results/t1c-negatives-prior-cpu/figsplit.py $W/ev9_$K/per_case.csv
done
for K in 0 1 2 3 4; do   # kept here: A's config, history, test metrics and per-case rows; the cascade's
  mkdir -p $D/fold_$K/a9 $D/fold_$K/cascade
  cp $W/fold_$K/{config.json,history.csv} $D/fold_$K/a9/
  cp $W/fold_$K/test/metrics.json $D/fold_$K/a9/test_metrics.json
  cp $W/fold_$K/test/per_case.csv $D/fold_$K/a9/test_per_case.csv
  cp $W/ev9_$K/{metrics.json,per_case.csv} $D/fold_$K/cascade/
done
python docs/results/t1c-negatives-prior-cpu/cv_summary.py $D/cv $D/fold_{0,1,2,3,4}/cascade
C=docs/results/t1c-cascade-cpu
python docs/results/t1c-negatives-prior-cpu/compare5.py --folds 0,1,2,3,4 --out $D/comparison5.json \
  --arm "B: the deciding member alone (the cascade's)=$C/ft_{k}/test_per_case.csv|docs/results/t1c-negatives-prior-cpu/ft_{k}/test_per_case.csv" \
  --arm "A, 5 epochs (fourth t1c's drawing member)=$C/prior_{k}/test_per_case.csv|docs/results/t1c-negatives-prior-cpu/prior_{k}/test_per_case.csv" \
  --arm "A, 9 epochs (fifth t1c's)=$D/fold_{k}/a9/test_per_case.csv" \
  --arm "cascade, A 5 epochs (fourth t1c)=$C/product_{k}/per_case.csv|$C/bdec_{k}/test_per_case.csv" \
  --arm "cascade, A 9 epochs (fifth t1c, shipped)=$D/fold_{k}/cascade/per_case.csv" > $D/comparison5.md
python scripts/bundle_model.py --name t1c --cv $D/cv        # the CV stored in t1c.pt (metrics only, weights unchanged)
