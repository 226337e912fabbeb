#!/bin/bash
# As run on the 2-core VM (2026-12-07), from the repository root: the `t1c` cascade's drawing member A (`--preset
# t1c-prior`, 9 epochs, as shipped) trained with `--augment mri-turn` instead of `mri` on CV fold 0 of the
# shipped recipe's CV (../t1c-longer-a-cpu/cv/splits, figshare slices only: the LGG negatives there are B's), then
# checked by check.py. Baselines: ../t1c-longer-a-cpu/fold_K/a9 (same recipe, split and seed, `mri`).
W=${W:-/work/exp/turn}
for K in 0; do  # fold 1 was started too and stopped after 2 epochs (the VM could not fit it in the session)
  python - "$K" "$W" <<'PY'
import json, sys
k, w = sys.argv[1], sys.argv[2]
split = json.load(open(f"docs/results/t1c-longer-a-cpu/cv/splits/fold_{k}.json"))
json.dump({key: [c for c in v if not str(c).startswith("TCGA")] if isinstance(v, list) else v
           for key, v in split.items()}, open(f"{w}/fold_{k}.json", "w"))
PY
  OMP_NUM_THREADS=2 tumorseg train --data ../shared/data/figshare --preset t1c-prior --epochs 9 --time-budget off \
    --augment mri-turn --split-file $W/fold_$K.json --out $W/fold_$K --no-progress
done
python docs/results/t1c-turn-cpu/check.py $W/fold_0 $W/check      # -> results.json
python docs/results/t1c-turn-cpu/cascade_check.py $W/fold_0 $W/casc   # -> cascade.json (A swapped into the shipped t1c)

# 2026-12-07, 09:11-09:44 UTC: B, the deciding member, with mri-turn too (B of the shipped recipe: t1c-negatives
# fine-tuned from A, 2 epochs, figshare + tumour-free LGG post-contrast), on the same fold, from this A; then the
# cascade of both through the product, turned, and on the BraTS 2015 T1c sample (-> cascade_turned.json)
python scripts/prepare_t1c_data.py --figshare ../shared/data/figshare --lgg ../shared/data/lgg/kaggle_3m \
  --out /tmp/t1c-data --no-pre --folds 5     # folds/mixed/fold_0.json: the same figshare slices as $W/fold_0.json
OMP_NUM_THREADS=2 tumorseg train --data /tmp/t1c-data --split-file /tmp/t1c-data/folds/mixed/fold_0.json \
  --preset t1c-negatives --augment mri-turn --init-from $W/fold_0/best.pt --out /work/exp/turnb/ft_0 --no-progress
OMP_NUM_THREADS=2 python docs/results/t1c-turn-cpu/cascade_turned.py $W/fold_0 /work/exp/turnb/ft_0 /tmp/t1c-data \
  /work/exp/turnb/check
tumorseg compare docs/results/t1c-longer-a-cpu/fold_0/cascade/per_case.csv /work/exp/turnb/check/evaluate/per_case.csv \
  --out docs/results/t1c-turn-cpu/cascade_fold_0/compare_with_mri.json
