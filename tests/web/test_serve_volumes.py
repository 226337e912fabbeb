"""The web page's volume display: radiological orientation of NIfTI/DICOM slices and the per-volume summary."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from conftest import shared_data, tiny_checkpoint

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")
nib = pytest.importorskip("nibabel")

from fastapi.testclient import TestClient  # noqa: E402

from tumorseg.inference.predictor import Predictor  # noqa: E402
from tumorseg.web.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """The app around a predictor whose mask is exactly the slice's pixels >= 128."""
    pred = Predictor.from_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("web") / "m.pt"), "cpu", backend="torch")
    pred.probabilities = lambda slices, batch_size=16: [(s >= 128).astype(np.float32) for s in slices]
    pred.post["min_component_px"] = 0
    return TestClient(create_app(pred, max_upload_mb=5), base_url="http://127.0.0.1:8000")


def _png(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def _post(client, data: bytes, name: str):
    r = client.post("/api/segment", files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("codes, linear", [
    ("LPS (BraTS)", np.diag([-1.0, -1.0, 1.0])),
    ("RAS", np.diag([1.0, 1.0, 1.0])),
    ("x->anterior, y->left", np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])),
])
def test_nifti_shown_radiologically_and_saved_in_its_own_layout(client, tmp_path, codes, linear):
    """A bright marker at the right-anterior corner is drawn top-left; the mask file keeps the input's own grid."""
    aff = np.eye(4)
    aff[:3, :3] = linear @ np.diag([1.0, 1.5, 3.0])
    vol = np.zeros((30, 20, 4), np.int16)
    vol[1:-1, 1:-1, 1:3] = 200  # brain
    ij = np.stack(np.meshgrid(np.arange(1, 29), np.arange(1, 19), indexing="ij"), -1).reshape(-1, 2)
    ras = (aff[:2, :2] @ ij.T).T  # (N, 2) x (towards right), y (towards anterior) of each voxel
    i, j = ij[np.argmax(ras.sum(axis=1))]  # the voxel farthest right-anterior
    vol[i, j, 1:3] = 2000  # the marker: scaled to 255, so it is also the predicted "tumour"
    nib.save(nib.Nifti1Image(vol, aff), str(tmp_path / "v.nii.gz"))
    body = _post(client, (tmp_path / "v.nii.gz").read_bytes(), "v.nii.gz")
    shown = _png(body["slices"][1]["image_png"])
    r, c = np.argwhere(shown == shown.max())[0]
    assert (r, c) == (1, 1), f"{codes}: marker drawn at {(r, c)}, expected top-left (anterior up, right on the left)"
    assert np.array_equal(np.argwhere(_png(body["slices"][1]["mask_png"]) > 0), [[1, 1]])  # overlay turned alike
    (tmp_path / "m.nii.gz").write_bytes(base64.b64decode(body["mask_nifti"]))
    mask = nib.load(str(tmp_path / "m.nii.gz"))
    assert mask.shape == vol.shape and np.allclose(mask.affine, aff)
    assert np.array_equal(np.argwhere(np.asarray(mask.dataobj)), [[i, j, 1], [i, j, 2]])  # the file's own layout
    s = body["summary"]
    assert (s["n_slices"], s["slices_with_tumour"], s["tumour_voxels"], s["tumour_found"]) == (4, 2, 2, True)
    assert s["volume_ml"] == pytest.approx(2 * 1.0 * 1.5 * 3.0 / 1000)
    assert s["text"].startswith("tumour in 2/4 slices, 0.009 mL")


