"""figshare 1512427 .mat reader: v7.3 (HDF5) files as MATLAB writes them, loose and zipped, with cvind.mat."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from tumorseg.data import load_slices, read_dataset  # noqa: E402
from tumorseg.data.formats import detect_format, figshare, load_record  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402


def write_mat(path, image, mask, label=1, pid="MR040240B"):
    """A cjdata struct as MATLAB v7.3 stores it: column-major, so h5py sees every 2-D array transposed."""
    with h5py.File(path, "w") as f:
        cj = f.create_group("cjdata")
        cj.create_dataset("image", data=np.ascontiguousarray(image.T.astype(np.int16)))
        cj.create_dataset("tumorMask", data=np.ascontiguousarray(mask.T.astype(np.uint8)))
        cj.create_dataset("label", data=np.array([[float(label)]]))
        cj.create_dataset("PID", data=np.array([[ord(c)] for c in pid], dtype=np.uint16))  # (len, 1) char codes
        cj.create_dataset("tumorBorder", data=np.zeros((1, 4)))
        cj.attrs["MATLAB_class"] = np.bytes_("struct")


def slice_pair(seed=0, h=24, w=32):
    """Non-square 16-bit image with a bright block at rows 4-8, cols 20-28 and its mask."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 300, size=(h, w)).astype(np.int16)
    image[4:8, 20:28] = 3000
    mask = np.zeros((h, w), np.uint8)
    mask[4:8, 20:28] = 1
    return image, mask


def write_cvind(path, folds):
    with h5py.File(path, "w") as f:
        f.create_dataset("cvind", data=np.array([folds], dtype=np.float64))  # MATLAB row vector -> (1, N)


@pytest.fixture
def figshare_dir(tmp_path):
    """Slices 1-2 loose in brainTumorDataPublic_1-2/, 3-4 in brainTumorDataPublic_3-4.zip, plus cvind.mat."""
    root = tmp_path / "figshare"
    loose = root / "brainTumorDataPublic_1-2"
    loose.mkdir(parents=True)
    for n, (label, pid) in {1: (1, "100360"), 2: (1, "100360")}.items():
        write_mat(loose / f"{n}.mat", *slice_pair(n), label=label, pid=pid)
    staging = tmp_path / "staging"
    staging.mkdir()
    with zipfile.ZipFile(root / "brainTumorDataPublic_3-4.zip", "w") as z:
        for n, (label, pid) in {3: (2, "MR040240B"), 4: (3, "MR040240C")}.items():
            write_mat(staging / f"{n}.mat", *slice_pair(n), label=label, pid=pid)
            z.write(staging / f"{n}.mat", f"{n}.mat")
    write_cvind(root / "cvind.mat", [1, 1, 2, 2])
    return root


def test_reads_loose_and_zipped_files_with_patients_classes_and_folds(figshare_dir):
    assert detect_format(figshare_dir) == "figshare-mat"
    recs = read_dataset(figshare_dir)
    assert [r.case_id for r in recs] == ["1", "2", "3", "4"]
    assert [r.label for r in recs] == ["meningioma", "meningioma", "glioma", "pituitary"]
    # MR040240B and MR040240C are one person (patient group without the trailing letter)
    assert [r.patient for r in recs] == ["100360", "100360", "MR040240", "MR040240"]
    assert [r.option("fold") for r in recs] == [1, 1, 2, 2]
    assert recs[2].option("member") == "3.mat"


def test_image_is_oriented_as_matlab_shows_it_and_scaled_by_percentiles(figshare_dir):
    rec = read_dataset(figshare_dir)[2]  # from the zip
    got = load_record(rec)
    image, mask = slice_pair(3)
    assert got.image.shape == (24, 32) and got.image.dtype == np.uint8  # not transposed to 32×24
    assert np.array_equal(got.mask, mask.astype(bool))
    assert got.image[4:8, 20:28].min() == 255  # the bright block, where MATLAB has it
    assert got.image[image < 300].max() < 40  # 16-bit range scaled by percentiles, not /255 saturation
    assert (got.raw_min, got.raw_max, got.raw_dtype) == (float(image.min()), 3000.0, "int16")


def test_loose_copy_wins_over_zipped_duplicate(figshare_dir):
    write_mat(figshare_dir / "3.mat", *slice_pair(3), label=2, pid="MR040240B")
    recs = read_dataset(figshare_dir)
    assert len(recs) == 4
    assert next(r for r in recs if r.case_id == "3").option("member") is None


