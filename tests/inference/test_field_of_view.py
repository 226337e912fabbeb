"""Slices brought to the training field of view for the model and their masks brought back
(inference/field_of_view.py): padded when they cover less, cropped around the head when they cover far more; in
predict, the Python API, and on the real BraTS sample cropped to the brain and padded to a large field of view (where
evaluate agrees with predict + score)."""

from __future__ import annotations

import logging

import nibabel as nib
import numpy as np
import pytest

from conftest import shared_data
from tumorseg.inference.field_of_view import FOV_MM, Window, head_extent, window_for
from tumorseg.inference.volumes import predict_stack


@pytest.mark.parametrize("shape,pixel_mm,expected", [
    ((136, 176), (1.0, 1.0), Window((52, 52), (32, 32))),  # BraTS cropped to the brain: back to 240 x 240
    ((136, 240), (1.0, 1.0), Window((52, 52), (0, 0))),  # one axis short: that axis only
    ((135, 240), (1.0, 1.0), Window((52, 53), (0, 0))),  # odd: the extra pixel after
    ((240, 240), (1.0, 1.0), None),  # BraTS as distributed
    ((512, 512), (0.49, 0.49), None),  # figshare: 251 mm, within the tolerance
    ((256, 256), (0.9375, 0.9375), None),  # 240 mm exactly
    ((260, 240), (1.0, 1.0), None),  # 260 mm: within the tolerance
    ((100, 100), (2.0, 2.0), Window((10, 10), (10, 10))),  # coarse pixels: 120 px make 240 mm
    ((256, 256), None, None),  # no spacing (a PNG, an LGG TIFF)
    ((64, 64), (0.3125, 0.3125), None),  # 20 mm (a phantom): 768 px would be 12 times its size
    ((512, 512), (0.001, 0.001), None),  # a broken header
    ((64, 64), (float("nan"), 1.0), None),
    ((64, 64), (0.0, 1.0), None),
])
def test_window_of_slices_without_a_head_outside_it(shape, pixel_mm, expected):
    slices = [np.full(shape, 100, np.uint8)]  # bright everywhere: no crop ever cuts into it
    assert window_for(slices, pixel_mm) == expected


def test_a_large_field_of_view_is_cropped_around_the_head():
    """400 x 300 mm slices (1 mm) with a 150 x 180 mm head off centre: each long axis cropped to 240 mm centred on the
    head; a head longer than 240 mm keeps a margin around it; a stray bright pixel in the air does not count."""
    vol = np.zeros((5, 400, 300), np.uint8)
    vol[:, 200:350, 60:240] = 120  # rows 200-349 (centre 275), columns 60-239 (centre 150)
    vol[2, 5, 5] = 255  # a stray pixel
    assert head_extent(list(vol)) == ((200, 349), (60, 239))
    window = window_for(list(vol), (1.0, 1.0))
    assert window == Window((-155, -5), (-30, -30))  # rows 155-394 (240, centred on 275, inside 400), columns 30-269
    assert window.apply(vol[0]).shape == (240, 240) and window.apply(vol[0])[45:195, 30:210].min() == 120
    big = np.zeros((3, 400, 400), np.uint8)
    big[:, 50:350, 100:280] = 90  # a 300 mm long "head" (rows 51-348 past the 0.5 % trims): 328 rows kept around it
    window = window_for(list(big), (1.0, 1.0))
    assert window.rows == (-36, -36) and window.cols == (-70, -90)
    assert window_for([np.zeros((400, 400), np.uint8)], (1.0, 1.0)) is None  # nothing bright: as it is


def test_apply_and_undo_are_inverse():
    for window in (Window((3, 4), (0, 2)), Window((-3, 2), (-1, -4))):
        image = np.arange(2 * 9 * 10, dtype=np.uint8).reshape(2, 9, 10)  # (C, H, W)
        done = window.apply(image)
        assert done.shape == (2, 9 + sum(window.rows), 10 + sum(window.cols))
        back = window.undo(done)
        kept = (slice(None), slice(max(0, -window.rows[0]), 9 - max(0, -window.rows[1])),
                slice(max(0, -window.cols[0]), 10 - max(0, -window.cols[1])))
        assert back.shape == image.shape and np.array_equal(back[kept], image[kept])
        assert back.sum() == image[kept].sum()  # what was cropped away reads 0


def test_a_refused_padding_says_why(caplog):
    with caplog.at_level(logging.INFO, logger="tumorseg"):
        assert window_for([np.ones((64, 64), np.uint8)], (0.3125, 0.3125), "phantom.dcm") is None
    assert "phantom.dcm: its slices cover 20 mm at 0.312 mm a pixel; padding them to 240 mm would take 768 pixels" \
        in caplog.text


