"""BIDS datasets (sub-*/[ses-*/]anat/sub-*_FLAIR.nii.gz ...) as predict and score inputs: which scan of a session is
predicted, by which model, under which name; derivatives/ and sourcedata/ never read as scans."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from conftest import shared_data
from tumorseg.data.formats import bids, nifti
from tumorseg.errors import DataError
from tumorseg.inference.choose import choose_model
from tumorseg.inference.files import predict_inputs
from tumorseg.inference.predictor import Predictor
from tumorseg.inference.volumes import output_name, split_volume_inputs


@pytest.mark.parametrize("name,entities,suffix,modality", [
    ("sub-01_FLAIR.nii.gz", {"sub": "01"}, "FLAIR", "flair"),
    ("sub-p07_ses-pre_acq-3d_ce-gadolinium_run-2_T1w.nii", {"sub": "p07", "ses": "pre", "acq": "3d",
                                                            "ce": "gadolinium", "run": "2"}, "T1w", "t1c"),
    ("sub-01_ses-1_T1w.nii.gz", {"sub": "01", "ses": "1"}, "T1w", "t1"),
    ("sub-01_T2w.nii.gz", {"sub": "01"}, "T2w", "t2"),
    ("sub-01_T2starw.nii.gz", {"sub": "01"}, "T2starw", None),
    ("sub-01_acq-flair_T2w.nii.gz", {"sub": "01", "acq": "flair"}, "T2w", "t2"),  # the suffix decides
])
def test_bids_names(name, entities, suffix, modality):
    assert bids.parse(name) == (entities, suffix)
    assert bids.modality(name) == modality


@pytest.mark.parametrize("name", ["BraTS-GLI-00001-000-t2f.nii.gz", "sub-01.nii.gz", "sub-01_FLAIR.png",
                                  "sub_01_FLAIR.nii.gz", "x_sub-01_FLAIR.nii.gz"])
def test_other_names_are_not_bids(name):
    assert bids.parse(name) is None and bids.modality(name) is None and bids.describe(name) is None


def test_case_names_and_raw_folders(tmp_path):
    root = tmp_path / "ds"
    assert bids.case_name(root / "sub-01" / "ses-pre" / "anat") == "sub-01_ses-pre"
    assert bids.case_name(root / "sub-01" / "ses-pre") == "sub-01_ses-pre"
    assert bids.case_name(root / "sub-01" / "anat") == "sub-01"
    assert bids.case_name(root / "sub-01") == "sub-01"
    assert bids.case_name(root / "BraTS-GLI-00001-000") is None and bids.case_name(root / "anat") is None
    (root / "derivatives").mkdir(parents=True)
    assert not bids.is_not_raw(root / "derivatives")  # no dataset_description.json: any folder of that name
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}')
    assert bids.is_not_raw(root / "derivatives") and bids.is_not_raw(root / "sourcedata")
    assert not bids.is_not_raw(root / "sub-01")


def _save(path, tumour=True):
    """A small int16 volume; with ``tumour`` a bright box (the voxels the patched predictor marks) in slice 1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    vol = np.random.default_rng(len(path.name)).integers(250, 350, (16, 16, 3)).astype(np.int16)
    if tumour:
        vol[4:9, 5:10, 1] = 900
    nib.save(nib.Nifti1Image(vol, np.diag([1.0, 1.0, 2.0, 1.0])), str(path))


@pytest.fixture
def dataset(tmp_path):
    """A BIDS dataset: sub-01 (FLAIR, pre- and post-contrast T1w, T2w), sub-02 with two sessions (ses-1: FLAIR;
    ses-2: ce-T1w and T1w only), sub-03 (two FLAIR runs and a T2w), and derivatives/ and sourcedata/ holding NIfTI files
    that are no raw scans."""
    root = tmp_path / "ds"
    (root / "sub-01").mkdir(parents=True)
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}')
    (root / "participants.tsv").write_text("participant_id\nsub-01\nsub-02\nsub-03\n")
    for name in ("sub-01_FLAIR", "sub-01_T1w", "sub-01_ce-gadolinium_T1w", "sub-01_T2w"):
        _save(root / "sub-01" / "anat" / f"{name}.nii.gz", tumour=name.endswith("FLAIR"))
    _save(root / "sub-02" / "ses-1" / "anat" / "sub-02_ses-1_FLAIR.nii.gz")
    _save(root / "sub-02" / "ses-2" / "anat" / "sub-02_ses-2_ce-gd_T1w.nii.gz")
    _save(root / "sub-02" / "ses-2" / "anat" / "sub-02_ses-2_T1w.nii.gz", tumour=False)
    for run in (1, 2):
        _save(root / "sub-03" / "anat" / f"sub-03_run-{run}_FLAIR.nii.gz")
    _save(root / "sub-03" / "anat" / "sub-03_T2w.nii.gz", tumour=False)  # not predicted beside the FLAIR runs
    _save(root / "derivatives" / "fmriprep" / "sub-01" / "anat" / "sub-01_desc-preproc_T1w.nii.gz")
    _save(root / "sourcedata" / "sub-01" / "anat" / "sub-01_FLAIR.nii.gz")
    return root


def test_a_bids_dataset_gives_each_session_once_named_after_it(dataset):
    volumes, images = split_volume_inputs([dataset])
    assert images == []
    assert [output_name(v) for v in volumes] == ["sub-01", "sub-02_ses-1", "sub-02_ses-2", "sub-03_run-1_FLAIR",
                                                 "sub-03_run-2_FLAIR"]  # two FLAIR runs: each its own scan
    assert volumes[0] == dataset / "sub-01" / "anat"
    # one subject's folder, or its anat/ folder, given as the input: the same name
    assert [output_name(v) for v in split_volume_inputs([dataset / "sub-01"])[0]] == ["sub-01"]
    assert [output_name(v) for v in split_volume_inputs([dataset / "sub-02" / "ses-2" / "anat"])[0]] == \
        ["sub-02_ses-2"]


