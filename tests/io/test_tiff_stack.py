"""Multi-page TIFF stacks (a volume as Fiji / ImageJ saves it): read with the ImageJ calibration, refused in one line
when they are not one volume, masks written back as a calibrated stack, and ``tumorseg predict`` on them."""

from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest
from conftest import shared_data, tiny_checkpoint
from PIL import Image

from tumorseg import limits
from tumorseg.cli import main
from tumorseg.data.formats import tiff_stack
from tumorseg.errors import DataError
from tumorseg.io import TiffStackIO, reader_for

tifffile = pytest.importorskip("tifffile")


def _volume(z: int = 6, h: int = 40, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(100, 3000, (z, h, w)).astype(np.uint16)


def _imagej(path, vol, spacing=5.0, pixel=(0.8, 0.9), unit="mm", **kw):
    """An ImageJ stack as Fiji writes it: ``pixel`` = (row, column) size in ``unit``."""
    tifffile.imwrite(path, vol, imagej=True, resolution=(1 / pixel[1], 1 / pixel[0]),
                     metadata={"spacing": spacing, "unit": unit, "axes": kw.pop("axes", "ZYX")}, **kw)
    return path


def _pages(path, arrays, **save):
    pages = [Image.fromarray(a) for a in arrays]
    pages[0].save(path, save_all=True, append_images=pages[1:], **save)
    return path


def test_an_imagej_stack_is_read_page_by_page_with_its_calibration(tmp_path):
    vol = _volume()
    raw, spacing = tiff_stack.read_stack(_imagej(tmp_path / "scan.tif", vol))
    assert raw.dtype == np.uint16 and np.array_equal(raw, vol)
    assert spacing == pytest.approx((5.0, 0.8, 0.9))
    _imagej(tmp_path / "um.tif", vol, spacing=2.0, pixel=(500, 500), unit="micron")
    assert tiff_stack.read_stack(tmp_path / "um.tif")[1] == pytest.approx((0.002, 0.5, 0.5))


def test_a_plain_lzw_stack_is_read_without_spacing_and_one_page_or_a_thumbnail_is_no_stack(tmp_path):
    """Pillow decodes LZW (tifffile needs imagecodecs for it); a TIFF not written by ImageJ has no calibration."""
    vol = _volume().astype(np.uint8)
    raw, spacing = tiff_stack.read_stack(_pages(tmp_path / "plain.tiff", vol, compression="tiff_lzw"))
    assert np.array_equal(raw, vol) and spacing is None
    assert tiff_stack.is_stack(tmp_path / "plain.tiff")
    Image.fromarray(vol[0]).save(tmp_path / "one.tif")
    _pages(tmp_path / "thumb.tif", [vol[0], vol[1, :8, :10]])
    assert not tiff_stack.is_stack(tmp_path / "one.tif") and not tiff_stack.is_stack(tmp_path / "thumb.tif")
    assert isinstance(reader_for(tmp_path / "plain.tiff"), TiffStackIO)
    assert not isinstance(reader_for(tmp_path / "thumb.tif"), TiffStackIO)


@pytest.mark.parametrize("case, says", [
    ("channels", "2 channels"), ("time", "3 time points of 2 slices"), ("sizes", "page 3 is a 10×8"),
    ("colour", "colour or palette (RGB)"), ("pages", "holds 4 slices; at most 3 per volume"), ("voxels", "accepted"),
    ("truncated", "page"),
])
def test_stacks_that_are_not_one_volume_are_refused_in_one_line(tmp_path, monkeypatch, case, says):
    path = tmp_path / f"{case}.tif"
    vol = _volume(4, 16, 20).astype(np.uint8)
    if case == "channels":
        _imagej(path, np.stack([vol, vol], axis=1), axes="ZCYX")
    elif case == "time":
        _imagej(path, np.stack([vol[:2]] * 3), axes="TZYX")
    elif case == "sizes":
        _pages(path, [vol[0], vol[1], vol[2, :8, :10]])
    elif case == "colour":
        _pages(path, [np.stack([v, v, 255 - v], -1) for v in vol])
    elif case == "pages":
        monkeypatch.setattr(limits, "current", lambda: limits.Limits(1 << 20, 1 << 20, 1 << 20, "crop it", 3))
        _pages(path, vol)
    elif case == "voxels":
        _pages(path, vol)
        monkeypatch.setattr(limits, "current", lambda: limits.Limits(16 * 20, 3 * 16 * 20, 1 << 20, "crop it"))
    else:
        _pages(path, vol, compression="tiff_deflate")
        path.write_bytes(path.read_bytes()[:700])
    with pytest.raises(DataError) as err:
        tiff_stack.read_stack(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path)) and says in message, message


