"""A ``.zip`` uploaded to the web page is read as its files uploaded together: a zipped DICOM series gives what the
series' files give, a zipped volume what the volume gives, zipped slices one scan; an archive that names paths
outside itself, holds nothing readable or only other archives gets a one-line 4xx (bombs: test_serve_hardening)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import hostile

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")
pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")

from fastapi.testclient import TestClient  # noqa: E402

from data._dicom_series import series_pixels, write_mr_series  # noqa: E402
from tumorseg.web.app import create_app  # noqa: E402


@pytest.fixture
def client(bright):
    return TestClient(create_app(bright, max_upload_mb=1), base_url="http://127.0.0.1:8000")


def _post(client, data: bytes, name: str = "upload.zip"):
    return client.post("/api/segment", files={"file": (name, data, "application/zip")})


def test_a_zipped_series_reads_as_its_files(client, tmp_path):
    paths = write_mr_series(tmp_path / "s", series_pixels())
    files = [("file", (p.name, p.read_bytes(), "application/dicom")) for p in paths]
    direct = client.post("/api/segment", files=files).json()
    zipped = hostile.zip_of({f"export/SE7/{p.name}": p.read_bytes() for p in paths} | {"export/README.txt": b"hi"})
    r = _post(client, zipped, "export.zip")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "dicom" and body["n_slices"] == 4 and body["n_tumour_slices"] == 2
    assert body["summary"] == direct["summary"] and body["mask_seg"] and body["mask_nifti"]


def test_a_zipped_volume_reads_as_the_volume(client, tmp_path):
    vol = np.zeros((20, 16, 3), np.int16)
    vol[1:-1, 1:-1, :] = 200  # brain
    vol[4:12, 4:10, 1] = 2000  # scaled to 255: the "tumour" of the bright predictor
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "case_t1c.nii.gz"))
    data = (tmp_path / "case_t1c.nii.gz").read_bytes()
    body = _post(client, hostile.zip_of({"case_t1c.nii.gz": data})).json()
    assert body["kind"] == "nifti" and body["n_slices"] == 3 and body["n_tumour_slices"] == 1
    assert body["summary"] == _post(client, data, "case_t1c.nii.gz").json()["summary"]


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((12, 10), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_zipped_slices_read_as_one_scan_in_number_order(client):
    body = _post(client, hostile.zip_of({"IM10.png": _png(200), "IM2.png": _png(10), "IM9.png": _png(10)})).json()
    assert body["kind"] == "images" and body["n_slices"] == 3
    assert [s["area_px"] > 0 for s in body["slices"]] == [False, False, True]  # IM2, IM9, IM10


@pytest.mark.parametrize("files, status, words", [
    ({"../IM1.png": _png(9)}, 400, "outside the archive's own folder"),
    ({"README.txt": b"hello"}, 415, "no supported file"),
    ({"inner.zip": hostile.zip_of({"IM1.png": _png(9)})}, 415, "only other archives"),
])
def test_bad_archives_get_one_line(client, files, status, words):
    r = _post(client, hostile.zip_of(files))
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert words in detail and "\n" not in detail