def test_the_case_reader_takes_flair_or_the_contrast_enhanced_t1w(dataset):
    anat = dataset / "sub-01" / "anat"
    assert nifti.is_case_folder(anat)
    assert nifti.find_case_files(anat, "flair")[0] == [anat / "sub-01_FLAIR.nii.gz"]
    assert nifti.find_case_files(anat, "t1c")[0] == [anat / "sub-01_ce-gadolinium_T1w.nii.gz"]  # not the T1w
    assert nifti.find_case_files(anat, "t1")[0] == [anat / "sub-01_T1w.nii.gz"]
    assert not nifti.is_case_folder(dataset / "sub-03" / "anat")  # two FLAIR runs: separate scans
    with pytest.raises(DataError, match="no image volume for 'flair'"):
        nifti.find_case_files(dataset / "sub-02" / "ses-2" / "anat", "flair")


def test_each_session_gets_the_model_its_scans_call_for(fake_bundled, dataset):
    assert choose_model(dataset / "sub-01" / "anat").line() == \
        "model: flair (BIDS case folder with a FLAIR volume 'sub-01_FLAIR.nii.gz')"
    assert choose_model(dataset / "sub-02" / "ses-2" / "anat").line() == \
        "model: t1c (BIDS case folder with a T1c volume 'sub-02_ses-2_ce-gd_T1w.nii.gz')"
    assert choose_model(dataset / "sub-01" / "anat" / "sub-01_ce-gadolinium_T1w.nii.gz").reason.startswith(
        "BIDS contrast-enhanced T1w 'ce-gadolinium'; the FLAIR volume 'sub-01_FLAIR.nii.gz' is beside it")
    plain = choose_model(dataset / "sub-02" / "ses-2" / "anat" / "sub-02_ses-2_T1w.nii.gz")
    assert plain.name == "t1c" and plain.reason.startswith("BIDS T1w without a ce- entity (pre-contrast T1), which "
                                                           "no bundled model was trained on")


def test_predict_and_score_a_bids_dataset(fake_bundled, dataset, tmp_path, monkeypatch):
    """Every session predicted by the model that fits it (the scan read: FLAIR, else the ce-T1w, as the bright box
    shows), outputs named after subject and session; derivatives/ not read; then ``score`` pairs the masks with
    truth masks in derivatives/ (``_desc-tumor_mask``, ``_label-tumor_dseg``) by those names."""
    from tumorseg.evaluation.score import score_files

    monkeypatch.setattr(Predictor, "probabilities",  # the mask: the brightest voxels
                        lambda self, slices, batch_size=16: [(s >= 200).astype(np.float32) for s in slices])
    out = tmp_path / "out"
    report = predict_inputs([dataset], None, out, progress=False, backend="torch")
    assert sorted(p.name for p in out.glob("*.nii.gz")) == [
        "sub-01_mask.nii.gz", "sub-02_ses-1_mask.nii.gz", "sub-02_ses-2_mask.nii.gz",
        "sub-03_run-1_FLAIR_mask.nii.gz", "sub-03_run-2_FLAIR_mask.nii.gz"]
    assert {r.summary.name: r.model for r in report.results} == {
        "sub-01": "flair", "sub-02_ses-1": "flair", "sub-02_ses-2": "t1c", "sub-03_run-1_FLAIR": "flair",
        "sub-03_run-2_FLAIR": "flair"}
    rows = json.loads((out / "summary.json").read_text())["volumes"]
    assert all(r["slices_with_tumour"] == 1 for r in rows), rows  # the box is in the scan read (not the T1w)
    truth = dataset / "derivatives" / "manual"
    for name, dest in (("sub-01", "sub-01/anat/sub-01_desc-tumor_mask.nii.gz"),
                       ("sub-02_ses-2", "sub-02/ses-2/anat/sub-02_ses-2_label-tumor_dseg.nii.gz")):
        (truth / dest).parent.mkdir(parents=True)
        shutil.copy(out / f"{name}_mask.nii.gz", truth / dest)
    scored = score_files(out, dataset, progress=False)  # the dataset root as TRUTH: its derivatives' masks
    assert sorted({r["patient"] for r in scored.rows}) == ["sub-01", "sub-02_ses-2"]
    assert all(r["dice"] == 1.0 for r in scored.rows)


def test_a_real_brats_case_in_bids_layout(tmp_path):
    """The BraTS 2023 sample's scans renamed as BIDS: the FLAIR of the session is predicted by ``flair`` (as the
    BraTS case folder is), the mask named after the subject."""
    from tumorseg.cli import main

    case = shared_data("samples", "brats", "BraTS-GLI-00001-000")
    anat = tmp_path / "ds" / "sub-00001" / "anat"
    anat.mkdir(parents=True)
    (tmp_path / "ds" / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}')
    for tag, name in (("t2f", "FLAIR"), ("t1c", "ce-gd_T1w"), ("t1n", "T1w"), ("t2w", "T2w")):
        (anat / f"sub-00001_{name}.nii.gz").symlink_to(case / f"BraTS-GLI-00001-000-{tag}.nii.gz")
    assert main(["predict", str(tmp_path / "ds"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]
    assert [(r["name"], r["model"]) for r in rows] == [("sub-00001", "flair")]
    assert rows[0]["slices_with_tumour"] > 10  # the large FLAIR lesion (37 mL over 32 slices with the shipped flair)
