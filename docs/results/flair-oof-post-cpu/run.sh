# As run on the 2-core VM (torch 2.13.0+cpu), 2026-12-06: the shipped `flair` recipe's five CV fold models trained
# again (same split files, seed 42; 1 thread each, two or three folds at a time), then post-processing chosen on
# out-of-fold patients (oof.py, a narrowed search) against the same search on each fold's own val patients, both
# scored on the fold's test patients.
for K in 0 1 2 3 4; do
  OMP_NUM_THREADS=1 tumorseg train --data ../shared/data/lgg/kaggle_3m --preset flair \
    --split-file docs/results/flair-cv-cpu/splits/fold_$K.json --out /work/foof/fold_$K --no-progress
done
# two processes, the nested searches split between them (each caches all five folds' maps first)
python docs/results/flair-oof-post-cpu/oof.py /work/foof /work/foof-oof fold_0,fold_1,fold_2 &
python docs/results/flair-oof-post-cpu/oof.py /work/foof /work/foof-oof fold_3,fold_4,final &
wait
python docs/results/flair-oof-post-cpu/oof.py summary /work/foof-oof   # -> oof.json, cv_summary.json (copied here)
