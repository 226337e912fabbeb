"""Build the T1-contrast training set of the bundled ``t1c`` model: figshare slices plus tumour-free LGG slices.

figshare (Cheng et al.) has a tumour on every slice, so a model trained on it
alone marks a tumour on every slice of a real volume. This script writes a
paired-folder dataset (``images/``, ``masks/``, ``metadata.csv``) that adds the
LGG slices whose mask is empty (no FLAIR abnormality, so no tumour): their
post-contrast channel (the same contrast as figshare) and, for training
patients only, their pre-contrast channel (more varied negatives). It also
writes ``split.json``:

* figshare: the train/val case ids stored in ``--base`` (the bundled model's
  90/10 patient split), so fine-tuning from it never trains on its val patients;
* LGG: patients dealt by a seeded shuffle into train / val / test
  (``--lgg-val``, ``--lgg-test`` patients); val and test hold post-contrast
  slices only (the input the model is for).

``--mirror`` adds, for figshare *training* slices whose tumour lies in one
hemisphere of an axial or coronal slice, a tumour-free copy (the tumour's half
replaced by the mirrored healthy half) and a two-tumour copy
(``tumorseg.data.mirror``): negatives from the same source as the positives, so
that "figshare-looking" stops meaning "tumour". ``--lgg-positives`` adds the
post-contrast channel of training patients' LGG tumour slices with their FLAIR
masks, so that "LGG-looking" stops meaning "no tumour".

``--folds K`` also writes the split files of a patient-grouped K-fold CV
(``folds/mixed/fold_k.json`` and ``folds/figshare/fold_k.json``): figshare's
fold k is exactly fold k of ``tumorseg cv --data FIGSHARE --folds K`` (same
records, same seed: the previous recipe's CV folds), and the LGG patients are
dealt into K folds of their own. ``mixed`` trains on both sources; ``figshare``
trains and validates on figshare alone (the previous recipe) and tests on the
same test slices, LGG ones included, so both recipes are scored on the same
slices. Train one fold with ``tumorseg train --split-file ... --out
RUN/fold_k`` (``scripts/gpu_campaign.py --campaign splits`` runs them all).
``--neg-share F`` (repeatable) adds ``folds/mixed-<100F>/``: the ``mixed`` folds with
fewer tumour-free training slices (F of each train part), scored on the same slices.
``--no-pre`` leaves the pre-contrast channel out (a smaller copy to send).

figshare images are linked, not copied. Nothing here is written into the
repository: pass an ``--out`` outside it.

    python scripts/prepare_t1c_data.py --figshare ../shared/data/figshare \\
        --lgg ../shared/data/lgg/kaggle_3m --out /tmp/t1c-data
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from tumorseg.data.mirror import find_midline, mirror_slice
from tumorseg.models.checkpoint import load_checkpoint, resolve_checkpoint
from tumorseg.data.formats.lgg import read_tif_channels
from tumorseg.data.imageio import read_mask


def write_folds(figshare: Path, rows: list[dict], out: Path, folds: int, seed: int,
                neg_shares: tuple[float, ...] = ()) -> None:
    """``out/mixed/fold_k.json`` and ``out/figshare/fold_k.json`` for k < ``folds`` (see the module docstring).

    LGG val and test parts hold post-contrast slices only; pre-contrast slices (and LGG tumour slices) of a
    fold's training patients join its ``mixed`` train part. For each share ``f`` in ``neg_shares`` also
    ``out/mixed-<100f>/fold_k.json``: the ``mixed`` split with a seeded random subset of its tumour-free LGG
    *training* slices, so that they make ``f`` of the train part (val and test unchanged: the same slices
    are scored).
    """
    from tumorseg.data.formats import read_dataset
    from tumorseg.data.records import SliceRecord
    from tumorseg.data.splits import kfold_split, save_split

    fs_records = read_dataset(figshare)  # what `tumorseg cv --data FIGSHARE` folds
    lgg = [r for r in rows if r["source"].startswith("lgg")]
    # one record per LGG patient slice position: its post-contrast slice stands for the patient's slices
    post = [SliceRecord(case_id=r["index"], image=Path(r["index"]), patient=r["patient_group"], label=r["label_name"])
            for r in lgg if r["source"] == "lgg-post" and r["label_name"] == "no tumour"]
    by_patient: dict[str, list[str]] = {}
    for r in lgg:
        by_patient.setdefault(r["patient_group"], []).append(r["index"])
    patient_of = {r.case_id: r.patient for r in post}
    free = {r["index"] for r in lgg if r["label_name"] == "no tumour"}
    for k in range(folds):
        fs = kfold_split(fs_records, folds, k, seed)
        lg = kfold_split(post, folds, k, seed)
        patients = {part: {patient_of[c] for c in ids} for part, ids in lg.items()}
        mixed = {"train": fs["train"] + [c for p in sorted(patients["train"]) for c in by_patient[p]],
                 "val": fs["val"] + lg["val"], "test": fs["test"] + lg["test"]}
        only_fs = {"train": fs["train"], "val": fs["val"], "test": fs["test"] + lg["test"]}
        splits = {"mixed": mixed, "figshare": only_fs}
        for share in neg_shares:
            negatives = [c for c in mixed["train"] if c in free]
            others = [c for c in mixed["train"] if c not in free]
            keep = min(len(negatives), round(share / (1 - share) * len(others)))
            kept = set(random.Random(seed + k).sample(negatives, keep))
            splits[f"mixed-{round(share * 100)}"] = {**mixed, "train": others + [c for c in negatives if c in kept]}
        for name, split in splits.items():
            (out / name).mkdir(parents=True, exist_ok=True)
            save_split(split, out / name / f"fold_{k}.json", "patient")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figshare", required=True, type=Path)
    ap.add_argument("--lgg", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--base", default="default", help="checkpoint whose stored train/val split figshare keeps")
    ap.add_argument("--lgg-val", type=int, default=6)
    ap.add_argument("--lgg-test", type=int, default=6)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--mirror", action="store_true", help="add mirrored figshare training slices (see above)")
    ap.add_argument("--no-pre", action="store_true", help="leave out the pre-contrast channel")
    ap.add_argument("--folds", type=int, default=0, help="also write the split files of a K-fold CV (see above)")
    ap.add_argument("--neg-share", type=float, action="append", default=[],
                    help="with --folds: also folds/mixed-<100F>/, tumour-free LGG slices making F of each train part "
                         "(repeatable, 0 < F < 1)")
    ap.add_argument("--lgg-positives", action="store_true", help="add LGG training patients' tumour slices (post)")
    a = ap.parse_args(argv)

    base = load_checkpoint(resolve_checkpoint(a.base))
    fs_split = base.get("split") or {}
    if not fs_split.get("train"):
        sys.exit(f"{a.base}: holds no stored split; pass a checkpoint trained on figshare.")
    (a.out / "images").mkdir(parents=True, exist_ok=True)
    (a.out / "masks").mkdir(parents=True, exist_ok=True)
    rows, split = [], {"train": [], "val": [], "test": []}
    n_mirror = [0, 0]  # [two-tumour copies, tumour-free copies]

    with open(a.figshare / "metadata.csv", newline="") as f:
        meta = {r["index"]: r for r in csv.DictReader(f) if r["split"] == "dev"}
    where = {c: k for k in ("train", "val", "test") for c in fs_split.get(k, [])}
    for idx, r in meta.items():
        for sub in ("images", "masks"):
            link = a.out / sub / f"{idx}.png"
            if not link.exists():
                link.symlink_to((a.figshare / sub / f"{idx}.png").resolve())
        rows.append({"index": idx, "patient_group": r["patient_group"], "label_name": r["label_name"], "source": "figshare"})
        split[where.get(idx, "train")].append(idx)
        if a.mirror and where.get(idx, "train") == "train":
            for cid, img, mask in _mirrored(a.figshare, idx):
                Image.fromarray(img).save(a.out / "images" / f"{cid}.png")
                Image.fromarray(mask.astype(np.uint8) * 255).save(a.out / "masks" / f"{cid}.png")
                label = "no tumour" if not mask.any() else r["label_name"]
                rows.append({"index": cid, "patient_group": r["patient_group"], "label_name": label,
                             "source": "figshare-mirror"})
                split["train"].append(cid)
                n_mirror[label == "no tumour"] += 1

    patients = sorted(d for d in a.lgg.iterdir() if d.is_dir() and d.name.startswith("TCGA_"))
    order = patients[:]
    random.Random(a.seed).shuffle(order)
    role = {p.name: "val" for p in order[: a.lgg_val]}
    role |= {p.name: "test" for p in order[a.lgg_val: a.lgg_val + a.lgg_test]}
    empty = np.zeros((256, 256), np.uint8)
    n_neg = {"train": 0, "val": 0, "test": 0}
    for d in patients:
        part = role.get(d.name, "train")
        for mask_path in sorted(d.glob("*_mask.tif")):
            mask = read_mask(mask_path)
            if mask.any():
                if a.lgg_positives and part == "train":  # a FLAIR abnormality: its post-contrast slice
                    cid = f"{mask_path.stem[: -len('_mask')]}_post"
                    img = read_tif_channels(mask_path.with_name(mask_path.name.replace("_mask", "")))
                    Image.fromarray(img[2]).save(a.out / "images" / f"{cid}.png")
                    Image.fromarray(mask.astype(np.uint8) * 255).save(a.out / "masks" / f"{cid}.png")
                    rows.append({"index": cid, "patient_group": d.name, "label_name": "lgg", "source": "lgg-post"})
                    split[part].append(cid)
                continue  # not a known tumour-free T1 slice
            img = read_tif_channels(mask_path.with_name(mask_path.name.replace("_mask", "")))
            # pre-contrast for training patients only; with --folds every patient trains in some fold
            channels = {"post": 2, "pre": 0} if (part == "train" or a.folds) and not a.no_pre else {"post": 2}
            for name, c in channels.items():
                cid = f"{mask_path.stem[: -len('_mask')]}_{name}"
                Image.fromarray(img[c]).save(a.out / "images" / f"{cid}.png")
                Image.fromarray(empty[: img.shape[1], : img.shape[2]]).save(a.out / "masks" / f"{cid}.png")
                rows.append({"index": cid, "patient_group": d.name, "label_name": "no tumour", "source": f"lgg-{name}"})
                split[part].append(cid)
                n_neg[part] += 1
    with open(a.out / "metadata.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["index", "patient_group", "label_name", "source"])
        w.writeheader()
        w.writerows(rows)
    (a.out / "split.json").write_text(json.dumps({"grouped_by": "patient", **split}, indent=1))
    if a.folds:
        if any(not 0 < f < 1 for f in a.neg_share):
            sys.exit(f"--neg-share {a.neg_share}: each share must be between 0 and 1.")
        write_folds(a.figshare, rows, a.out / "folds", a.folds, a.seed, tuple(a.neg_share))
    print(json.dumps({"slices": {k: len(v) for k, v in split.items()}, "tumour_free": n_neg,
                      "mirrored": {"tumour_free": n_mirror[1], "two_tumours": n_mirror[0]},
                      "lgg_patients": {k: sorted(p for p, r in role.items() if r == k) for k in ("val", "test")}}))
    return 0


def _mirrored(root: Path, idx: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The tumour-free and two-tumour mirror copies of figshare slice ``idx`` (none if it cannot be mirrored)."""
    img = np.asarray(Image.open(root / "images" / f"{idx}.png").convert("L"))
    mask = read_mask(root / "masks" / f"{idx}.png")
    line = find_midline(img, ndi.binary_dilation(mask, iterations=6))
    out = []
    for keep, tag in (("healthy", "mirror_free"), ("tumour", "mirror_two")):
        got = mirror_slice(img, mask, line, keep=keep)
        if got is not None:
            out.append((f"{idx}_{tag}", *got))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
