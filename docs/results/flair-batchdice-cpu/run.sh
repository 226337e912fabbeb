cd /work/main
export OMP_NUM_THREADS=1
R="--preset bundled --epochs 10 --lr 1e-3 --warmup-epochs 0.5 --intensity p99 --precision fp32 --init-from default --calibrate-objective volume-dice --max-fp-rate 0.1"
for k in "$@"; do
.venv/bin/tumorseg cv --data ../shared/data/lgg/kaggle_3m --format lgg --channels flair $R --loss batch-dice-bce --folds 5 --fold $k --out runs/cv-flair-bd --no-progress > runs/cv-flair-bd-$k.log 2>&1
done
