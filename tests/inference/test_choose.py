"""Which bundled model fits an input (inference/choose.py), on real ../shared files and synthetic names."""

import logging

import numpy as np
import pytest
from PIL import Image

from conftest import shared_data, tiny_checkpoint
from tumorseg.inference.choose import (Choice, choose_for_dataset, choose_for_upload, choose_model, installed,
                                       modality_in_name, reader_options_for)
from tumorseg.inference.files import collect_inputs, predict_inputs
from tumorseg.inference.predictor import Predictor
from tumorseg.inference.volumes import read_for_model
from tumorseg.models import zoo

LGG_PATIENT = "TCGA_CS_4941_19960909"


@pytest.mark.parametrize("name,expected", [
    ("BraTS-GLI-00001-000-t2f.nii.gz", ("flair", "BraTS FLAIR file name '-t2f'")),
    ("BraTS-GLI-00001-000-t1c.nii.gz", ("t1c", "BraTS T1c file name '-t1c'")),
    ("BraTS20_Training_001_flair.nii.gz", ("flair", "BraTS FLAIR file name '_flair'")),
    ("BraTS20_Training_001_t1ce.nii.gz", ("t1c", "BraTS T1c file name '_t1ce'")),
    ("Flair_subtrMeanDivStd.nii.gz", ("flair", "BraTS 2015 FLAIR file name 'Flair_'")),
    ("T1c_subtrMeanDivStd.nii.gz", ("t1c", "BraTS 2015 T1c file name 'T1c_'")),
    ("CASE-T2F.NII.GZ", ("flair", "BraTS FLAIR file name '-T2F'")),  # case-insensitive
    ("BraTS-GLI-00001-000-t1n.nii.gz", None),  # T1 without contrast: no rule
    ("BraTS-GLI-00001-000-t2w.nii.gz", None),
    ("brainmask.nii.gz", None),
    ("flairy_t1cx.nii.gz", None),  # a marker must stand alone between separators
    ("sub-01_ses-pre_FLAIR.nii.gz", ("flair", "BIDS FLAIR '_FLAIR'")),  # BIDS: the suffix, and ce- for T1w
    ("sub-01_acq-3d_ce-gadolinium_run-2_T1w.nii.gz", ("t1c", "BIDS contrast-enhanced T1w 'ce-gadolinium'")),
    ("sub-01_T1w.nii.gz", None),  # pre-contrast
    ("sub-01_T2w.nii.gz", None),
    ("sub-01_acq-flair_T2w.nii.gz", None),  # a BIDS name is read by its suffix, not by a word inside it
])
def test_modality_in_file_names(name, expected):
    assert modality_in_name(name) == expected


def _expected(name: str, reason_part: str):
    """What choose_model gives when the rules pick ``name``: it, or t1c with a note when not installed."""
    if zoo.get(name).installed:
        return name, reason_part
    return "t1c", "not installed in this build"


@pytest.mark.parametrize("parts,name,reason", [
    (("samples", "brats", "BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t2f.nii.gz"), "flair", "'-t2f'"),
    (("samples", "brats", "BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t1c.nii.gz"), "t1c", "'-t1c'"),
    (("samples", "brats", "BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t1n.nii.gz"), "t1c", "the default model"),
    (("samples", "brats", "brats_2013_pat0001_1", "Flair_subtrMeanDivStd.nii.gz"), "flair", "'Flair_'"),
    (("samples", "brats", "brats_2013_pat0001_1", "T1c_subtrMeanDivStd.nii.gz"), "t1c", "'T1c_'"),
    (("samples", "brats", "BraTS-GLI-00001-000"), "flair", "case folder with a FLAIR volume"),
    (("samples", "brats", "brats_2013_pat0001_1"), "flair", "case folder with a FLAIR volume"),
    (("samples", "lgg", LGG_PATIENT, f"{LGG_PATIENT}_10.tif"), "flair", "3-channel 8-bit TIFF"),
    (("samples", "dicom", "MR_small.dcm"), "t1c",
     "DICOM without a series description names neither FLAIR nor a contrast-enhanced T1; the default model"),
    (("figshare", "images", "1089.png"), "t1c", "2-D image with no FLAIR marker; the default model"),
    (("figshare-native", "images"), "t1c", "no FLAIR marker"),
])
def test_choice_for_real_files(parts, name, reason):
    choice = choose_model(shared_data(*parts))
    want_name, want_reason = _expected(name, reason)
    assert choice.name == want_name and want_reason in choice.reason
    assert choice.line().startswith(f"model: {want_name} (")