def test_a_mask_is_written_back_as_a_calibrated_imagej_stack(tmp_path):
    path = _imagej(tmp_path / "scan.tif", _volume())
    array, props = TiffStackIO().read(path)
    assert array.dtype == np.uint8 and array.shape == (6, 40, 32) and props.display() is None
    mask = np.zeros(array.shape, bool)
    mask[2, 10:20, 5:9] = True
    written = TiffStackIO().write_mask(mask, props, tmp_path / "out")
    assert [p.name for p in written] == ["scan_mask.tif"]
    with tifffile.TiffFile(written[0]) as tif:  # what Fiji reads: an ImageJ stack, 0/255, the scan's calibration
        assert tif.is_imagej and tif.imagej_metadata["unit"] == "mm"
        assert tif.imagej_metadata["spacing"] == pytest.approx(5.0)
        back = tif.asarray()
    assert np.array_equal(back, mask.astype(np.uint8) * 255)
    assert tiff_stack.read_stack(written[0])[1] == pytest.approx((5.0, 0.8, 0.9))


def test_predict_reads_a_stack_as_one_volume_beside_the_images_of_its_folder(capsys, caplog, tmp_path):
    """A folder holding a Fiji stack and a 2-D image: the stack is one volume (its mask a stack, a summary row with
    mL from the calibration), the image an image; the model is chosen by the stack's name as for a NIfTI file."""
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    folder = tmp_path / "scans"
    folder.mkdir()
    _imagej(folder / "case_flair.tif", _volume())
    Image.fromarray(_volume(1)[0].astype(np.uint8)).save(folder / "photo.png")
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--out", str(out), "--list"]) == 0
    listed = capsys.readouterr().out
    assert "TIFF stack (volume)" in listed and "flair (BraTS FLAIR file name '_flair')" in listed
    assert main(["predict", str(folder), "--model", str(ckpt), "--out", str(out), "--backend", "torch",
                 "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.suffix in (".tif", ".png")) == ["case_flair_mask.tif",
                                                                                        "photo.png"]
    with Image.open(out / "case_flair_mask.tif") as mask:
        assert (mask.n_frames, mask.size) == (6, (32, 40))
    with open(out / "summary.csv") as f:
        row = next(csv.DictReader(f))
    assert (row["name"], row["n_slices"], row["voxel_mm"], row["mask"]) == ("case_flair", "6", "5x0.8x0.9",
                                                                           "case_flair_mask.tif")
    summary = json.loads((out / "summary.json").read_text())["volumes"][0]
    assert summary["volume_ml"] == pytest.approx(summary["tumour_voxels"] * 5 * 0.8 * 0.9 / 1000, abs=1e-4)
    caplog.clear()
    caplog.set_level(logging.INFO)
    assert main(["predict", str(folder), "--model", str(ckpt), "--out", str(out), "--backend", "torch",
                 "--no-progress", "--resume"]) == 0  # the finished stack is found by its mask file
    assert "1 of 1 volume(s) already finished" in caplog.text


def test_an_uploaded_stack_gets_the_model_its_name_names(fake_bundled, tmp_path):
    from tumorseg.inference.choose import choose_for_upload

    data = _pages(tmp_path / "s.tif", _volume(3).astype(np.uint8)).read_bytes()
    assert choose_for_upload("tiff", data, "C:\\scans\\Flair_case.tif").name == "flair"
    choice = choose_for_upload("tiff", data, "case.tif")
    assert choice.name == "t1c" and "TIFF stack" in choice.reason


def test_an_lgg_patients_flair_saved_as_one_stack_gives_the_masks_of_its_folder(tmp_path):
    """Real data: the FLAIR channel of an LGG patient's slices saved as one 8-bit stack, predicted by the bundled
    ``flair`` (chosen by the name), agrees with predicting the patient's folder (the stack is scaled once per volume,
    the folder's slices as stored: measured Dice 0.993-0.999 over 6 patients)."""
    root = shared_data("lgg", "kaggle_3m")
    patient = min(p for p in root.iterdir() if p.is_dir())
    files = sorted((f for f in patient.glob("*.tif") if not f.stem.endswith("_mask")),
                   key=lambda f: int(f.stem.rsplit("_", 1)[1]))
    _pages(tmp_path / f"{patient.name}_flair.tif", [np.asarray(Image.open(f))[..., 1] for f in files])
    assert main(["predict", str(tmp_path / f"{patient.name}_flair.tif"), str(patient), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    with Image.open(tmp_path / "o" / f"{patient.name}_flair_mask.tif") as im:
        stack = np.stack([np.asarray(im.seek(k) or im) > 0 for k in range(im.n_frames)])
    folder = np.stack([np.asarray(Image.open(next((tmp_path / "o").rglob(f"{f.stem}.png")))) > 0 for f in files])
    assert folder.sum() > 1000 and 2 * (stack & folder).sum() / (stack.sum() + folder.sum()) > 0.98


def test_score_reads_a_predicted_stack_against_a_truth_stack_as_one_volume(tmp_path):
    """``tumorseg score`` pairs ``scan_mask.tif`` (predict's) with ``scan_label.tif`` (Fiji's 0/255 outline) and scores
    them per slice and per volume, the mL from the calibration; ``--labels`` picks label values of a truth stack."""
    from tumorseg.evaluation.score import score_files

    truth = np.zeros((4, 16, 20), np.uint8)
    truth[1:3, 4:8, 5:10] = 255
    truth[3, 0:2, 0:2] = 2  # another label
    pred = truth == 255
    pred[1, 4, 5:10] = False  # 5 voxels missed
    (tmp_path / "t").mkdir()
    (tmp_path / "p").mkdir()
    tiff_stack.write_stack(truth, (2.0, 1.0, 1.5), tmp_path / "t" / "scan_label.tif")
    tiff_stack.write_stack(pred.astype(np.uint8) * 255, (2.0, 1.0, 1.5), tmp_path / "p" / "scan_mask.tif")
    scored = score_files(tmp_path / "p", tmp_path / "t", labels=(255,), progress=False)
    assert len(scored.rows) == 4 and not scored.failed and not scored.missing
    assert scored.volumes == [{"patient": "scan", "truth_ml": 40 * 3e-3, "predicted_ml": pytest.approx(35 * 3e-3)}]
    dice = {r["case_id"]: r["dice"] for r in scored.rows}
    assert dice["scan_z001"] == pytest.approx(2 * 15 / 35) and dice["scan_z002"] == pytest.approx(1.0)


def test_a_tiff_of_a_pixel_type_pillow_cannot_decode_says_which_and_how_to_save_it(capsys, tmp_path):
    """numpy's float64 (what ``tifffile.imwrite(path, volume)`` saves by default): one line naming the type and the
    fix, as a 2-D image and as a stack alike (Pillow reads a 2-D int32 TIFF, not a stack of them)."""
    tifffile.imwrite(tmp_path / "one.tif", np.ones((20, 24), "float64"))
    tifffile.imwrite(tmp_path / "vol.tif", np.ones((3, 20, 24), "float64"))
    tifffile.imwrite(tmp_path / "ints.tif", np.ones((3, 20, 24), "int32"))
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    assert main(["predict", *(str(tmp_path / n) for n in ("one.tif", "vol.tif", "ints.tif")), "--model", str(ckpt),
                 "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    for name, dtype in (("one.tif", "float64"), ("vol.tif", "float64"), ("ints.tif", "int32")):
        line = next(x for x in err.splitlines() if name in x)
        assert f"a TIFF of {dtype} pixels" in line and "astype('float32')" in line
