"""The JSON API of ``tumorseg serve`` with FastAPI's test client: good files, each bad file, too large."""

from __future__ import annotations

import base64
import gzip
import io
import tempfile

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import shared_data

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from tumorseg.inference.predictor import Predictor  # noqa: E402
from tumorseg.models import build_model  # noqa: E402
from tumorseg.models.checkpoint import make_checkpoint, save_checkpoint  # noqa: E402
from tumorseg.web.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    torch.manual_seed(0)
    kw = {"width": 8, "levels": 3, "num_res_units": 1}
    path = tmp_path_factory.mktemp("serve") / "m.pt"
    save_checkpoint(make_checkpoint("unet", kw, build_model("unet", **kw), {"image_size": 64, "threshold": 0.5},
                                    metrics={"test_dice": 0.81}, config={"data": "figshare", "epochs": 3}), path)
    return Predictor.from_checkpoint(path, "cpu", backend="torch")


@pytest.fixture(scope="module")
def client(predictor):
    return TestClient(create_app(predictor, max_upload_mb=1), base_url="http://127.0.0.1:8000")


def _png(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def _decode_png(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def _post(client, data: bytes, name: str = "x.png"):
    return client.post("/api/segment", files={"file": (name, data, "application/octet-stream")})


def test_health_model_docs(client):
    assert client.get("/api/health").json()["status"] == "ok"
    m = client.get("/api/model").json()
    assert (m["model"], m["name"], m["per_upload"]) == ("m.pt", "unet", False) and m["metrics"] == {"test_dice": 0.81}
    assert m["training_data"]["data"] == "figshare"
    assert "/" not in m["file"]  # no server paths
    assert client.get("/docs").status_code == 200
    assert "/api/segment" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "api/segment" in client.get("/static/app.js").text


def test_real_512_png(client):
    path = sorted(shared_data("figshare-native", "images").glob("*.png"))[0]
    r = _post(client, path.read_bytes(), "../../etc/passwd")  # a hostile name is never used
    assert r.status_code == 200, r.text
    body = r.json()
    mask = _decode_png(body["mask_png"])
    assert (body["width"], body["height"], body["kind"], body["unit"]) == (512, 512, "image", "px")
    assert mask.shape == (512, 512) and set(np.unique(mask)) <= {0, 255}
    assert body["area_px"] == int((mask > 0).sum()) and body["area_mm2"] is None
    assert _decode_png(body["slices"][0]["image_png"]).shape == (512, 512)
    assert body["time_ms"] > 0 and (body["model"], body["network"]) == ("m.pt", "unet")


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF", "BMP"])
def test_other_image_formats(client, fmt):
    arr = (np.random.default_rng(0).random((48, 40)) * 255).astype(np.uint8)
    r = _post(client, _png(arr, fmt))
    assert r.status_code == 200, r.text
    assert (r.json()["width"], r.json()["height"]) == (40, 48)


def test_dicom_reports_mm2(client):
    r = _post(client, shared_data("samples", "dicom", "MR_small.dcm").read_bytes(), "x.dcm")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "dicom" and body["unit"] == "mm2" and body["pixel_spacing_mm"] == [0.3125, 0.3125]
    assert body["area_mm2"] == pytest.approx(body["area_px"] * 0.3125**2, abs=1e-3)


def test_nifti_volume_slices_and_mask_download(client, tmp_path):
    nib = pytest.importorskip("nibabel")
    vol = np.zeros((32, 24, 5), np.int16)
    vol[4:28, 4:20, 1:4] = np.random.default_rng(0).integers(50, 900, (24, 16, 3))
    affine = np.diag([1.2, 1.2, 3.0, 1.0])
    nib.save(nib.Nifti1Image(vol, affine), str(tmp_path / "v.nii.gz"))
    r = _post(client, (tmp_path / "v.nii.gz").read_bytes(), "v.nii.gz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "nifti" and body["n_slices"] == 5 and body["unit"] == "mm2"
    assert (body["width"], body["height"]) == (32, 24)  # radiological view: X across, Y down
    assert body["slices"][0]["area_px"] == 0  # an empty slice is not run through the model
    (tmp_path / "m.nii.gz").write_bytes(base64.b64decode(body["mask_nifti"]))
    mask = nib.load(str(tmp_path / "m.nii.gz"))
    assert mask.shape == vol.shape and np.allclose(mask.affine, affine)
    assert int(np.asarray(mask.dataobj).sum()) == body["total_area_px"]


BAD = {
    "text": (b"hello, this is not an image\n" * 10, 415, "Supported"),
    "pdf": (b"%PDF-1.4\n" + b"0" * 200, 415, "Supported"),
    "truncated_png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 400, "PNG"),
    "gzip_not_nifti": (gzip.compress(b"just text" * 100), 415, "NIfTI"),
    "corrupt_dicom": (b"\x00" * 128 + b"DICM" + b"\x02\x00" * 50, 400, "DICOM"),
    "empty": (b"", 400, "empty"),
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the garbage it is fed
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_get_clear_4xx(client, case):
    data, status, words = BAD[case]
    r = _post(client, data, f"{case}.png")
    assert r.status_code == status, r.text
    assert words.lower() in r.json()["detail"].lower()
    assert "/tmp" not in r.json()["detail"]


def test_three_channel_tiff_for_one_channel_model_is_400(client):
    path = shared_data("samples", "lgg", "TCGA_CS_4941_19960909", "TCGA_CS_4941_19960909_10.tif")
    r = _post(client, path.read_bytes(), "x.tif")
    assert r.status_code == 400 and "channel" in r.json()["detail"]


def test_huge_dimensions_refused_before_decoding(client):
    tiny = _png(np.zeros((1, 1), np.uint8))
    # rewrite the IHDR size to 100000 x 100000 (the CRC no longer matches, the header is read first)
    data = tiny[:16] + (100000).to_bytes(4, "big") * 2 + tiny[24:]
    r = _post(client, data)
    assert r.status_code == 400


def test_missing_field_is_400(client):
    r = client.post("/api/segment", files={"other": ("x.png", b"123")})
    assert r.status_code == 400 and "'file'" in r.json()["detail"]


def test_too_large_413_with_and_without_content_length(client):
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (1 << 20)
    r = _post(client, big)
    assert r.status_code == 413 and "1 MB" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        for _ in range(40):
            yield b"\x00" * 65536

    r = client.post("/api/segment", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413


def test_temp_files_removed_and_model_not_reloaded(client, tmp_path, monkeypatch):
    import tumorseg.models.checkpoint as ck

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(ck, "load_checkpoint", lambda *a, **k: pytest.fail("model loaded per request"))
    path = sorted(shared_data("figshare", "images").glob("*.png"))[0]
    assert _post(client, path.read_bytes()).status_code == 200
    assert _post(client, b"junk" * 100).status_code == 415
    assert list(tmp_path.iterdir()) == []