def test_t1c_file_beside_a_flair_file_points_to_it():
    case = shared_data("samples", "brats", "BraTS-GLI-00001-000")
    reason = choose_model(case / "BraTS-GLI-00001-000-t1c.nii.gz").reason
    assert "'BraTS-GLI-00001-000-t2f.nii.gz' is beside it" in reason and "predict the case folder" in reason


def test_lone_t1c_file_gets_the_plain_reason(tmp_path):
    (tmp_path / "alone-t1c.nii.gz").write_bytes(b"")  # the choice reads names only; no FLAIR beside it
    (tmp_path / "other-t1n.nii.gz").write_bytes(b"")
    assert choose_model(tmp_path / "alone-t1c.nii.gz").reason == "BraTS T1c file name '-t1c'"


def test_nrrd_and_metaimage_files_follow_the_nifti_name_rules(fake_bundled, tmp_path):
    for name in ("case_flair.nrrd", "case-t1c.mha", "scan.mhd"):
        (tmp_path / name).write_bytes(b"")  # the choice reads names only
    assert choose_model(tmp_path / "case_flair.nrrd") == Choice("flair", "BraTS FLAIR file name '_flair'")
    assert "the FLAIR volume 'case_flair.nrrd' is beside it" in choose_model(tmp_path / "case-t1c.mha").reason
    assert choose_model(tmp_path / "scan.mhd") == Choice("t1c", "volume file name names no modality "
                                                                "(-t2f/_flair/Flair_ or -t1c/_t1ce/T1c_); the default model")


@pytest.mark.parametrize("parts,name", [
    (("samples", "brats", "BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t2f.nii.gz"), "flair"),
    (("samples", "brats", "BraTS-GLI-00001-000"), "flair"),
    (("samples", "lgg", LGG_PATIENT, f"{LGG_PATIENT}_10.tif"), "flair"),
    (("samples", "brats", "brats_2013_pat0001_1", "T1c_subtrMeanDivStd.nii.gz"), "t1c"),
    (("figshare", "images", "1089.png"), "t1c"),
])
def test_choice_when_both_models_are_installed(fake_bundled, parts, name):
    assert choose_model(shared_data(*parts)).name == name


def test_missing_flair_falls_back_to_t1c_with_a_note(monkeypatch, tmp_path):
    (tmp_path / "t1c.pt").write_bytes(b"x")  # only t1c "installed"
    monkeypatch.setattr(zoo, "BUNDLED_DIR", tmp_path)
    got = installed(Choice("flair", "3-channel 8-bit TIFF (LGG layout: pre-contrast, FLAIR, post-contrast)"))
    assert got.name == "t1c"
    assert got.reason.endswith("-> flair, which is not installed in this build; using t1c on its post-contrast "
                               "(T1c) channel")


def test_gray_tiff_and_rgb_png_are_not_channel_stacks(tmp_path):
    rgb = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.tif")
    Image.fromarray(np.repeat(rgb[..., :1], 3, axis=2)).save(tmp_path / "gray3.tif")  # 3 equal channels
    for name in ("photo.png", "gray.tif", "gray3.tif"):
        assert choose_model(tmp_path / name).name == "t1c", name


def test_lgg_slices_with_equal_channels_go_to_flair(tmp_path):
    """kaggle_3m replaced a patient's missing sequences with FLAIR (TCGA_DU_7013: all three channels FLAIR): its RGB
    TIFFs have equal channels but are FLAIR, known by the LGG layout (mask beside) or the TCGA name; the same
    picture elsewhere is a gray image for t1c."""
    from tumorseg.inference.choose import choose_for_upload

    gray3 = np.repeat((np.random.default_rng(0).random((16, 16, 1)) * 255).astype(np.uint8), 3, axis=2)
    patient = tmp_path / "P7"
    patient.mkdir()
    Image.fromarray(gray3).save(patient / "P7_3.tif")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(patient / "P7_3_mask.tif")
    Image.fromarray(gray3).save(tmp_path / "TCGA_DU_7013_19860523_12.tif")  # a TCGA-LGG slice's name, no mask
    Image.fromarray(gray3).save(tmp_path / "P7_4.tif")  # neither
    assert choose_model(patient / "P7_3.tif").name == "flair"
    assert choose_model(tmp_path / "TCGA_DU_7013_19860523_12.tif").name == "flair"
    assert choose_model(tmp_path / "P7_4.tif").name == "t1c"
    data = (tmp_path / "P7_4.tif").read_bytes()
    assert choose_for_upload("tiff", data, "TCGA_DU_7013_19860523_12.tif").name == "flair"
    assert choose_for_upload("tiff", data, "scan.tif").name == "t1c"


