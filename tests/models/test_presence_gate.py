"""The tumour-presence gate: its encoder is the U-Net's, the gated U-Net empties gated-off slices, it round-trips
through checkpoints and ONNX, and its threshold keeps the asked share of reference positives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tumorseg.models import build_model
from tumorseg.models.monai_nets import ResidualUNet
from tumorseg.models.presence import (OFF_LOGIT, GatedUNet, PresenceNet, encoder_state_from_unet,
                                      standardise_foreground)
from tumorseg.training.presence import PresenceSet, operating_threshold, train_presence, val_summary

KW = {"width": 4, "levels": 3, "num_res_units": 1}


def test_encoder_from_unet_gives_the_unets_deepest_features():
    torch.manual_seed(0)
    unet = ResidualUNet(1, 1, **KW).eval()
    gate = PresenceNet(1, 4, 3, 1, standardise=False).eval()
    gate.encoder.load_state_dict(encoder_state_from_unet(unet.state_dict(), 3))  # strict: every key mapped
    x = torch.rand(2, 1, 32, 32)
    captured = {}
    deepest = unet.body.model[1].submodule[1].submodule  # the bottom ResidualUnit of a 3-level MONAI UNet
    deepest.register_forward_hook(lambda m, i, o: captured.setdefault("f", o))
    with torch.no_grad():
        unet(x)
        assert torch.allclose(gate.encoder(x), captured["f"], atol=1e-6)
        assert gate(x).shape == (2,)


def test_standardise_foreground_zero_mean_unit_sd_and_empty_images():
    x = torch.zeros(2, 1, 16, 16)
    x[0, 0, 4:12, 4:12] = torch.linspace(0.1, 0.9, 64).view(8, 8)
    z = standardise_foreground(x)
    fg = z[0, 0, 4:12, 4:12]
    assert abs(float(fg.mean())) < 1e-4 and abs(float(fg.std(unbiased=False)) - 1) < 1e-3
    assert float(z[0, 0, 0, 0]) == 0.0
    assert torch.equal(z[1], torch.zeros_like(z[1]))  # all background: stays 0, no NaN


def test_gated_unet_switches_off_whole_slices_only():
    torch.manual_seed(0)
    m = build_model("gated-unet", **KW, gate_width=4).eval()
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        seg = ResidualUNet.forward(m, x)
        g = m.gate_logits(x)
        m.gate_threshold = float(g.sort().values[1:].mean())
        out = m(x)
    on = g >= m.gate_threshold
    assert 0 < int(on.sum()) < 3
    assert torch.equal(out[on], seg[on])
    assert torch.all(out[~on] == OFF_LOGIT)
    assert torch.sigmoid(torch.tensor(OFF_LOGIT)) < 1e-12


def test_gated_unet_loads_plain_unet_weights_unchanged():
    unet = ResidualUNet(1, 1, **KW)
    gated = GatedUNet(1, 1, **KW, gate_width=4, gate_threshold=-1e4)  # gate always on
    missing, unexpected = gated.load_state_dict(unet.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("gate.") for k in missing)
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(gated.eval()(x), unet.eval()(x))


def test_gated_checkpoint_round_trip_and_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    from tumorseg.inference.onnx import OnnxModel, export_onnx
    from tumorseg.models.checkpoint import load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint

    torch.manual_seed(0)
    kw = {**KW, "gate_width": 4, "gate_threshold": 0.0}
    model = build_model("gated-unet", **kw).eval()
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        g = model.gate_logits(x).sort().values
        model.gate_threshold = float(g[1:3].mean())  # half way between two slices: two on, two off
    kw["gate_threshold"] = model.gate_threshold
    ckpt = make_checkpoint("gated-unet", kw, model, {"image_size": 32, "in_channels": 1, "threshold": 0.5})
    save_checkpoint(ckpt, tmp_path / "g.pt")
    back = model_from_checkpoint(load_checkpoint(tmp_path / "g.pt")).eval()
    with torch.no_grad():
        want = torch.sigmoid(model(x))[:, 0].numpy()
        assert np.allclose(torch.sigmoid(back(x))[:, 0].numpy(), want, atol=1e-6)
    export_onnx(tmp_path / "g.pt", tmp_path / "g.onnx")
    got = OnnxModel(tmp_path / "g.onnx").run((x[:, 0].numpy() * 255).astype(np.float32))
    assert np.allclose(got, want, atol=1e-4)
    assert (got.reshape(4, -1).max(1) < 1e-6).sum() == (want.reshape(4, -1).max(1) < 1e-6).sum() == 2


def test_operating_threshold_keeps_the_share_asked():
    s = np.arange(100, dtype=float)
    assert operating_threshold(s, 0.99) == 1.0  # drops one of 100
    assert operating_threshold(s, 1.0) == 0.0
    assert operating_threshold(s, 0.9) == 10.0
    assert (s >= operating_threshold(s, 0.95)).mean() >= 0.95
    with pytest.raises(ValueError):
        operating_threshold(np.array([]), 0.99)


def _blobs(n: int, present: bool, rng) -> np.ndarray:
    img = np.full((n, 32, 32), 60, np.uint8)
    if present:
        for i in range(n):
            y, x = rng.integers(6, 26, 2)
            img[i, y - 4:y + 4, x - 4:x + 4] = 230
    return img + rng.integers(0, 20, (n, 32, 32), dtype=np.uint8)


def test_train_presence_learns_a_bright_blob():
    rng = np.random.default_rng(0)
    pos, neg = _blobs(48, True, rng), _blobs(48, False, rng)
    data = PresenceSet(np.concatenate([pos, neg]), np.r_[np.ones(48, bool), np.zeros(48, bool)],
                       np.r_[np.ones(48, bool), np.zeros(48, bool)])
    model, hist = train_presence(data, data, width=4, levels=3, epochs=6, batch_size=16, lr=3e-3, keep=0.95,
                                 augment="none", progress=False)
    assert sum(h["best"] for h in hist) == 1
    best = next(h for h in hist if h["best"])
    assert best["auc"] > 0.9 and best["fp_rate"] < 0.5
    assert val_summary(np.r_[np.ones(48), np.zeros(48)], data, 0.95)["fp_rate"] == 0.0
