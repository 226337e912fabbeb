# As run on the 2-core VM (torch 2.13.0+cpu), 2026-12-04/05: the shipped `flair` recipe with each slice shown
# together with the slice above and the slice below (`--context-slices 1`: 3 input channels, the first convolution
# of the `t1c` start inflated to them), on the shipped recipe's own five CV split files (same train/val/test
# patients), two folds side by side at one thread each (~20 minutes a pair).
# (`--preset flair` trains on the device-data path, which at the time ignored the loader's context dropout:
# these models never saw a slice alone, i.e. --context-dropout 0.)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for pair in "0 2" "4 1" "3"; do
  for K in $pair; do
    tumorseg train --data ../shared/data/lgg/kaggle_3m --preset flair --context-slices 1 \
      --split-file docs/results/flair-cv-cpu/splits/fold_$K.json --out /work/ctx/fold_$K &
  done
  wait
done
# each fold model on its own 8 test patients, as calibrated and with the most confident lesion kept (p 0.95),
# and on the BraTS 2015 FLAIR sample: the same script, and so the same numbers' definitions, as the shipped recipe's
python docs/results/flair-lesion-core-cpu/evaluate_folds.py /work/ctx /work/ctx-eval        # -> folds.json
python docs/results/flair-lesion-core-cpu/compare_folds.py flair-context /work/ctx-eval/folds.json \
  docs/results/flair-context-cpu/comparison.json
# the same fold models per slice, with their neighbours and with each slice alone
python docs/results/flair-context-cpu/single_slices.py /work/ctx docs/results/flair-context-cpu/single_slices.json
# seed 7, same folds: the same command with --seed 7 --out /work/ctx7/fold_$K, two folds at a time (a queue of two
# one-thread workers, folds claimed in the order 0 2 4 1 3), then the same two scripts:
python docs/results/flair-lesion-core-cpu/evaluate_folds.py /work/ctx7 /work/ctx7-eval   # -> seed7/folds.json
python docs/results/flair-context-cpu/seeds.py                                            # -> seeds.json
