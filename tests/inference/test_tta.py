"""Flip test-time augmentation flips each output back before averaging (checked with a model that is not
flip-invariant, on both backends' code paths)."""

import numpy as np
import torch

from tumorseg.inference.predictor import onnx_probabilities, predict_probabilities
from tumorseg.models.base import SegmentationModel

S = 8
RAMP = np.tile(np.linspace(0.0, 1.0, S, dtype=np.float32), (S, 1))  # (S, S): 0 at the left edge, 1 at the right


class Ramp(SegmentationModel):
    """Output = input × a left-to-right ramp: flipping the input left-right does not flip the output."""

    returns_logits = False

    def forward(self, x):
        return x * torch.from_numpy(RAMP)


class RampOnnx:
    """The same function with OnnxModel's interface: raw 0..255 ``(B, S, S)`` in, ``(B, S, S)`` out."""

    decide_post = None  # not a cascade

    def run_all(self, x):
        return [(np.asarray(x, np.float32) / 255.0) * RAMP]


def _images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (3, S, S)).astype(np.uint8)  # asymmetric content


def test_tta_is_the_average_of_the_flipped_back_outputs():
    images = _images()
    x = images.astype(np.float64) / 255
    # by hand: f(x) = x*R; width flip back: flip(flip(x)*R) = x*fliplr(R) = x*(1-R); height flip: x*flipud(R) = x*R
    expected = x * (RAMP + (1 - RAMP) + RAMP) / 3  # = x * (1 + R) / 3
    got = predict_probabilities(Ramp(), images, tta=True)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(onnx_probabilities(RampOnnx(), images, tta=True), expected, atol=1e-6)
    # without TTA: the plain output, which differs from the TTA average on this model
    np.testing.assert_allclose(predict_probabilities(Ramp(), images), x * RAMP, atol=1e-6)
    assert np.abs(got - x * RAMP).max() > 0.1


def test_tta_keeps_the_model_mode():
    model = Ramp().train()
    predict_probabilities(model, _images(), tta=True)
    assert model.training  # put back in train mode, as it was
