"""The `flair` recipe candidate "all development patients, last epoch, fixed post-processing": 5-fold CV.

Three measured pieces, each within fold noise alone (``../flair-alldev-cpu/`` +0.010, ``../flair-last-epoch-cpu/``
+0.008, ``../flair-post-policy-cpu/``), put together and scored the one way all three share: each CV fold's model
trained on the fold's train **and** val patients (``alldev.py train``: 10 epochs, seed 42, the last epoch kept, no
calibration), scored on the fold's 8 test patients by ``tumorseg evaluate`` with one post-processing fixed
beforehand: the bundled ``flair``'s settings, and the a-priori settings (threshold 0.5, TTA, most confident lesion).
The bar is ``../flair-last-epoch-cpu/result.json``: the shipped recipe's fold models (val patients held out), their
chosen epoch and their last, under the same two settings on the same test patients.

    python docs/results/flair-alldev-last-cpu/recipe.py train RUNS K     # -> RUNS/fold_K (1 thread: two at once)
    python docs/results/flair-alldev-last-cpu/recipe.py score RUNS K     # -> RUNS/fold_K_{shipped,apriori}/
    python docs/results/flair-alldev-last-cpu/recipe.py summary RUNS [BAR_RUNS]  # -> result.json beside this script
    python docs/results/flair-alldev-last-cpu/recipe.py final RUNS       # -> RUNS/final/flair.pt: all 40 patients
    python docs/results/flair-alldev-last-cpu/recipe.py brats RUNS       # -> RUNS/brats_*: the BraTS 2015 sample

``brats`` scores every fold model and the final one, with the bundled ``flair``'s settings and view (slices in the
radiological view), on the BraTS 2015 sample's FLAIR (``../shared/data/samples/brats/brats_2013_pat0001_1``), as
the bundled ``flair`` and the shipped recipe's fold models were checked.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent / "flair-alldev-cpu"))
import alldev  # its train() is this recipe's training, fold by fold

LGG = "../shared/data/lgg/kaggle_3m"
BUNDLED = ROOT / "src" / "tumorseg" / "models" / "bundled" / "flair.pt"
APRIORI = {"threshold": 0.5, "tta": True, "min_component_px": 0, "presence_prob": 0.0, "presence_px": 0,
           "largest_component_3d": True, "lesion_core_prob": 0.95, "lesion_slice_share": 0.0, "z_smooth": 0.0,
           "hysteresis_prob": 0.0}


def settings() -> dict[str, dict]:
    shipped = torch.load(BUNDLED, weights_only=True, map_location="cpu")["postprocess"]
    return {"shipped": dict(shipped), "apriori": APRIORI}


def last_weights(run: Path) -> dict:
    """``RUN/last.pt`` without its optimizer state (the weights of the last epoch)."""
    last = torch.load(run / "last.pt", weights_only=True, map_location="cpu")
    return {key: v for key, v in last.items() if key != "train_state"}


def evaluated(checkpoint: dict, model: Path, ev: Path, data: list[str]) -> dict:
    """``tumorseg evaluate`` of ``checkpoint`` (saved as ``model``) on ``data`` (its ``--data ...`` arguments) into
    ``ev``, unless ``ev`` holds its metrics already: per-volume Dice and the slice counts of ``metrics.json``."""
    if not (ev / "metrics.json").exists():
        torch.save(checkpoint, model)
        subprocess.run(["tumorseg", "evaluate", "--model", str(model), *data, "--out", str(ev), "--no-progress"],
                       check=True, capture_output=True)
    m = json.loads((ev / "metrics.json").read_text())
    p = m["presence"]
    return {"volume_dice": round(m["per_volume"]["mean_dice"], 4), "fp": p["fp"], "n_free": p["n_tumour_free"],
            "tp": p["tp"], "n_tumour": p["n_tumour"]}


def finished(run: Path) -> bool:
    """``run`` trained all its epochs (``last.pt`` is written after every epoch, for resuming)."""
    epochs = json.loads((run / "config.json").read_text())["epochs"] if (run / "config.json").exists() else None
    return epochs is not None and (run / "history.csv").exists() and \
        len((run / "history.csv").read_text().strip().splitlines()) - 1 >= epochs


def score(runs: Path, k: int) -> dict:
    if not finished(runs / f"fold_{k}"):
        raise SystemExit(f"fold_{k} has not finished training")
    last = last_weights(runs / f"fold_{k}")
    rows = {}
    for policy, post in settings().items():
        rows[policy] = evaluated({**last, "postprocess": post}, runs / f"fold_{k}_{policy}.pt",
                                 runs / f"fold_{k}_{policy}", ["--data", LGG])
        print(f"fold_{k}", policy, rows[policy], flush=True)
    (runs / f"fold_{k}.json").write_text(json.dumps(rows, indent=1))
    return rows


def per_patient(folder: Path) -> dict[str, float]:
    with open(folder / "per_volume.csv", newline="") as f:
        return {row["patient"]: round(float(row["dice"]), 4) for row in csv.DictReader(f)}


def summarise(runs: Path, bar_runs: Path | None = None) -> None:
    """``bar_runs``: the folder ``../flair-last-epoch-cpu/last_vs_best.py`` wrote (its per-patient CSVs), for the
    per-patient comparison; without it only the per-fold numbers of its ``result.json`` are compared."""
    bar = json.loads((HERE.parent / "flair-last-epoch-cpu" / "result.json").read_text())
    folds = [k for k in range(5) if (runs / f"fold_{k}.json").exists()]
    ours = {k: json.loads((runs / f"fold_{k}.json").read_text()) for k in folds}
    arms = {}
    for policy in ("shipped", "apriori"):
        arms[f"alldev_last_{policy}"] = [ours[k][policy] for k in folds]
        arms[f"chosen_epoch_{policy}"] = [bar[f"best_{k}_{policy}"] for k in folds]
        arms[f"last_epoch_{policy}"] = [bar[f"last_{k}_{policy}"] for k in folds]
    summary = {}
    for arm, rows in arms.items():
        d = [r["volume_dice"] for r in rows]
        summary[arm] = {"per_fold": d, "mean": round(float(np.mean(d)), 4),
                        "sd": round(float(np.std(d, ddof=1)), 4) if len(d) > 1 else None,
                        "tumour_free_marked": sum(r["fp"] for r in rows), "tumour_free": sum(r["n_free"] for r in rows),
                        "tumour_found": sum(r["tp"] for r in rows), "tumour_slices": sum(r["n_tumour"] for r in rows)}
    out = {"folds": folds, "summary": summary}
    if bar_runs is not None:
        patients = {}
        for k in folds:
            for policy in ("shipped", "apriori"):
                ours_k = per_patient(runs / f"fold_{k}_{policy}")
                for arm in ("best", "last"):
                    theirs = per_patient(bar_runs / f"{arm}_{k}_{policy}")
                    for patient, dice in ours_k.items():
                        patients.setdefault(patient, {"fold": k})[f"alldev_last_{policy}"] = dice
                        patients[patient][f"{'chosen' if arm == 'best' else 'last'}_epoch_{policy}"] = theirs[patient]
        out["patients"] = patients
        for policy in ("shipped", "apriori"):
            a = [v[f"alldev_last_{policy}"] for v in patients.values()]
            b = [v[f"chosen_epoch_{policy}"] for v in patients.values()]
            summary[f"alldev_last_{policy}"]["patients_better_worse_vs_chosen_epoch"] = [
                sum(x > y + 0.005 for x, y in zip(a, b)), sum(x < y - 0.005 for x, y in zip(a, b))]
    (HERE / "result.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


def brats(runs: Path) -> dict:
    sample = "../shared/data/samples/brats/brats_2013_pat0001_1"
    view = torch.load(BUNDLED, weights_only=True, map_location="cpu")["preprocessing"]["view"]
    rows = {}
    for name in [f"fold_{k}" for k in range(5)] + ["final"]:
        if not finished(runs / name):
            continue
        last = last_weights(runs / name)
        rows[name] = evaluated({**last, "preprocessing": {**last["preprocessing"], "view": view},
                                "postprocess": settings()["shipped"]}, runs / f"brats_{name}.pt", runs / f"brats_{name}",
                               ["--data", sample, "--format", "brats", "--modality", "flair", "--image-glob", "Flair_*",
                                "--label-glob", "OT*", "--empty-fraction", "1", "--split", "all"])
        print("brats", name, rows[name], flush=True)
    (runs / "brats.json").write_text(json.dumps(rows, indent=1))
    return rows


def final(runs: Path) -> None:
    """The recipe on all 40 patients (the bundled model's val patients trained on too), last epoch, with the bundled
    ``flair``'s post-processing: ``RUNS/final/flair.pt``, ready for ``scripts/bundle_model.py`` (``alldev.final``
    trains it, and writes ``best.pt`` with that study's out-of-fold settings)."""
    alldev.final(runs)
    torch.save({**last_weights(runs / "final"), "postprocess": settings()["shipped"]}, runs / "final" / "flair.pt")


if __name__ == "__main__":
    step, runs = sys.argv[1], Path(sys.argv[2])
    if step == "summary":
        summarise(runs, Path(sys.argv[3]) if len(sys.argv) > 3 else None)
    elif step == "final":
        final(runs)
    elif step == "brats":
        brats(runs)
    elif step == "train":
        alldev.train(runs, int(sys.argv[3]))
    else:
        score(runs, int(sys.argv[3]))
