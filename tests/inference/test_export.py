"""ONNX export and the ONNX Runtime backend: metadata, dynamic batch, agreement with PyTorch, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import shared_data

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from tumorseg.cli import main  # noqa: E402
from tumorseg.data.imageio import read_gray  # noqa: E402
from tumorseg.errors import CheckpointError, TumorsegError  # noqa: E402
from tumorseg.inference.files import predict_files  # noqa: E402
from tumorseg.inference.onnx import OnnxModel, export_onnx, find_onnx  # noqa: E402
from tumorseg.inference.predictor import Predictor  # noqa: E402
from tumorseg.models import build_model  # noqa: E402
from tumorseg.models.checkpoint import make_checkpoint, save_checkpoint  # noqa: E402

KWARGS = {"width": 8, "levels": 3, "num_res_units": 1}
POST = {"threshold": 0.45, "tta": False, "min_component_px": 5}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small residual U-Net checkpoint (64×64, logits) and its ONNX export."""
    d = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    model = build_model("unet", **KWARGS)
    ckpt = make_checkpoint("unet", KWARGS, model, {"image_size": 64, "in_channels": 1, "threshold": 0.45},
                           postprocess=POST, metrics={"val_dice": 0.5})
    save_checkpoint(ckpt, d / "m.pt")
    return d / "m.pt", export_onnx(d / "m.pt", d / "m.onnx")


def test_metadata_in_graph_and_beside_it(exported):
    ckpt, onnx_path = exported
    meta = OnnxModel(onnx_path).meta
    assert meta["image_size"] == 64 and meta["in_channels"] == 1
    assert {k: meta["postprocess"][k] for k in POST} == POST  # plus the presence gate, off by default
    assert meta["postprocess"]["presence_prob"] == 0 and meta["postprocess"]["presence_px"] == 0
    assert meta["model"] == {"name": "unet", "kwargs": KWARGS}
    assert "0..255" in meta["input"]
    assert json.loads(onnx_path.with_suffix(".json").read_text()) == meta


@pytest.mark.parametrize("batch", [1, 5])
def test_dynamic_batch_raw_pixel_input(exported, batch):
    ckpt, onnx_path = exported
    x = np.random.default_rng(batch).integers(0, 256, (batch, 64, 64)).astype(np.uint8)
    got = OnnxModel(onnx_path).run(x)
    model = Predictor.from_checkpoint(ckpt, "cpu", backend="torch").model
    with torch.no_grad():
        ref = torch.sigmoid(model(torch.from_numpy(x).float()[:, None] / 255))[:, 0].numpy()
    assert got.shape == (batch, 64, 64) and got.dtype == np.float32
    assert np.abs(got - ref).max() < 1e-4


@pytest.mark.parametrize("tta", [False, True])
def test_onnx_and_torch_agree_on_real_slices(exported, tta):
    """Max abs difference of probabilities < 1e-4 on real 256×256 and 512×512 slices."""
    files = sorted(shared_data("figshare", "images").glob("*.png"))[:6]
    files += sorted(shared_data("figshare-native", "images").glob("*.png"))[:3]
    images = [read_gray(p) for p in files]
    ckpt, onnx_path = exported
    torch_p = Predictor.from_checkpoint(ckpt, "cpu", backend="torch", tta=tta)
    onnx_p = Predictor.from_checkpoint(onnx_path, "cpu", tta=tta)
    assert (torch_p.backend, onnx_p.backend) == ("torch", "onnx")
    for a, b, im in zip(torch_p.probabilities(images, 4), onnx_p.probabilities(images, 4), images):
        assert a.shape == b.shape == im.shape
        assert float(np.abs(a - b).max()) < 1e-4


def test_checkpoint_postprocess_and_tta_are_used(exported):
    ckpt, onnx_path = exported
    p = Predictor.from_checkpoint(onnx_path, "cpu")
    assert p.threshold == 0.45 and p.post["min_component_px"] == 5 and p.post["tta"] is False
    assert Predictor.from_checkpoint(onnx_path, "cpu", tta=True).post["tta"] is True


