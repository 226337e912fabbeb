"""nnU-Net raw datasets and the Medical Segmentation Decathlon (data/formats/decathlon.py) as predict inputs: one
channel file per case, chosen and named by the dataset.json's channel names; a 4-D MSD file refused with the volume
to save."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from tumorseg.data.formats import decathlon
from tumorseg.errors import DataError
from tumorseg.inference.choose import choose_model
from tumorseg.inference.files import predict_inputs
from tumorseg.inference.predictor import Predictor
from tumorseg.inference.volumes import output_name, split_volume_inputs


def _save(path, shape=(16, 16, 3), tumour=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    vol = np.random.default_rng(len(path.name)).integers(250, 350, shape).astype(np.int16)
    if tumour:
        vol[4:9, 5:10, 1] = 900
    nib.save(nib.Nifti1Image(vol, np.diag([1.0, 1.0, 2.0, 1.0])), str(path))


@pytest.fixture
def dataset(tmp_path):
    """Dataset001_BrainTumour (nnU-Net v2): BRATS_001 with four channels (the box only in FLAIR), BRATS_002 with T1w
    and T1gd only (the box in T1gd), BRATS_003 with T1w only; labelsTr/ beside."""
    root = tmp_path / "Dataset001_BrainTumour"
    root.mkdir()
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "FLAIR", "1": "T1w", "2": "T1gd",
                                                                     "3": "T2w"}, "labels": {"background": 0}}))
    for ch in range(4):
        _save(root / "imagesTs" / f"BRATS_001_{ch:04d}.nii.gz", tumour=ch == 0)
    _save(root / "imagesTs" / "BRATS_002_0001.nii.gz", tumour=False)
    _save(root / "imagesTs" / "BRATS_002_0002.nii.gz")
    _save(root / "imagesTs" / "BRATS_003_0001.nii.gz", tumour=False)
    _save(root / "labelsTr" / "BRATS_001.nii.gz", tumour=False)
    return root


@pytest.mark.parametrize("name,expected", [("FLAIR", "flair"), ("T2-FLAIR", "flair"), ("T1gd", "t1c"),
                                           ("t1 ce", "t1c"), ("T1w", "t1"), ("T2w", "t2"), ("ADC", None),
                                           ("CT", None)])
def test_channel_names(name, expected):
    assert decathlon.modality_of(name) == expected


def test_channel_files_are_known_by_the_dataset_json(dataset, tmp_path):
    images = dataset / "imagesTs"
    assert decathlon.channel_of(images / "BRATS_001_0000.nii.gz") == ("BRATS_001", 0, "FLAIR")
    assert decathlon.modality(images / "BRATS_002_0002.nii.gz") == "t1c"
    assert decathlon.case_name(images / "BRATS_003_0001.nii.gz") is None  # a T1w channel: named by its file
    alone = tmp_path / "other" / "scan_0001.nii.gz"  # no dataset.json: an ordinary file name
    _save(alone)
    assert decathlon.channel_of(alone) is None and output_name(alone) == "scan_0001"
    (tmp_path / "other" / "dataset.json").write_text('{"modality": {"0": "FLAIR", "1": "T1gd"}}')  # v1 / MSD
    decathlon._channels.cache_clear()
    assert decathlon.channel_of(alone) == ("scan", 1, "T1gd")


def test_each_case_gives_its_flair_else_its_t1gd_channel(dataset):
    volumes, images = split_volume_inputs([dataset])
    assert images == []  # labelsTr/ is a mask folder: never an input
    assert [(output_name(v), v.name) for v in volumes] == [
        ("BRATS_001", "BRATS_001_0000.nii.gz"), ("BRATS_002", "BRATS_002_0002.nii.gz"),
        ("BRATS_003_0001", "BRATS_003_0001.nii.gz")]  # no FLAIR or T1gd channel: the file, with a note
    assert [output_name(v) for v in split_volume_inputs([dataset / "imagesTs"])[0]] == [
        "BRATS_001", "BRATS_002", "BRATS_003_0001"]


def test_the_channel_decides_the_model(fake_bundled, dataset):
    images = dataset / "imagesTs"
    assert choose_model(images / "BRATS_001_0000.nii.gz").line() == \
        "model: flair (nnU-Net/MSD channel 0000 'FLAIR' of dataset.json)"
    assert choose_model(images / "BRATS_002_0002.nii.gz").name == "t1c"
    plain = choose_model(images / "BRATS_003_0001.nii.gz")
    assert plain.name == "t1c" and plain.reason.startswith("nnU-Net/MSD channel 0001 'T1w' of dataset.json, which "
                                                           "no bundled model was trained on")


def test_predict_and_score_an_nnunet_dataset(fake_bundled, dataset, tmp_path, monkeypatch):
    from tumorseg.evaluation.score import score_files

    monkeypatch.setattr(Predictor, "probabilities",  # the mask: the brightest voxels
                        lambda self, slices, batch_size=16: [(s >= 200).astype(np.float32) for s in slices])
    out = tmp_path / "out"
    report = predict_inputs([dataset / "imagesTs"], None, out, progress=False, backend="torch")
    assert sorted(p.name for p in out.glob("*.nii.gz")) == [
        "BRATS_001_mask.nii.gz", "BRATS_002_mask.nii.gz", "BRATS_003_0001_mask.nii.gz"]
    got = {r.summary.name: (r.model, r.summary.slices_with_tumour) for r in report.results}
    assert got["BRATS_001"] == ("flair", 1) and got["BRATS_002"] == ("t1c", 1)  # the box: the channel read
    assert got["BRATS_003_0001"][0] == "t1c"
    scored = score_files(out / "BRATS_001_mask.nii.gz", dataset / "labelsTr" / "BRATS_001.nii.gz", progress=False)
    assert len(scored.rows) == 3  # nnU-Net's label name pairs with the case's mask


def test_a_4d_msd_file_is_read_as_its_flair_volume_else_refused_with_the_fix(fake_bundled, tmp_path):
    from tumorseg.data.formats.nifti import open_nifti, read_volume

    folder = tmp_path / "Task01_BrainTumour" / "imagesTr"
    folder.mkdir(parents=True)
    vols = np.random.default_rng(0).integers(0, 400, (8, 8, 4, 4)).astype(np.int16)
    vols[..., 2] += 1000  # each volume told apart by its values
    nib.save(nib.Nifti1Image(vols, np.diag([1.0, 1.0, 2.0, 1.0])), str(folder / "BRATS_001.nii.gz"))
    import shutil

    shutil.copy(folder / "BRATS_001.nii.gz", folder / "scan.nii.gz")
    with pytest.raises(DataError, match="a 4-D file of 4 volumes .* save the one to predict as its own 3-D file"):
        open_nifti(folder / "scan.nii.gz")  # no dataset.json and no MSD name: which volume is what is unknown
    # named as the MSD's Task01 names its files: that task's channel order (0 FLAIR, 1 T1w, 2 t1gd, 3 T2w)
    img, shape = open_nifti(folder / "BRATS_001.nii.gz")
    assert shape == (8, 8, 4) and np.array_equal(np.asarray(img.dataobj), vols[..., 0])
    assert choose_model(folder / "BRATS_001.nii.gz").line() == \
        "model: flair (MSD 4-D file: its volume 0 'FLAIR' of the MSD Task01 order)"
    assert decathlon.stacked_channel(folder / "scan.nii.gz") is None
    (folder / "scan.nii.gz").unlink()
    three = folder.parent / "three" / "BRATS_002.nii.gz"  # the Task01 name, but three volumes: not that task's file
    three.parent.mkdir()
    nib.save(nib.Nifti1Image(vols[..., :3], np.eye(4)), str(three))
    with pytest.raises(DataError, match="a 4-D file of 3 volumes"):
        open_nifti(three)
    dataset_json = tmp_path / "Task01_BrainTumour" / "dataset.json"
    dataset_json.write_text(json.dumps({"modality": {"0": "T1w", "1": "T2w", "2": "FLAIR", "3": "t1gd"}}))
    decathlon._channels.cache_clear()
    img, shape = open_nifti(folder / "BRATS_001.nii.gz")
    assert shape == (8, 8, 4) and np.array_equal(np.asarray(img.dataobj), vols[..., 2])  # FLAIR, its only volume
    assert np.allclose(img.affine, np.diag([1.0, 1.0, 2.0, 1.0]))
    assert read_volume(folder / "BRATS_001.nii.gz", cache=False)[1:3] == (float(vols[..., 2].min()),
                                                                           float(vols[..., 2].max()))
    assert choose_model(folder / "BRATS_001.nii.gz").line() == \
        "model: flair (MSD 4-D file: its volume 2 'FLAIR' of dataset.json)"
    assert output_name(folder / "BRATS_001.nii.gz") == "BRATS_001"
    dataset_json.write_text(json.dumps({"modality": {"0": "T1w", "1": "T2w"}}))  # no channel a model reads
    decathlon._channels.cache_clear()
    with pytest.raises(DataError) as err:
        open_nifti(folder / "BRATS_001.nii.gz")
    assert "its dataset.json names them 0 T1w, 1 T2w (no FLAIR or T1gd among them); save the one" in str(err.value)
    dataset_json.write_text(json.dumps({"modality": {"0": "FLAIR"}}))  # one channel named: which volume is unknown
    decathlon._channels.cache_clear()
    with pytest.raises(DataError, match=r"names them 0 FLAIR \(one channel, but the file holds 4 volumes\)"):
        open_nifti(folder / "BRATS_001.nii.gz")
    dataset_json.write_text(json.dumps({"modality": {"0": "T1w", "1": "T2w", "2": "t1gd", "3": "x", "4": "FLAIR"}}))
    decathlon._channels.cache_clear()
    with pytest.raises(DataError, match="but the file holds no volume 4"):
        open_nifti(folder / "BRATS_001.nii.gz")
    decathlon._channels.cache_clear()


def test_predict_an_msd_4d_file_as_its_flair_channel(fake_bundled, tmp_path, monkeypatch):
    monkeypatch.setattr(Predictor, "probabilities",  # the mask: the brightest voxels
                        lambda self, slices, batch_size=16: [(s >= 200).astype(np.float32) for s in slices])
    folder = tmp_path / "Task01_BrainTumour" / "imagesTs"
    folder.mkdir(parents=True)
    (folder.parent / "dataset.json").write_text(json.dumps({"modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd",
                                                                         "3": "T2w"}}))
    vols = np.random.default_rng(1).integers(250, 350, (16, 16, 3, 4)).astype(np.int16)
    vols[4:9, 5:10, 1, 0] = 900  # a box in FLAIR only
    vols[2:4, 2:4, 0, 3] = 900  # and another in T2w only
    nib.save(nib.Nifti1Image(vols, np.diag([1.0, 1.0, 2.0, 1.0])), str(folder / "BRATS_485.nii.gz"))
    decathlon._channels.cache_clear()
    out = tmp_path / "out"
    report = predict_inputs([folder], None, out, progress=False, backend="torch")
    (result,) = report.results
    assert (result.model, result.summary.name, result.summary.slices_with_tumour) == ("flair", "BRATS_485", 1)
    mask = nib.load(str(out / "BRATS_485_mask.nii.gz"))
    assert mask.shape == (16, 16, 3) and np.allclose(mask.affine, np.diag([1.0, 1.0, 2.0, 1.0]))
    assert np.asarray(mask.dataobj)[4:9, 5:10, 1].all() and np.asarray(mask.dataobj).sum() == 25
    # the dataset folder given: the case keeps its name (not imagesTs_BRATS_485)
    (result,) = predict_inputs([folder.parent], None, tmp_path / "out2", progress=False, backend="torch").results
    assert result.summary.name == "BRATS_485" and (tmp_path / "out2" / "BRATS_485_mask.nii.gz").is_file()
    decathlon._channels.cache_clear()


def test_a_3d_scan_beside_msd_files_is_read_as_it_is(fake_bundled, tmp_path):
    folder = tmp_path / "Task01_BrainTumour" / "imagesTs"
    (folder.parent).mkdir()
    (folder.parent / "dataset.json").write_text(json.dumps({"modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd"}}))
    _save(folder / "extra_scan.nii.gz")  # 3-D, no channel number
    decathlon._channels.cache_clear()
    assert decathlon.stacked_channel(folder / "extra_scan.nii.gz") is None
    assert decathlon.describe(folder / "extra_scan.nii.gz") is None
    assert choose_model(folder / "extra_scan.nii.gz").name == "t1c"  # named for no modality: the default, as anywhere
    decathlon._channels.cache_clear()


def test_predict_volume_k_of_any_4d_file(fake_bundled, tmp_path, monkeypatch, capsys):
    """predict --volume K: that volume of a 4-D file without names (the default model, said so) or of an MSD file
    (the model by the volume's name); the same file read for two volumes in one process gives each its own voxels."""
    from tumorseg.cli import main

    monkeypatch.setattr(Predictor, "probabilities",  # the mask: the brightest voxels
                        lambda self, slices, batch_size=16: [(s >= 200).astype(np.float32) for s in slices])
    vols = np.random.default_rng(1).integers(250, 350, (16, 16, 3, 4)).astype(np.int16)
    vols[4:9, 5:10, 1, 2] = 900  # a 5x5 box in volume 2 only
    nib.save(nib.Nifti1Image(vols, np.diag([1.0, 1.0, 2.0, 1.0])), str(tmp_path / "scan.nii.gz"))
    sums = {}
    for k in (2, 0):
        (result,) = predict_inputs([tmp_path / "scan.nii.gz"], None, tmp_path / f"out{k}", progress=False,
                                   backend="torch", volume=k).results
        mask = nib.load(str(tmp_path / f"out{k}" / "scan_mask.nii.gz"))
        assert mask.shape == (16, 16, 3) and np.allclose(mask.affine, np.diag([1.0, 1.0, 2.0, 1.0]))
        sums[k] = int(np.asarray(mask.dataobj)[4:9, 5:10, 1].sum()), int(np.asarray(mask.dataobj).sum())
        assert result.model == "t1c"
    assert sums[2] == (25, 25) and sums[0][0] < 25  # volume 2: the box and nothing else; volume 0: no box
    # summary.csv says which volume; --resume into one folder tells two volumes of one file apart
    out = tmp_path / "both"
    for k, resumed in ((2, False), (0, False), (0, True)):
        (result,) = predict_inputs([tmp_path / "scan.nii.gz"], None, out, progress=False, backend="torch", volume=k,
                                   resume=True).results
        assert result.summary.input == f"{tmp_path / 'scan.nii.gz'} [volume {k}]"
        assert (result.model == "earlier run") is resumed  # volume 0 after volume 2: predicted, not taken from it
    report = predict_inputs([tmp_path / "scan.nii.gz"], None, tmp_path / "out9", progress=False, backend="torch",
                            volume=9)
    assert report.failed[0][1] == "volume 9 asked for (--volume), but the file holds 4 volumes (0 to 3)."
    (tmp_path / "msd").mkdir()
    nib.save(nib.Nifti1Image(vols, np.eye(4)), str(tmp_path / "msd" / "BRATS_007.nii.gz"))
    assert main(["predict", str(tmp_path / "scan.nii.gz"), str(tmp_path / "msd"), "--volume", "2", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "model t1c (volume 2 of a 4-D file, with no modality marker; the default model)" in listed
    assert "model t1c (volume 2 of a 4-D file: 't1gd' in the MSD Task01 order)" in listed
    # without --volume: the MSD file's FLAIR; any other 4-D file is said to need it
    assert main(["predict", str(tmp_path / "msd"), str(tmp_path / "scan.nii.gz"), "--list"]) == 0
    listed = capsys.readouterr().out
    assert "model flair (MSD 4-D file: its volume 0 'FLAIR' of the MSD Task01 order)" in listed
    assert ("model t1c (a 4-D file of 4 volumes, none known as FLAIR or T1gd: predict --volume K picks one (0-based), "
            "else it is refused)") in listed
