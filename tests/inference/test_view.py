"""A model fed a volume's slices in the radiological view (``preprocessing["view"] = "display"``, the bundled
``flair``): predict, serve and evaluate turn the slices for it and put its output back."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from conftest import shared_data
from tumorseg.data.formats.orientation import from_display, to_display, to_display_any
from tumorseg.inference.volumes import predict_stack


@pytest.mark.parametrize("ornt", [np.array([[a, f], [1 - a, g]], float)
                                  for a, f, g in itertools.product((0, 1), (1, -1), (1, -1))])
def test_from_display_undoes_to_display(ornt):
    image = np.arange(3 * 4 * 5).reshape(3, 4, 5)  # (C, H, W), not square
    shown = to_display_any(image, ornt)
    assert shown.shape[0] == 3 and all(np.array_equal(shown[c], to_display(image[c], ornt)) for c in range(3))
    assert np.array_equal(from_display(shown, ornt), image)
    assert np.array_equal(from_display(to_display(image[0], ornt), ornt), image[0])


def test_a_display_model_sees_the_radiological_view_and_its_masks_come_back(bright):
    """The transform (here a transpose) is applied for a model whose view is "display", never for another; the
    masks are in the slices' own layout either way."""
    seen = []

    def probabilities(inputs, batch_size=16):
        seen.extend(x.copy() for x in inputs)
        return [(x >= 128).astype(np.float32) for x in inputs]

    bright.probabilities = probabilities
    slices = [np.zeros((20, 30), np.uint8) for _ in range(2)]
    slices[0][2:5, 10:20] = 200
    transpose = np.array([[1, 1], [0, 1]], float)
    masks = predict_stack(slices, bright, 16, skip_empty=False, display=transpose)
    assert seen[0].shape == (20, 30) and masks.shape == (2, 20, 30)  # view "stored": as they are
    bright.view = "display"
    seen.clear()
    masks = predict_stack(slices, bright, 16, skip_empty=False, display=transpose)
    assert np.array_equal(seen[0], slices[0].T) and np.array_equal(masks[0], slices[0] >= 128)


def test_the_bundled_flair_reads_brats_in_the_radiological_view_in_predict_and_evaluate(tmp_path):
    """The BraTS 2015 FLAIR sample (stored L, P: its slices are the transpose of the radiological view the LGG
    training slices have): predict + score and evaluate give the same per-volume Dice (0.860; 0.815 in the stored
    layout, docs/results/orientation-cpu/)."""
    from tumorseg.evaluation.evaluate import evaluate
    from tumorseg.evaluation.score import score_files
    from tumorseg.inference.files import predict_inputs
    from tumorseg.inference.predictor import Predictor

    case = shared_data("samples", "brats", "brats_2013_pat0001_1")
    assert Predictor.from_checkpoint("flair", backend="torch").view == "display"
    predict_inputs([case], "flair", tmp_path / "out", progress=False)
    rows = score_files(tmp_path / "out" / f"{case.name}_mask.nii.gz", case / "OTMultiClass.nii.gz",
                       progress=False).rows
    predicted = 2 * sum(r["intersection_px"] for r in rows) / sum(r["predicted_area_px"] + r["tumour_area_px"]
                                                                  for r in rows)
    summary = evaluate("flair", case, tmp_path / "eval", split="all", data_format="brats",
                       data_options={"modality": "flair", "image_glob": "Flair_*", "label_glob": "OT*",
                                     "empty_fraction": 1.0}, progress=False)
    assert predicted > 0.84 and abs(summary["per_volume"]["mean_dice"] - predicted) < 0.01, (predicted, summary)
