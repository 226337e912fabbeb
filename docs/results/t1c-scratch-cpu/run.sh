# As run on the 2-core VM (torch 2.13.0+cpu), 2026-11-27/28, the two trainings side by side, 1 thread each.
# DATA = python scripts/prepare_t1c_data.py --figshare ../shared/data/figshare --lgg ../shared/data/lgg/kaggle_3m --out DATA
# (train 3707: figshare's 2375 + 1332 tumour-free LGG pre-/post-contrast; val 404: figshare 264 + 140 LGG post;
#  test 164 tumour-free LGG post-contrast slices of 6 other patients)
for AUG in mri mri-strip; do   # out: runs/t1c-scratch (mri, budget 95m -> 14 epochs), runs/t1c-strip (mri-strip, 88m -> 19 epochs)
  OMP_NUM_THREADS=1 tumorseg train --data DATA --preset bundled --augment $AUG --loss dice-bce-presence --epochs 30 \
    --time-budget 95m --intensity p99 --split-file DATA/split.json --device cpu --precision fp32 --max-fp-rate 0.03 \
    --out runs/t1c-$AUG &
done; wait
# scoring: ../t1c-mirror-cpu/eval.sh RUN/best.pt OUTDIR, the comparison set of the earlier t1c runs (figshare val,
# single LGG tumour-free slices, BraTS 2015 sample T1c, 6 LGG
# test patients as post-contrast volumes) -> eval-*.json; brain-only views of the figshare val slices:
python strip_diag.py RUN/best.pt strip-diag.json DATA/split.json ../shared/data/figshare
python strip_diag.py t1c strip-diag-bundled-t1c.json DATA/split.json ../shared/data/figshare
