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
