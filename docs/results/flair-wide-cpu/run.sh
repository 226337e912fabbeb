cd /work/main
export OMP_NUM_THREADS=1
for k in "$@"; do
.venv/bin/tumorseg cv --data ../shared/data/lgg/kaggle_3m --preset flair-wide --epochs 40 --time-budget 33m --folds 5 --fold $k --out runs/cv-flair-wide --no-progress > runs/cv-flair-wide-$k.log 2>&1
done
