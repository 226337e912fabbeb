"""Per-volume summary: hand-checked counts, mL, longest diameter; empty masks; summary.json / summary.csv."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tumorseg.inference.summary import (cross_section, largest_cross_section, lesion_diameter, longest_diameter,
                                       summarise, write_summaries)


def stack():
    """3 slices of 10×10: slice 1 holds a 2×3 block (6 voxels), slice 2 a single voxel."""
    m = np.zeros((3, 10, 10), bool)
    m[1, 4:6, 2:5] = True
    m[2, 7, 7] = True
    return m


def test_hand_checked_summary():
    s = summarise(stack(), (2.0, 0.5, 1.0), "case")  # slice, row, column mm: voxel = 1 mm³
    assert (s.n_slices, s.slices_with_tumour, s.tumour_voxels, s.largest_slice) == (3, 2, 7, 1)
    assert s.volume_ml == pytest.approx(7 * 1.0 / 1000)
    assert s.max_diameter_mm == pytest.approx(np.hypot(1 * 0.5, 2 * 1.0), abs=0.01)  # corners of the 2×3 block
    assert s.tumour_found
    assert s.line() == ("case: tumour in 2/3 slices, 0.007 mL, longest axial diameter 2.1 mm, largest cross-section "
                        "2.1 × 0.5 mm (slice 1, below RANO's 10 mm)")
    dot = summarise(stack()[2:], (1.0, 1.0, 1.0), "dot")  # one voxel: no cross-section to speak of
    assert dot.cross_section_mm == [0.0, 0.0]
    assert dot.line() == "dot: tumour in 1/1 slices, 0.001 mL, longest axial diameter 0.0 mm"
    measurable = summarise(np.ones((1, 12, 16), bool), (1.0, 1.0, 1.0))  # 11 × 15 mm between centres
    # its diagonal, and the chord across it through the centre: 2 × 5.5 / (15 / 18.6) = 13.6 mm, 14.2 on the pixel
    # grid (one-pixel bands); measurable, so no note
    assert measurable.line().endswith("longest axial diameter 18.6 mm, largest cross-section 18.6 × 14.2 mm (slice 0)")
    big = summarise(stack(), (10.0, 10.0, 10.0))  # 1 mL voxels, no name
    # the 2×3 block of 10 mm voxels: its diagonal (22.4 mm) and, across it, 8.9 mm (= 2 × 10 × 20 / 22.4, the width
    # of the parallelogram its centres span)
    assert big.line() == ("tumour in 2/3 slices, 7.00 mL, longest axial diameter 22.4 mm, largest cross-section "
                          "22.4 × 8.9 mm (slice 1, below RANO's 10 mm)")
    assert (big.cross_section_mm, big.cross_section_mm2, big.cross_section_slice) == ([22.36, 8.94], 200.0, 1)


def test_empty_mask_says_no_tumour_found():
    s = summarise(np.zeros((5, 8, 8), bool), (1.0, 1.0, 1.0), "empty")
    assert not s.tumour_found and s.volume_ml == 0.0 and s.max_diameter_mm is None and s.largest_slice is None
    assert s.line() == "empty: no tumour found (5 slices)"
    assert summarise(np.zeros((8, 8), bool)).line() == "no tumour found (1 slice)"  # one image, no name


def test_unknown_spacing_gives_counts_only():
    s = summarise(stack(), None, "x")
    assert s.volume_ml is None and s.max_diameter_mm is None and s.tumour_voxels == 7
    assert s.line() == "x: tumour in 2/3 slices, 7 voxels"
    one = summarise(stack()[1], (None, 0.5, 0.5))  # one DICOM slice without thickness: diameter, no volume
    assert one.volume_ml is None and one.max_diameter_mm == pytest.approx(np.hypot(0.5, 1.0), abs=0.01)


@pytest.mark.parametrize("pixels, spacing, expected", [
    ([(3, 3)], (1.0, 1.0), 0.0),  # one pixel: no extent between centres
    ([(0, k) for k in range(6)], (1.0, 0.8), 4.0),  # a line: all points collinear (hull impossible)
    ([(0, 0), (0, 9), (9, 0), (9, 9), (4, 5)], (1.0, 1.0), np.hypot(9, 9)),  # square's diagonal
    ([(0, 0), (2, 0)], (1.5, 1.0), 3.0),
])
def test_longest_diameter(pixels, spacing, expected):
    m = np.zeros((10, 10), bool)
    for p in pixels:
        m[p] = True
    assert longest_diameter(m, *spacing) == pytest.approx(expected)


def test_disc_diameter():
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 32) ** 2 <= 20**2
    assert longest_diameter(disc, 0.5, 0.5) == pytest.approx(20.0, abs=0.01)  # 40 px between centres × 0.5 mm


def test_diameter_is_measured_per_lesion_never_across_two():
    m = np.zeros((1, 64, 64), bool)
    m[0, 5:8, 5:15] = True  # a 3×10 lesion: 9 px between its far corners in columns, 2 in rows
    m[0, 50:53, 50:53] = True  # a small second lesion far away
    assert lesion_diameter(m[0]) == pytest.approx(np.hypot(2, 9))
    assert longest_diameter(m[0]) > 60  # across both lesions: not a diameter of anything
    assert summarise(m, (1.0, 1.0, 1.0)).max_diameter_mm == pytest.approx(np.hypot(2, 9), abs=0.01)
    diag = np.zeros((8, 8), bool)
    diag[[0, 1, 2], [0, 1, 2]] = True  # touching corners: one lesion (8-connected)
    assert lesion_diameter(diag) == pytest.approx(np.hypot(2, 2))
    assert lesion_diameter(np.zeros((4, 4), bool)) == 0.0


def _ellipse(rows, cols, angle_deg=0.0, size=96):
    """A filled ellipse of ``rows`` × ``cols`` pixels between its extreme pixel centres, turned by ``angle_deg``."""
    yy, xx = np.mgrid[:size, :size] - size / 2
    t = np.deg2rad(angle_deg)
    u, v = xx * np.cos(t) + yy * np.sin(t), -xx * np.sin(t) + yy * np.cos(t)
    return (v / (rows / 2)) ** 2 + (u / (cols / 2)) ** 2 <= 1


def test_cross_section_as_rano_measures_it():
    assert cross_section(_ellipse(20, 40), 0.5, 0.5) == pytest.approx((20.0, 10.0))  # its two axes, in mm
    longest, across = cross_section(_ellipse(20, 40, angle_deg=30), 0.5, 0.5)  # turned: within a pixel
    assert longest == pytest.approx(20.0, abs=0.5) and across == pytest.approx(10.0, abs=0.5)
    line = np.zeros((10, 10), bool)
    line[2, 1:9] = True
    assert cross_section(line, 1.0, 2.0) == (14.0, 0.0)  # one pixel thin: nothing across
    assert cross_section(np.zeros((4, 4), bool)) == (0.0, 0.0) and cross_section(line[:1]) == (0.0, 0.0)
    c = np.zeros((40, 40), bool)  # a C: 31 px tall, 21 wide, open on the right; a caliper spans its notch
    c[5:36, 5:26] = True
    c[12:29, 12:26] = False
    assert cross_section(c) == pytest.approx((np.hypot(30, 20), cross_section(c[5:36, 5:26] | True)[1]), abs=1.0)


def test_the_largest_cross_section_is_the_largest_product_not_the_longest_diameter():
    m = np.stack([_ellipse(6, 60), _ellipse(30, 30)])  # slice 0: long and thin (60 × 6); slice 1: a 30 mm disc
    s = summarise(m, (5.0, 1.0, 1.0), "x")
    assert s.max_diameter_mm == pytest.approx(60.0)
    assert s.cross_section_slice == 1 and s.cross_section_mm == pytest.approx([30.0, 30.0], abs=0.5)
    assert largest_cross_section(np.zeros((2, 8, 8), bool)) is None
    two = np.zeros((1, 96, 96), bool)  # two lesions on one slice: each measured on its own, never across
    two[0, 10:20, 10:20] = two[0, 60:90, 60:90] = True
    assert largest_cross_section(two)[:3] == pytest.approx((np.hypot(29, 29), np.hypot(29, 29), 0))  # diagonals
    segments = {frozenset({(r0, c0), (r1, c1)}) for r0, c0, r1, c1 in largest_cross_section(two)[3]}
    assert segments == {frozenset({(60, 60), (89, 89)}), frozenset({(60, 89), (89, 60)})}
    assert summarise(np.zeros((2, 8, 8), bool), (1.0, 1.0, 1.0)).cross_section_mm is None


def test_the_cross_sections_lines_are_where_its_diameters_lie():
    """An ellipse 40 × 20 px between its extreme pixel centres (centre 48, 48): the long axis from column 28 to 68
    on row 48, the short one from row 38 to 58 on column 48; drawn, 41 + 21 pixels, sharing the centre."""
    s = summarise(_ellipse(20, 40)[None], (1.0, 1.0, 1.0))
    (r0, c0, r1, c1), (r2, c2, r3, c3) = s.cross_section_px
    assert (r0, r1, sorted([c0, c1])) == (48, 48, [28, 68]) and (c2, c3, sorted([r2, r3])) == (48, 48, [38, 58])
    from tumorseg.inference.summary import draw_lines

    drawn = draw_lines((96, 96), s.cross_section_px)
    assert int(drawn.sum()) // 255 == 41 + 21 - 1 and drawn[48, 28] == drawn[38, 48] == 255


def test_written_files(tmp_path):
    a = summarise(stack(), (2.0, 0.5, 1.0), "a")
    a.input, a.mask = "/data/a.nii.gz", "a_mask.nii.gz"
    b = summarise(np.zeros((2, 4, 4), bool), (None, 1.0, 1.0), "b")
    js, cs = write_summaries([a, b], tmp_path)
    rows = json.loads(js.read_text())["volumes"]
    assert [r["name"] for r in rows] == ["a", "b"] and rows[0]["tumour_found"] and not rows[1]["tumour_found"]
    assert rows[0]["voxel_mm"] == [2.0, 0.5, 1.0] and rows[1]["volume_ml"] is None
    with open(cs, newline="") as f:
        table = list(csv.DictReader(f))
    assert table[0]["voxel_mm"] == "2x0.5x1" and table[0]["slices_with_tumour"] == "2"
    assert table[0]["mask"] == "a_mask.nii.gz" and table[1]["voxel_mm"] == "?x1x1" and table[1]["volume_ml"] == ""
    assert table[1]["tumour_found"] == "False"


def test_a_close_call_is_named_with_the_runner_ups_size_and_slice():
    from tumorseg.inference.postprocess import LeftOut

    s = summarise(stack(), (2.0, 1.0, 1.0), "case", left_out=LeftOut(lesions=2, voxels=500, share=0.4, largest_slice=7))
    assert (s.lesions_left_out, s.runner_up_voxels, s.runner_up_ml, s.runner_up_slice, s.runner_up_share) == \
        (2, 500, 1.0, 7, 0.4)
    assert s.close_call and s.line().endswith(
        "; close call: another lesion (1.00 mL, largest on slice 7) scored 40% of the kept one and was left out "
        "(check both; --no-one-lesion keeps every lesion)")
    far = summarise(stack(), None, "case", left_out=LeftOut(lesions=1, voxels=20, share=0.1, largest_slice=3))
    assert far.runner_up_ml is None and far.runner_up_voxels == 20 and not far.close_call and "close" not in far.line()
    no_spacing = summarise(stack(), None, "case", left_out=LeftOut(1, 20, 0.3, None))
    assert "another lesion (20 voxels) scored 30%" in no_spacing.line()
    alone = summarise(stack(), None, "case", left_out=LeftOut())  # the rule ran and found one lesion
    assert alone.lesions_left_out == 0 and alone.runner_up_share is None
    unruled = summarise(stack(), None, "case")  # the rule did not run (--no-one-lesion, one slice)
    assert unruled.lesions_left_out is None
    assert summarise(np.zeros((3, 4, 4), bool), None, "e", left_out=LeftOut()).lesions_left_out is None


def test_the_rano_sum_of_products_over_measurable_lesions():
    """Three 3-D lesions: two discs of 30 and 20 mm (measurable, products 900 and 400 mm²) on slices 1–2 and 5, and
    an 8 mm one (not measurable): the sum 1300 mm² over 2 lesions, in the line; one lesion alone: not in the line."""
    yy, xx = np.mgrid[:96, :96]
    m = np.zeros((7, 96, 96), bool)
    m[1:3] = (yy - 30) ** 2 + (xx - 30) ** 2 <= 15 ** 2
    m[5] = (yy - 70) ** 2 + (xx - 70) ** 2 <= 10 ** 2
    m[5] |= (yy - 20) ** 2 + (xx - 80) ** 2 <= 4 ** 2
    s = summarise(m, (3.0, 1.0, 1.0), "multi")
    assert s.rano_measurable == 2 and s.rano_sum_mm2 == pytest.approx(1300.0, rel=0.01)
    assert "RANO sum of products 1300 mm² (2 measurable lesions)" in s.line()
    one = summarise(m[:3], (3.0, 1.0, 1.0))
    assert (one.rano_measurable, one.rano_sum_mm2) == (1, 900.0) and "RANO sum" not in one.line()
    many = np.zeros((1, 96, 96), bool)
    for k in range(6):  # six 12-px squares: measurable, the 5 largest summed
        many[0, 2 + 15 * k : 14 + 15 * k, 2:14 + k] = True
    s = summarise(many, (1.0, 1.0, 1.0))
    assert s.rano_measurable == 6 and s.line().count("the 5 largest") == 1
    assert summarise(m, None).rano_sum_mm2 is None