def test_every_lgg_patient_is_predicted_by_flair():
    """All 40 kaggle_3m patients of ../shared, their 1475 slices (blank ones and TCGA_DU_7013's equal channels
    included), get one model: flair."""
    from tumorseg.inference.files import plan_models

    groups = plan_models(collect_inputs([shared_data("lgg", "kaggle_3m")]), None)
    assert list(groups) == ["flair"] and len(groups["flair"]) == 1475


@pytest.mark.parametrize("fmt,options,name,reader", [
    ("lgg", {}, "flair", {"channels": "flair"}),
    ("brats", {}, "flair", {"modality": "flair"}),
    ("brats", {"modality": "t1c"}, "t1c", {"modality": "t1c"}),
    ("paired", {}, "t1c", {}),
    ("figshare-mat", {}, "t1c", {}),
])
def test_choice_for_datasets(fake_bundled, fmt, options, name, reader):
    assert choose_for_dataset(fmt, options).name == name
    assert reader_options_for(fmt, name) == reader
    assert reader_options_for("lgg", "t1c") == {"channels": "post"}


def test_choice_for_uploads(fake_bundled):
    tif = shared_data("samples", "lgg", LGG_PATIENT, f"{LGG_PATIENT}_10.tif").read_bytes()
    assert choose_for_upload("tiff", tif).name == "flair"
    assert choose_for_upload("nifti-gz", b"", "case-t2f.nii.gz").name == "flair"
    assert choose_for_upload("png", b"", "case-t2f.nii.gz").name == "t1c"  # the name counts only for NIfTI
    assert choose_for_upload("nifti", b"", "scan.nii").name == "t1c"


def test_folder_of_lgg_patients_predicts_slices_never_masks():
    root = shared_data("samples", "lgg")  # a folder holding one patient folder
    patient = root / LGG_PATIENT
    for folder in (root, patient):
        files = collect_inputs([folder])
        assert len(files) == 23 and not any(f.stem.endswith("_mask") for f in files)
        assert [f.name for f in files[:3]] == [f"{LGG_PATIENT}_{i}.tif" for i in (1, 2, 3)]  # slice order


@pytest.mark.parametrize("modality,channel", [("flair", 1), ("t1c", 2)])
def test_lgg_tiff_gives_the_models_channel(tmp_path, modality, channel):
    tif = shared_data("samples", "lgg", LGG_PATIENT, f"{LGG_PATIENT}_10.tif")
    p = Predictor.from_checkpoint(tiny_checkpoint(tmp_path / "m.pt", modality=modality), "cpu", backend="torch")
    assert p.modality == modality
    image = read_for_model(tif, p)
    assert np.array_equal(image, np.asarray(Image.open(tif))[..., channel])


def test_folder_is_decided_file_by_file(fake_bundled, tmp_path, caplog):
    lgg = shared_data("samples", "lgg", LGG_PATIENT)
    png = shared_data("figshare", "images", "1089.png")
    caplog.set_level(logging.INFO, logger="tumorseg")
    report = predict_inputs([lgg, png], None, tmp_path / "out", progress=False, backend="torch")
    assert len(report.written) == 24 and (tmp_path / "out" / "1089.png").exists()
    models = {r.source.name: r.model for r in report.results}
    assert models["1089.png"] == "t1c" and models[f"{LGG_PATIENT}_10.tif"] == "flair"
    assert sum(m == "flair" for m in models.values()) == 23
    lines = [r.message for r in caplog.records if r.message.startswith("model: ")]
    assert lines == ["model: flair (3-channel 8-bit TIFF (LGG layout: pre-contrast, FLAIR, post-contrast)) "
                     "for 23 inputs", "model: t1c (2-D image with no FLAIR marker; the default model)"]


