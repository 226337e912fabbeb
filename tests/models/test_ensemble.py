"""Ensembles: the mean of the members' probabilities, one ordinary checkpoint (load, predict, ONNX), clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tumorseg.cli import main
from tumorseg.errors import CheckpointError
from tumorseg.models import build_model
from tumorseg.models.checkpoint import load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint
from tumorseg.models.ensemble import make_ensemble

KW = {"width": 4, "levels": 3, "num_res_units": 1}
PRE = {"image_size": 32, "in_channels": 1, "threshold": 0.5}


def _ckpt(path, seed, name="unet", kwargs=KW, **pre):
    torch.manual_seed(seed)
    model = build_model(name, **kwargs)
    save_checkpoint(make_checkpoint(name, kwargs, model, {**PRE, **pre}, postprocess={"threshold": 0.4 + seed / 100}),
                    path)
    return path


def test_output_is_the_mean_of_member_probabilities():
    torch.manual_seed(0)
    specs = [{"name": "unet", "kwargs": KW}, {"name": "unet", "kwargs": {**KW, "levels": 4}}]
    ens = build_model("ensemble", members=specs).eval()
    assert ens.stride == 8  # lcm(4, 8)
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        want = torch.stack([torch.sigmoid(m(x)) for m in ens.members]).mean(0)
        got = torch.sigmoid(ens(x))
    assert torch.allclose(got, want, atol=1e-5) and torch.isfinite(ens(x)).all()


class _Const(torch.nn.Module):
    """A stand-in member whose probability map is fixed: ``prob`` everywhere, or only inside ``box``."""

    returns_logits = True

    def __init__(self, prob, box=None):
        super().__init__()
        self.prob, self.box = prob, box

    def probabilities(self, out):
        return torch.sigmoid(out)

    def forward(self, x):
        p = torch.full_like(x[:, :1], 1e-4)
        if self.box is None:
            p[:] = self.prob
        else:
            y0, y1, x0, x1 = self.box
            p[..., y0:y1, x0:x1] = self.prob
        return torch.logit(p)


def test_agree_keeps_the_first_members_output_only_near_what_the_others_mark():
    specs = [{"name": "unet", "kwargs": KW}, {"name": "unet", "kwargs": KW}]
    ens = build_model("ensemble", members=specs, combine="agree", agree_threshold=0.5, agree_radius=2).eval()
    ens.members = torch.nn.ModuleList([_Const(0.9), _Const(0.8, box=(10, 14, 10, 14))])
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        p = torch.sigmoid(ens(x))[0, 0]
    kept = p > 0.5
    assert kept[8:16, 8:16].all()                     # the box dilated by the radius
    assert kept.sum() == 64 and torch.allclose(p[kept], torch.tensor(0.9))
    assert p[~kept].max() < 1e-6                       # elsewhere: off
    ens.members[1] = _Const(0.4)                       # the other member finds nothing above its threshold
    with torch.no_grad():
        assert torch.sigmoid(ens(x)).max() < 1e-6      # an empty slice
    ens.agree_threshold = 0.3
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(ens(x)), torch.tensor(0.9))
    with pytest.raises(ValueError, match="mean, agree"):
        build_model("ensemble", members=specs, combine="vote")
    # a radius that covers the image makes the other member a whole-image vote: the first member's whole output
    ens.agree_threshold, ens.agree_radius = 0.5, 31
    ens.members[1] = _Const(0.8, box=(0, 1, 0, 1))     # one corner pixel
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(ens(x)), torch.tensor(0.9))


def test_window_max_is_the_square_max_pool():
    from tumorseg.models.ensemble import window_max

    p = torch.rand(2, 1, 40, 33)
    assert window_max(p, 0) is p
    for r in (1, 3, 8, 20):
        assert torch.equal(window_max(p, r), torch.nn.functional.max_pool2d(p, 2 * r + 1, stride=1, padding=r))
    assert torch.equal(window_max(p, 39), p.amax((-2, -1), keepdim=True).expand_as(p))
    assert torch.equal(window_max(p, 39), torch.nn.functional.max_pool2d(p, 79, stride=1, padding=39))


def test_agree_ensemble_from_the_command_line_loads_and_exports(tmp_path):
    a, b = _ckpt(tmp_path / "a.pt", 0), _ckpt(tmp_path / "b.pt", 1)
    out = tmp_path / "agree.pt"
    assert main(["ensemble", str(a), str(b), "--combine", "agree", "--agree-threshold", "0.45",
                 "--agree-radius", "3", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out)
    kw = ckpt["model"]["kwargs"]
    assert (kw["combine"], kw["agree_threshold"], kw["agree_radius"]) == ("agree", 0.45, 3)
    ens = model_from_checkpoint(ckpt)
    first, second = (model_from_checkpoint(load_checkpoint(p)) for p in (a, b))
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        near = torch.nn.functional.max_pool2d(torch.sigmoid(second(x)), 7, stride=1, padding=3) >= 0.45
        want = torch.where(near, torch.sigmoid(first(x)), torch.zeros(()))[:, 0].numpy()
        assert np.allclose(torch.sigmoid(ens(x))[:, 0].numpy(), want, atol=1e-5)
    assert main(["ensemble", str(a), str(b), "--combine", "agree", "--agree-threshold", "1.5",
                 "--out", str(tmp_path / "x.pt")]) != 0
    gated = tmp_path / "gated.pt"
    assert main(["ensemble", str(a), str(b), "--combine", "agree", "--set", "presence_px=300", "--set",
                 "presence_prob=0.7", "--out", str(gated)]) == 0
    post = load_checkpoint(gated)["postprocess"]
    assert (post["presence_px"], post["presence_prob"]) == (300, 0.7)
    for bad in ("presence_px=-1", "presence_pixels=3", "tta=0.5", "presence_px=1.5", "threshold"):
        assert main(["ensemble", str(a), str(b), "--set", bad, "--out", str(tmp_path / "y.pt")]) != 0
    assert not (tmp_path / "y.pt").exists()
    pytest.importorskip("onnxruntime")
    from tumorseg.inference.onnx import OnnxModel, export_onnx

    export_onnx(out, tmp_path / "agree.onnx")
    got = OnnxModel(tmp_path / "agree.onnx").run((x[:, 0].numpy() * 255).astype(np.float32))
    assert np.allclose(got, want, atol=1e-4)


def test_make_ensemble_checkpoint_loads_predicts_and_exports(tmp_path):
    paths = [_ckpt(tmp_path / f"m{i}.pt", i) for i in range(3)]
    assert main(["ensemble", *map(str, paths), "--out", str(tmp_path / "ens.pt")]) == 0
    ckpt = load_checkpoint(tmp_path / "ens.pt")
    assert ckpt["model"]["name"] == "ensemble" and len(ckpt["ensemble_of"]) == 3
    assert ckpt["postprocess"]["threshold"] == pytest.approx(0.40)  # the first member's
    ens = model_from_checkpoint(ckpt)
    members = [model_from_checkpoint(load_checkpoint(p)) for p in paths]
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        want = torch.stack([torch.sigmoid(m(x)) for m in members]).mean(0)[:, 0].numpy()
        assert np.allclose(torch.sigmoid(ens(x))[:, 0].numpy(), want, atol=1e-5)

    from tumorseg.inference.predictor import Predictor

    p = Predictor.from_checkpoint(tmp_path / "ens.pt", backend="torch")
    img = (np.random.default_rng(0).random((40, 48)) * 255).astype(np.uint8)
    assert p.predict(img).shape == (40, 48)

    pytest.importorskip("onnxruntime")
    from tumorseg.inference.onnx import OnnxModel, export_onnx

    export_onnx(tmp_path / "ens.pt", tmp_path / "ens.onnx")
    got = OnnxModel(tmp_path / "ens.onnx").run((x[:, 0].numpy() * 255).astype(np.float32))
    assert np.allclose(got, want, atol=1e-4)


def test_members_must_read_input_alike(tmp_path, capsys):
    a = _ckpt(tmp_path / "a.pt", 0)
    b = _ckpt(tmp_path / "b.pt", 1, image_size=64)
    with pytest.raises(CheckpointError, match="image_size"):
        make_ensemble([a, b])
    with pytest.raises(CheckpointError, match="2 to 16"):
        make_ensemble([a])
    assert main(["ensemble", str(a), str(b), "--out", str(tmp_path / "e.pt")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "b.pt" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "e.pt").exists()
    # a key left out means its default: an older checkpoint without "intensity" reads input like one with "none"
    c = _ckpt(tmp_path / "c.pt", 2, intensity="none")
    assert make_ensemble([a, c])["model"]["kwargs"]["members"]
    with pytest.raises(CheckpointError, match="intensity"):
        make_ensemble([a, _ckpt(tmp_path / "d.pt", 3, intensity="p99")])
    # three slices of one volume are not three MRI channels: a 2.5-D model and a 3-channel one never mix
    kw3 = {**KW, "in_channels": 3}
    stack = _ckpt(tmp_path / "s.pt", 4, kwargs=kw3, in_channels=3, context_slices=1)
    with pytest.raises(CheckpointError, match="context_slices"):
        make_ensemble([stack, _ckpt(tmp_path / "m.pt", 5, kwargs=kw3, in_channels=3)])
    assert make_ensemble([stack, _ckpt(tmp_path / "s2.pt", 6, kwargs=kw3, in_channels=3, context_slices=1)])[
        "preprocessing"]["context_slices"] == 1


def test_ensembles_do_not_nest_and_bad_member_specs_are_refused(tmp_path):
    a, b = _ckpt(tmp_path / "a.pt", 0), _ckpt(tmp_path / "b.pt", 1)
    save_checkpoint(make_ensemble([a, b]), tmp_path / "e.pt")
    with pytest.raises(CheckpointError, match="ensemble already"):
        make_ensemble([tmp_path / "e.pt", a])
    bad = load_checkpoint(tmp_path / "e.pt")
    bad["model"]["kwargs"]["members"] = [{"name": "ensemble", "kwargs": {}}, {"name": "unet", "kwargs": KW}]
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="do not nest"):
        load_checkpoint(tmp_path / "bad.pt")
    bad["model"]["kwargs"]["members"] = "unet"
    torch.save(bad, tmp_path / "bad2.pt")
    with pytest.raises(CheckpointError, match="2 to 16"):
        load_checkpoint(tmp_path / "bad2.pt")


def test_split_is_kept_when_shared_and_merged_into_train_otherwise(tmp_path):
    a, b, c = (_ckpt(tmp_path / f"{n}.pt", i) for i, n in enumerate("abc"))
    for path, split in ((a, {"train": ["1", "2"], "val": ["3"], "test": ["4"]}),
                        (b, {"train": ["1", "2"], "val": ["3"], "test": ["4"]}),
                        (c, {"train": ["4", "2"], "val": ["1"], "test": ["3"]})):
        ck = load_checkpoint(path)
        ck["split"], ck["split_patients"] = split, {"1": "p1", "4": "p4"}
        save_checkpoint(ck, path)
    same = make_ensemble([a, b])
    assert same["split"] == {"train": ["1", "2"], "val": ["3"], "test": ["4"]}
    mixed = make_ensemble([a, b, c])
    assert mixed["split"] == {"train": ["1", "2", "4"], "val": ["3"], "test": []}  # trained on, else validated on
    assert mixed["split_patients"] == {"1": "p1", "4": "p4"}


def test_decide_cascade_draws_the_first_models_mask_on_the_slices_the_second_marks(tmp_path):
    """--combine decide: the second member's own post-processed output (its threshold, TTA, clean-up) decides per
    slice; the first member's probabilities are kept on the slices it marks, 0 elsewhere; two members only."""
    from tumorseg.inference.postprocess import apply
    from tumorseg.inference.predictor import predict_probabilities

    a, b = _ckpt(tmp_path / "a.pt", 1), _ckpt(tmp_path / "b.pt", 2)
    ck_b = load_checkpoint(b)
    ck_b["postprocess"] = {"threshold": 0.5, "tta": True, "min_component_px": 4}
    save_checkpoint(ck_b, b)
    out = tmp_path / "cascade.pt"
    assert main(["ensemble", str(a), str(b), "--combine", "decide", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt["model"]["kwargs"]["decide_post"] == {"threshold": 0.5, "tta": True, "min_component_px": 4,
                                                      "presence_prob": 0.0, "presence_px": 0}
    assert ckpt["postprocess"]["threshold"] == pytest.approx(0.41)  # the drawing member's own
    ens = model_from_checkpoint(ckpt)
    first, second = (model_from_checkpoint(load_checkpoint(p)) for p in (a, b))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, 32, 32), dtype=np.uint8)
    for tta in (True, False):  # TTA on: each member's own setting (here both with TTA); off: off for both
        vote = predict_probabilities(second, images, tta=tta)
        ens.decide_post["threshold"] = float(np.median(vote.reshape(6, -1).max(1)))  # some slices marked, some not
        draw = predict_probabilities(first, images, tta=tta)
        marked = apply(vote, {**ck_b["postprocess"], "threshold": ens.decide_post["threshold"]}).reshape(6, -1).any(1)
        assert 0 < marked.sum() < 6
        got = predict_probabilities(ens, images, tta=tta)
        assert np.allclose(got[marked], draw[marked], atol=1e-6) and (got[~marked] == 0).all()
    c = _ckpt(tmp_path / "c.pt", 3)
    assert main(["ensemble", str(a), str(b), str(c), "--combine", "decide", "--out", str(tmp_path / "z.pt")]) != 0


