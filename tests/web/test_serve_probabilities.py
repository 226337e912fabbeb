"""The web page's probability maps (``probabilities`` form field): a PNG per slice as shown, and for volumes and
DICOM series a file with the mask's geometry, the same map ``predict --probabilities`` writes for the file."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")
nib = pytest.importorskip("nibabel")

from fastapi.testclient import TestClient  # noqa: E402

from tumorseg.inference.volumes import predict_volumes  # noqa: E402
from tumorseg.web.app import create_app  # noqa: E402


@pytest.fixture
def client(graded):
    return TestClient(create_app(graded, max_upload_mb=1), base_url="http://127.0.0.1:8000")


def _post(client, name: str, data: bytes, probabilities: bool | None = True):
    form = {"probabilities": "true"} if probabilities else {}
    r = client.post("/api/segment", files={"file": (name, data, "application/octet-stream")}, data=form)
    assert r.status_code == 200, r.text
    return r.json()


def _decoded_png(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def test_an_image_gives_its_map_only_when_asked(client):
    image = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (20, 1))  # a left-to-right ramp
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    plain = _post(client, "ramp.png", buf.getvalue(), probabilities=None)
    assert plain["slices"][0]["prob_png"] is None and plain["prob_volume"] is None
    body = _post(client, "ramp.png", buf.getvalue())
    assert np.array_equal(_decoded_png(body["slices"][0]["prob_png"]), image)  # brightness / 255 x 255
    assert body["prob_volume"] is None  # one image: the PNG is the map
    assert body["mask_png"] == plain["mask_png"]  # the mask does not change


def test_a_volume_map_is_what_predict_writes_for_the_file(client, graded, tmp_path):
    rng = np.random.default_rng(0)
    vol = np.zeros((12, 10, 8), np.int16)
    vol[1:-1, 1:-1, 1:-1] = rng.integers(100, 1000, (10, 8, 6))
    affine = np.diag([0.9, 0.9, 3.0, 1.0])
    nib.save(nib.Nifti1Image(vol, affine), str(tmp_path / "scan.nii.gz"))
    body = _post(client, "scan.nii.gz", (tmp_path / "scan.nii.gz").read_bytes())
    assert body["prob_volume_name"] == "probability.nii.gz" and len(body["slices"]) == 8
    (tmp_path / "served.nii.gz").write_bytes(base64.b64decode(body["prob_volume"]))
    served = nib.load(str(tmp_path / "served.nii.gz"))
    predict_volumes([tmp_path / "scan.nii.gz"], graded, tmp_path / "out", progress=False, probabilities=True)
    written = nib.load(str(tmp_path / "out" / "scan_prob.nii.gz"))
    assert served.shape == vol.shape and np.allclose(served.affine, affine)
    assert np.array_equal(np.asarray(served.dataobj.get_unscaled()), np.asarray(written.dataobj.get_unscaled()))
    assert 0 <= served.get_fdata().min() and served.get_fdata().max() <= 1 + 1e-6


def test_a_dicom_series_map_has_the_mask_niftis_geometry(client, tmp_path):
    pytest.importorskip("pydicom")
    from data._dicom_series import series_pixels, write_mr_series

    paths = write_mr_series(tmp_path / "s", series_pixels())
    files = [("file", (p.name, p.read_bytes(), "application/dicom")) for p in paths]
    r = client.post("/api/segment", files=files, data={"probabilities": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["prob_volume_name"] == "probability.nii.gz" and body["mask_seg"]
    for key, name in (("prob_volume", "p.nii.gz"), ("mask_nifti", "m.nii.gz")):
        (tmp_path / name).write_bytes(base64.b64decode(body[key]))
    prob, mask = nib.load(str(tmp_path / "p.nii.gz")), nib.load(str(tmp_path / "m.nii.gz"))
    assert prob.shape == mask.shape and np.allclose(prob.affine, mask.affine)
    assert all(s["prob_png"] for s in body["slices"])
