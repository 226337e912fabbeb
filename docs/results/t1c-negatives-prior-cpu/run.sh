#!/bin/bash
# As run on the 2-core VM (2026-12-05, evening), from the repository root, OMP_NUM_THREADS=2.
# The data: figshare dev + tumour-free LGG post-contrast slices, with the t1c recipe's CV folds for figshare
# (figshare's fold k here holds exactly the slices of fold k of docs/results/t1c-effunet-cpu/, checked) and the LGG
# patients dealt into 5 folds of their own; split.json is the final model's split (figshare: the bundled t1c's own
# 90/10 patient split; LGG: 28 train / 6 val / 6 test patients).
python scripts/prepare_t1c_data.py --figshare ../shared/data/figshare --lgg ../shared/data/lgg/kaggle_3m \
    --out /tmp/t1c-data --no-pre --folds 5
PRIOR=${PRIOR:-/work/prior}        # the t1c-prior fold models of ../t1c-head-prior-cpu/run.sh (PRIOR/fold_K/best.pt)
OUT=${OUT:-/work/mixprior}

# 1. from scratch on the mixed data with head_prior: ../t1c-mixed-effunet-cpu/'s command with one change
tumorseg train --data /tmp/t1c-data --split-file /tmp/t1c-data/folds/mixed/fold_0.json \
    --preset cpu-fast --model effunet --model-kwargs '{"decoder_width": 8, "head_prior": 0.01}' \
    --loss dice-bce-presence --augment mri-strip --intensity p99 --max-fp-rate 0.03 --out $OUT/fold_0

# 2. fine-tune each fold's t1c-prior model with the tumour-free slices. Fold 0 was run before the preset existed, as
#    --preset t1c --model-kwargs '{"decoder_width": 8, "head_prior": 0.01}' --init-from $PRIOR/fold_0/best.pt
#    --loss dice-bce-presence --epochs 3 --lr 5e-4 --warmup-epochs 0.2 --max-fp-rate 0.03: the t1c preset's
#    25-minute budget (the VM was busy) planned 2 of the 3 epochs after epoch 2 (ft_0/config.json, runtime).
#    Folds 1 and 2: the preset, which is that with --epochs 2 and no budget.
for K in 1; do
  tumorseg train --data /tmp/t1c-data --split-file /tmp/t1c-data/folds/mixed/fold_$K.json --preset t1c-negatives \
    --init-from $PRIOR/fold_$K/best.pt --out $OUT/ft_$K
done
#    Folds 2-4 (2026-12-06, a new VM: the t1c-prior models of folds 2-4 trained again, each with its fine-tune after
#    it, one job at a time; /work/chain.sh as run). The figshare-only split of fold K is the t1c recipe's CV fold K
#    (kfold_split of ../shared/data/figshare, 5 folds, seed 42; folds 0-2 equal ../t1c-head-prior-cpu/splits/, checked).
python -c "
from tumorseg.data import read_dataset
from tumorseg.data.splits import kfold_split, save_split
recs = read_dataset('../shared/data/figshare')
for k in range(5):
    save_split(kfold_split(recs, 5, k, 42), f'/work/splits/fold_{k}.json', 'patient')"
for K in 2 3 4; do
  OMP_NUM_THREADS=2 tumorseg train --data ../shared/data/figshare --preset t1c \
    --model-kwargs '{"decoder_width": 8, "head_prior": 0.01}' --split-file /work/splits/fold_$K.json \
    --out $PRIOR/fold_$K --no-progress
  OMP_NUM_THREADS=2 tumorseg train --data /tmp/t1c-data --split-file /tmp/t1c-data/folds/mixed/fold_$K.json \
    --preset t1c-negatives --init-from $PRIOR/fold_$K/best.pt --out $OUT/ft_$K --no-progress
done
# the CV as the bundled model stores it, and the comparison with the second version's recipe on the same slices
D=docs/results/t1c-negatives-prior-cpu
python $D/cv_summary.py $D/cv $D/ft_0 $D/ft_1 $D/ft_2 $D/ft_3 $D/ft_4      # ft_K/: copies of $OUT/ft_K's files
python scripts/bundle_model.py --name t1c --cv $D/cv                        # metrics only
python $D/compare5.py

# 3. evaluation: figshare / LGG parts of each run's test set; BraTS 2015 T1c sample and the LGG post-contrast volumes
python docs/results/t1c-negatives-prior-cpu/figsplit.py $OUT/ft_K/test/per_case.csv
tumorseg evaluate --model $OUT/ft_K/best.pt --data ../shared/data/samples/brats/brats_2013_pat0001_1 --format brats \
  --modality t1c --labels 1,3,4 --empty-fraction 1 --split all --one-lesion --out $OUT/eval-ftK/b15
tumorseg evaluate --model $OUT/ft_K/best.pt --data ../shared/data/lgg/kaggle_3m --format lgg --channels post \
  --split all --one-lesion --out $OUT/eval-ftK/lgg-vol
python docs/results/t1c-negatives-prior-cpu/subset.py /tmp/t1c-data/folds/mixed/fold_K.json $OUT/eval-ftK/lgg-vol

# 4. the bundled model: stage 1 (t1c-prior on all figshare dev patients, 5 epochs as the budget planned for the
#    previous t1c on this VM), stage 2 (t1c-negatives on split.json)
tumorseg train --data ../shared/data/figshare --preset t1c-prior --split 0.9,0.1,0 --epochs 5 --time-budget off \
  --out /work/final/stage1
tumorseg train --data /tmp/t1c-data --split-file /tmp/t1c-data/split.json --preset t1c-negatives \
  --init-from /work/final/stage1/best.pt --out /work/final/stage2
