"""Mirrored tumour-free slices: the midline is found, the tumour's half is replaced, bad cases are refused."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import ndimage as ndi

from conftest import shared_data
from data._phantom import phantom
from tumorseg.data.mirror import Midline, find_midline, mirror_slice, reflect


@pytest.mark.parametrize("angle", [0.0, 8.0, -6.0])
def test_finds_the_midline_of_a_rotated_symmetric_head(angle: float) -> None:
    img, mask = phantom(angle)
    line = find_midline(img, ndi.binary_dilation(mask, iterations=6))
    assert line.usable
    # ndi.rotate turns the image counter-clockwise by `angle`: the midline's lower end moves to larger columns
    assert abs(np.rad2deg(line.theta) - angle) <= 1.5
    # the line passes through the head's centre (128, 128): distance of the centre to it
    assert abs((128 - line.y) * line.normal[0] + (128 - line.x) * line.normal[1]) <= 2.0


def test_tumour_free_copy_has_no_tumour_and_keeps_the_other_half() -> None:
    img, mask = phantom(5.0)
    line = find_midline(img, ndi.binary_dilation(mask, iterations=6))
    out, out_mask = mirror_slice(img, mask, line, keep="healthy")
    assert out.dtype == np.uint8 and out.shape == img.shape and not out_mask.any()
    assert out[mask].max() < 200  # the bright tumour is gone
    healthy = ~line.side(img.shape) if line.side(img.shape)[mask].mean() > 0.5 else line.side(img.shape)
    assert np.array_equal(out[healthy], img[healthy])  # the healthy half is untouched


def test_two_tumour_copy_marks_both_tumours() -> None:
    img, mask = phantom(0.0)
    line = find_midline(img, ndi.binary_dilation(mask, iterations=6))
    out, out_mask = mirror_slice(img, mask, line, keep="tumour")
    mirrored = reflect(mask.astype(np.float32), line, order=0) > 0.5
    assert out_mask[mask].all() and out_mask[mirrored].all()
    assert not (mask & mirrored).any()
    assert 1.8 * mask.sum() <= out_mask.sum() <= 2.2 * mask.sum()
    assert out[mirrored].mean() > 200  # the reflected tumour is bright like the original


def test_refuses_a_tumour_on_the_midline_an_empty_mask_and_a_bad_line() -> None:
    img, mask = phantom(0.0, tumour_at=(128, 128))
    line = find_midline(img, ndi.binary_dilation(mask, iterations=6))
    assert mirror_slice(img, mask, line) is None  # a pituitary-like tumour on the midline
    img, mask = phantom(0.0)
    assert mirror_slice(img, np.zeros_like(mask), find_midline(img)) is None
    bad = Midline(128.0, 128.0, 0.0, score=0.3, head_overlap=0.95)  # e.g. a sagittal slice
    assert not bad.usable and mirror_slice(img, mask, bad) is None
    with pytest.raises(ValueError, match="keep"):
        mirror_slice(img, mask, find_midline(img, ndi.binary_dilation(mask, iterations=6)), keep="left")


def test_noise_and_blank_images_are_not_usable() -> None:
    rng = np.random.default_rng(0)
    assert not find_midline(rng.integers(0, 255, (256, 256)).astype(np.uint8)).usable
    assert not find_midline(np.zeros((256, 256), np.uint8)).usable
    with pytest.raises(ValueError, match="2-D"):
        find_midline(np.zeros((2, 64, 64)))


def test_real_figshare_slices_some_mirror_and_sagittal_ones_are_refused() -> None:
    from PIL import Image

    FIGSHARE = shared_data("figshare")

    with open(FIGSHARE / "metadata.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "dev"][:120:10]
    made = 0
    for r in rows:
        img = np.asarray(Image.open(FIGSHARE / "images" / f"{r['index']}.png").convert("L"))
        mask = np.asarray(Image.open(FIGSHARE / "masks" / f"{r['index']}.png")) > 127
        got = mirror_slice(img, mask, find_midline(img, ndi.binary_dilation(mask, iterations=6)))
        if got is not None:
            made += 1
            assert not got[1].any() and got[0].shape == img.shape
    assert 0 < made < len(rows)
