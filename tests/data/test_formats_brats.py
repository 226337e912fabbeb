"""BraTS NIfTI reader (new, old and glob naming) and geometry-keeping volume prediction."""

from __future__ import annotations

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

from conftest import shared_data, tiny_checkpoint  # noqa: E402
from tumorseg.cli import main  # noqa: E402
from tumorseg.data import load_slices, read_dataset  # noqa: E402
from tumorseg.data.formats import detect_format, load_record  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402
from tumorseg.inference.files import predict_files  # noqa: E402

SHAPE = (20, 16, 12)  # X, Y, Z (axial = third axis)


def affine():
    """Non-identity: 1.2 × 0.9 × 2.5 mm voxels, a rotation about z and an offset."""
    a = np.diag([1.2, 0.9, 2.5, 1.0])
    c, s = np.cos(0.3), np.sin(0.3)
    a[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ a[:3, :3]
    a[:3, 3] = [-30.0, 12.5, 7.0]
    return a


def volumes(seed=0):
    """int16 image: brain in z 2..9 (zero outside); labels with tumour in z 4..6."""
    rng = np.random.default_rng(seed)
    img = np.zeros(SHAPE, np.int16)
    img[3:17, 2:14, 2:10] = rng.integers(100, 1000, (14, 12, 8))
    lab = np.zeros(SHAPE, np.uint8)
    lab[6:10, 5:9, 4:7] = 2
    lab[7:9, 6:8, 5] = 1
    return img, lab


def save(arr, path, dtype=None):
    img = nib.Nifti1Image(arr, affine())
    if dtype is not None:
        img.set_data_dtype(dtype)
    nib.save(img, str(path))


def write_case(root, case, naming="new", top_label=3):
    d = root / case
    d.mkdir(parents=True)
    img, lab = volumes()
    lab[8, 6, 4] = top_label
    mods = {"new": ["t2f", "t1n", "t1c", "t2w"], "old": ["flair", "t1", "t1ce", "t2"]}[naming]
    sep = "-" if naming == "new" else "_"
    for k, m in enumerate(mods):
        save((img + 100 * k).astype(np.int16) * (img > 0), d / f"{case}{sep}{m}.nii.gz")
    save(lab, d / f"{case}{sep}seg.nii.gz")
    return d


def test_new_naming_keeps_tumour_slices_and_a_fraction_of_empty_brain_slices(tmp_path):
    write_case(tmp_path, "BraTS-GLI-00002-000")
    write_case(tmp_path, "BraTS-GLI-00002-001")
    assert detect_format(tmp_path) == "brats"
    recs = read_dataset(tmp_path, empty_fraction=0.0)
    assert [r.slice_index for r in recs[:3]] == [4, 5, 6]  # tumour slices only
    assert {r.patient for r in recs} == {"BraTS-GLI-00002"}  # two time points, one patient
    allb = read_dataset(tmp_path, empty_fraction=1.0)
    assert sorted({r.slice_index for r in allb}) == list(range(2, 10))  # every slice with brain, none without
    assert read_dataset(tmp_path) == read_dataset(tmp_path)  # deterministic choice of empty slices


def test_slices_are_normalised_inside_the_brain_and_labels_are_remapped(tmp_path):
    write_case(tmp_path, "BraTS-GLI-00002-000")
    rec = next(r for r in read_dataset(tmp_path, empty_fraction=0) if r.slice_index == 5)
    got = load_record(rec)
    img, lab = volumes()
    assert got.image.shape == SHAPE[:2] and got.image.dtype == np.uint8
    assert got.image[img[:, :, 5] == 0].max() == 0  # background stays 0
    assert got.image.max() == 255 and got.raw_max > 255
    assert np.array_equal(got.mask, lab[:, :, 5] > 0)  # whole tumour
    core = next(r for r in read_dataset(tmp_path, labels="1", empty_fraction=0) if r.slice_index == 5)
    assert np.array_equal(load_record(core).mask, lab[:, :, 5] == 1)
    multi = read_dataset(tmp_path, modality="flair,t1c", empty_fraction=0)
    assert load_slices(multi, 32, progress=False).images.shape == (3, 2, 32, 32)


def test_near_isotropic_sagittal_volume_is_read_as_the_same_axial_slices(tmp_path, caplog):
    """Training and evaluate read a sagittally stored 3-D volume as axial slices, as predict does; thick
    sagittal slices stay in their plane, with a warning."""
    img, lab = volumes()
    iso = np.diag([1.0, 1.0, 1.2, 1.0])
    perm = (1, 2, 0)  # stored as sagittal slices: array axes (Y, Z, X), the affine's columns alike
    for name, arr_img, arr_lab, aff in (("axial", img, lab, iso),
                                         ("sagittal", img.transpose(perm), lab.transpose(perm), iso[:, [1, 2, 0, 3]])):
        d = tmp_path / name / "case"
        d.mkdir(parents=True)
        nib.save(nib.Nifti1Image(arr_img, aff), str(d / "case-t2f.nii.gz"))
        nib.save(nib.Nifti1Image(arr_lab, aff), str(d / "case-seg.nii.gz"))
    axial = read_dataset(tmp_path / "axial", empty_fraction=1.0)
    with caplog.at_level("INFO"):
        sag = read_dataset(tmp_path / "sagittal", empty_fraction=1.0)
    assert "read as axial slices" in caplog.text
    assert [r.slice_index for r in sag] == [r.slice_index for r in axial] == list(range(2, 10))
    for a, b in zip(axial, sag):
        la, lb = load_record(a), load_record(b)
        assert la.image.shape == SHAPE[:2] and np.array_equal(la.image, lb.image)
        assert np.array_equal(la.mask, lb.mask) and np.array_equal(lb.mask, lab[:, :, a.slice_index] > 0)
    thick = tmp_path / "thick" / "case"
    thick.mkdir(parents=True)
    aff = np.diag([4.0, 1.0, 1.0, 1.0])[:, [1, 2, 0, 3]]  # sagittal, 4 mm between slices
    nib.save(nib.Nifti1Image(img.transpose(perm), aff), str(thick / "case-t2f.nii.gz"))
    nib.save(nib.Nifti1Image(lab.transpose(perm), aff), str(thick / "case-seg.nii.gz"))
    caplog.clear()
    with caplog.at_level("WARNING"):
        recs = read_dataset(tmp_path / "thick", empty_fraction=1.0)
    assert "sagittal slices of thick" in caplog.text
    assert load_record(recs[0]).image.shape == img.transpose(perm).shape[:2]  # the stored plane


def test_old_naming_and_unexpected_labels(tmp_path):
    write_case(tmp_path / "old", "BraTS2021_00001", naming="old", top_label=4)
    assert len(read_dataset(tmp_path / "old", modality="t1c", empty_fraction=0)) == 3
    write_case(tmp_path / "bad", "BraTS-GLI-00003-000", top_label=4)  # label 4 does not exist in the new naming
    with pytest.raises(DataError, match=r"-seg\.nii\.gz: unexpected label values \[4\]"):
        read_dataset(tmp_path / "bad")
    with pytest.raises(DataError, match=r"no image volume for '\*nothing\*'"):
        read_dataset(tmp_path / "old", image_glob="*nothing*")


def test_generic_globs_deepmedic_style(tmp_path):
    d = tmp_path / "pat1"
    d.mkdir()
    img, lab = volumes()
    save(img.astype(np.float32) / 100 - 3 * (img > 0), d / "Flair_subtrMeanDivStd.nii.gz")  # z-scored, negative inside
    save((img > 0).astype(np.int32), d / "brainmask.nii.gz")
    save(lab.astype(np.float32), d / "OTMultiClass.nii.gz")
    for opts in ({}, {"image_glob": "Flair_*.nii.gz", "label_glob": "OTMultiClass.nii.gz"}):
        recs = read_dataset(d, empty_fraction=0, **opts)
        assert [r.slice_index for r in recs] == [4, 5, 6] and recs[0].mask.name == "OTMultiClass.nii.gz"


def _ckpt(tmp_path):
    return tiny_checkpoint(tmp_path / "m.pt", reader_options={"modality": "flair"})


def _same_geometry(out, ref):
    a, b = nib.load(str(ref)), nib.load(str(out))
    assert b.shape == a.shape and np.allclose(b.affine, a.affine)
    assert np.allclose(b.header.get_zooms(), a.header.get_zooms())
    assert b.get_data_dtype() == np.uint8 and set(np.unique(np.asarray(b.dataobj))) <= {0, 1}


def test_predict_nifti_file_and_case_folder_keep_shape_affine_and_header(tmp_path):
    case = write_case(tmp_path / "data", "BraTS-GLI-00002-000")
    ckpt = _ckpt(tmp_path)
    written = predict_files([case, case / "BraTS-GLI-00002-000-t1c.nii.gz"], ckpt, tmp_path / "out", progress=False,
                            backend="torch")
    assert [p.name for p in written] == ["BraTS-GLI-00002-000_mask.nii.gz", "BraTS-GLI-00002-000-t1c_mask.nii.gz"]
    for out in written:
        _same_geometry(out, case / "BraTS-GLI-00002-000-t2f.nii.gz")
    mask = np.asarray(nib.load(str(written[0])).dataobj)
    assert not mask[:, :, :2].any()  # slices without brain are never predicted


def test_real_samples_read_and_predict(tmp_path):
    dm = shared_data("samples", "brats", "brats_2013_pat0001_1")
    recs = read_dataset(dm)
    assert recs and all(r.mask.name == "OTMultiClass.nii.gz" for r in recs)
    assert load_record(recs[len(recs) // 2]).mask.any()
    case = shared_data("samples", "brats", "BraTS-GLI-00001-000")
    [out] = predict_files([case], _ckpt(tmp_path), tmp_path / "out", progress=False, backend="torch")
    assert out.name == "BraTS-GLI-00001-000_mask.nii.gz"
    _same_geometry(out, case / "BraTS-GLI-00001-000-t2f.nii.gz")


def test_train_one_epoch_on_real_brats_sample(tmp_path):
    dm = shared_data("samples", "brats", "brats_2013_pat0001_1")
    rc = main(["train", "--data", str(dm), "--epochs", "1", "--image-size", "64", "--batch-size", "16",
               "--max-slices", "40", "--model-kwargs", '{"width": 4}', "--out", str(tmp_path / "run"),
               "--device", "cpu", "--no-progress"])
    assert rc == 0 and (tmp_path / "run" / "best.pt").is_file()
    rc = main(["predict", str(shared_data("samples", "brats", "BraTS-GLI-00001-000")), "--model",
               str(tmp_path / "run" / "best.pt"), "--out", str(tmp_path / "pred"), "--device", "cpu", "--backend", "torch",
               "--no-progress"])
    assert rc == 0
    _same_geometry(tmp_path / "pred" / "BraTS-GLI-00001-000_mask.nii.gz",
                   shared_data("samples", "brats", "BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t2f.nii.gz"))


def test_volume_cache_sees_a_file_rewritten_under_the_same_name(tmp_path):
    import os

    from tumorseg.data.formats import nifti

    path = tmp_path / "upload.nii"
    for value in (10, 200):  # a long-running server may write every upload to the same name
        data = np.zeros(SHAPE, np.int16)
        data[5:15, 4:12, 3:9] = value
        data[6, 6, 6] = 2 * value
        nib.save(nib.Nifti1Image(data, affine()), str(path))
        os.utime(path, ns=(value * 10**9, value * 10**9))  # rewritten later (not within one clock tick)
        for cache in (True, False):
            vol, lo, hi, _, _ = nifti.read_volume(path, cache=cache)
            assert (lo, hi) == (0.0, 2.0 * value)


def test_nrrd_case_folders_read_as_the_same_slices_and_labels(tmp_path):
    """3D Slicer's layout: case/scan.nrrd + case/scan-label.nrrd (a glob matching both takes the image)."""
    sitk = pytest.importorskip("SimpleITK")
    nifti_case = write_case(tmp_path / "nifti", "BraTS-GLI-00003-000")
    d = tmp_path / "slicer" / "case1"
    d.mkdir(parents=True)
    for src, name in (("BraTS-GLI-00003-000-t2f.nii.gz", "scan.nrrd"), ("BraTS-GLI-00003-000-seg.nii.gz",
                                                                        "scan-label.nrrd")):
        sitk.WriteImage(sitk.ReadImage(str(nifti_case / src)), str(d / name), True)
    assert detect_format(tmp_path / "slicer") == "brats"
    want = read_dataset(nifti_case, empty_fraction=1)
    got = read_dataset(tmp_path / "slicer", image_glob="scan*", empty_fraction=1)
    assert [r.slice_index for r in got] == [r.slice_index for r in want] and got[0].mask.name == "scan-label.nrrd"
    for a, b in zip(want, got):
        la, lb = load_record(a), load_record(b)
        assert np.array_equal(la.image, lb.image) and np.array_equal(la.mask, lb.mask)


def test_evaluate_on_nrrd_gives_the_nifti_numbers(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    import json

    src = shared_data("samples", "brats", "brats_2013_pat0001_1")
    case = tmp_path / "nrrd" / "pat1"
    case.mkdir(parents=True)
    for name in ("Flair_subtrMeanDivStd", "OTMultiClass"):
        sitk.WriteImage(sitk.ReadImage(str(src / f"{name}.nii.gz")), str(case / f"{name}.nrrd"), True)
    for data, out in ((src, "ev-nifti"), (tmp_path / "nrrd", "ev-nrrd")):  # the bundled FLAIR model: real outlines
        assert main(["evaluate", "--model", "flair", "--data", str(data), "--format", "brats", "--image-glob",
                     "Flair_*", "--label-glob", "OT*", "--split", "all", "--no-progress",
                     "--out", str(tmp_path / out)]) == 0
    a, b = (json.loads((tmp_path / out / "metrics.json").read_text()) for out in ("ev-nifti", "ev-nrrd"))
    assert a["n_images"] == b["n_images"] == 80 and a["mean_dice"] > 0.6
    assert a["mean_dice"] == pytest.approx(b["mean_dice"])
    assert a["per_volume"] == b["per_volume"]
