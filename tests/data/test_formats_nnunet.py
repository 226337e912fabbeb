"""nnU-Net raw / Medical Segmentation Decathlon datasets as labelled data (data/formats/nnunet.py): a file per
channel or the MSD's 4-D files, channels chosen by dataset.json's names, labels from labelsTr/, auto-detected before
BraTS case folders."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tumorseg.data.formats import decathlon, detect_format, load_record, nnunet, read_dataset
from tumorseg.errors import DataError

NAMES = {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}


def _volumes(case: int) -> tuple[np.ndarray, np.ndarray]:
    """``(16, 16, 6, 4) int16`` channels, each filled with its own level plus noise (channel c around 100 (c + 1)),
    a bright box on slices 2-3; labels ``(16, 16, 6)``: the box, labels 1 (slice 2) and 3 (slice 3)."""
    rng = np.random.default_rng(case)
    vols = np.stack([rng.integers(90, 110, (16, 16, 6)) + 100 * c for c in range(4)], -1).astype(np.int16)
    vols[4:9, 5:10, 2:4] += 500
    lab = np.zeros((16, 16, 6), np.uint8)
    lab[4:9, 5:10, 2], lab[4:9, 5:10, 3] = 1, 3
    return vols, lab


@pytest.fixture(params=["channel-files", "4-D"])
def dataset(request, tmp_path) -> Path:
    root = tmp_path / "Task01_BrainTumour"
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"modality": NAMES, "labels": {"0": "background"}}))
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    for case in (1, 2):
        vols, lab = _volumes(case)
        if request.param == "4-D":
            nib.save(nib.Nifti1Image(vols, affine), str(root / "imagesTr" / f"BRATS_00{case}.nii.gz"))
        else:
            for c in range(4):
                nib.save(nib.Nifti1Image(vols[..., c], affine), str(root / "imagesTr" / f"BRATS_00{case}_{c:04d}.nii.gz"))
        nib.save(nib.Nifti1Image(lab, affine), str(root / "labelsTr" / f"BRATS_00{case}.nii.gz"))
    decathlon._channels.cache_clear()
    yield root
    decathlon._channels.cache_clear()


def test_detected_before_brats_case_folders(dataset):
    assert detect_format(dataset) == "nnunet" and detect_format(dataset / "imagesTr") == "nnunet"
    assert not nnunet.detect(dataset / "labelsTr") and not nnunet.detect(dataset.parent)


def test_records_and_slices_follow_the_channel_dataset_json_names(dataset):
    records = read_dataset(dataset, modality="t1c", empty_fraction=1.0)
    assert [r.case_id for r in records][:2] == ["BRATS_001_z000", "BRATS_001_z001"]
    assert {r.patient for r in records} == {"BRATS_001", "BRATS_002"} and len(records) == 12
    vols, lab = _volumes(1)
    got = load_record(records[2])  # slice 2 of BRATS_001, through the T1gd channel (2) only
    assert got.mask.sum() == 25 and got.mask[4:9, 5:10].all()
    assert (got.raw_min, got.raw_max) == (float(vols[..., 2].min()), float(vols[..., 2].max()))
    both = load_record(read_dataset(dataset, modality="flair,t2", empty_fraction=1.0)[3])
    assert both.image.shape == (2, 16, 16)
    assert (both.raw_min, both.raw_max) == (float(vols[..., [0, 3]].min()), float(vols[..., [0, 3]].max()))
    core = read_dataset(dataset, modality="flair", labels="3", empty_fraction=0.0)
    assert [r.case_id for r in core] == ["BRATS_001_z003", "BRATS_002_z003"]  # the tumour core: slice 3 only


def test_an_images_folder_without_labels_gives_unlabelled_slices(dataset):
    (dataset / "imagesTs").mkdir()
    for p in (dataset / "imagesTr").iterdir():
        p.rename(dataset / "imagesTs" / p.name)
    records = read_dataset(dataset / "imagesTs")
    assert records and all(r.mask is None for r in records)


def test_clear_errors(dataset):
    (dataset / "dataset.json").write_text(json.dumps({"modality": {"0": "T1w", "1": "T2w"}}))
    decathlon._channels.cache_clear()
    with pytest.raises(DataError, match=r"dataset.json names no flair channel \(it names 0 T1w, 1 T2w\); pick another"):
        read_dataset(dataset)
    with pytest.raises(DataError, match="not an nnU-Net"):
        nnunet.read(dataset / "labelsTr")


def test_a_case_missing_a_channel_file_is_named(tmp_path):
    root = tmp_path / "Dataset002"
    (root / "imagesTr").mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"channel_names": NAMES}))
    vols, _ = _volumes(3)
    nib.save(nib.Nifti1Image(vols[..., 1], np.eye(4)), str(root / "imagesTr" / "BRATS_003_0001.nii.gz"))
    decathlon._channels.cache_clear()
    with pytest.raises(DataError, match=r"case BRATS_003 has no channel file BRATS_003_0000.nii.gz \(FLAIR\)"):
        read_dataset(root)
    decathlon._channels.cache_clear()


def test_evaluate_reads_the_dataset_through_the_cli(dataset, tmp_path, fake_bundled):
    from tumorseg.cli import main

    out = tmp_path / "ev"
    assert main(["evaluate", "--model", "flair", "--data", str(dataset), "--split", "all", "--out", str(out),
                 "--no-progress"]) in (0, None)
    rows = (out / "per_case.csv").read_text().splitlines()
    assert len(rows) == 1 + 4  # header, the 4 tumour slices (10 % of a case's 4 tumour-free slices rounds to none)


def test_without_model_evaluate_picks_flair_else_t1gd_and_feeds_each_its_channel(dataset, fake_bundled):
    from tumorseg.inference.choose import choose_for_dataset, reader_options_for

    assert choose_for_dataset("nnunet", {}, dataset).name == "flair"
    assert choose_for_dataset("nnunet", {"modality": "t1c"}, dataset).name == "t1c"
    assert reader_options_for("nnunet", "t1c") == {"modality": "t1c"}  # --model t1c reads the T1gd channel
    (dataset / "dataset.json").write_text(json.dumps({"modality": {"0": "T1w", "1": "T1gd"}}))
    decathlon._channels.cache_clear()
    assert choose_for_dataset("nnunet", {}, dataset).name == "t1c"
