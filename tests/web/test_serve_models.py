"""serve: "No tumour found" in the JSON, and per-upload model choice when --model is not given."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import shared_data, tiny_checkpoint

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from tumorseg.inference.choose import BundledPredictors  # noqa: E402
from tumorseg.inference.predictor import Predictor  # noqa: E402
from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from tumorseg.web.app import create_app  # noqa: E402
from tumorseg.web.server import build  # noqa: E402

LGG_TIF = ("samples", "lgg", "TCGA_CS_4941_19960909", "TCGA_CS_4941_19960909_10.tif")


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _post(client, data: bytes, name: str):
    return client.post("/api/segment", files={"file": (name, data, "application/octet-stream")})


@pytest.mark.parametrize("threshold,found", [(1.0, False), (0.0, True)])
def test_tumour_found_field(tmp_path, threshold, found):
    path = tiny_checkpoint(tmp_path / "m.pt", image_size=32)
    ckpt = load_checkpoint(path)
    ckpt["postprocess"] = {"threshold": threshold}
    save_checkpoint(ckpt, path)
    client = TestClient(create_app(Predictor.from_checkpoint(path, "cpu", backend="torch")), base_url="http://127.0.0.1:8000")
    body = _post(client, _png(np.full((40, 40), 90, np.uint8)), "x.png").json()
    assert body["tumour_found"] is found and body["n_tumour_slices"] == int(found)
    assert body["model_choice"] is None  # --model given: no choice made


def test_uploads_get_the_model_that_fits(fake_bundled):
    app, predictor = build(None, device="cpu", backend="torch")
    assert predictor.label == "t1c"
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    tif = _post(client, shared_data(*LGG_TIF).read_bytes(), "slice.tif").json()
    assert tif["model_choice"].startswith("model: flair (3-channel 8-bit TIFF")
    png = _post(client, _png(np.full((40, 40), 90, np.uint8)), "x.png").json()
    assert png["model_choice"] == "model: t1c (no FLAIR marker in the upload; the default model)"
    assert client.get("/api/model").json()["per_upload"] is True  # the page's footer says so


def test_a_4d_nifti_upload_gets_the_model_of_the_volume_segmented(fake_bundled, tmp_path):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.random.default_rng(0).integers(0, 400, (16, 16, 3, 4)).astype(np.int16), np.eye(4)),
             str(tmp_path / "v.nii.gz"))
    data = (tmp_path / "v.nii.gz").read_bytes()
    client = TestClient(build(None, device="cpu", backend="torch")[0], base_url="http://127.0.0.1:8000")
    lines = {}
    for name, volume in (("BRATS_001.nii.gz", None), ("BRATS_001.nii.gz", 2), ("BRATS_001.nii.gz", 1),
                         ("scan.nii.gz", 3)):
        r = client.post("/api/segment", files={"file": (name, data, "application/octet-stream")},
                        data={} if volume is None else {"volume": str(volume)})
        assert r.status_code == 200, r.text
        lines[name, volume] = r.json()["model_choice"]
    assert lines == {
        ("BRATS_001.nii.gz", None): "model: flair (volume 0 of a 4-D file: 'FLAIR' in the MSD Task01 order)",
        ("BRATS_001.nii.gz", 2): "model: t1c (volume 2 of a 4-D file: 't1gd' in the MSD Task01 order)",
        ("BRATS_001.nii.gz", 1): "model: t1c (volume 1 of a 4-D file ('T1w' in the MSD Task01 order, which no bundled "
                                 "model was trained on); the default model)",
        ("scan.nii.gz", 3): "model: t1c (volume 3 of a 4-D file, with no modality marker; the default model)"}


def test_missing_flair_serves_a_lgg_tiff_with_t1c(monkeypatch, tmp_path):
    from tumorseg.models import zoo

    tiny_checkpoint(tmp_path / "t1c.pt", image_size=32, modality="t1c")
    monkeypatch.setattr(zoo, "BUNDLED_DIR", tmp_path)
    chooser = BundledPredictors("cpu", "torch")
    client = TestClient(create_app(chooser.get("t1c"), chooser=chooser), base_url="http://127.0.0.1:8000")
    r = _post(client, shared_data(*LGG_TIF).read_bytes(), "slice.tif")
    assert r.status_code == 200, r.text
    assert "not installed in this build; using t1c on its post-contrast (T1c) channel" in r.json()["model_choice"]


def test_a_tiff_bomb_is_refused_while_choosing_the_model(fake_bundled):
    """Without --model the TIFF's channels are looked at to choose a model: its declared size is checked first
    (413 in one line), not decoded (a 500 before)."""
    import hostile

    app, _ = build(None, device="cpu", backend="torch")
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    for bomb in (hostile.tiff_bomb(50000, 50000), hostile.tiff_bomb(5000, 5000)):
        r = _post(client, bomb, "big.tif")
        detail = r.json()["detail"]
        assert r.status_code == 413 and "\n" not in detail and "pixels" in detail, r.text


def test_a_mark_on_one_slice_comes_with_its_models_caveat(tmp_path):
    """A tumour-free LGG post-contrast slice: t1c (trained with tumour-free slices) leaves it empty, t1c-unet marks
    it and the page gets t1c-unet's caveat; a checkpoint file has none."""
    from tumorseg.data.formats.lgg import read_tif_channels

    tif = shared_data("samples", "lgg", "TCGA_CS_4941_19960909", "TCGA_CS_4941_19960909_20.tif")  # mask empty
    post = _png(read_tif_channels(tif)[2])
    client = TestClient(create_app(Predictor.from_checkpoint("t1c", "cpu", backend="torch")),
                        base_url="http://127.0.0.1:8000")
    body = _post(client, post, "post.png").json()
    assert not body["tumour_found"] and body.get("note") is None
    client = TestClient(create_app(Predictor.from_checkpoint("t1c-unet", "cpu", backend="torch")),
                        base_url="http://127.0.0.1:8000")
    body = _post(client, post, "post.png").json()
    assert body["tumour_found"] and body["note"].startswith("t1c-unet was trained only on slices that hold a tumour")
    path = tiny_checkpoint(tmp_path / "m.pt", image_size=32)  # a checkpoint file: no bundled caveat
    ckpt = load_checkpoint(path)
    ckpt["postprocess"] = {"threshold": 0.0}
    save_checkpoint(ckpt, path)
    client = TestClient(create_app(Predictor.from_checkpoint(path, "cpu", backend="torch")),
                        base_url="http://127.0.0.1:8000")
    image = np.full((40, 40), 90, np.uint8)
    image[:4] = np.arange(40) % 10  # not blank, nor a mask's few grey levels
    body = _post(client, _png(image), "x.png").json()
    assert body["tumour_found"] and body["note"] is None
    body = _post(client, _png(np.zeros((40, 40), np.uint8)), "black.png").json()  # blank: said so, by name
    assert body["note"].startswith("black.png: blank input (every pixel the same value") and "\n" not in body["note"]
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:20] = 255
    body = _post(client, _png(mask), "x_mask.png").json()  # a mask uploaded as the scan: said so
    assert body["note"].startswith("x_mask.png: only 2 grey levels as read (0, 255), as in a mask or label file")
