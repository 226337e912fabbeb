#!/bin/bash
# As run on the 2-core VM (2026-12-06, 02:10-03:45 UTC), from the repository root. PRIOR / MIX: the t1c-prior fold
# models and their t1c-negatives fine-tunes of ../t1c-negatives-prior-cpu/run.sh (folds 2-4: the models whose test
# metrics are in ../t1c-negatives-prior-cpu/prior_K/ and ft_K/); DATA: scripts/prepare_t1c_data.py --no-pre --folds 5.
PRIOR=${PRIOR:-/work/prior}; MIX=${MIX:-/work/mixprior}; DATA=${DATA:-/tmp/t1c-data}; W=${W:-/work/agree}
D=docs/results/t1c-cascade-cpu

# 1. the cascade: A = t1c-prior (figshare only) draws, B = its fine-tune with tumour-free slices votes. The setting
#    (B's vote threshold x radius, 255 = the whole image; a presence gate on the result; A's threshold, TTA and
#    clean-up) chosen on the fold's val slices only (figshare val + tumour-free LGG val, <= 3 % of them marked),
#    then scored on its test slices; probabilities cached in $W/probs_K_{val,test}.npz
for K in 2 3 4; do
  OMP_NUM_THREADS=2 python docs/results/t1c-agree-cpu/search.py $DATA $MIX/ft_$K/best.pt $W/fold_$K.json \
    --a $PRIOR/fold_$K/best.pt --split $DATA/folds/mixed/fold_$K.json \
    --radii 0,8,32,255 --thresholds 0.3,0.5,0.7,0.9 --cache $W/probs_$K > $W/fold_$K.log
  cp $W/fold_$K.json $D/search_fold_$K.json
  mkdir -p $D/casc_$K $D/bdec_$K
  python $D/cases.py $W/fold_$K.json $W/probs_$K $DATA/metadata.csv $D/casc_$K/test_per_case.csv            # chosen
  python $D/cases.py $W/fold_$K.json $W/probs_$K $DATA/metadata.csv $D/bdec_$K/test_per_case.csv b-decides  # no choice
done

# 2. one fine-tune that keeps its start's outlines: t1c-negatives with the start as teacher on tumour slices only
#    (fold 2; lwf_2/ holds its config, history and test metrics)
OMP_NUM_THREADS=1 tumorseg train --data $DATA --split-file $DATA/folds/mixed/fold_2.json --preset t1c-negatives \
  --init-from $PRIOR/fold_2/best.pt --teacher $PRIOR/fold_2/best.pt --distill-on tumour --distill-weight 0.5 \
  --out /work/lwf/ft_2
python docs/results/t1c-negatives-prior-cpu/figsplit.py /work/lwf/ft_2/test/per_case.csv

# 3. all arms on the same figshare test slices of folds 2-4 -> comparison.json
python docs/results/t1c-negatives-prior-cpu/compare5.py --folds 2,3,4 --out $D/comparison.json \
  --arm "cascade, setting chosen on val=$D/casc_{k}/test_per_case.csv" \
  --arm "cascade, the fine-tune decides, its start draws=$D/bdec_{k}/test_per_case.csv" \
  --arm "fine-tune with its start as teacher on tumour slices=$D/lwf_{k}/test_per_case.csv"

# 4. the product path (ensemble --combine decide, added after 1-3): fold 2 through tumorseg evaluate; --split all
#    scores only the slices neither member trained or validated on = fold 2's 720 test slices -> product_2/
tumorseg ensemble $PRIOR/fold_2/best.pt $MIX/ft_2/best.pt --combine decide --out /work/cascev/casc_2.pt
OMP_NUM_THREADS=1 tumorseg evaluate --model /work/cascev/casc_2.pt --data $DATA --split all --out /work/cascev/ev2
python docs/results/t1c-negatives-prior-cpu/figsplit.py /work/cascev/ev2/per_case.csv   # = bdec_2's numbers