def test_the_model_sees_padded_slices_and_the_masks_keep_the_input_size(bright):
    """The network gets each slice padded to 240 mm; the probabilities it returns are cropped back before the
    volume rules, so the masks (and the kept probability maps) have the input's size and place."""
    seen = []

    def probabilities(inputs, batch_size=16):
        seen.extend(x.shape for x in inputs)
        return [(x >= 128).astype(np.float32) for x in inputs]

    bright.probabilities = probabilities
    slices = [np.zeros((60, 80), np.uint8) for _ in range(3)]
    slices[1][20:30, 30:45] = 200
    keep = np.zeros((3, 60, 80), np.uint8)
    masks = predict_stack(slices, bright, 16, keep=keep, pixel_mm=(2.0, 2.0), skip_empty=False)
    assert seen == [(120, 120)] * 3  # 60 x 80 pixels of 2 mm padded to 120 x 120 (240 mm)
    assert masks.shape == (3, 60, 80) and np.array_equal(masks[1], slices[1] >= 128) and not masks[[0, 2]].any()
    assert np.array_equal(keep[1] > 0, slices[1] >= 128)
    seen.clear()
    predict_stack(slices, bright, 16, skip_empty=False)  # no spacing: as they are
    assert seen == [(60, 80)] * 3


def test_the_api_pads_a_volume_given_its_spacing(bright, monkeypatch):
    from tumorseg.api import Segmenter

    seen = []

    def probabilities(inputs, batch_size=16):
        seen.extend(x.shape for x in inputs)
        return [np.zeros(x.shape, np.float32) for x in inputs]

    bright.probabilities = probabilities
    volume = np.zeros((2, 60, 80), np.uint8)
    volume[:, 10:20, 10:20] = 90
    Segmenter(bright).segment_volume(volume, spacing_mm=(3.0, 2.0, 2.0))
    assert seen == [(120, 120)] * 2
    seen.clear()
    Segmenter(bright).segment_volume(volume)
    assert seen == [(60, 80)] * 2


@pytest.mark.parametrize("image,model,window,floor", [
    ("Flair_subtrMeanDivStd.nii.gz", "flair", "brain", 0.75),  # 136 x 176 mm: 0.817 (0.500 as it is)
    ("T1c_subtrMeanDivStd.nii.gz", "t1c", 40, 0.65),  # padded to 320 mm: 0.722 (0.050 as it is)
])
def test_real_brats_volume_cropped_or_in_a_large_field_of_view(tmp_path, image, model, window, floor):
    """The BraTS 2015 sample cropped in-plane to its brain's bounding box, or padded with background to 320 mm:
    predicted by the bundled model about as well as the volume as distributed (flair 0.815, t1c 0.725 against the
    tumour core; docs/results/field-of-view-cpu/)."""
    from tumorseg.evaluation.score import score_files
    from tumorseg.inference.files import predict_inputs

    case = shared_data("samples", "brats", "brats_2013_pat0001_1")
    img = nib.load(case / image)
    vol = np.asarray(img.dataobj)
    labels = np.asarray(nib.load(case / "OTMultiClass.nii.gz").dataobj)
    truth = labels > 0 if model == "flair" else np.isin(labels, (1, 3, 4))
    if window == "brain":
        brain = vol > vol.min()
        xs, ys = (np.where(brain.any(axis=tuple(j for j in range(3) if j != i)))[0] for i in (0, 1))
        crop = (slice(xs[0], xs[-1] + 1), slice(ys[0], ys[-1] + 1))
        vol, truth = vol[crop], truth[crop]
        assert vol.shape[:2] == (136, 176)
    else:
        pad = ((window, window), (window, window), (0, 0))
        vol, truth = np.pad(vol, pad, constant_values=vol.min()), np.pad(truth, pad)
    assert FOV_MM == 240.0
    nib.save(nib.Nifti1Image(vol, img.affine, img.header), tmp_path / f"scan_{model}.nii.gz")
    nib.save(nib.Nifti1Image(truth.astype(np.uint8), img.affine), tmp_path / "scan_seg.nii.gz")
    predict_inputs([tmp_path / f"scan_{model}.nii.gz"], model, tmp_path / "out", progress=False)
    rows = score_files(tmp_path / "out" / f"scan_{model}_mask.nii.gz", tmp_path / "scan_seg.nii.gz",
                       progress=False).rows
    dice = 2 * sum(r["intersection_px"] for r in rows) / sum(r["predicted_area_px"] + r["tumour_area_px"] for r in rows)
    assert dice > floor, dice
    # evaluate gives the volume's slices the same field of view (0.500 / 0.050 before it did; evaluate_agrees.json)
    from tumorseg.evaluation.evaluate import evaluate

    summary = evaluate(model, tmp_path, tmp_path / "ev", split="all", data_options={"empty_fraction": 1.0},
                       progress=False)
    assert abs(summary["per_volume"]["mean_dice"] - dice) < 0.01, (summary["per_volume"]["mean_dice"], dice)


