# Volume post-processing settings (z_smooth, hysteresis_prob) for `flair`, as run on the 2-core CPU VM.
# No retraining: the shipped recipe's CV fold models (runs/rc-cv1-flair, see flair.md) and the bundled model's
# run (runs/final-flair1) are recalibrated with the new search on their own val patients, then scored on test.
TS=tumorseg; LGG=../shared/data/lgg/kaggle_3m; S=../shared/data/samples
cp -r runs/rc-cv1-flair runs/zs2-cv1-flair
for k in 0 1 2 3 4; do   # two at a time, OMP_NUM_THREADS=1 each
  $TS calibrate runs/zs2-cv1-flair/fold_$k --objective volume-dice --max-fp-rate 0.1
done
python -c "from tumorseg.training.cv import aggregate; aggregate('runs/zs2-cv1-flair')"   # cv_summary.json
cp -r runs/rc-cv3-flair runs/zs2-cv3-flair   # the 3-channel fold models, the same way (cv3_summary.json)
for k in 0 1 2 3 4; do $TS calibrate runs/zs2-cv3-flair/fold_$k --objective volume-dice --max-fp-rate 0.1; done
cp -r runs/final-flair1 runs/zs-final-flair1
$TS calibrate runs/zs-final-flair1 --objective volume-dice --max-fp-rate 0.1
python scripts/bundle_model.py runs/zs-final-flair1 --name flair --cv runs/zs2-cv1-flair \
  --hardware "2-core AMD EPYC VM, CPU only (torch 2.13.0+cpu)"
M=runs/zs-final-flair1/best.pt
$TS evaluate --model $M --data $S/lgg/TCGA_CS_4941_19960909 --format lgg --channels flair --split all --out ev/lgg
$TS evaluate --model $M --data $S/brats/brats_2013_pat0001_1 --format brats --modality flair --image-glob 'Flair_*' \
  --label-glob 'OT*' --empty-fraction 1 --split all --out ev/b15
