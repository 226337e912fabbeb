# As run on the 2-core VM (torch 2.13.0+cpu), 2026-12-06: the `flair` recipe trained on all of each CV fold's
# development patients (train + val), scored with the post-processing chosen for that fold on out-of-fold maps
# (docs/results/flair-oof-post-cpu/oof.json). Folds 0-1 side by side (1 thread each), then 2-4 together.
for K in 0 1; do OMP_NUM_THREADS=1 python docs/results/flair-alldev-cpu/alldev.py train /work/falldev $K & done; wait
for K in 2 3 4; do OMP_NUM_THREADS=1 python docs/results/flair-alldev-cpu/alldev.py train /work/falldev $K & done
for K in 0 1; do OMP_NUM_THREADS=1 python docs/results/flair-alldev-cpu/alldev.py score /work/falldev $K; done; wait
for K in 2 3 4; do python docs/results/flair-alldev-cpu/alldev.py score /work/falldev $K; done
python docs/results/flair-alldev-cpu/alldev.py summary /work/falldev    # -> docs/results/flair-alldev-cpu/alldev.json
