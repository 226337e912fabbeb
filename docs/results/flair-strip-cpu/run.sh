# As run on the 2-core VM (torch 2.13.0+cpu), 2026-11-28, 1 thread per fold, two folds at a time.
# The shipped flair recipe plus brain-only views, on the CV folds of runs/cv1-flair (same train/val/test patients
# as the shipped recipe's CV, runs/zs2-cv1-flair = those fold models recalibrated, docs/results/flair-volume-post-cpu/).
S=../shared/data/samples/brats/brats_2013_pat0001_1
for k in 0 1 2 3 4; do
  OMP_NUM_THREADS=1 tumorseg train --data ../shared/data/lgg/kaggle_3m --preset flair --augment mri-strip \
    --split-file runs/cv1-flair/splits/fold_$k.json --out runs/fstrip/fold_$k
  for m in runs/fstrip/fold_$k runs/zs2-cv1-flair/fold_$k; do   # the BraTS 2015 FLAIR sample, both fold models
    tumorseg evaluate --model $m/best.pt --data $S --format brats --modality flair --image-glob 'Flair_*' \
      --label-glob 'OT*' --empty-fraction 1 --split all --out runs/fstrip/b15f-fold_$k-$(basename $(dirname $m))
  done
done
RUNS=runs python table.py comparison.json
# The shipped model (2026-11-28, 2 threads, while two seed-7 CV folds shared the machine; files in final/):
python docs/results/flair-strip-cpu/cv_summary.py   # fold_K/test_metrics.json -> cv_summary.json (the fold folders are gone)
OMP_NUM_THREADS=2 tumorseg train --data ../shared/data/lgg/kaggle_3m --preset flair --augment mri-strip --split 0.9,0.1,0 \
  --out runs/final-fstrip/run
python scripts/bundle_model.py runs/final-fstrip/run --name flair --cv docs/results/flair-strip-cpu \
  --hardware '2-core AMD EPYC VM, CPU only (torch 2.13.0+cpu)'
tumorseg evaluate --model flair --data ../shared/data/samples/lgg/TCGA_CS_4941_19960909 --format lgg --channels flair \
  --split all --out OUT/lgg-sample                                                    # -> final/eval_lgg_sample.json
tumorseg evaluate --model flair --data $S --format brats --modality flair --image-glob 'Flair_*' --label-glob 'OT*' \
  --empty-fraction 1 --split all --out OUT/b15f                                       # -> final/eval_brats15_flair.json
tumorseg predict ../shared/data/samples/brats/BraTS-GLI-00001-000 --model flair --overlay --out OUT/gli
# -> final/predict_brats23_sample_summary.json (the previous flair: ..._previous.json); the overlay pictures are not
#    kept here (they show the scan)
# Second seed of the same recipe on the same folds (2026-11-28, 1 thread each, two at a time; files in seed7/):
for K in 0 1 2 3 4; do
  OMP_NUM_THREADS=1 tumorseg train --data ../shared/data/lgg/kaggle_3m --preset flair --augment mri-strip --seed 7 \
    --split-file docs/results/flair-cv-cpu/splits/fold_$K.json --out runs/fstrip7/fold_$K
  tumorseg evaluate --model runs/fstrip7/fold_$K/best.pt --data $S --format brats --modality flair --image-glob 'Flair_*' \
    --label-glob 'OT*' --empty-fraction 1 --split all --out runs/fstrip7/b15f-fold_$K
done
# seed7/cv_summary.json and seed7/comparison.json: python docs/results/flair-strip-cpu/seed7_summary.py
