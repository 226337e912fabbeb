# A second seed of the flair recipe on the same CV folds, and the two seeds averaged; 2-core CPU VM, two folds at a
# time (OMP_NUM_THREADS=1 each), ~19 minutes per fold. The folds are the shipped recipe's (runs/cv1-flair/splits):
# --seed changes the training (initial head, order, augmentation) but not which patients are val or test.
TS=tumorseg; LGG=../shared/data/lgg/kaggle_3m
for k in 0 1 2 3 4; do
  $TS train --data $LGG --preset flair --split-file runs/cv1-flair/splits/fold_$k.json --seed 7 --out runs/s7-flair/fold_$k
done
# seed 42 = runs/zs2-cv1-flair (the shipped recipe's fold models, recalibrated: docs/results/flair-volume-post-cpu)
for k in 0 1 2 3 4; do
  d=runs/ens7/fold_$k; mkdir -p $d; cp runs/zs2-cv1-flair/fold_$k/{config.json,split.json} $d/
  $TS ensemble runs/zs2-cv1-flair/fold_$k/best.pt runs/s7-flair/fold_$k/best.pt --out $d/best.pt
  $TS calibrate $d --objective volume-dice --max-fp-rate 0.1     # on the fold's val patients; scores its test
done
