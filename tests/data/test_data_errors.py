"""Each bad-input case gives a DataError naming the file and what to do (and the CLI exits 2, no traceback)."""

import shutil

import numpy as np
import pytest
from PIL import Image

from tumorseg.cli import main
from tumorseg.data import load_slices, read_dataset
from tumorseg.errors import DataError


def _copy(src, tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(src, dst)
    return dst


def test_empty_images_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match="empty"):
        read_dataset(tmp_path)


def test_not_a_dataset(tmp_path):
    with pytest.raises(DataError, match="images/"):
        read_dataset(tmp_path)


def test_image_without_mask(synthetic_dataset, tmp_path):
    d = _copy(synthetic_dataset, tmp_path)
    (d / "masks" / "3.png").unlink()
    with pytest.raises(DataError, match=r"3\.png: image has no mask"):
        read_dataset(d)


def test_mask_without_image(synthetic_dataset, tmp_path):
    d = _copy(synthetic_dataset, tmp_path)
    (d / "images" / "5.png").unlink()
    with pytest.raises(DataError, match=r"5\.png: mask has no image"):
        read_dataset(d)


def test_file_that_is_not_an_image(synthetic_dataset, tmp_path):
    d = _copy(synthetic_dataset, tmp_path)
    (d / "images" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"notes\.txt: not an image file"):
        read_dataset(d)


def test_corrupt_image_file(synthetic_dataset, tmp_path):
    d = _copy(synthetic_dataset, tmp_path)
    (d / "images" / "2.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"2\.png: not a readable image"):
        load_slices(read_dataset(d), 64, progress=False)


def test_mask_of_another_size(synthetic_dataset, tmp_path):
    d = _copy(synthetic_dataset, tmp_path)
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(d / "masks" / "4.png")
    with pytest.raises(DataError, match=r"4\.png: mask is 48×32 but its image .* is 64×64"):
        load_slices(read_dataset(d), 64, progress=False)


def test_mask_not_binary(synthetic_dataset, tmp_path):
    d = _copy(synthetic_dataset, tmp_path)
    labels = np.zeros((64, 64), np.uint8)
    labels[10:20, 10:20] = 2
    labels[30:40, 30:40] = 4  # a BraTS-like label map
    Image.fromarray(labels).save(d / "masks" / "6.png")
    with pytest.raises(DataError, match=r"6\.png: mask is not binary \(values 0, 2, 4\)"):
        load_slices(read_dataset(d), 64, progress=False)


def test_zero_one_masks_are_accepted(synthetic_dataset, tmp_path):
    d = _copy(synthetic_dataset, tmp_path)
    m = (np.asarray(Image.open(d / "masks" / "1.png")) > 127).astype(np.uint8)
    Image.fromarray(m).save(d / "masks" / "1.png")
    arrays = load_slices(read_dataset(d), 64, progress=False)
    assert arrays.masks[0].sum() == m.sum()


def test_cli_reports_error_without_traceback(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rc = main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "error:" in err and "empty" in err and "Traceback" not in err


def test_cli_unknown_model(synthetic_dataset, tmp_path, capsys):
    rc = main(["train", "--data", str(synthetic_dataset), "--model", "unett", "--out", str(tmp_path / "r")])
    assert rc == 2
    assert "Did you mean 'unet'" in capsys.readouterr().err


def test_4d_nifti_says_how_to_predict_one_volume(tmp_path, capsys):
    nib = pytest.importorskip("nibabel")
    path = tmp_path / "dwi.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4, 3), np.int16), np.eye(4)), str(path))
    from tumorseg.io import read_input

    with pytest.raises(DataError, match=r"dwi\.nii\.gz: a 4-D file of 3 volumes \(8, 8, 4\) .* save the one to "
                                         r"predict as its own 3-D file"):
        read_input(path)


def test_2d_nifti_says_how_to_make_it_a_one_slice_volume(tmp_path):
    nib = pytest.importorskip("nibabel")
    path = tmp_path / "slice.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8), np.int16), np.eye(4)), str(path))
    from tumorseg.io import read_input

    with pytest.raises(DataError, match=r"slice\.nii\.gz: 2-D volume of shape \(8, 8\); .* shape \(X, Y, 1\)"):
        read_input(path)