@pytest.mark.parametrize("suffix, kind", [(".nrrd", "nrrd"), (".mha", "metaimage")])
def test_nrrd_and_metaimage_uploads_are_shown_as_the_same_nifti_and_give_their_format_back(client, tmp_path, suffix,
                                                                                          kind):
    sitk = pytest.importorskip("SimpleITK")
    aff = np.eye(4)
    aff[:3, :3] = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]) @ np.diag([1.0, 1.5, 3.0])
    vol = np.zeros((30, 20, 4), np.int16)
    vol[1:-1, 1:-1, 1:3] = 200
    vol[5:8, 4:6, 1:3] = 2000
    nib.save(nib.Nifti1Image(vol, aff), str(tmp_path / "v.nii.gz"))
    sitk.WriteImage(sitk.ReadImage(str(tmp_path / "v.nii.gz")), str(tmp_path / f"v{suffix}"), True)
    want = _post(client, (tmp_path / "v.nii.gz").read_bytes(), "v.nii.gz")
    body = _post(client, (tmp_path / f"v{suffix}").read_bytes(), "upload.bin")  # sniffed from the bytes
    assert body["kind"] == kind and body["mask_nifti"] is None
    assert [s["image_png"] for s in body["slices"]] == [s["image_png"] for s in want["slices"]]  # same view
    assert [s["mask_png"] for s in body["slices"]] == [s["mask_png"] for s in want["slices"]]
    assert body["summary"] == want["summary"] and body["summary"]["slices_with_tumour"] == 2
    assert body["mask_volume_name"] == f"mask{suffix}"
    (tmp_path / f"m{suffix}").write_bytes(base64.b64decode(body["mask_volume"]))
    back, ref = sitk.ReadImage(str(tmp_path / f"m{suffix}")), sitk.ReadImage(str(tmp_path / f"v{suffix}"))
    assert back.GetSize() == ref.GetSize() and np.allclose(back.GetDirection(), ref.GetDirection())
    assert np.allclose(back.GetSpacing(), ref.GetSpacing()) and np.allclose(back.GetOrigin(), ref.GetOrigin())
    assert np.array_equal(sitk.GetArrayFromImage(back).transpose(2, 1, 0) > 0, vol == 2000)


def test_an_enhanced_multiframe_dicom_upload_is_a_volume_with_a_nifti_mask_and_a_seg(client, tmp_path):
    """One file holding a sagittal 3-D acquisition (enhanced MR): shown as axial slices, the summary from its
    geometry, the mask as NIfTI and as a DICOM SEG over its frames, as a series upload gets."""
    pytest.importorskip("pydicom")
    pytest.importorskip("highdicom")
    from data._dicom_series import write_enhanced_mr

    pix = np.zeros((12, 14, 14), np.int16)
    pix[:, 1:-1, 1:-1] = 300
    pix[4:7, 5:8, 6:9] = 900  # 27 voxels of "tumour"
    path = write_enhanced_mr(tmp_path / "f.dcm", pix, spacing=(1.0, 1.0), step=1.0, orientation=(0, 1, 0, 0, 0, -1))
    body = _post(client, path.read_bytes(), "f.dcm")
    assert (body["kind"], body["n_slices"]) == ("dicom", 14)  # 14 axial slices of the 12 sagittal frames
    assert body["summary"]["tumour_voxels"] == 27 and body["summary"]["volume_ml"] == pytest.approx(0.027)
    assert body["mask_nifti"] and body["mask_seg"] and body["mask_rtstruct"] is None
    (tmp_path / "m.nii.gz").write_bytes(base64.b64decode(body["mask_nifti"]))
    assert int(np.asarray(nib.load(str(tmp_path / "m.nii.gz")).dataobj).sum()) == 27


