"""Slices covering less than the training field of view are padded for the model and cropped back
(inference/field_of_view.py), in predict, the Python API and on the real BraTS sample cropped to the brain."""

from __future__ import annotations

import logging

import nibabel as nib
import numpy as np
import pytest

from conftest import shared_data
from tumorseg.inference.field_of_view import FOV_MM, Padding, padding_for
from tumorseg.inference.volumes import predict_stack


@pytest.mark.parametrize("shape,pixel_mm,expected", [
    ((136, 176), (1.0, 1.0), Padding((52, 52), (32, 32))),  # BraTS cropped to the brain: back to 240 x 240
    ((136, 240), (1.0, 1.0), Padding((52, 52), (0, 0))),  # one axis short: that axis only
    ((135, 240), (1.0, 1.0), Padding((52, 53), (0, 0))),  # odd: the extra pixel after
    ((240, 240), (1.0, 1.0), None),  # BraTS as distributed
    ((512, 512), (0.49, 0.49), None),  # figshare: 251 mm
    ((256, 256), (0.9375, 0.9375), None),  # 240 mm exactly
    ((100, 100), (2.0, 2.0), Padding((10, 10), (10, 10))),  # coarse pixels: 120 px make 240 mm
    ((256, 256), None, None),  # no spacing (a PNG, an LGG TIFF)
    ((64, 64), (0.3125, 0.3125), None),  # 20 mm (a phantom): 768 px would be 12 times its size
    ((512, 512), (0.001, 0.001), None),  # a broken header
    ((64, 64), (float("nan"), 1.0), None),
    ((64, 64), (0.0, 1.0), None),
])
def test_padding_for(shape, pixel_mm, expected):
    assert padding_for(shape, pixel_mm) == expected


def test_pad_and_crop_are_inverse():
    pad = Padding((3, 4), (0, 2))
    image = np.arange(2 * 5 * 6, dtype=np.uint8).reshape(2, 5, 6)  # (C, H, W)
    padded = pad.pad(image)
    assert padded.shape == (2, 12, 8) and padded[:, :3].sum() == 0 and padded[..., -2:].sum() == 0
    assert np.array_equal(pad.crop(padded), image)


def test_a_refused_padding_says_why(caplog):
    with caplog.at_level(logging.INFO, logger="tumorseg"):
        assert padding_for((64, 64), (0.3125, 0.3125), "phantom.dcm") is None
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


def test_real_brats_volume_cropped_to_the_brain(tmp_path):
    """The BraTS 2015 FLAIR sample cropped in-plane to its brain's bounding box (136 x 176 mm): predicted by the
    bundled ``flair`` as well as the whole volume (per-volume Dice 0.817 against 0.815; without the padding 0.500:
    docs/results/field-of-view-cpu/)."""
    from tumorseg.evaluation.score import score_files
    from tumorseg.inference.files import predict_inputs

    case = shared_data("samples", "brats", "brats_2013_pat0001_1")
    img = nib.load(case / "Flair_subtrMeanDivStd.nii.gz")
    vol = np.asarray(img.dataobj)
    brain = vol > vol.min()
    xs, ys = (np.where(brain.any(axis=tuple(j for j in range(3) if j != i)))[0] for i in (0, 1))
    crop = (slice(xs[0], xs[-1] + 1), slice(ys[0], ys[-1] + 1))
    assert FOV_MM == 240.0 and vol[crop].shape[:2] == (136, 176)
    nib.save(nib.Nifti1Image(vol[crop], img.affine, img.header), tmp_path / "crop_flair.nii.gz")
    truth = np.asarray(nib.load(case / "OTMultiClass.nii.gz").dataobj)[crop] > 0
    nib.save(nib.Nifti1Image(truth.astype(np.uint8), img.affine), tmp_path / "crop_seg.nii.gz")
    predict_inputs([tmp_path / "crop_flair.nii.gz"], None, tmp_path / "out", progress=False)
    rows = score_files(tmp_path / "out" / "crop_flair_mask.nii.gz", tmp_path / "crop_seg.nii.gz", progress=False).rows
    dice = 2 * sum(r["intersection_px"] for r in rows) / sum(r["predicted_area_px"] + r["tumour_area_px"] for r in rows)
    assert dice > 0.75, dice
