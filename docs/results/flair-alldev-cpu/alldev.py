"""`flair` trained on all its development patients (no val patients held back): better on unseen patients?

The shipped recipe trains on 80 % of a fold's development patients and keeps 20 % (5-8 patients) for choosing the
best epoch and the post-processing. On 40 LGG patients the network, not the post-processing, bounds per-volume Dice
(``docs/results/flair-oof-post-cpu/``), and a fifth more patients is the cheapest "more data" there is. nnU-Net's
answer to "who chooses the post-processing then" is the cross-validation's out-of-fold predictions, which
``flair-oof-post-cpu`` measured. Here, for each CV fold K:

1. ``train``: the ``flair`` preset on fold K's train **and** val patients (the split file's ``val`` list is kept,
   so the trainer's bookkeeping has its val set, but those patients are trained on too: the "best" epoch is then
   chosen on seen patients, so the last epoch is used), no calibration, 10 epochs as the recipe;
2. ``score``: its last-epoch weights with the post-processing that ``flair-oof-post-cpu`` chose for fold K on the
   other four folds' out-of-fold maps (``oof.json``: ``oof_chosen_postprocess``; fold K's test patients never took
   part), scored on fold K's test patients by ``tumorseg evaluate``. The same settings on the fold model trained
   without its val patients scored 0.745 ± 0.094 (``oof_chosen`` there): the difference is the extra patients.

    python docs/results/flair-alldev-cpu/alldev.py train RUNS K          # -> RUNS/fold_K (1 thread: run two at once)
    python docs/results/flair-alldev-cpu/alldev.py score RUNS K          # -> RUNS/fold_K-scored/, RUNS/fold_K.json
    python docs/results/flair-alldev-cpu/alldev.py summary RUNS          # -> alldev.json beside this script
    python docs/results/flair-alldev-cpu/alldev.py final RUNS            # -> RUNS/final: all 40 patients

``final`` trains the recipe on all 40 patients (the shipped model's val patients listed as ``val`` but trained on
too) and writes ``RUNS/final/best.pt``: its last-epoch weights with the post-processing chosen on all 40 patients'
out-of-fold maps (``flair-oof-post-cpu/final_settings.json``), ready for ``scripts/bundle_model.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SPLITS = HERE.parent / "flair-cv-cpu" / "splits"
OOF = HERE.parent / "flair-oof-post-cpu" / "oof.json"
LGG = "../shared/data/lgg/kaggle_3m"


def train(runs: Path, k: int) -> None:
    from tumorseg.config import TrainConfig
    from tumorseg.training.fit import fit
    from tumorseg.training.presets import preset

    split = json.loads((SPLITS / f"fold_{k}.json").read_text())
    alldev = {**split, "train": split["train"] + split["val"]}  # val patients trained on too
    runs.mkdir(parents=True, exist_ok=True)
    split_file = runs / f"fold_{k}_split.json"
    split_file.write_text(json.dumps(alldev))
    values = {**preset("flair"), "data": LGG, "out": str(runs / f"fold_{k}"), "seed": 42, "split_file": str(split_file),
              "calibrate": False, "grid_every": 0}
    fit(TrainConfig.from_dict(values), progress=False)


def final(runs: Path) -> None:
    from tumorseg.config import TrainConfig
    from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint
    from tumorseg.training.fit import fit
    from tumorseg.training.presets import preset

    shipped = load_checkpoint(HERE.parents[2] / "src" / "tumorseg" / "models" / "bundled" / "flair.pt")["split"]
    runs.mkdir(parents=True, exist_ok=True)
    split_file = runs / "final_split.json"
    split_file.write_text(json.dumps({"grouped_by": "patient", "train": shipped["train"] + shipped["val"],
                                      "val": shipped["val"], "test": []}))
    out = runs / "final"
    values = {**preset("flair"), "data": LGG, "out": str(out), "seed": 42, "split_file": str(split_file),
              "calibrate": False, "grid_every": 0}
    fit(TrainConfig.from_dict(values), progress=False)
    post = json.loads((HERE.parent / "flair-oof-post-cpu" / "final_settings.json").read_text())["postprocess"]
    last = load_checkpoint(out / "last.pt")
    save_checkpoint({**{k: v for k, v in last.items() if k != "train_state"}, "postprocess": post}, out / "best.pt")


def score(runs: Path, k: int) -> dict:
    sys.path.insert(0, str(OOF.parent))
    from oof import score as evaluate_on_test  # tumorseg evaluate on the fold's test patients, as that study scored
    from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint

    post = json.loads(OOF.read_text())["folds"][f"fold_{k}"]["oof_chosen_postprocess"]
    last = load_checkpoint(runs / f"fold_{k}" / "last.pt")
    model = runs / f"fold_{k}_oof.pt"
    save_checkpoint({**{key: v for key, v in last.items() if key != "train_state"}, "postprocess": post}, model)
    row = {"postprocess": post, **evaluate_on_test(model, runs / f"fold_{k}-scored")}
    (runs / f"fold_{k}.json").write_text(json.dumps(row, indent=1))
    print(f"fold_{k}", round(row["per_volume_dice"], 4), flush=True)
    return row


def summarise(runs: Path) -> None:
    oof = json.loads(OOF.read_text())["folds"]
    rows = {p.stem: json.loads(p.read_text()) for p in sorted(runs.glob("fold_?.json"))}
    arms = {"alldev_oof_settings": {f: r for f, r in rows.items()},
            "val_held_out_oof_settings": {f: oof[f]["oof_chosen"] for f in rows},
            "flair_as_shipped": {f: oof[f]["val_chosen_confident_lesion"] for f in rows}}
    summary = {}
    for arm, per in arms.items():
        d = [per[f]["per_volume_dice"] for f in rows]
        summary[arm] = {"per_fold": [round(x, 4) for x in d], "mean": float(np.mean(d)),
                        "sd": float(np.std(d, ddof=1)) if len(d) > 1 else None,
                        "tumour_free_marked": sum(per[f]["tumour_free_marked"] for f in rows),
                        "tumour_free": sum(per[f]["tumour_free"] for f in rows),
                        "tumour_slices_found": sum(per[f]["tumour_found"] for f in rows),
                        "tumour_slices": sum(per[f]["tumour_slices"] for f in rows)}
    patients = {p: {arm: per[f]["patients"][p] for arm, per in arms.items()} for f in rows for p in rows[f]["patients"]}
    better = sum(v["alldev_oof_settings"] > v["val_held_out_oof_settings"] for v in patients.values())
    worse = sum(v["alldev_oof_settings"] < v["val_held_out_oof_settings"] for v in patients.values())
    out = {"summary": summary, "patients_better_worse_vs_val_held_out": [better, worse], "folds": rows,
           "patients": patients}
    (HERE / "alldev.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({**summary, "better/worse": [better, worse]}, indent=1))


if __name__ == "__main__":
    step, runs = sys.argv[1], Path(sys.argv[2])
    if step == "summary":
        summarise(runs)
    elif step == "final":
        final(runs)
    else:
        {"train": train, "score": score}[step](runs, int(sys.argv[3]))
