"""The web page takes the files of one DICOM series in one upload (repeated ``file`` fields): a volume with its
summary, a NIfTI mask and a DICOM SEG referencing the uploaded images, and the model the series' description calls
for; anything else sent as several files is refused with a clear message."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest


pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")
pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")
nib = pytest.importorskip("nibabel")

from fastapi.testclient import TestClient  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from data._dicom_series import series_pixels, write_mr_series  # noqa: E402
from tumorseg.data.formats.dicom_seg import read_seg_mask  # noqa: E402
from tumorseg.data.formats.rtstruct import SliceGeometry, rasterize  # noqa: E402
from tumorseg.inference.choose import BundledPredictors  # noqa: E402
from tumorseg.web import uploads  # noqa: E402
from tumorseg.web.app import create_app  # noqa: E402


@pytest.fixture
def client(bright):
    return TestClient(create_app(bright, max_upload_mb=1), base_url="http://127.0.0.1:8000")


def _files(paths):
    return [("file", (p.name, p.read_bytes(), "application/dicom")) for p in paths]


def test_series_upload_gives_a_volume_a_nifti_and_a_seg(client, tmp_path):
    pix = series_pixels()
    paths = write_mr_series(tmp_path / "s", pix)
    r = client.post("/api/segment", files=_files(reversed(paths)))  # any order: sorted by geometry
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "dicom" and body["n_slices"] == 4 and body["n_tumour_slices"] == 2
    assert body["summary"]["slices_with_tumour"] == 2 and body["summary"]["volume_ml"] == pytest.approx(
        30 * 3.0 * 0.8 * 0.6 / 1000)
    mask = nib.load(_saved(tmp_path / "m.nii.gz", body["mask_nifti"])).get_fdata()
    assert mask.shape == (32, 24, 4) and np.array_equal(mask.transpose(2, 1, 0) > 0, pix == 900)
    seg_path = _saved(tmp_path / "seg.dcm", body["mask_seg"])
    seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(seg_path))
    sources = [pydicom.dcmread(p) for p in paths]
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    assert np.array_equal(read_seg_mask(seg_path, sources), pix == 900)
    rt = pydicom.dcmread(_saved(tmp_path / "rt.dcm", body["mask_rtstruct"]))
    assert np.array_equal(rasterize(rt, SliceGeometry.of(sources)), pix == 900)


def _saved(path, b64):
    path.write_bytes(base64.b64decode(b64))
    return str(path)


def test_single_files_keep_their_answers(client, tmp_path):
    [one] = write_mr_series(tmp_path / "s", series_pixels()[1:2])
    body = client.post("/api/segment", files=_files([one])).json()
    assert body["kind"] == "dicom" and body["n_slices"] == 1 and body["mask_seg"] is None


def test_files_of_several_series_list_them_and_one_is_chosen(client, tmp_path):
    a = write_mr_series(tmp_path / "a", series_pixels()[:2], number=3, description="AX T1 POST")
    b = write_mr_series(tmp_path / "b", series_pixels(), number=5, description="AX FLAIR")
    r = client.post("/api/segment", files=_files(a + b))
    assert r.status_code == 400
    assert r.json()["detail"] == ("the files hold 2 DICOM series (AX T1 POST: 2 files; AX FLAIR: 4 files); choose one "
                                  "(form field 'series', 0-based) or upload the files of one series at a time.")
    assert r.json()["series"] == [{"index": 0, "number": 3, "description": "AX T1 POST", "files": 2},
                                  {"index": 1, "number": 5, "description": "AX FLAIR", "files": 4}]
    chosen = client.post("/api/segment", files=_files(a + b), data={"series": "1"})
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["n_slices"] == 4 and chosen.json()["n_tumour_slices"] == 2 and chosen.json()["mask_seg"]
    out_of_range = client.post("/api/segment", files=_files(a + b), data={"series": "2"})
    assert out_of_range.status_code == 400 and "series 2 does not exist" in out_of_range.json()["detail"]
    png = io.BytesIO()
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(png, format="PNG")
    r = client.post("/api/segment", files=_files(a) + [("file", ("x.png", png.getvalue(), "image/png"))])
    assert r.status_code == 415 and "only as the files of one DICOM series" in r.json()["detail"]


def test_series_upload_is_bounded(client, tmp_path, monkeypatch):
    paths = write_mr_series(tmp_path / "s", series_pixels())
    monkeypatch.setattr(uploads, "MAX_SERIES_FILES", 3)
    r = client.post("/api/segment", files=_files(paths))
    assert r.status_code == 400 and r.json()["detail"] == (
        "4 files in one upload; at most 3 (the files of one DICOM series).")
    big = [("file", (f"{i}.dcm", b"\0" * 400_000, "application/dicom")) for i in range(3)]  # 1.2 MB > 1 MB
    assert client.post("/api/segment", files=big).status_code == 413


def test_series_gets_the_model_its_description_calls_for(fake_bundled, tmp_path):
    chooser = BundledPredictors("cpu", "torch")
    client = TestClient(create_app(chooser.get("t1c"), chooser=chooser), base_url="http://127.0.0.1:8000")
    paths = write_mr_series(tmp_path / "s", series_pixels(), description="Ax T2 FLAIR", study=generate_uid())
    body = client.post("/api/segment", files=_files(paths)).json()
    assert body["model_choice"] == "model: flair (DICOM series 'Ax T2 FLAIR' described as FLAIR)"
    [one] = write_mr_series(tmp_path / "t", series_pixels()[1:2], description="T1 +C")
    body = client.post("/api/segment", files=_files([one])).json()
    assert body["model_choice"] == "model: t1c (DICOM 'T1 +C' described as contrast-enhanced T1)"


def test_many_small_deflated_files_cannot_add_up_to_gigabytes(bright):
    """Each file declares 64×64 and inflates to 40 MiB (under the 128 MiB per-file cap); four of them are refused
    before their datasets are read (413), not after 160 MiB (or, with a thousand files, 40 GB) sit in memory."""
    from hostile import dicom_deflate_series

    client = TestClient(create_app(bright, max_upload_mb=5), base_url="http://127.0.0.1:8000")
    files = dicom_deflate_series(4, 40 << 20)
    assert sum(map(len, files)) < 1 << 20  # the whole upload is small
    r = client.post("/api/segment", files=[("file", (f"{i}.dcm", d, "application/dicom")) for i, d in enumerate(files)])
    assert r.status_code == 413, r.text
    assert r.json()["detail"] == ("the upload: its 4 DICOM files take more than 128 MiB once read; at most 128 MiB per "
                                  "series are accepted; upload a smaller (cropped or downsampled) file.")
    ok = client.post("/api/segment", files=[("file", (f"{i}.dcm", d, "application/dicom"))
                                            for i, d in enumerate(dicom_deflate_series(2, 1 << 20))])
    assert ok.status_code == 200, ok.text  # within the caps: read, only the declared frame of each file decoded
    assert ok.json()["n_slices"] == 2 and ok.json()["width"] == 64
