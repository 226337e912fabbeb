import numpy as np
import pytest

from tumorseg.data.intensity import normalise
from tumorseg.errors import TumorsegError


def test_p99_maps_the_foreground_99th_percentile_to_200_and_keeps_background():
    img = np.zeros((40, 40), np.uint8)
    img[5:35, 5:35] = 100  # 900 px of tissue at 100
    img[5, 5:14] = 120  # 9 px (1 %) brighter: the 99th percentile of the foreground is between 100 and 120
    out = normalise(img, "p99")
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert out[0, 0] == 0  # background stays 0
    hi = np.percentile(img[img > 0.02 * 120], 99)
    assert out[20, 20] == round(100 * 200 / hi)
    assert out[5, 5] == min(255, round(120 * 200 / hi))


def test_p99_per_channel_and_passthrough_cases():
    a = np.zeros((2, 20, 20), np.uint8)
    a[0, 2:18, 2:18] = 50
    a[1, 2:18, 2:18] = 200
    out = normalise(a, "p99")
    assert out[0, 10, 10] == 200 and out[1, 10, 10] == 200  # each channel scaled on its own
    tiny = np.zeros((20, 20), np.uint8)
    tiny[0, :5] = 40  # 5 foreground px: too few to estimate; left unchanged
    assert np.array_equal(normalise(tiny, "p99"), tiny)
    assert normalise(a, "none") is a
    assert not normalise(np.zeros((8, 8), np.uint8), "p99").any()


def test_unknown_mode_is_a_one_line_error():
    with pytest.raises(TumorsegError, match="Choose one of: none, p99"):
        normalise(np.ones((4, 4), np.uint8), "zscore")
