import torch

from tumorseg.models import MODELS, build_model, input_stride
from tumorseg.models.checkpoint import load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint


# models that cannot be built without arguments
REQUIRED_KWARGS = {"ensemble": {"members": [{"name": "unet", "kwargs": {"width": 4, "levels": 3}}] * 2}}


def test_round_trip_gives_identical_outputs(tmp_path):
    for name in MODELS:
        torch.manual_seed(0)
        kwargs = REQUIRED_KWARGS.get(name, {})
        model = build_model(name, **kwargs).eval()
        ckpt = make_checkpoint(name, kwargs, model, {"image_size": 64, "in_channels": 1}, metrics={"val_dice": 0.5})
        save_checkpoint(ckpt, tmp_path / f"{name}.pt")
        loaded = load_checkpoint(tmp_path / f"{name}.pt")
        again = model_from_checkpoint(loaded)
        s = input_stride(model) * 2
        x = torch.rand(1, 1, s, s)
        with torch.no_grad():
            assert torch.equal(model(x), again(x)), name
        assert loaded["metrics"] == {"val_dice": 0.5}
        assert loaded["tumorseg_version"]


def test_atomic_save_leaves_no_temp_files(tmp_path):
    model = build_model("seed-ae", width=4)
    save_checkpoint(make_checkpoint("seed-ae", {"width": 4}, model, {"image_size": 32}), tmp_path / "a.pt")
    save_checkpoint(make_checkpoint("seed-ae", {"width": 4}, model, {"image_size": 32}), tmp_path / "a.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]