def _small_field_of_view_case(folder):
    """A BraTS-named case of 60 x 80 pixels of 2 mm (120 x 160 mm, a volume cropped to the brain), 4 slices, a 10 x
    20 pixel tumour on slices 1-2."""
    vol = np.zeros((60, 80, 4), np.int16)
    vol[5:55, 5:75] = np.random.default_rng(0).integers(250, 350, (50, 70, 4))
    vol[20:30, 30:50, 1:3] = 900
    seg = (vol == 900).astype(np.uint8)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    folder.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(vol, affine), folder / "scan_flair.nii.gz")
    nib.save(nib.Nifti1Image(seg, affine), folder / "scan_seg.nii.gz")
    return folder


def test_evaluate_pads_each_volume_as_predict_does(tmp_path):
    """evaluate's records of a small-field-of-view NIfTI get predict's window, once per volume: the padded slice
    resized, so the tumour is as large in the model's input as predict makes it."""
    from tumorseg.data import load_slices, read_dataset
    from tumorseg.inference.field_of_view import volume_windows

    records = read_dataset(_small_field_of_view_case(tmp_path), "brats", empty_fraction=1.0)
    window_of = volume_windows()
    assert len(records) == 4 and len({id(window_of(r)) for r in records}) == 1  # one volume: one window
    padded = load_slices(records, 120, progress=False, window_of=window_of)
    plain = load_slices(records, 120, progress=False)
    # 60 x 80 pixels of 2 mm padded to 120 x 120 (240 mm): at 120 px the tumour keeps its 10 x 20 pixels
    assert padded.masks[1].sum() == 200 and plain.masks[1].sum() == (10 * 2) * (20 * 1.5)  # stretched otherwise
    assert padded.images[1][:30].max() == 0 and padded.images[1][30:90, 20:100].any()


@pytest.mark.parametrize("cache", [False, True])
def test_train_reads_volumes_as_evaluate_and_predict_do(tmp_path, cache):
    """train / cv (and the calibration at the end of a run) decode a small-field-of-view volume with the window
    evaluate and predict give it, from the files or through the slice cache: a model is trained and calibrated on
    the slices it will be given. A 2-D dataset (no geometry) is read as it is."""
    from tumorseg.config import TrainConfig
    from tumorseg.data import load_slices, read_dataset
    from tumorseg.inference.field_of_view import volume_windows
    from tumorseg.training import distributed as D
    from tumorseg.training.fit import prepare_data

    data = _small_field_of_view_case(tmp_path / "data")
    records = read_dataset(data, "brats", empty_fraction=1.0)
    seen = load_slices(records, 120, progress=False, window_of=volume_windows())  # evaluate's arrays
    split = tmp_path / "split.json"
    split.write_text('{"train": ["%s", "%s"], "val": ["%s"], "test": ["%s"]}' % tuple(r.case_id for r in records))
    cfg = TrainConfig(data=str(data), out=str(tmp_path / "run"), data_format="brats",
                      data_options={"empty_fraction": 1.0}, image_size=120, split_file=str(split),
                      cache=str(tmp_path / "cache") if cache else None)
    parts = prepare_data(cfg, tmp_path / "run", D.DistEnv(), progress=False)
    order = {r.case_id: i for i, r in enumerate(records)}
    for part in parts.values():
        idx = [order[r.case_id] for r in part.records]
        assert np.array_equal(np.asarray(part.images), seen.images[idx])
        assert np.array_equal(np.asarray(part.masks), seen.masks[idx])
    assert parts["train"].masks[1].sum() == 200  # padded to 240 mm: the tumour keeps its 10 x 20 pixels


def test_train_reads_two_d_slices_as_they_are(synthetic_dataset, tmp_path):
    """PNG slices carry no spacing: train reads them exactly as before the field of view existed."""
    from tumorseg.config import TrainConfig
    from tumorseg.data import load_slices, read_dataset
    from tumorseg.training import distributed as D
    from tumorseg.training.fit import prepare_data

    cfg = TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "run"), image_size=64)
    parts = prepare_data(cfg, tmp_path / "run", D.DistEnv(), progress=False)
    plain = load_slices(read_dataset(synthetic_dataset), 64, progress=False)
    order = {r.case_id: i for i, r in enumerate(plain.records)}
    idx = [order[r.case_id] for r in parts["train"].records]
    assert np.array_equal(parts["train"].images, plain.images[idx])
