"""scripts/train_presence_gate.py end to end on a tiny synthetic cache: a CV fold writes its metrics and scores, the
final mode writes a gated-unet checkpoint that predicts and empties the slices its gate turns off."""

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch

from tumorseg.models import build_model
from tumorseg.models.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("train_presence_gate", ROOT / "scripts" / "train_presence_gate.py")
gate_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate_script)

S = 32


def _images(n, rng, bright):
    img = rng.integers(20, 60, (n, S, S), dtype=np.uint8)
    if bright:
        img[:, 10:18, 10:18] = 220
    return img


def _cache(path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {}
    fs_n = 40
    arrays.update(fs_images=_images(fs_n, rng, True), fs_present=np.ones(fs_n, bool),
                  fs_patient=np.array([f"p{i // 2}" for i in range(fs_n)]), fs_case=np.array([str(i) for i in range(fs_n)]),
                  fs_label=np.array(["glioma", "meningioma"] * (fs_n // 2)))
    lg_n = 60
    present = np.arange(lg_n) % 3 == 0
    lgg = np.where(present[:, None, None], _images(lg_n, rng, True), _images(lg_n, rng, False))
    pats = np.array([f"L{i // 6}" for i in range(lg_n)])
    cases = np.array([f"L{i // 6}_{i % 6 + 1}" for i in range(lg_n)])
    for name in ("lgg", "pre"):
        arrays.update({f"{name}_images": lgg, f"{name}_present": present, f"{name}_patient": pats,
                       f"{name}_case": cases, f"{name}_label": np.array(["None"] * lg_n)})
    for name in ("b13", "b13all", "gli"):
        arrays.update({f"{name}_images": lgg[:12], f"{name}_present": present[:12], f"{name}_patient": pats[:12],
                       f"{name}_case": cases[:12], f"{name}_label": np.array(["None"] * 12)})
    np.savez(path, **arrays)


def _unet(path: Path) -> Path:
    kw = {"width": 4, "levels": 3, "num_res_units": 1}
    model = build_model("unet", **kw)
    ckpt = make_checkpoint("unet", kw, model, {"image_size": S, "in_channels": 1, "threshold": 0.5},
                           split={"train": [str(i) for i in range(30)], "val": [str(i) for i in range(30, 40)]},
                           postprocess={"threshold": 0.5})
    save_checkpoint(ckpt, path)
    return path


def test_cv_fold_and_final_checkpoint(tmp_path):
    _cache(tmp_path / "cache.npz")
    unet = _unet(tmp_path / "unet.pt")
    common = ["--cache", str(tmp_path / "cache.npz"), "--unet", str(unet), "--epochs", "2", "--keep", "0.9"]
    assert gate_script.main(["--mode", "cv", "--fold", "0", "--out", str(tmp_path / "cv"), *common]) == 0
    fold = json.loads((tmp_path / "cv" / "fold_0.json").read_text())
    assert len(fold["history"]) == 2 and sum(h["best"] for h in fold["history"]) == 1
    assert 0 <= fold["test"]["lgg_tumour_free_marked"] <= 1 and fold["test"]["figshare_slices"] > 0
    rows = list(csv.DictReader(open(tmp_path / "cv" / "fold_0_scores.csv")))
    assert {r["source"] for r in rows} == {"figshare", "lgg_post"}
    # no test patient of fold 0 was trained on: the fold's LGG test patients are exactly the CSV's
    assert sorted({r["patient"] for r in rows if r["source"] == "lgg_post"}) == fold["test"]["lgg_patients"]

    out_ckpt = tmp_path / "final" / "gated.pt"
    assert gate_script.main(["--mode", "final", "--out", str(tmp_path / "final"), "--out-checkpoint",
                             str(out_ckpt), *common]) == 0
    ckpt = load_checkpoint(out_ckpt)
    assert ckpt["model"]["name"] == "gated-unet"
    assert ckpt["model"]["kwargs"]["gate_threshold"] == json.loads((tmp_path / "final" / "final.json").read_text())[
        "threshold"]
    from tumorseg.inference.predictor import Predictor

    p = Predictor.from_checkpoint(out_ckpt, backend="torch")
    imgs = np.load(tmp_path / "cache.npz")["lgg_images"][:6]
    gate = p.model.gate_logits(torch.from_numpy(imgs).float()[:, None] / 255)
    probs = p.probabilities(list(imgs))
    for g, pr in zip(gate, probs):
        if g < p.model.gate_threshold:
            assert pr.max() < 1e-6  # gated off: an empty mask whatever the threshold
