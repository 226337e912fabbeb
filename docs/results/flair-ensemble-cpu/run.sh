TS=.venv/bin/tumorseg; R=/work/runs; LGG=../shared/data/lgg/kaggle_3m
for k in 0 1 2 3; do
  M="$R/rc-cv1-flair/fold_$k/best.pt $R/cvs-flair/fold_$k/best.pt"
  [ -f $R/cv20-flair-f$k/fold_$k/best.pt ] && M="$M $R/cv20-flair-f$k/fold_$k/best.pt"
  $TS ensemble $M --out $R/nested/ens_$k.pt
  $TS evaluate --model $R/nested/ens_$k.pt --data $LGG --format lgg --split test --out $R/nested/fold_$k --no-progress 2>&1 | grep "per-volume"
done