def test_a_fiji_stack_upload_is_one_volume_with_its_calibration_and_its_mask_a_stack(client, tmp_path):
    """A multi-page TIFF (ImageJ stack, 5 mm slices of 0.5×0.8 mm pixels): every page a slice, shown as stored,
    the volume in mL from the calibration, the mask given back as a calibrated stack Fiji opens over it."""
    tifffile = pytest.importorskip("tifffile")
    vol = np.zeros((4, 20, 30), np.uint16)
    vol[:, 1:-1, 1:-1] = 200
    vol[1:3, 5:8, 4:6] = 2000  # scaled to 255: the "tumour", 12 voxels
    tifffile.imwrite(tmp_path / "s.tif", vol, imagej=True, resolution=(1 / 0.8, 1 / 0.5),
                     metadata={"spacing": 5.0, "unit": "mm", "axes": "ZYX"})
    body = _post(client, (tmp_path / "s.tif").read_bytes(), "s.tif")
    assert (body["kind"], body["n_slices"], body["mask_nifti"]) == ("tiff-stack", 4, None)
    assert np.array_equal(np.argwhere(_png(body["slices"][1]["mask_png"]) > 0), np.argwhere(vol[1] == 2000))
    s = body["summary"]
    assert (s["slices_with_tumour"], s["tumour_voxels"]) == (2, 12)
    assert s["volume_ml"] == pytest.approx(12 * 5 * 0.5 * 0.8 / 1000)
    assert body["mask_volume_name"] == "mask.tif"
    (tmp_path / "m.tif").write_bytes(base64.b64decode(body["mask_volume"]))
    with tifffile.TiffFile(tmp_path / "m.tif") as tif:
        assert tif.imagej_metadata["spacing"] == pytest.approx(5.0) and tif.imagej_metadata["unit"] == "mm"
        assert np.array_equal(tif.asarray() > 0, vol == 2000)


@pytest.mark.parametrize("data, says", [
    (b"NRRD0004\ntype: short\ndimension: 3\nsizes: 8 8 2\nencoding: raw\ndata file: /etc/passwd\n\n",
     "the NRRD header names a separate data file; upload the volume saved as one .nrrd file"),
    (b"ObjectType = Image\nNDims = 3\nDimSize = 8 8 2\nElementType = MET_SHORT\nElementDataFile = /etc/passwd\n",
     "the MetaImage header names a separate data file; upload the volume saved as one .mha file"),
    (b"NRRD0004\ntype: short\ndimension: 3\nsizes: 8 8 2\n" + b"# comment\n" * 8000,
     "the NRRD header has no end within 64 kB"),
    (b"NRRD0004\r\ntype: short\r\ndimension: 3\r\nsizes: 8 8 2\r\nencoding: raw\r\ndata file: x.raw\r\n\r\n",
     "the NRRD header names a separate data file"),  # Windows line ends
])
def test_volume_headers_that_point_at_server_files_are_refused(client, data, says):
    r = client.post("/api/segment", files={"file": ("x.nrrd", data, "application/octet-stream")})
    assert r.status_code == 400 and says in r.json()["detail"]


def test_nifti_without_tumour_says_so(client, tmp_path):
    vol = np.zeros((16, 16, 3), np.int16)
    vol[2:14, 2:14, :] = 100  # a flat brain scales to 0: nothing >= 128
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "e.nii"))
    s = _post(client, (tmp_path / "e.nii").read_bytes(), "e.nii")["summary"]
    assert s["tumour_found"] is False and s["text"] == "no tumour found (3 slices)" and s["volume_ml"] == 0.0


def _four_d(tmp_path, box_in: int) -> bytes:
    """A .nii.gz of four volumes (16, 16, 3), flat but for a bright 5x5 box on slice 1 of volume ``box_in``."""
    vols = np.zeros((16, 16, 3, 4), np.int16)
    vols[2:14, 2:14] = 100
    vols[4:9, 5:10, 1, box_in] = 900
    nib.save(nib.Nifti1Image(vols, np.diag([1.0, 1.0, 2.0, 1.0])), str(tmp_path / "v.nii.gz"))
    return (tmp_path / "v.nii.gz").read_bytes()


