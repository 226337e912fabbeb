"""The shipped `t1c` cascade with its drawing member A swapped for the `mri-turn` fold-0 A (B, which decides whether a
slice holds a tumour, unchanged: trained with `mri`), against the shipped cascade, on the labelled BraTS 2015 T1c
sample (tumour core) read as stored and in the radiological view: per-volume Dice, slices found, tumour-free slices
marked (`evaluate`, every brain slice). A is fold 0's (trained on 70 % of the dev patients), the shipped A on all.

    python docs/results/t1c-turn-cpu/cascade_check.py RUN_DIR WORKDIR     # -> cascade.json beside this file
"""

import json
import sys
from pathlib import Path

from tumorseg.evaluation.evaluate import evaluate
from tumorseg.models.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
run, work = Path(sys.argv[1]), Path(sys.argv[2])
work.mkdir(parents=True, exist_ok=True)
shipped = load_checkpoint(resolve_checkpoint("t1c"))
turn = load_checkpoint(run / "best.pt")
models = {}
for name, swap in (("shipped t1c", False), ("t1c with the mri-turn A", True)):
    for view in ("stored", "display"):
        ckpt = load_checkpoint(resolve_checkpoint("t1c"))
        if swap:
            ckpt["state_dict"] = {**ckpt["state_dict"], **{f"members.0.{k}": v for k, v in turn["state_dict"].items()}}
        ckpt["preprocessing"]["view"] = view
        path = work / f"{name.replace(' ', '_')}_{view}.pt"
        save_checkpoint(ckpt, path)
        models[(name, view)] = path
results = {}
for (name, view), path in models.items():
    s = evaluate(path, DATA / "samples" / "brats" / "brats_2013_pat0001_1", work / path.stem, data_format="brats",
                 split="all", progress=False, data_options={"modality": "t1c", "labels": "1,3,4", "empty_fraction": 1.0})
    p = s["presence"]
    results[f"{name}, {'as stored' if view == 'stored' else 'radiological view'}"] = {
        "per_volume_dice": round(s["per_volume"]["mean_dice"], 4), "sensitivity": p["sensitivity"],
        "specificity": p["specificity"]}
    print(name, view, results[f"{name}, {'as stored' if view == 'stored' else 'radiological view'}"], flush=True)
(Path(__file__).parent / "cascade.json").write_text(json.dumps(results, indent=1) + "\n")