def test_backend_onnx_on_a_checkpoint_uses_the_cache(exported, tmp_path, monkeypatch):
    ckpt, _ = exported
    monkeypatch.setenv("TUMORSEG_CACHE_DIR", str(tmp_path / "cache"))
    # m.onnx sits beside m.pt and carries m.pt's SHA-256, so auto finds it without exporting
    assert find_onnx(ckpt) == ckpt.with_suffix(".onnx")
    assert Predictor.from_checkpoint(ckpt, "cpu").backend == "onnx+torch"
    (ckpt.parent / "m.onnx").rename(ckpt.parent / "kept.onnx")
    try:
        assert Predictor.from_checkpoint(ckpt, "cpu").backend == "torch"  # auto: nothing ready, no export
        p = Predictor.from_checkpoint(ckpt, "cpu", backend="onnx")  # exports into the cache
        assert p.backend == "onnx" and p.onnx.path.parent == tmp_path / "cache" / "onnx"
        assert Predictor.from_checkpoint(ckpt, "cpu").backend == "onnx+torch"  # auto: the cached export is ready
    finally:
        (ckpt.parent / "kept.onnx").rename(ckpt.parent / "m.onnx")


def test_predict_files_same_masks_on_both_backends(exported, tmp_path):
    ckpt, onnx_path = exported
    src = shared_data("figshare-native", "images")
    files = sorted(src.glob("*.png"))[:4]
    a = predict_files(files, ckpt, tmp_path / "t", backend="torch", progress=False, batch_size=3)
    b = predict_files(files, onnx_path, tmp_path / "o", backend="onnx", progress=False, batch_size=3)
    for x, y in zip(a, b):
        mx, my = np.asarray(Image.open(x)), np.asarray(Image.open(y))
        assert mx.shape == (512, 512)
        assert np.mean(mx != my) < 1e-3  # only pixels within 1e-4 of the threshold may flip


def test_reader_error_surfaces_from_the_prefetch_thread(exported, tmp_path):
    ckpt, _ = exported
    for i in range(5):
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "5.png").write_bytes(b"not a png")
    with pytest.raises(TumorsegError, match="5.png"):
        predict_files([tmp_path], ckpt, tmp_path / "out", backend="torch", batch_size=2, progress=False)


def test_errors(exported, tmp_path):
    ckpt, onnx_path = exported
    with pytest.raises(TumorsegError, match="unknown backend"):
        Predictor.from_checkpoint(ckpt, "cpu", backend="tensorrt")
    with pytest.raises(TumorsegError, match="ONNX file"):
        Predictor.from_checkpoint(onnx_path, "cpu", backend="torch")
    (tmp_path / "junk.onnx").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable ONNX"):
        OnnxModel(tmp_path / "junk.onnx")
    with pytest.raises(CheckpointError, match="not found"):
        OnnxModel(tmp_path / "missing.onnx")


def test_cli_export_and_predict(exported, tmp_path, capsys):
    ckpt, _ = exported
    assert main(["export", "--model", str(ckpt), "--onnx", str(tmp_path / "cli.onnx")]) == 0
    assert (tmp_path / "cli.onnx").is_file() and (tmp_path / "cli.json").is_file()
    Image.fromarray(np.full((40, 30), 90, np.uint8)).save(tmp_path / "x.png")
    assert main(["predict", str(tmp_path / "x.png"), "--model", str(tmp_path / "cli.onnx"), "--out",
                 str(tmp_path / "out"), "--tta", "--no-progress"]) == 0
    assert Image.open(tmp_path / "out" / "x.png").size == (30, 40)
    assert main(["predict", str(tmp_path / "x.png"), "--model", str(tmp_path / "cli.onnx"), "--out",
                 str(tmp_path / "o2"), "--backend", "torch"]) == 2
    assert "ONNX file" in capsys.readouterr().err


