"""A mask or label file given to ``predict`` as if it were a scan: refused when its name and its pixels both say so,
a warning when only its pixels do (:func:`tumorseg.inference.volumes.refuse_label_file`, ``far_off_note``)."""

import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data, tiny_checkpoint
from PIL import Image

from tumorseg.cli import main
from tumorseg.data.formats.nifti import is_label_name
from tumorseg.data.input_stats import label_levels
from tumorseg.inference.files import predict_inputs


def _scan(size=32, seed=0):
    """An 8-bit slice of many grey levels, as a real scan has."""
    return np.random.default_rng(seed).integers(0, 256, (size, size)).astype(np.uint8)


def test_label_levels_tells_masks_from_scans():
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 8:20] = 255
    assert label_levels([mask]) == [0, 255]
    assert label_levels([(mask > 0).astype(np.uint8)]) == [0, 1]  # a 0/1 mask
    brats = np.array([0, 85, 170, 255], np.uint8).repeat(16).reshape(8, 8)  # labels 0, 1, 2, 4 as a volume reads them
    assert label_levels([brats[:4], brats[4:]]) == [0, 85, 170, 255]  # counted over all slices
    assert label_levels([_scan()]) is None
    assert label_levels([np.zeros((8, 8), np.uint8)]) is None  # blank: its own warning
    dark_noise = np.random.default_rng(1).integers(0, 7, (32, 32)).astype(np.uint8)  # an LGG end slice: 0-6
    assert label_levels([dark_noise]) is None
    assert label_levels([np.array([[0, 2]], np.uint8)]) is None  # two dark levels, not 0/1
    assert label_levels([mask.astype(np.float32)]) is None  # only uint8 model inputs are judged
    nine = np.arange(9, dtype=np.uint8) * 30
    assert label_levels([nine[None]]) is None


def test_only_capital_ot_names_a_brats_2013_label():
    assert is_label_name(Path("OTMultiClass.nii.gz"))
    assert is_label_name(Path("VSD.Brain_3more.XX.O.OT.54517.mha"))
    assert not is_label_name(Path("other.nii.gz"))
    assert is_label_name(Path("case-seg.nii.gz"))


def test_a_mask_file_given_as_input_is_refused_naming_its_scan(tmp_path, caplog):
    """``x_mask.png`` (0/255) beside ``x.png``: refused in one line naming ``x.png``; the scan itself, and a scan
    named as a mask (``t1c_masked.png``: many grey levels), are predicted; a 0/255 image of another name is predicted
    with a warning."""
    scan, mask, masked, plain = (tmp_path / n for n in ("x.png", "x_mask.png", "t1c_masked.png", "plain.png"))
    Image.fromarray(_scan()).save(scan)
    Image.fromarray(_scan(seed=3)).save(masked)
    m = np.zeros((32, 32), np.uint8)
    m[10:20, 5:15] = 255
    Image.fromarray(m).save(mask)
    Image.fromarray(m).save(plain)
    caplog.set_level(logging.WARNING, logger="tumorseg")
    report = predict_inputs([scan, mask, masked, plain], tiny_checkpoint(tmp_path / "m.pt", image_size=32),
                            tmp_path / "out", progress=False, backend="torch")
    [(failed, reason)] = report.failed
    assert failed == mask
    assert "a mask or label file" in reason and "0, 255" in reason and "x.png beside it" in reason
    assert sorted(p.name for p in report.written) == ["plain.png", "t1c_masked.png", "x.png"]
    warned = [r.message for r in caplog.records if "grey levels as read" in r.message]
    assert len(warned) == 1 and "plain.png" in warned[0]


def test_a_binary_mask_volume_named_as_a_label_is_refused(tmp_path, caplog):
    """A 0/1 NIfTI reads as one grey level (its window is flat): named as a label it is refused; of another name it
    gets the 'blank input' warning."""
    nib = pytest.importorskip("nibabel")
    vol = np.zeros((32, 32, 4), np.uint8)
    vol[8:20, 8:20, 1:3] = 1
    label, other = tmp_path / "case-seg.nii.gz", tmp_path / "case.nii.gz"
    for p in (label, other):
        nib.save(nib.Nifti1Image(vol, np.eye(4)), str(p))
    caplog.set_level(logging.WARNING, logger="tumorseg")
    ckpt = tiny_checkpoint(tmp_path / "m.pt", image_size=32)
    refused = predict_inputs([label], ckpt, tmp_path / "a", progress=False, backend="torch")
    [(_, reason)] = refused.failed
    assert "(named so, and one grey level as read)" in reason and "case.nii.gz beside it" in reason
    done = predict_inputs([other], ckpt, tmp_path / "b", progress=False, backend="torch")
    assert not done.failed and done.written and "case.nii.gz: blank input" in caplog.text


def test_real_label_files_are_refused_by_the_cli(tmp_path, capsys):
    """The BraTS 2013 sample's ``OTMultiClass`` labels and an LGG ``_mask.tif``, given to ``predict``: exit 1,
    one line each naming the scan to predict instead."""
    brats = shared_data("samples/brats/brats_2013_pat0001_1")
    lgg = shared_data("samples/lgg/TCGA_CS_4941_19960909")
    ot, tif = brats / "OTMultiClass.nii.gz", lgg / "TCGA_CS_4941_19960909_12_mask.tif"
    assert main(["predict", str(ot), str(tif), "--out", str(tmp_path / "o"), "--model", "t1c"]) == 1
    err = capsys.readouterr().err
    assert "OTMultiClass.nii.gz: a mask or label file (named so, and only the grey levels 0, 85, 170, 255)" in err
    assert "Flair_subtrMeanDivStd.nii.gz beside it" in err
    assert "TCGA_CS_4941_19960909_12.tif beside it" in err
    assert "Traceback" not in err
