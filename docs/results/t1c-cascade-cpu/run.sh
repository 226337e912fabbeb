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
