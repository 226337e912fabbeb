"""predict/evaluate/export with bundled names, "no tumour found" reporting, and the unusual-input warning."""

import json
import logging

import numpy as np
import pytest
from PIL import Image

from conftest import shared_data, tiny_checkpoint
from tumorseg.cli import main
from tumorseg.data.input_stats import far_off, training_stats
from tumorseg.inference.files import PredictReport, predict_inputs
from tumorseg.inference.onnx import file_sha256
from tumorseg.models.checkpoint import DEFAULT_MODEL, load_checkpoint, save_checkpoint

LGG_PATIENT = "TCGA_CS_4941_19960909"
FIGSHARE_BAND = [[55.0, 70.0, 91.0]]  # fg-median p5/p50/p95 of 300 figshare slices (input_stats docstring)


def _empty_model(tmp_path, **pre):
    """A tiny checkpoint that never finds a tumour (threshold above every probability)."""
    path = tiny_checkpoint(tmp_path / "never.pt", image_size=32, **pre)
    ckpt = load_checkpoint(path)
    ckpt["postprocess"] = {"threshold": 1.0, "tta": False, "min_component_px": 0}
    save_checkpoint(ckpt, path)
    return path


def test_predict_says_no_tumour_found_per_image_volume_and_folder(tmp_path, capsys):
    png = shared_data("figshare", "images", "1089.png")
    lgg = shared_data("samples", "lgg", LGG_PATIENT)
    vol = shared_data("samples", "brats", "BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t1c.nii.gz")
    assert main(["predict", str(png), str(lgg), str(vol), "--model", str(_empty_model(tmp_path, modality="t1c")), "--out",
                 str(tmp_path / "out"), "--no-progress", "--backend", "torch"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "BraTS-GLI-00001-000-t1c.nii.gz: no tumour found in any of its 155 slices (model never.pt)" in out
    assert "1089.png: no tumour found (model never.pt)" in out
    # the LGG patient's 23 slices: one line for the patient, not one per slice
    assert f"{LGG_PATIENT}: no tumour found in any of its 23 slices (model never.pt)" in out
    assert not any(line.startswith(f"{LGG_PATIENT}_") for line in out) and len(out) == 5
    assert out[-2:] == [f"25 masks written to {tmp_path / 'out'}", f"a page over them: tumorseg report {tmp_path / 'out'}"]


def test_report_counts_tumour_slices_of_a_volume(tmp_path):
    vol = shared_data("samples", "brats", "BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t1c.nii.gz")
    ckpt = tiny_checkpoint(tmp_path / "all.pt", image_size=32)
    c = load_checkpoint(ckpt)
    c["postprocess"] = {"threshold": 0.0}  # every pixel with p > 0 is "tumour"
    save_checkpoint(c, ckpt)
    [r] = predict_inputs([vol], ckpt, tmp_path / "out", progress=False, backend="torch").results
    # slices without brain (all zero) are never predicted, so they stay empty
    assert r.n_slices == 155 and 0 < r.n_tumour < 155


@pytest.mark.parametrize("name", ["t1c", "default"])
def test_bundled_names_in_predict(name, tmp_path):
    png = shared_data("figshare", "images", "1089.png")
    report = predict_inputs([png], name, tmp_path / name, progress=False, backend="torch")
    assert report.results[0].model == "t1c"
    ref = predict_inputs([png], DEFAULT_MODEL, tmp_path / "ref", progress=False, backend="torch")
    assert (tmp_path / name / "1089.png").read_bytes() == (tmp_path / "ref" / "1089.png").read_bytes()
    assert ref.results[0].model == "t1c"


@pytest.mark.parametrize("name", ["t1c", "default"])
def test_bundled_names_in_evaluate(name, tmp_path, capsys):
    data = shared_data("samples", "lgg")
    assert main(["evaluate", "--data", str(data), "--model", name, "--split", "all", "--out", str(tmp_path / "ev"),
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "tumour presence: sensitivity" in out and "of 15 tumour-free slices left empty" in out
    assert "Dice rule: truth and prediction both empty -> Dice 1" in out and "per-volume Dice" in out
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["checkpoint"] == str(DEFAULT_MODEL) and m["n_images"] == 23


@pytest.mark.parametrize("name", ["t1c", "default"])
def test_bundled_names_in_export(name, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    assert main(["export", "--model", name, "--onnx", str(tmp_path / "m.onnx")]) == 0
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["checkpoint_sha256"] == file_sha256(DEFAULT_MODEL)


def test_training_stats_and_far_off_band():
    rng = np.random.default_rng(0)
    images = np.zeros((20, 32, 32), np.uint8)
    images[:, 8:24, 8:24] = rng.integers(60, 81, (20, 16, 16))  # foreground 60..80, median ~70
    s = training_stats(images)
    assert s["n_slices"] == 20 and 65 <= s["fg_median"][0][1] <= 75
    assert training_stats(np.zeros((3, 32, 32), np.uint8)) == {}  # no foreground anywhere: no stats, no warning
    stats = {"fg_median": FIGSHARE_BAND}
    bright = np.full((32, 32), 200, np.uint8)
    assert far_off([bright], stats).startswith("median foreground brightness 200")
    assert far_off([np.full((32, 32), 70, np.uint8)], stats) is None
    assert far_off([bright], None) is None and far_off([bright], {}) is None


@pytest.mark.parametrize("name,warned", [("BraTS-GLI-00001-000-t1n.nii.gz", True),
                                         ("BraTS-GLI-00001-000-t1c.nii.gz", False)])
def test_unusual_volume_is_predicted_with_a_warning(tmp_path, caplog, name, warned):
    """A T1 scan without contrast is brighter inside the brain (median 147 after 8-bit scaling) than the T1c
    training band allows (at most 91 * 1.5); the T1c volume of the same case (72) is not."""
    vol = shared_data("samples", "brats", "BraTS-GLI-00001-000", name)
    ckpt = tiny_checkpoint(tmp_path / "m.pt", image_size=32, modality="t1c",
                           input_stats={"fg_median": FIGSHARE_BAND})
    caplog.set_level(logging.WARNING, logger="tumorseg")
    report = predict_inputs([vol], ckpt, tmp_path / "out", progress=False, backend="torch")
    assert len(report.written) == 1  # warned, never refused
    notes = [r.message for r in caplog.records if "unusual input" in r.message]
    assert bool(notes) is warned
    if warned:
        assert notes[0].startswith(f"{vol}: unusual input for model 'm.pt': median foreground brightness 147")
        assert "a T1c (contrast-enhanced T1) scan" in notes[0]


def test_no_warning_without_stored_stats(tmp_path, caplog):
    vol = shared_data("samples", "brats", "brats_2013_pat0001_1", "T1c_subtrMeanDivStd.nii.gz")
    caplog.set_level(logging.WARNING, logger="tumorseg")
    predict_inputs([vol], tiny_checkpoint(tmp_path / "m.pt", image_size=32), tmp_path / "out", progress=False,
                   backend="torch")
    assert not [r for r in caplog.records if "unusual input" in r.message]


def test_many_images_are_counted_and_only_the_first_empty_ones_listed(tmp_path, capsys):
    folder = tmp_path / "pngs"
    folder.mkdir()
    for n in range(12):
        Image.fromarray(np.full((32, 32), 10 * n, np.uint8)).save(folder / f"img{n:02d}.png")
    assert main(["predict", str(folder), "--model", str(_empty_model(tmp_path)), "--out", str(tmp_path / "out"),
                 "--no-progress", "--backend", "torch"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "img00.png: no tumour found (model never.pt)" in out and "img11.png: no tumour found (model never.pt)" not in out
    assert "... and 2 more inputs with no tumour found" in out
    assert "12 images: tumour found in 0, no tumour found in 12" in out


def _tumour_free_post_contrast_png(tmp_path):
    """Slice 20 of a sample LGG patient (empty mask): its post-contrast channel as a PNG, as a user would save it."""
    from tumorseg.data.formats.lgg import read_tif_channels

    tif = shared_data("samples", "lgg", LGG_PATIENT, f"{LGG_PATIENT}_20.tif")
    png = tmp_path / "no_tumour_post.png"
    Image.fromarray(read_tif_channels(tif)[2]).save(png)
    return png


def test_t1c_leaves_a_tumour_free_slice_empty_where_t1c_unet_marks_it_with_a_caveat(tmp_path, capsys):
    """The bundled t1c was fine-tuned with tumour-free slices: one tumour-free post-contrast slice of an LGG patient it
    never saw comes out empty. t1c-unet (figshare tumour slices only) marks it, and predict says with the mask that
    such a mark is no evidence (its card)."""
    png = _tumour_free_post_contrast_png(tmp_path)
    assert main(["predict", str(png), "--out", str(tmp_path / "out"), "--no-progress", "--backend", "torch"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "no_tumour_post.png: no tumour found (model t1c)" in out and not any(x.startswith("note:") for x in out)
    assert not np.asarray(Image.open(tmp_path / "out" / "no_tumour_post.png")).any()
    assert main(["predict", str(png), "--model", "t1c-unet", "--out", str(tmp_path / "unet"), "--no-progress",
                 "--backend", "torch"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "no_tumour_post.png: tumour found (model t1c-unet)" in out
    notes = [line for line in out if line.startswith("note: t1c-unet was trained only on slices that hold a tumour")]
    assert len(notes) == 1 and "not evidence of a tumour" in notes[0]
    # a model without such a caveat, or no mark at all: no note
    assert main(["predict", str(png), "--model", str(_empty_model(tmp_path)), "--out", str(tmp_path / "o2"),
                 "--no-progress", "--backend", "torch"]) == 0
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_an_image_without_signal_gets_no_tumour(tmp_path, capsys, backend):
    """A black slice (the first or last of many LGG patients) or a nearly black upload holds nothing to segment;
    the bundled t1c, never shown one, marked a 1580-pixel blob on each before the no-signal rule."""
    if backend == "onnx":
        pytest.importorskip("onnxruntime")
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(tmp_path / "black.png")
    dim = np.full((512, 512), 3, np.uint8)
    dim[100:104, 100:110] = 250  # 40 bright pixels at 512², 10 at the model's 256²: still no signal
    Image.fromarray(dim).save(tmp_path / "dim.png")
    png = shared_data("figshare", "images", "1089.png")
    assert main(["predict", str(tmp_path / "black.png"), str(tmp_path / "dim.png"), str(png), "--out",
                 str(tmp_path / "out"), "--no-progress", "--backend", backend]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "black.png: no tumour found (model t1c)" in out and "dim.png: no tumour found (model t1c)" in out
    assert "3 images: tumour found in 1, no tumour found in 2" in out  # the figshare slice keeps its tumour
    assert not np.asarray(Image.open(tmp_path / "out" / "black.png")).any()
    assert np.asarray(Image.open(tmp_path / "out" / "1089.png")).any()


def test_no_signal_counts_lit_pixels_in_any_channel():
    from tumorseg.inference.postprocess import SIGNAL_LEVEL, no_signal

    images = np.zeros((3, 2, 256, 256), np.uint8)
    images[1, 1].flat[:64] = SIGNAL_LEVEL + 1  # enough lit pixels (64 at 256²) in the second channel
    images[2, 0].flat[:63] = 255  # one too few
    small = np.zeros((2, 16, 16), np.uint8)
    small[1, 3, 3] = 200  # at 16² one lit pixel is enough
    assert no_signal(small).tolist() == [True, False]
    assert no_signal(images).tolist() == [True, False, True]
    assert no_signal(images[:, 1]).tolist() == [True, False, True]
    assert no_signal(images[:0]).shape == (0,)


def test_post_contrast_slices_exported_as_pngs_are_one_volume_like_the_lgg_folder(tmp_path):
    """The LGG sample patient's post-contrast channel saved as ``P/P_<n>.png`` (as a user exporting slices one by one
    would) gets t1c's volume rules like the TIFF folder: the same masks and the same per-patient summary row; one
    PNG taken out of its folder is a lone image again."""
    lgg = shared_data("samples", "lgg", LGG_PATIENT)
    pngs = tmp_path / LGG_PATIENT
    pngs.mkdir()
    for tif in lgg.glob(f"{LGG_PATIENT}_*.tif"):
        if not tif.stem.endswith("_mask"):
            Image.fromarray(np.asarray(Image.open(tif))[..., 2]).save(pngs / f"{tif.stem}.png")
    options = {"progress": False, "backend": "torch"}
    by_tif = predict_inputs([lgg], "t1c", tmp_path / "tif", **options)
    by_png = predict_inputs([pngs], "t1c", tmp_path / "png", **options)
    [tif_row], [png_row] = by_tif.folders, by_png.folders
    assert (png_row.name, png_row.n_slices, png_row.slices_with_tumour, png_row.tumour_voxels) == \
        (tif_row.name, 23, tif_row.slices_with_tumour, tif_row.tumour_voxels)
    for r in by_tif.results:
        assert np.array_equal(np.asarray(Image.open(r.outputs[0])),
                              np.asarray(Image.open(tmp_path / "png" / r.outputs[0].name)))
    # the same PNGs in a folder of another name are separate images: no volume rules, no patient row, and slices
    # marked that the rules leave empty
    (tmp_path / "flat").mkdir()
    for png in pngs.iterdir():
        (tmp_path / "flat" / png.name).write_bytes(png.read_bytes())
    alone = predict_inputs([tmp_path / "flat"], "t1c", tmp_path / "alone", **options)
    assert not alone.folders and len(alone.results) == 23
    assert sum(r.n_tumour for r in alone.results) > tif_row.slices_with_tumour


def test_written_line_names_masks_and_dicom_segs_apart(tmp_path):
    assert PredictReport().written_line("o") == "0 masks written to o"
    one = PredictReport(written=[tmp_path / "MR_small.png", tmp_path / "MR_small_seg.dcm"])
    assert one.written_line("o") == "1 mask and 1 DICOM SEG written to o"
    both = PredictReport(written=[tmp_path / "MR_small.png", tmp_path / "MR_small_seg.dcm",
                                  tmp_path / "MR_small_rtstruct.dcm"])
    assert both.written_line("o") == "1 mask, 1 DICOM SEG and 1 RTSTRUCT written to o"
    many = PredictReport(written=[tmp_path / f"s{i}.png" for i in range(3)]
                         + [tmp_path / f"s{i}_seg.dcm" for i in (1, 2)])
    assert many.written_line("o") == "3 masks and 2 DICOM SEGs written to o"


def test_blank_inputs_are_predicted_with_a_warning(tmp_path, caplog):
    """An all-NaN volume and an all-black PNG: "no tumour found" is written, and a warning says the input was blank
    (a normal image gets none)."""
    nib = pytest.importorskip("nibabel")
    nan = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(np.full((32, 32, 4), np.nan, np.float32), np.eye(4)), str(nan))
    black, ok = tmp_path / "black.png", tmp_path / "ok.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(black)
    Image.fromarray(np.arange(32 * 32, dtype=np.uint8).reshape(32, 32)).save(ok)
    caplog.set_level(logging.WARNING, logger="tumorseg")
    report = predict_inputs([nan, black, ok], tiny_checkpoint(tmp_path / "m.pt", image_size=32), tmp_path / "out",
                            progress=False, backend="torch")
    assert len(report.written) == 3 and not report.failed
    notes = [r.message for r in caplog.records if "blank input" in r.message]
    assert [n.split(":")[0] for n in notes] == [str(nan), str(black)]
    assert "every voxel of its 4 slices the same value" in notes[0] and "every pixel the same value" in notes[1]


def test_a_folder_of_lgg_patients_without_their_masks_is_predicted_as_with_them(tmp_path):
    """Held-out LGG patients come as images only (``root/P/P_<n>.tif``, no ``_mask.tif``): ``predict root`` finds
    each patient folder below it and gives it the volume rules, exactly as for the folder with its masks."""
    lgg = shared_data("samples", "lgg", LGG_PATIENT)
    bare = tmp_path / "heldout" / LGG_PATIENT
    bare.mkdir(parents=True)
    for tif in lgg.glob(f"{LGG_PATIENT}_*.tif"):
        if not tif.stem.endswith("_mask"):
            (bare / tif.name).write_bytes(tif.read_bytes())
    options = {"progress": False, "backend": "torch"}
    with_masks = predict_inputs([lgg.parent], None, tmp_path / "a", **options)
    without = predict_inputs([tmp_path / "heldout"], None, tmp_path / "b", **options)
    [a], [b] = with_masks.folders, without.folders
    assert (b.name, b.n_slices, b.slices_with_tumour, b.tumour_voxels, b.model) == \
        (a.name, 23, a.slices_with_tumour, a.tumour_voxels, "flair")