def test_a_4d_nifti_gives_the_volume_asked_for_else_lists_them(client, tmp_path):
    data = _four_d(tmp_path, box_in=2)
    r = client.post("/api/segment", files={"file": ("scan.nii.gz", data, "application/octet-stream")})
    assert r.status_code == 400 and "holds 4 volumes" in r.json()["detail"] and "'volume'" in r.json()["detail"]
    assert r.json()["volumes"] == [{"index": k, "label": f"volume {k}"} for k in range(4)]
    for k, found in ((2, True), (0, False)):  # only that volume's voxels are read: the box is in volume 2
        r = client.post("/api/segment", files={"file": ("scan.nii.gz", data, "application/octet-stream")},
                        data={"volume": str(k)})
        body = r.json()
        assert r.status_code == 200, r.text
        assert (body["volume"], len(body["volumes"]), body["n_slices"]) == (k, 4, 3)
        assert body["tumour_found"] is found and body["total_area_px"] == 25 * found
        mask = nib.load(_mask_file(body, tmp_path))
        assert mask.shape == (16, 16, 3) and np.allclose(mask.affine, np.diag([1.0, 1.0, 2.0, 1.0]))
    r = client.post("/api/segment", files={"file": ("scan.nii.gz", data, "application/octet-stream")},
                    data={"volume": "4"})
    assert r.status_code == 400 and r.json()["detail"] == "volume 4: this NIfTI file holds 4 volumes (0 to 3)."
    # a file named as the MSD's Task01 names them: its FLAIR (volume 0) without asking, the others on request
    body = _post(client, _four_d(tmp_path, box_in=0), "BRATS_001.nii.gz")
    assert (body["volume"], body["tumour_found"], body["volumes"][2]) == (0, True, {"index": 2, "label": "volume 2: t1gd"})
    # the voxel cap counts the one volume decoded (a real MSD file, 240 x 240 x 155 x 4, is over it in all)
    from tumorseg import limits

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(limits, "UPLOADS", limits.Limits(4096 * 4096, 16 * 16 * 3, 1 << 27, "upload less"))
        r = client.post("/api/segment", files={"file": ("scan.nii.gz", data, "application/octet-stream")},
                        data={"volume": "2"})
        assert r.status_code == 200 and r.json()["total_area_px"] == 25, r.text
        vol = np.zeros((16, 16, 4), np.int16)
        nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "big.nii"))
        r = client.post("/api/segment", files={"file": ("big.nii", (tmp_path / "big.nii").read_bytes(), "x")})
        assert r.status_code == 413 and "upload less" in r.json()["detail"]  # a 3-D file of as many voxels is not
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 1, 5000), np.uint8), np.eye(4)), str(tmp_path / "t.nii"))
    r = client.post("/api/segment", files={"file": ("t.nii", (tmp_path / "t.nii").read_bytes(), "x")})
    assert r.status_code == 400 and r.json()["detail"].startswith("this NIfTI file holds 5000 volumes (a time series?)")
    # a 3-D file: 'volume' has nothing to choose
    vol = np.zeros((16, 16, 3), np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "e.nii"))
    r = client.post("/api/segment", files={"file": ("e.nii", (tmp_path / "e.nii").read_bytes(), "x")},
                    data={"volume": "1"})
    assert r.status_code == 200 and r.json()["volume"] is None and r.json()["volumes"] is None


def _mask_file(body: dict, tmp_path):
    path = tmp_path / "mask.nii.gz"
    path.write_bytes(base64.b64decode(body["mask_nifti"]))
    return str(path)


def test_dicom_summary_and_plain_images_have_none(client):
    body = _post(client, shared_data("samples", "dicom", "MR_small.dcm").read_bytes(), "x.dcm")
    s = body["summary"]
    assert s["n_slices"] == 1 and s["tumour_voxels"] == body["total_area_px"]
    assert s["volume_ml"] == pytest.approx(body["total_area_px"] * 0.3125**2 * 0.8 / 1000, abs=1e-4)
    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(buf, format="PNG")
    assert _post(client, buf.getvalue(), "x.png")["summary"] is None


def test_volume_upload_keeps_the_largest_3d_component_when_the_model_says_so(tmp_path):
    pred = Predictor.from_checkpoint(tiny_checkpoint(tmp_path / "m.pt"), "cpu", backend="torch")
    pred.probabilities = lambda slices, batch_size=16: [(s >= 128).astype(np.float32) for s in slices]
    pred.post.update(min_component_px=0, largest_component_3d=True)
    web = TestClient(create_app(pred, max_upload_mb=5), base_url="http://127.0.0.1:8000")
    vol = np.zeros((16, 16, 5), np.int16)
    vol[2:14, 2:14, :] = 100
    vol[4:8, 4:8, 0:3] = 900  # the lesion on slices 0-2
    vol[12:14, 12:14, 4] = 900  # a false alarm on slice 4
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "v.nii"))
    res = _post(web, (tmp_path / "v.nii").read_bytes(), "v.nii")
    assert [s["area_px"] for s in res["slices"]] == [16, 16, 16, 0, 0]
    assert res["summary"]["slices_with_tumour"] == 3


