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