def test_decide_cascade_exports_to_one_onnx_file_that_applies_the_same_rule(tmp_path, monkeypatch, capsys):
    """The ONNX export of a cascade holds both members (outputs probability, decide_probability); ONNX Runtime
    gives the PyTorch cascade's probabilities, with each member's TTA as its own settings say, through the file
    itself and through a Predictor of the checkpoint (auto backend: the cached export)."""
    pytest.importorskip("onnxruntime")
    from tumorseg.inference.onnx import DECIDE_NAME, OUTPUT_NAME, OnnxModel
    from tumorseg.inference.predictor import Predictor, onnx_probabilities, predict_probabilities

    monkeypatch.setenv("TUMORSEG_CACHE_DIR", str(tmp_path / "cache"))
    a, b = _ckpt(tmp_path / "a.pt", 1), _ckpt(tmp_path / "b.pt", 2)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, 32, 32), dtype=np.uint8)
    second = model_from_checkpoint(load_checkpoint(b))
    threshold = float(np.median(predict_probabilities(second, images, tta=True).reshape(6, -1).max(1)))
    ck_b = load_checkpoint(b)
    ck_b["postprocess"] = {"threshold": threshold, "tta": True}  # some slices marked, some not
    save_checkpoint(ck_b, b)
    out = tmp_path / "cascade.pt"
    assert main(["ensemble", str(a), str(b), "--combine", "decide", "--out", str(out)]) == 0
    ens = model_from_checkpoint(load_checkpoint(out))
    onnx_file = tmp_path / "cascade.onnx"
    assert main(["export", "--model", str(out), "--onnx", str(onnx_file)]) == 0
    assert "a cascade: 'probability' is the mask's" in capsys.readouterr().out
    om = OnnxModel(onnx_file)
    assert om.outputs == [OUTPUT_NAME, DECIDE_NAME] and om.decide_post["tta"] is True
    for tta in (False, True):
        want = predict_probabilities(ens, images, tta=tta)
        assert 0 < (want.reshape(6, -1).max(1) > 0).sum() < 6 or not tta  # the threshold was chosen with TTA
        got = onnx_probabilities(om, images, batch_size=4, tta=tta)
        assert np.abs(got - want).max() < 1e-4
    pred = Predictor.from_checkpoint(out, device="cpu", backend="onnx")
    assert pred.backend == "onnx" and pred.onnx.decide_post is not None
    images_big = [np.kron(im, np.ones((2, 2), np.uint8)) for im in images]  # 64², resized to 32² inside
    torch_pred = Predictor.from_checkpoint(out, device="cpu", backend="torch")
    for p, q in zip(pred.probabilities(images_big), torch_pred.probabilities(images_big)):
        assert p.shape == (64, 64) and np.abs(p - q).max() < 1e-4