def test_a_failed_check_leaves_no_file_behind(exported, tmp_path, monkeypatch):
    """Regression: export wrote the .onnx, then checked it; a failed check left the unchecked file for find_onnx."""
    ckpt, good = exported
    out = tmp_path / "m.onnx"
    real_run = OnnxModel.run_all
    monkeypatch.setattr(OnnxModel, "run_all",  # a graph that disagrees
                        lambda self, x, outputs=None: [y + 0.5 for y in real_run(self, x, outputs)])
    with pytest.raises(TumorsegError, match="disagrees with PyTorch"):
        export_onnx(ckpt, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no .onnx, no .json, no temporary file

    out.write_bytes(good.read_bytes())  # an earlier good export stays as it was
    with pytest.raises(TumorsegError, match="disagrees with PyTorch"):
        export_onnx(ckpt, out)
    assert out.read_bytes() == good.read_bytes() and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]

    monkeypatch.setenv("TUMORSEG_CACHE_DIR", str(tmp_path / "cache"))
    from tumorseg.inference import onnx as onnx_mod

    monkeypatch.setattr(onnx_mod, "export_apart", export_onnx)  # here, where the graph is made to disagree
    (ckpt.parent / "m.onnx").rename(ckpt.parent / "kept.onnx")
    try:
        with pytest.raises(TumorsegError, match="disagrees with PyTorch"):
            Predictor.from_checkpoint(ckpt, "cpu", backend="onnx")  # exports into the cache, check fails
        assert find_onnx(ckpt) is None and not list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    finally:
        (ckpt.parent / "kept.onnx").rename(ckpt.parent / "m.onnx")


def test_auto_runs_single_images_in_pytorch_and_batches_in_onnx(exported, monkeypatch):
    """Regression: serve/predict ran single images in ONNX Runtime, slower than eager at batch 1 on 512² (0.64×)."""
    ckpt, _ = exported
    p = Predictor.from_checkpoint(ckpt, "cpu")  # auto, m.onnx ready beside m.pt
    assert p.backend == "onnx+torch" and p.model is not None and p.onnx is not None
    assert [p.backend_for(n) for n in (1, 2, 16)] == ["torch", "onnx", "onnx"]

    def no_onnx(self, x, outputs=None):
        raise RuntimeError("ONNX Runtime was called")

    monkeypatch.setattr(OnnxModel, "run_all", no_onnx)
    image = np.random.default_rng(0).integers(0, 256, (80, 80)).astype(np.uint8)
    assert p.predict(image).shape == (80, 80)  # one image: PyTorch only
    with pytest.raises(RuntimeError, match="ONNX Runtime was called"):
        p.probabilities([image, image])  # a batch: ONNX Runtime
    only = Predictor.from_checkpoint(ckpt, "cpu", backend="onnx")  # asked for: ONNX Runtime whatever the batch
    assert only.model is None and only.backend_for(1) == "onnx"


def test_the_automatic_export_runs_in_a_child_process(exported, tmp_path, monkeypatch):
    """cached_onnx exports in a child process (its memory leaves with it): the same graph as an export here, and a
    failure there is one line here."""
    from tumorseg.inference import onnx as onnx_mod

    import shutil

    ckpt, onnx_path = exported
    ckpt = shutil.copy(ckpt, tmp_path / "m.pt")  # no export beside it: cached_onnx must make one
    monkeypatch.setenv("TUMORSEG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(onnx_mod, "export_onnx", lambda *a, **k: pytest.fail("exported in this process"))
    made = onnx_mod.cached_onnx(ckpt)
    assert made.parent == tmp_path / "cache" / "onnx" and made.with_suffix(".json").is_file()
    x = np.random.default_rng(0).integers(0, 256, (3, 64, 64)).astype(np.uint8)
    assert np.allclose(OnnxModel(made).run(x), OnnxModel(onnx_path).run(x), atol=1e-6)
    assert onnx_mod.cached_onnx(ckpt) == made  # found, not exported again
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TumorsegError) as err:
        onnx_mod.cached_onnx(tmp_path / "bad.pt")
    assert "bad.pt" in str(err.value) and "\n" not in str(err.value) and "Traceback" not in str(err.value)