def test_load_slices_resizes_to_the_internal_layout(figshare_dir):
    arrays = load_slices(read_dataset(figshare_dir), 16, progress=False)
    assert arrays.images.shape == (4, 16, 16) and arrays.images.dtype == np.uint8
    assert arrays.masks.shape == (4, 16, 16) and arrays.masks.dtype == bool and arrays.masks.any()


def test_pid_decoding_and_patient_group():
    assert figshare.decode_pid(np.array([[77], [82], [48], [0]], np.uint16)) == "MR0"
    assert figshare.patient_group("MR040240C") == "MR040240"
    assert figshare.patient_group("100360") == "100360"


def test_bad_files_name_the_file(tmp_path):
    write_mat(tmp_path / "1.mat", *slice_pair(), label=7)
    with pytest.raises(DataError, match=r"1\.mat: label 7"):
        read_dataset(tmp_path, "figshare-mat")
    (tmp_path / "1.mat").unlink()
    with h5py.File(tmp_path / "2.mat", "w") as f:
        f.create_dataset("something", data=np.zeros(3))
    with pytest.raises(DataError, match=r"2\.mat: has no 'cjdata'"):
        read_dataset(tmp_path, "figshare-mat")
    (tmp_path / "2.mat").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match=r"2\.mat: not a readable MATLAB v7.3"):
        read_dataset(tmp_path, "figshare-mat")


def test_mask_values_outside_0_1_raise(tmp_path):
    image, mask = slice_pair()
    write_mat(tmp_path / "1.mat", image, mask * 5)
    with pytest.raises(DataError, match="tumorMask has values"):
        load_record(read_dataset(tmp_path)[0])


def test_cvind_v5_file_read_with_scipy(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "cvind.mat", {"cvind": np.array([[3, 1, 2]])})
    assert figshare.read_cvind(tmp_path / "cvind.mat") == [3, 1, 2]


def test_detect_format_says_a_missing_folder_is_missing(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        detect_format(tmp_path / "nope")
    with pytest.raises(DataError, match="cannot tell the dataset format"):
        detect_format(tmp_path)


def test_predict_reads_figshare_mat_slices_as_the_dataset_reader_does(figshare_dir, tmp_path, capsys):
    """`tumorseg predict` on the .mat files as figshare distributes them: each slice's image, scaled as training
    read it (the mask inside is not used), chosen t1c, a mask PNG of the slice's own size; an unreadable .mat is one
    line in failed.csv."""
    from PIL import Image

    from conftest import tiny_checkpoint
    from tumorseg.cli import main
    from tumorseg.inference.choose import choose_model
    from tumorseg.inference.files import predict_inputs
    from tumorseg.io import ImageIO

    loose = figshare_dir / "brainTumorDataPublic_1-2"
    array, props = ImageIO().read(loose / "1.mat")
    [record] = [r for r in read_dataset(figshare_dir) if r.case_id.endswith("1")][:1]
    assert np.array_equal(array[0], load_record(record).image) and props.name == "1"
    assert choose_model(loose / "1.mat").line().startswith("model: t1c (figshare .mat slice")
    report = predict_inputs([loose], tiny_checkpoint(tmp_path / "m.pt"), tmp_path / "out", progress=False,
                            backend="torch")
    assert sorted(p.name for p in report.written) == ["1.png", "2.png"]
    assert np.asarray(Image.open(tmp_path / "out" / "1.png")).shape == (24, 32)
    (loose / "broken.mat").write_bytes(b"MATLAB 5.0 MAT-file, not HDF5")
    assert main(["predict", str(loose), "--model", str(tmp_path / "m.pt"), "--out", str(tmp_path / "o2"),
                 "--no-progress"]) == 1
    assert "broken.mat,not a readable MATLAB v7.3 (HDF5) file" in (tmp_path / "o2" / "failed.csv").read_text()


def test_score_takes_the_tumour_masks_of_figshare_mat_files_as_truth(figshare_dir, tmp_path):
    """predict's <n>.png against the <n>.mat files they came from (cvind.mat is no slice): each slice's tumorMask is
    its truth."""
    from PIL import Image

    from tumorseg.evaluation.score import score_files

    (tmp_path / "pred").mkdir()
    for n in (1, 2):
        mask = slice_pair(n)[1].astype(bool)
        if n == 2:
            mask[:, :24] = False  # half the tumour (cols 20-27) missed
        Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "pred" / f"{n}.png")
    result = score_files(tmp_path / "pred", figshare_dir, progress=False)
    assert [(r["case_id"], round(r["dice"], 4)) for r in result.rows] == [("1", 1.0), ("2", round(2 * 16 / 48, 4))]
    assert not result.missing and not result.failed  # cvind.mat is no slice; slices 3-4 are zipped, not files here