@pytest.mark.parametrize("fields,expected", [
    ({"SeriesDescription": "Ax T2 FLAIR"}, ("flair", "'Ax T2 FLAIR'")),
    ({"SeriesDescription": "", "ProtocolName": "t2_tirm_tra_dark-fluid_FLAIR"}, ("flair", "'t2_tirm_tra_dark-fluid_FLAIR'")),
    ({"SeriesDescription": "AX T1 POST GAD"}, ("t1c", "'AX T1 POST GAD'")),
    ({"SeriesDescription": "T1_MPRAGE+C"}, ("t1c", "'T1_MPRAGE+C'")),
    ({"SeriesDescription": "Sag T1 +C"}, ("t1c", "'Sag T1 +C'")),
    ({"SeriesDescription": "ax t1 pre contrast"}, None),
    ({"SeriesDescription": "POSTERIOR FOSSA T2"}, None),  # "post" only as a whole word
    ({"SeriesDescription": "DWI", "ContrastBolusAgent": "Gadovist"}, ("t1c", "with contrast agent 'Gadovist'")),
    ({"SeriesDescription": "AX T2"}, None),
    # vendors' and sites' names: Siemens' FLAIR is "dark-fluid", its contrast KM ("nativ" / "ohne KM" before it)
    ({"SeriesDescription": "t2_tirm_tra_dark-fluid"}, ("flair", "'t2_tirm_tra_dark-fluid'")),
    ({"SeriesDescription": "t2_space_darkfluid_sag_p2_iso"}, ("flair", "'t2_space_darkfluid_sag_p2_iso'")),
    ({"SeriesDescription": "t1_mprage_sag_p2_iso_KM"}, ("t1c", "'t1_mprage_sag_p2_iso_KM'")),
    ({"SeriesDescription": "t1_se_tra+KM"}, ("t1c", "'t1_se_tra+KM'")),
    ({"SeriesDescription": "t1_se_tra_nativ"}, None),
    ({"SeriesDescription": "t1_se_tra ohne KM"}, None),
    ({"SeriesDescription": "AX T1 C+"}, ("t1c", "'AX T1 C+'")),
    ({"SeriesDescription": "AX T1 W/O CONTRAST"}, None),  # "without": read as "contrast" before
    ({"SeriesDescription": "AX T1 NO CONTRAST"}, None),
    ({"SeriesDescription": "T1 MPR DOTAREM"}, ("t1c", "'T1 MPR DOTAREM'")),
])
def test_dicom_descriptions(fields, expected):
    from pydicom.dataset import Dataset

    from tumorseg.inference.choose import dicom_modality

    ds = Dataset()
    for key, value in fields.items():
        setattr(ds, key, value)
    assert dicom_modality(ds) == expected


def test_a_post_contrast_channel_that_is_flair_is_named_once_per_folder(tmp_path, caplog):
    """kaggle_3m's TCGA_DU_6407 has no post-contrast sequence: channel 2 is FLAIR. A T1c model reading it is told,
    once per folder, not once per slice; a blank slice (all channels 0) says nothing."""
    rng = np.random.default_rng(1)
    patient = tmp_path / "P9"
    patient.mkdir()
    for k in (1, 2, 3):
        pre, flair = (rng.random((2, 16, 16)) * 200 * (k != 3)).astype(np.uint8)
        Image.fromarray(np.stack([pre, flair, flair], axis=-1)).save(patient / f"P9_{k}.tif")
    predictor = Predictor.from_checkpoint(tiny_checkpoint(tmp_path / "m.pt", modality="t1c"), "cpu", backend="torch")
    with caplog.at_level(logging.WARNING):
        for k in (3, 1, 2):
            read_for_model(patient / f"P9_{k}.tif", predictor)
    lines = [r.getMessage() for r in caplog.records if "copy of FLAIR" in r.getMessage()]
    assert lines == [f"{patient}: the post-contrast channel of its TIFFs is a copy of FLAIR (kaggle_3m's stand-in for "
                     "a missing sequence), so model m.pt reads FLAIR images there; --model flair fits them"]


@pytest.mark.parametrize("fields,expected", [
    ({"InversionTime": 2500, "EchoTime": 120}, "inversion time 2500 ms, echo time 120 ms"),  # FLAIR at 3 T
    ({"InversionTime": 2000, "EchoTime": 85}, "inversion time 2000 ms, echo time 85 ms"),  # 1.5 T
    ({"InversionTime": 160, "EchoTime": 60}, None),  # STIR
    ({"InversionTime": 900, "EchoTime": 10}, None),  # T1-FLAIR, MPRAGE
    ({"InversionTime": 2500, "EchoTime": 9}, None),  # a long inversion with a T1 echo: not a FLAIR
    ({"EchoTime": 100}, None),
    ({}, None),
])
def test_a_flair_is_told_by_its_timing(fields, expected):
    from pydicom.dataset import Dataset

    from tumorseg.inference.choose import flair_timing

    ds = Dataset()
    for key, value in fields.items():
        setattr(ds, key, value)
    assert flair_timing(ds) == expected


def test_an_enhanced_file_gives_its_timing_from_its_functional_groups():
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from tumorseg.data.formats.dicom import inversion_echo_times

    modifier, echo, shared = Dataset(), Dataset(), Dataset()
    modifier.InversionTimes, echo.EffectiveEchoTime = [1800.0], 125.0
    shared.MRModifierSequence, shared.MREchoSequence = Sequence([modifier]), Sequence([echo])
    ds = Dataset()
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    assert inversion_echo_times(ds) == (1800.0, 125.0)
    assert inversion_echo_times(Dataset()) == (None, None)