# 5. folds 0 and 1 (2026-12-06, 04:55-06:20 and 06:25-07:12): their t1c-prior fold models (5 epochs, as the budget
#    planned for folds 2 and 4; the first models of folds 0-1 were lost with an earlier VM) and fine-tunes, then the
#    cascades through the product (/work/chain01.sh, /work/chain1.sh); prior_K/, ft_K/: the runs' files
for K in 0 1; do
  OMP_NUM_THREADS=2 tumorseg train --data ../shared/data/figshare --preset t1c-prior --epochs 5 --time-budget off \
    --split-file /work/splits/fold_$K.json --out $PRIOR/fold_$K --no-progress
  OMP_NUM_THREADS=2 tumorseg train --data $DATA --split-file $DATA/folds/mixed/fold_$K.json --preset t1c-negatives \
    --init-from $PRIOR/fold_$K/best.pt --out $MIX/ft_$K --no-progress
  tumorseg ensemble $PRIOR/fold_$K/best.pt $MIX/ft_$K/best.pt --combine decide --out /work/cascev/casc_$K.pt
  tumorseg evaluate --model /work/cascev/casc_$K.pt --data $DATA --split all --out /work/cascev/ev$K
  mkdir -p $D/product_$K && cp /work/cascev/ev$K/{metrics.json,per_case.csv} $D/product_$K/
done
#    the cascade's CV as the bundled model stores it (folds 0-1 through the product, 2-4 the research path, which
#    fold 2 showed to give the same per-case numbers)
python docs/results/t1c-negatives-prior-cpu/cv_summary.py $D/cv $D/product_0 $D/product_1 $D/bdec_2 $D/bdec_3 $D/bdec_4

# 6. the shipped t1c (4th version): the stage-1 model on all figshare dev patients (run again, 2026-12-06 02:xx, as
#    ../t1c-negatives-prior-cpu/run.sh step 4) draws; the 3rd version's t1c.pt (its fine-tune, unchanged) decides
cp src/tumorseg/models/bundled/t1c.pt /work/final/old-t1c/t1c.pt   # before it is replaced
tumorseg ensemble /work/final/stage1/best.pt /work/final/old-t1c/t1c.pt --combine decide \
  --set largest_component_3d=true --out /work/final/cascade.pt
python scripts/bundle_model.py /work/final/cascade.pt --name t1c --cv $D/cv --fp16 --no-onnx \
  --hardware "2-core AMD EPYC VM, CPU only (torch 2.13.0+cpu)"

# 7. the cascade without TTA (both members one pass; fold 2) -> product_2_notta/
tumorseg ensemble $PRIOR/fold_2/best.pt $MIX/ft_2/best.pt --combine decide --set tta=false --out /work/cascev/casc_2_notta.pt
tumorseg evaluate --model /work/cascev/casc_2_notta.pt --data $DATA --split all --out /work/cascev/ev2_notta
# 8. all folds on the same figshare test slices -> comparison5.json (comparison4.json: --folds 0,2,3,4, before fold 1)
python docs/results/t1c-negatives-prior-cpu/compare5.py --folds 0,1,2,3,4 --out $D/comparison5.json \
  --arm "A: t1c-prior, the cascade's drawing member=$D/prior_{k}/test_per_case.csv|docs/results/t1c-negatives-prior-cpu/prior_{k}/test_per_case.csv" \
  --arm "B: its t1c-negatives fine-tune, the deciding member=$D/ft_{k}/test_per_case.csv|docs/results/t1c-negatives-prior-cpu/ft_{k}/test_per_case.csv" \
  --arm "cascade: B decides, A draws=$D/product_{k}/per_case.csv|$D/bdec_{k}/test_per_case.csv"
python scripts/bundle_model.py --name t1c --cv $D/cv        # the CV numbers stored in t1c.pt (metrics only)
# 9. real scans with the bundled file (the t1c card's table; outputs under /work/final/eval-casc, not kept)
for NOL in "" --no-one-lesion; do
  tumorseg evaluate --model t1c --data ../shared/data/samples/brats/brats_2013_pat0001_1 --format brats --modality t1c \
    --labels 1,3,4 --empty-fraction 1 --split all $NOL --out /work/final/eval-casc/b15$NOL
  tumorseg evaluate --model t1c --data ../shared/data/lgg/kaggle_3m --format lgg --channels post --split all $NOL \
    --out /work/final/eval-casc/lgg$NOL
  python docs/results/t1c-negatives-prior-cpu/subset.py $DATA/split.json /work/final/eval-casc/lgg$NOL   # 6 test patients
  tumorseg predict ../shared/data/samples/brats/BraTS-GLI-00001-000/BraTS-GLI-00001-000-t1c.nii.gz --model t1c $NOL \
    --out /work/final/eval-casc/b23$NOL
done
# 10. speed, the training and evaluation jobs paused (kill -STOP) meanwhile -> benchmarks/results/inference.json
python benchmarks/inference.py --min-reps 10 --model old-t1c=/work/final/old-t1c/t1c.pt \
  --model t1c-unet=src/tumorseg/models/bundled/t1c-unet.pt --out benchmarks/results/inference.json