def _png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _slices_client(tmp_path):
    pred = Predictor.from_checkpoint(tiny_checkpoint(tmp_path / "m.pt"), "cpu", backend="torch")
    pred.probabilities = lambda slices, batch_size=16: [(s >= 128).astype(np.float32) for s in slices]
    pred.post.update(min_component_px=0, largest_component_3d=True)
    return TestClient(create_app(pred, max_upload_mb=5), base_url="http://127.0.0.1:8000")


def test_several_images_are_the_slices_of_one_scan_in_the_order_of_their_numbers(tmp_path):
    """Five PNG slices sent out of order (a lesion on slices 1-3, a false alarm on 5): ordered by the numbers that
    end their names, one scan, the volume rule drops the false alarm, a per-volume summary; a folder's path in the
    file name (a browser's folder upload) is fine."""
    web = _slices_client(tmp_path)
    slices = {}
    for n in range(1, 6):
        a = np.full((16, 16), 60, np.uint8)
        if n <= 3:
            a[4:8, 4:8] = 200
        if n == 5:
            a[12:14, 12:14] = 200
        slices[n] = _png_bytes(a)
    order = [4, 1, 5, 3, 2]
    r = web.post("/api/segment", files=[("file", (f"scan/IM{n:04d}.png", slices[n], "image/png")) for n in order])
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["kind"] == "images" and res["n_slices"] == 5
    assert [s["area_px"] for s in res["slices"]] == [16, 16, 16, 0, 0]
    assert res["summary"]["slices_with_tumour"] == 3 and res["summary"]["volume_ml"] is None


@pytest.mark.parametrize("names, sizes, status, says", [
    (["a1.png", "notes.png"], (16, 16), 400, "this name has none"),
    (["a1.png", "b1.png"], (16, 16), 400, "end in the same number"),
    (["a1.png", "a2.png"], (16, 20), 400, "differ in size"),
])
def test_images_that_are_not_one_scan_get_a_clear_error(tmp_path, names, sizes, status, says):
    web = _slices_client(tmp_path)
    files = [("file", (n, _png_bytes(np.full((s, 16), 90, np.uint8)), "image/png")) for n, s in zip(names, sizes)]
    r = web.post("/api/segment", files=files)
    assert r.status_code == status and says in r.json()["detail"], r.text


def test_images_mixed_with_other_files_are_refused(tmp_path):
    web = _slices_client(tmp_path)
    files = [("file", ("a1.png", _png_bytes(np.full((16, 16), 90, np.uint8)), "image/png")),
             ("file", ("a2.txt", b"hello, not an image", "text/plain"))]
    r = web.post("/api/segment", files=files)
    assert r.status_code == 415 and "not mixed" in r.json()["detail"]


def test_slices_whose_sizes_together_pass_the_volume_cap_are_refused_before_decoding(tmp_path, monkeypatch):
    from tumorseg import limits

    monkeypatch.setattr(limits, "UPLOADS", limits.Limits(4096 * 4096, 16 * 16 * 3, 1 << 27, "upload less"))
    web = _slices_client(tmp_path)
    files = [("file", (f"s{n}.png", _png_bytes(np.full((16, 16), 90, np.uint8)), "image/png")) for n in range(4)]
    r = web.post("/api/segment", files=files)
    assert r.status_code == 413 and "the uploaded slices" in r.json()["detail"]


