"""``predict --overlay`` pictures of volumes: which slices are shown, the grid, the radiological view, the file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_checkpoint
from tumorseg.inference.montage import TILE_PX, montage, overlay, shown_slices
from tumorseg.inference.predictor import Predictor

RED = np.array([255, 40, 40])


def test_slices_span_the_tumour_and_keep_the_largest():
    array = np.full((100, 8, 8), 50, np.uint8)
    masks = np.zeros((100, 8, 8), bool)
    masks[30:71, 2:4, 2:4] = True
    masks[47, :, :] = True  # the largest cut, not on the even spacing of 30..70 in 16 steps
    picks = shown_slices(array, masks)
    assert len(picks) == 16 and picks[0] == 30 and picks[-1] == 70 and 47 in picks
    assert picks == sorted(set(picks))


def test_short_tumour_shows_each_of_its_slices():
    array = np.full((40, 8, 8), 50, np.uint8)
    masks = np.zeros((40, 8, 8), bool)
    masks[10:13, 3, 3] = True
    assert shown_slices(array, masks) == [10, 11, 12]


def test_no_tumour_spans_the_slices_with_brain():
    array = np.zeros((60, 8, 8), np.uint8)
    array[20:41] = 90
    picks = shown_slices(array, np.zeros((60, 8, 8), bool), n=5)
    assert picks == [20, 25, 30, 35, 40]
    assert shown_slices(np.zeros((3, 4, 4), np.uint8), np.zeros((3, 4, 4), bool)) == [0, 1, 2]  # nothing at all


def test_grid_tiles_mask_and_multichannel_middle_channel():
    array = np.zeros((20, 3, 32, 32), np.uint8)  # (Z, C, H, W)
    array[:, 1] = 100  # the middle channel is shown
    masks = np.zeros((20, 32, 32), bool)
    masks[:, 8:16, 8:16] = True
    grid = montage(array, masks)
    assert grid.dtype == np.uint8 and grid.shape == (4 * TILE_PX, 4 * TILE_PX, 3)  # 16 tiles, 4 to a row
    tile = grid[TILE_PX : 2 * TILE_PX, :TILE_PX]  # the fifth tile
    inside, outside = tile[TILE_PX * 3 // 8, TILE_PX * 3 // 8], tile[TILE_PX * 3 // 4, TILE_PX * 3 // 4]
    assert inside[0] > inside[1] and (outside == 100).all()  # tinted red inside the mask, the grey image outside
    dot = np.zeros((5, 5), bool)
    dot[2, 2] = True
    assert np.array_equal(overlay(np.full((5, 5), 100, np.uint8), dot)[2, 2], RED)  # its outline is pure red


def test_tiles_are_turned_to_the_radiological_view():
    array = np.zeros((1, 16, 16), np.uint8)
    array[0, 0, 0] = 255  # a bright corner: stored first row, first column
    masks = np.zeros((1, 16, 16), bool)
    upside_down = np.array([[0, -1], [1, 1]])  # a nibabel orientation transform: rows reversed
    turned = montage(array, masks, upside_down, tile_px=16)
    assert turned[0, 0].max() == 0 and turned[15, 0].max() == 255  # the corner moved
    assert montage(array, masks, None, tile_px=16)[0, 0].max() == 255  # as stored without an orientation


def test_predict_overlay_writes_one_picture_per_volume(tmp_path):
    nib = pytest.importorskip("nibabel")
    from tumorseg.inference.files import PredictReport, _predict_group

    pred = Predictor.from_checkpoint(tiny_checkpoint(tmp_path / "m.pt"), "cpu", backend="torch")
    pred.probabilities = lambda slices, batch_size=16: [(s >= 128).astype(np.float32) for s in slices]
    pred.post["min_component_px"] = 0
    vol = np.zeros((24, 20, 6), np.int16)
    vol[2:22, 2:18, :] = 300
    vol[5:9, 4:7, 2:4] = 900
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "scan.nii.gz"))
    report = PredictReport()
    _predict_group(pred, [tmp_path / "scan.nii.gz"], [], tmp_path / "out", report, True, 16, False, True)
    picture = tmp_path / "out" / "scan_overlay.png"
    assert picture.exists() and picture not in report.results[0].outputs  # a picture, not a mask
    shown = np.asarray(Image.open(picture))
    # the two slices with a tumour side by side, each 24 x 20 stored, 20 x 24 in the radiological view
    assert shown.shape == (round(20 * TILE_PX / 24), 2 * TILE_PX, 3)
    assert ((shown == RED).all(-1)).any()


def test_the_largest_cross_section_is_drawn_on_its_tile():
    """``measure``: its slice is among the tiles even when the evenly spaced picks and the largest slice leave it
    out, and only that tile holds cyan (its diameters, thick enough to survive the shrink to the tile)."""
    from tumorseg.inference.montage import CYAN

    array = np.full((40, 64, 64), 60, np.uint8)
    masks = np.zeros((40, 64, 64), bool)
    masks[:, 20:30, 20:40] = True  # every slice: the picks span them all
    masks[30, 10:50, 10:50] = True  # the largest
    lines = [[32, 12, 32, 52], [20, 32, 44, 32]]
    assert 7 not in shown_slices(array, masks, 4)
    assert 7 in shown_slices(array, masks, 4, also=7) and 30 in shown_slices(array, masks, 4, also=7)
    grid = montage(array, masks, None, n=4, tile_px=32, measure=(7, lines))  # 64 px slices shrunk to 32
    tiles = [grid[:, k * 32:(k + 1) * 32] for k in range(4)]
    cyan = [int((t == CYAN).all(-1).sum()) for t in tiles]
    picks = shown_slices(array, masks, 4, also=7)
    assert [c > 0 for c in cyan] == [z == 7 for z in picks]