def test_the_page_names_a_close_call_between_two_lesions(tmp_path_factory):
    # the one-lesion rule on an upload: the summary says what it left out and the text names the close call
    pred = Predictor.from_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("web1") / "m.pt"), "cpu", backend="torch")
    pred.probabilities = lambda slices, batch_size=16: [(s >= 128).astype(np.float32) for s in slices]
    pred.post.update(min_component_px=0, largest_component_3d=True)
    client = TestClient(create_app(pred, max_upload_mb=5), base_url="http://127.0.0.1:8000")
    vol = np.zeros((20, 16, 8), np.int16)
    vol[2:18, 2:14, :] = 300
    vol[4:10, 3:7, 1:4] = 900  # 72 voxels: kept
    vol[12:16, 9:13, 5:7] = 900  # 32 voxels: left out, 44 % of the kept one
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path_factory.getbasetemp() / "two.nii.gz"))
    s = _post(client, (tmp_path_factory.getbasetemp() / "two.nii.gz").read_bytes(), "two.nii.gz")["summary"]
    assert (s["tumour_voxels"], s["lesions_left_out"], s["runner_up_slice"], s["runner_up_share"]) == (72, 1, 5, 0.4444)
    # the text counts slices as the page shows them (from 1); the field is an index from 0, as in summary.csv
    assert "close call: another lesion (0.032 mL, largest on slice 6) scored 44% of the kept one and was left out " \
           "(check both; 'Keep every lesion' shows it)" in s["text"]
    # the page's box: the rule off for this upload only, so both lesions come back and nothing is left out
    r = client.post("/api/segment", files={"file": ("two.nii.gz", (tmp_path_factory.getbasetemp() / "two.nii.gz")
                                                    .read_bytes(), "application/octet-stream")},
                    data={"every_lesion": "true"})
    assert r.status_code == 200, r.text
    every = r.json()["summary"]
    assert every["tumour_voxels"] == 104 and every["lesions_left_out"] is None and "close call" not in every["text"]
    assert pred.post["largest_component_3d"] is True  # the shared predictor is untouched
    assert _post(client, (tmp_path_factory.getbasetemp() / "two.nii.gz").read_bytes(), "two.nii.gz")[
        "summary"]["tumour_voxels"] == 72


def test_the_largest_cross_section_is_drawn_on_its_slice_as_shown(client, tmp_path):
    """A bright ellipse (40 × 20 voxels between its extreme centres) on slice 2 of 4, a smaller one on slice 1: the
    summary measures slice 2 (numbered 3 in the text, as the page shows slices), and only that slice carries
    ``measure_png``: its two diameters, turned like the slice picture (the long axis, along the file's first axis,
    left-right, runs across the page), lying on the mask."""
    vol = np.zeros((64, 64, 4), np.int16)
    vol[2:-2, 2:-2, :] = 100  # brain, below the predictor's 128
    ii, jj = np.mgrid[:64, :64]
    vol[((ii - 32) / 20) ** 2 + ((jj - 32) / 10) ** 2 <= 1, 2] = 900
    vol[((ii - 32) / 5) ** 2 + ((jj - 32) / 5) ** 2 <= 1, 1] = 900
    nib.save(nib.Nifti1Image(vol, np.diag([-1.0, -1.0, 1.0, 1.0])), str(tmp_path / "e.nii.gz"))
    body = _post(client, (tmp_path / "e.nii.gz").read_bytes(), "e.nii.gz")
    s = body["summary"]
    assert s["cross_section_slice"] == 2 and s["cross_section_mm"] == [40.0, 20.0]
    assert "largest cross-section 40.0 × 20.0 mm (slice 3)" in s["text"]
    assert [i for i, sl in enumerate(body["slices"]) if sl["measure_png"]] == [2]
    lines, mask = _png(body["slices"][2]["measure_png"]) > 0, _png(body["slices"][2]["mask_png"]) > 0
    assert lines.sum() == 41 + 21 - 1 and not (lines & ~mask).any()
    rows, cols = np.nonzero(lines)
    assert np.ptp(cols) == 40 and np.ptp(rows) == 20  # shown turned: the file's first axis runs across the page
