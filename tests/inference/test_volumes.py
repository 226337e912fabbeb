"""Volume prediction outputs: NIfTI masks keep the input's geometry, per-volume summaries, DICOM SEG read back.

The predictor's probabilities are replaced by ``image >= 128`` (the bright
part of the 8-bit slice), so every expected mask is known exactly.
"""

from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest
from PIL import Image

nib = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")

from conftest import shared_data, tiny_checkpoint  # noqa: E402
from data._dicom_series import series_pixels, write_mr_series  # noqa: E402
from data._geometry import flipped_affine  # noqa: E402
from tumorseg.data.formats.dicom import read_dicom_series  # noqa: E402
from tumorseg.data.formats.dicom_seg import SEGMENT_LABEL, read_seg_mask, write_seg  # noqa: E402
from tumorseg.data.formats.rtstruct import SliceGeometry, rasterize  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402
from tumorseg.inference.files import predict_files  # noqa: E402
from tumorseg.inference.volumes import predict_volumes  # noqa: E402




def test_nifti_mask_keeps_geometry_and_summary_matches_it(tmp_path, bright):
    vol = np.zeros((20, 16, 6), np.int16)
    vol[2:18, 2:14, 1:5] = 300
    vol[5:9, 4:7, 2:4] = 900  # the "tumour": 4 × 3 × 2 = 24 voxels
    img = nib.Nifti1Image(vol, flipped_affine())
    img.header.set_xyzt_units("mm")
    img.set_qform(flipped_affine(), code=1)
    nib.save(img, str(tmp_path / "scan.nii.gz"))
    [result] = predict_volumes([tmp_path / "scan.nii.gz"], bright, tmp_path / "out", progress=False)
    written = result.outputs
    assert written == [tmp_path / "out" / "scan_mask.nii.gz"]
    got = nib.load(str(written[0]))
    assert got.shape == vol.shape and np.allclose(got.affine, flipped_affine())
    assert np.allclose(got.get_qform(), img.get_qform()) and int(got.header["qform_code"]) == 1
    assert np.allclose(got.header.get_zooms(), (1.2, 0.9, 2.5))
    mask = np.asarray(got.dataobj)
    assert np.array_equal(mask > 0, vol == 900)  # predicted in the file's own layout, not the display's
    [row] = json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]
    assert (row["name"], row["n_slices"], row["slices_with_tumour"], row["tumour_voxels"]) == ("scan", 6, 2, 24)
    assert row["volume_ml"] == pytest.approx(24 * 1.2 * 0.9 * 2.5 / 1000)
    assert row["max_diameter_mm"] == pytest.approx(np.hypot(3 * 1.2, 2 * 0.9), abs=0.01)
    assert row["voxel_mm"] == pytest.approx([2.5, 1.2, 0.9]) and row["mask"] == "scan_mask.nii.gz"
    with open(tmp_path / "out" / "summary.csv", newline="") as f:
        assert [r["name"] for r in csv.DictReader(f)] == ["scan"]


def test_image_only_predictions_write_no_summary(tmp_path, synthetic_dataset):
    first = sorted((synthetic_dataset / "images").iterdir())[0]
    predict_files([first], tiny_checkpoint(tmp_path / "m.pt"), tmp_path / "out", progress=False, backend="torch")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [first.stem + ".png"]


def test_real_brats_summary_line(tmp_path, bright, caplog):
    case = shared_data("samples", "brats", "BraTS-GLI-00001-000")
    with caplog.at_level(logging.INFO, logger="tumorseg.inference.volumes"):
        [result] = predict_volumes([case / "BraTS-GLI-00001-000-t2f.nii.gz"], bright, tmp_path / "out", progress=False)
        [out] = result.outputs
    mask = np.asarray(nib.load(str(out)).dataobj)
    [row] = json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]
    assert row["tumour_voxels"] == int(mask.sum()) and row["n_slices"] == 155
    assert row["volume_ml"] == pytest.approx(mask.sum() / 1000)  # 1 mm isotropic
    assert f"tumour in {row['slices_with_tumour']}/155 slices" in caplog.text


def test_dicom_series_gives_a_seg_referencing_the_source(tmp_path, bright):
    pix = series_pixels()
    paths = write_mr_series(tmp_path / "series", pix)
    [result] = predict_volumes([tmp_path / "series"], bright, tmp_path / "out", progress=False)
    written = result.outputs
    names = [p.name for p in written]
    assert names[-3:] == ["series_mask.nii.gz", "series_seg.dcm", "series_rtstruct.dcm"] and len(names) == 7
    pngs = np.stack([np.asarray(Image.open(p)) > 0 for p in written[:4]])
    assert np.array_equal(pngs, pix == 900)
    seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(written[-2]))
    sources = [pydicom.dcmread(p) for p in paths]  # slice order
    referenced = {str(i.ReferencedSOPInstanceUID) for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {s.SOPInstanceUID for s in sources}
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    assert (seg.StudyInstanceUID, seg.PatientID) == (sources[0].StudyInstanceUID, "PHANTOM1")
    assert seg.SegmentationType == "BINARY" and seg.NumberOfFrames == 2  # empty slices left out
    desc = seg.SegmentSequence[0]
    assert desc.SegmentLabel == SEGMENT_LABEL
    assert desc.SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"  # SCT Neoplasm
    assert desc.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert np.array_equal(read_seg_mask(written[-2], sources), pix == 900)
    # the RTSTRUCT outlines the same voxels, on the same images (tests/data/test_formats_rtstruct_write.py)
    rt = pydicom.dcmread(written[-1])
    assert rt.Modality == "RTSTRUCT" and rt.StudyInstanceUID == sources[0].StudyInstanceUID
    assert np.array_equal(rasterize(rt, SliceGeometry.of(sources)), pix == 900)
    [row] = json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]
    assert row["voxel_mm"] == pytest.approx([3.0, 0.8, 0.6]) and row["tumour_voxels"] == 24 + 6
    assert row["volume_ml"] == pytest.approx(30 * 3.0 * 0.8 * 0.6 / 1000)


def test_single_real_dicom_gives_a_seg(tmp_path):
    dcm = shared_data("samples", "dicom", "MR_small.dcm")
    written = predict_files([dcm], tiny_checkpoint(tmp_path / "m.pt"), tmp_path / "out", progress=False,
                            backend="torch")
    assert [p.name for p in written] == ["MR_small.png", "MR_small_seg.dcm", "MR_small_rtstruct.dcm"]
    source = pydicom.dcmread(dcm)
    seg = hd.seg.segread(written[1])
    [ref] = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
    png = np.asarray(Image.open(written[0])) > 0
    assert np.array_equal(read_seg_mask(written[1], [source])[0], png)
    assert np.array_equal(rasterize(pydicom.dcmread(written[2]), SliceGeometry.of([source]))[0], png)
    [row] = json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]
    assert row["n_slices"] == 1 and row["voxel_mm"] == pytest.approx([0.8, 0.3125, 0.3125])


def test_empty_prediction_still_gives_a_complete_seg(tmp_path):
    paths = write_mr_series(tmp_path / "s", series_pixels(n=3))
    _, _, dss = read_dicom_series(tmp_path / "s")
    out = write_seg(np.zeros((3, 24, 32), bool), dss, tmp_path / "empty_seg.dcm", "unet")
    seg = hd.seg.segread(out)
    assert seg.NumberOfFrames == 3 and not read_seg_mask(out, [pydicom.dcmread(p) for p in paths]).any()


def test_source_without_study_uid_warns_and_keeps_other_outputs(tmp_path, bright, caplog):
    paths = write_mr_series(tmp_path / "s", series_pixels(n=3))
    for p in paths:
        ds = pydicom.dcmread(p)
        del ds.StudyInstanceUID
        ds.save_as(p)
    with caplog.at_level(logging.WARNING):
        [result] = predict_volumes([tmp_path / "s"], bright, tmp_path / "out", progress=False)
    written = result.outputs
    assert written[-1].name == "s_mask.nii.gz" and not (tmp_path / "out" / "s_seg.dcm").exists()
    assert not (tmp_path / "out" / "s_rtstruct.dcm").exists()
    assert "lacks StudyInstanceUID" in caplog.text and "no RTSTRUCT written" in caplog.text
    with pytest.raises(DataError, match="lacks StudyInstanceUID"):
        write_seg(np.zeros((3, 24, 32), bool), [pydicom.dcmread(p) for p in paths], tmp_path / "x.dcm")


def _scan_with_false_alarm(path):
    """A 20×16×8 volume: the "tumour" (bright) on slices 2-4, a small bright false alarm on slice 7."""
    vol = np.zeros((20, 16, 8), np.int16)
    vol[2:18, 2:14, :] = 300
    vol[5:9, 4:8, 2:5] = 900
    vol[14:16, 10:12, 7] = 900
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(path))
    return vol


@pytest.mark.parametrize("largest", [False, True])
def test_volume_rule_keeps_the_largest_3d_component(tmp_path, bright, largest):
    _scan_with_false_alarm(tmp_path / "scan.nii.gz")
    bright.post["largest_component_3d"] = largest
    [result] = predict_volumes([tmp_path / "scan.nii.gz"], bright, tmp_path / "out", progress=False)
    mask = np.asarray(nib.load(str(result.outputs[0])).dataobj) > 0
    assert mask[..., 2:5].sum() == 4 * 4 * 3
    assert mask[..., 7].any() != largest
    assert result.n_tumour == (3 if largest else 4)


def test_a_close_call_between_two_lesions_is_named(tmp_path, bright, caplog):
    # two separate lesions, the smaller with 32 / 72 of the larger's voxels: predict keeps the larger, says so in its
    # line and in summary.csv, and --no-one-lesion (the rule off) keeps both and reports nothing left out
    vol = np.zeros((20, 16, 8), np.int16)
    vol[2:18, 2:14, :] = 300
    vol[4:10, 3:7, 1:4] = 900  # 6 × 4 × 3 = 72 voxels, slices 1-3
    vol[12:16, 9:13, 5:7] = 900  # 4 × 4 × 2 = 32 voxels, slices 5-6
    nib.save(nib.Nifti1Image(vol, np.diag([1.0, 1.0, 2.0, 1.0])), str(tmp_path / "two.nii.gz"))
    bright.post["largest_component_3d"] = True
    with caplog.at_level(logging.INFO, logger="tumorseg"):
        [result] = predict_volumes([tmp_path / "two.nii.gz"], bright, tmp_path / "out", progress=False)
    s = result.summary
    assert (s.tumour_voxels, s.lesions_left_out, s.runner_up_voxels, s.runner_up_slice) == (72, 1, 32, 5)
    assert s.runner_up_share == round(32 / 72, 4) and s.runner_up_ml == pytest.approx(0.064)
    assert "close call: another lesion (0.064 mL, largest on slice 5) scored 44% of the kept one" in caplog.text
    with open(tmp_path / "out" / "summary.csv", newline="") as f:
        [row] = list(csv.DictReader(f))
    assert (row["lesions_left_out"], row["runner_up_share"], row["runner_up_slice"]) == ("1", "0.4444", "5")
    bright.post["largest_component_3d"] = False
    [every] = predict_volumes([tmp_path / "two.nii.gz"], bright, tmp_path / "all", progress=False)
    assert every.summary.tumour_voxels == 104 and every.summary.lesions_left_out is None


def _exported_scan(folder, names):
    """Six 24² slices saved under ``names`` (slice number 1-6 each): a lesion on slices 2-4, a false alarm on 6."""
    folder.mkdir()
    for n, name in zip(range(1, 7), names):
        img = np.full((24, 24), 60, np.uint8)
        if 2 <= n <= 4:
            img[6:14, 6:14] = 220
        if n == 6:
            img[20:23, 20:23] = 220
        Image.fromarray(img).save(folder / name)


@pytest.mark.parametrize("suffix", [".tif", ".png"])  # LGG's TIFFs, or slices exported one by one
def test_patient_folder_of_numbered_slices_gets_the_volume_rule_like_evaluate(tmp_path, bright, suffix):
    folder = tmp_path / "TCGA_XX_0001_20000101"
    _exported_scan(folder, [f"{folder.name}_{n}{suffix}" for n in range(1, 7)])  # lesion on 2-4, false alarm on 6
    Image.fromarray(np.zeros((24, 24), np.uint8)).save(tmp_path / f"other_6{suffix}")  # not an LGG slice name
    bright.post["largest_component_3d"] = True
    from tumorseg.inference.files import PredictReport, _predict_group

    report = PredictReport()
    (tmp_path / "out").mkdir()
    files = [*sorted(folder.glob(f"*{suffix}")), tmp_path / f"other_6{suffix}"]
    _predict_group(bright, [], files, tmp_path / "out", report, True, 4, False, True)
    marked = {r.source.name: r.n_tumour for r in report.results}
    assert marked[f"{folder.name}_6{suffix}"] == 0 and marked[f"{folder.name}_3{suffix}"] == 1
    assert not np.asarray(Image.open(tmp_path / "out" / f"{folder.name}_6.png")).any()
    assert np.asarray(Image.open(tmp_path / "out" / f"{folder.name}_3.png")).sum() == 64 * 255
    assert (tmp_path / "out" / f"{folder.name}_6_overlay.png").is_file()
    # one summary for the patient (the other file is no numbered slice of the folder), counted after the rule, slice numbers as named
    [summary] = report.folders
    assert (summary.name, summary.n_slices, summary.slices_with_tumour, summary.tumour_voxels) == \
        (folder.name, 6, 3, 3 * 64)
    assert summary.largest_slice == 2 and summary.volume_ml is None and summary.mask == f"{folder.name}_*.png"
    # what the rule left out: the false alarm, numbered as its file (slice 6), 9 of the lesion's 192 voxels
    assert (summary.lesions_left_out, summary.runner_up_voxels, summary.runner_up_slice) == (1, 9, 6)
    assert summary.runner_up_share == round(9 / 192, 4) and not summary.close_call
    # --overlay: the patient at a glance, one tile per tumour slice (2-4, after the rule), as wide as three tiles
    picture = Image.open(tmp_path / "out" / f"{folder.name}_overlay.png")
    assert picture.size == (3 * 192, 192)


def test_a_folder_with_more_slices_than_a_volume_is_predicted_as_images(tmp_path, bright, monkeypatch, caplog):
    # masks of a volume are kept until its last slice: a folder claiming thousands of slices must not pile them up
    import tumorseg.inference.files as files

    monkeypatch.setattr(files, "MAX_VOLUME_SLICES", 4)
    folder = tmp_path / "TCGA_XX_0010_20000101"
    folder.mkdir()
    for n in range(1, 7):
        img = np.full((24, 24), 60, np.uint8)
        img[20:23, 20:23] = 220 if n == 6 else 60  # the false alarm the one-lesion rule would drop
        img[6:14, 6:14] = 220
        Image.fromarray(img).save(folder / f"{folder.name}_{n}.tif")
    bright.post["largest_component_3d"] = True
    report = files.PredictReport()
    (tmp_path / "out").mkdir()
    with caplog.at_level(logging.WARNING, logger="tumorseg"):
        files._predict_group(bright, [], sorted(folder.glob("*.tif")), tmp_path / "out", report, False, 4, False, True)
    assert "6 numbered slices, more than a volume has" in caplog.text and folder.name in caplog.text
    assert report.folders == [] and len(report.results) == 6
    assert np.asarray(Image.open(tmp_path / "out" / f"{folder.name}_6.png"))[20:23, 20:23].all()  # no rule applied


def test_summary_holds_every_volume_and_patient_folder_of_one_call(tmp_path, bright, monkeypatch):
    # volumes are predicted one at a time and patient folders slice by slice: summary.json gets all of them
    import tumorseg.inference.files as files

    monkeypatch.setattr(files.Predictor, "from_checkpoint", classmethod(lambda cls, *a, **k: bright))
    for name in ("a", "b"):
        _scan_with_false_alarm(tmp_path / f"{name}.nii.gz")
    folder = tmp_path / "TCGA_XX_0009_20000101"
    folder.mkdir()
    for n in range(1, 12):  # 11 slices: _10 and _11 sort before _2 by name
        img = np.full((24, 24), 60, np.uint8)
        img[4:8, 4:4 + n] = 220  # the most tumour on slice 11
        Image.fromarray(img).save(folder / f"{folder.name}_{n}.tif")
    report = files.predict_inputs([tmp_path / "a.nii.gz", tmp_path / "b.nii.gz", folder], "t1c", tmp_path / "out",
                                  progress=False)
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]
    assert [r["name"] for r in rows] == ["a", "b", folder.name] and len(report.summaries) == 3
    assert [r["model"] for r in rows] == ["m.pt"] * 3  # which model made each row, volumes and patient folders
    assert (rows[2]["n_slices"], rows[2]["slices_with_tumour"], rows[2]["largest_slice"]) == (11, 11, 11)
    with open(tmp_path / "out" / "summary.csv", newline="") as f:
        assert [(r["name"], r["model"]) for r in csv.DictReader(f)] == [(n, "m.pt") for n in ("a", "b", folder.name)]


def test_lgg_patient_folder_gets_the_probability_rules_like_evaluate(tmp_path, bright):
    # z-smoothing and hysteresis need the probabilities: they are kept until the folder's last slice (each slice
    # predicted once), and the masks written are what evaluate's apply_records gives for the same probabilities
    from tumorseg.data.records import SliceRecord
    from tumorseg.inference.files import PredictReport, _predict_group
    from tumorseg.inference.postprocess import apply_records

    folder = tmp_path / "TCGA_XX_0002_20000101"
    folder.mkdir()
    slices = []
    for n in range(1, 7):
        img = np.full((24, 24), 60, np.uint8)
        if 2 <= n <= 4:
            img[6:14, 6:14] = 220  # the lesion, slices 2-4: probability 1 on the middle one after smoothing
        if n == 6:
            img[20:23, 20:23] = 220  # a one-slice false alarm: smoothing lowers it to 0.67, under the seed 0.95
        Image.fromarray(img).save(folder / f"{folder.name}_{n}.tif")
        slices.append(img)
    bright.post.update(z_smooth=0.33, hysteresis_prob=0.95, largest_component_3d=False)
    report = PredictReport()
    (tmp_path / "out").mkdir()
    model_calls = []
    probabilities = bright.probabilities
    bright.probabilities = lambda images, batch_size=16: model_calls.append(len(images)) or probabilities(images)
    other = tmp_path / "TCGA_XX_0003_20000101"  # a second patient after the first: finished on its own
    other.mkdir()
    for n in (1, 2, 3):  # bright everywhere: its middle slice stays at 1 after smoothing and seeds all three
        Image.fromarray(np.full((24, 24), 220, np.uint8)).save(other / f"{other.name}_{n}.tif")
    files = [*sorted(folder.glob("*.tif")), *sorted(other.glob("*.tif"))]
    _predict_group(bright, [], files, tmp_path / "out", report, False, 4, False, True)
    assert sum(model_calls) == 9  # every slice once
    bright.probabilities = probabilities
    marked = {r.source.name: r.n_tumour for r in report.results}
    assert marked[f"{folder.name}_6.tif"] == 0 and marked[f"{folder.name}_3.tif"] == 1
    assert all(marked[f"{other.name}_{n}.tif"] for n in (1, 2, 3))
    recs = [SliceRecord(f"s{n}", f"{n}.tif", patient="P", slice_index=n) for n in range(1, 7)]
    want = apply_records(np.stack(bright.probabilities(slices)), bright.post, recs, bright.image_size)
    for n in range(1, 7):
        got = np.asarray(Image.open(tmp_path / "out" / f"{folder.name}_{n}.png")) > 0
        assert np.array_equal(got, want[n - 1]), n
    assert want[1:4, 6:14, 6:14].all()


def test_one_lesion_flag_overrides_the_models_setting(tmp_path, bright, monkeypatch):
    import tumorseg.inference.files as files

    _scan_with_false_alarm(tmp_path / "scan.nii.gz")
    bright.post["largest_component_3d"] = True
    monkeypatch.setattr(files.Predictor, "from_checkpoint", classmethod(lambda cls, *a, **k: bright))
    from tumorseg.cli import main

    assert main(["predict", str(tmp_path / "scan.nii.gz"), "--model", "t1c", "--out", str(tmp_path / "all"),
                 "--no-one-lesion", "--no-progress"]) == 0
    assert np.asarray(nib.load(str(tmp_path / "all" / "scan_mask.nii.gz")).dataobj)[..., 7].any()
    bright.post["largest_component_3d"] = True  # a fresh predictor per command in real use
    assert main(["predict", str(tmp_path / "scan.nii.gz"), "--model", "t1c", "--out", str(tmp_path / "one"),
                 "--no-progress"]) == 0
    assert not np.asarray(nib.load(str(tmp_path / "one" / "scan_mask.nii.gz")).dataobj)[..., 7].any()


def test_folder_of_case_folders_gives_each_case(tmp_path):
    from tumorseg.inference.volumes import split_volume_inputs

    root = tmp_path / "BraTS"
    for case in ("case-2", "case-1"):
        (root / case).mkdir(parents=True)
        nib.save(nib.Nifti1Image(np.zeros((4, 4, 2), np.int16), np.eye(4)), str(root / case / f"{case}-t2f.nii.gz"))
    (root / "notes").mkdir()  # a subfolder that is not a case is left alone
    volumes, images = split_volume_inputs([root])
    assert volumes == [root / "case-1", root / "case-2"] and images == []
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "extra.png")  # files of its own: an image folder too
    volumes, images = split_volume_inputs([root])
    assert volumes == [root / "case-1", root / "case-2"] and images == [root]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert split_volume_inputs([empty]) == ([], [empty])  # collect_inputs then says "no images found"


def test_a_folder_of_nifti_scans_gives_each_scan_and_a_case_folder_one_case(tmp_path):
    """``scans/p1.nii.gz, p2.nii.gz`` (their masks beside) or ``a_flair, b_flair`` are separate scans, each an input;
    a folder whose files name each modality once (BraTS, DeepMedic) is one case."""
    from tumorseg.inference.volumes import split_volume_inputs

    def save(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(np.zeros((4, 4, 2), np.int16), np.eye(4)), str(path))

    for name in ("p2.nii.gz", "p1.nii.gz", "p1_mask.nii.gz", "p10.nii"):
        save(tmp_path / "scans" / name)
    for name in ("b_flair.nii.gz", "a_flair.nii.gz"):
        save(tmp_path / "flairs" / name)
    for name in ("Flair_subtrMeanDivStd.nii.gz", "T1c_subtrMeanDivStd.nii.gz", "OTMultiClass.nii.gz",
                 "brainmask.nii.gz"):
        save(tmp_path / "case" / name)
    assert split_volume_inputs([tmp_path / "scans"])[0] == [tmp_path / "scans" / n
                                                            for n in ("p1.nii.gz", "p2.nii.gz", "p10.nii")]
    assert split_volume_inputs([tmp_path / "flairs"])[0] == [tmp_path / "flairs" / "a_flair.nii.gz",
                                                             tmp_path / "flairs" / "b_flair.nii.gz"]
    assert split_volume_inputs([tmp_path / "case"])[0] == [tmp_path / "case"]


def test_scans_in_patient_folders_are_each_predicted_under_their_path(tmp_path, monkeypatch):
    """``root/p1/image.nii.gz``, ``root/p2/image.nii.gz`` (one scan per patient folder, a dcm2niix export) and a
    site folder of scans two levels down: each scan an input, named after its path so that no two outputs clash;
    label files, mask folders (nnU-Net's ``labelsTr/``) and an earlier run's outputs inside the tree are not
    inputs; --resume finds them by those names."""
    from tumorseg.inference.files import predict_inputs
    from tumorseg.inference.predictor import Predictor
    from tumorseg.inference.volumes import NamedVolume, output_name, split_volume_inputs

    def save(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        vol = np.random.default_rng(0).integers(250, 350, (16, 16, 3)).astype(np.int16)
        vol[4:9, 5:10, 1] = 900
        nib.save(nib.Nifti1Image(vol, np.diag([1.0, 1.0, 2.0, 1.0])), str(path))

    root = tmp_path / "root"
    for name in ("p1/image.nii.gz", "p1/image_seg.nii.gz", "p2/image.nii.gz", "site/a/x.nii.gz", "labelsTr/p1.nii.gz",
                 "old/p1_image_mask.nii.gz", "old/p1_image_prob.nii.gz"):
        save(root / name)
    volumes, images = split_volume_inputs([root])
    assert images == [] and [output_name(v) for v in volumes] == ["p1_image", "p2_image", "site_a_x"]
    assert all(isinstance(v, NamedVolume) for v in volumes) and volumes[0] == root / "p1" / "image.nii.gz"
    assert volumes[0].parent == root / "p1" and output_name(volumes[0].parent) == "p1"
    monkeypatch.setattr(Predictor, "probabilities",  # the mask: the brightest voxels
                        lambda self, slices, batch_size=16: [(s >= 200).astype(np.float32) for s in slices])
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    report = predict_inputs([root], ckpt, tmp_path / "out", progress=False, backend="torch")
    assert sorted(p.name for p in (tmp_path / "out").glob("*.nii.gz")) == [
        "p1_image_mask.nii.gz", "p2_image_mask.nii.gz", "site_a_x_mask.nii.gz"]
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]
    assert [(r["name"], r["input"]) for r in rows] == [("p1_image", str(root / "p1" / "image.nii.gz")),
                                                       ("p2_image", str(root / "p2" / "image.nii.gz")),
                                                       ("site_a_x", str(root / "site" / "a" / "x.nii.gz"))]
    lines = report.summary_lines()
    assert [line.split(":")[0] for line in lines[:3]] == ["p1_image", "p2_image", "x.nii.gz"]  # a name used once
    again = predict_inputs([root], ckpt, tmp_path / "out", progress=False, backend="torch", resume=True)
    assert again.written == [] and len(again.results) == 3


def test_real_brats_download_layout():
    from tumorseg.inference.volumes import split_volume_inputs

    root = shared_data("samples", "brats")
    volumes, images = split_volume_inputs([root])
    assert [v.name for v in volumes] == ["BraTS-GLI-00001-000", "brats_2013_pat0001_1"] and images == []


def _predict_folder(folder, predictor, out, as_volume):
    """``predict`` of one folder with ``predictor`` (a :class:`Predictor`, not a checkpoint), as the CLI runs it."""
    from tumorseg.inference.files import PredictReport, _predict_group, collect_inputs

    report = PredictReport()
    out.mkdir()
    _predict_group(predictor, [], collect_inputs([folder]), out, report, False, 4, False, True, as_volume)
    return report


def test_as_volume_makes_any_numbered_folder_one_volume(tmp_path, bright, caplog):
    bright.post["largest_component_3d"] = True
    scan = tmp_path / "scan"
    _exported_scan(scan, [f"IM{n:04d}.png" for n in (1, 2, 3, 4, 5, 6)])
    Image.fromarray(np.zeros((24, 24), np.uint8)).save(scan / "notes.png")  # no number: on its own
    plain = _predict_folder(scan, bright, tmp_path / "plain", as_volume=False)
    assert not plain.folders and {r.source.name: r.n_tumour for r in plain.results}["IM0006.png"] == 1
    with caplog.at_level(logging.WARNING, logger="tumorseg"):
        r = _predict_folder(scan, bright, tmp_path / "vol", as_volume=True)
    marked = {x.source.name: x.n_tumour for x in r.results}
    assert marked["IM0006.png"] == 0 and marked["IM0003.png"] == 1 and marked["notes.png"] == 0
    assert not np.asarray(Image.open(tmp_path / "vol" / "IM0006.png")).any()
    [summary] = r.folders
    assert (summary.name, summary.n_slices, summary.slices_with_tumour, summary.largest_slice, summary.mask) == \
        ("scan", 6, 3, 2, "IM*.png")
    assert "scan: 1 image(s) without a number at the end of the name" in caplog.text


def test_as_volume_refuses_a_folder_with_two_slices_of_one_number(tmp_path, bright, caplog):
    bright.post["largest_component_3d"] = True
    scan = tmp_path / "scan"
    _exported_scan(scan, ["a_1.png", "a_2.png", "a_3.png", "a_4.png", "b_2.png", "a_6.png"])
    with caplog.at_level(logging.WARNING, logger="tumorseg"):
        r = _predict_folder(scan, bright, tmp_path / "vol", as_volume=True)
    assert not r.folders and "two slices numbered 2 in one folder" in caplog.text
    assert {x.source.name: x.n_tumour for x in r.results}["a_6.png"] == 1  # no volume rule


def test_a_folder_whose_slices_pass_the_volume_pixel_cap_is_predicted_as_images(tmp_path, bright, caplog):
    # what is kept per folder (masks, probabilities) stays bounded like a volume file: past max_voxels the folder
    # is dropped from the volume rules (each slice's mask as predicted), with a warning
    from tumorseg import limits

    bright.post["largest_component_3d"] = True
    scan = tmp_path / "scan"
    _exported_scan(scan, [f"scan_{n}.png" for n in range(1, 7)])
    with limits.using(limits.Limits(4096 * 4096, 24 * 24 * 5, 1 << 27, "crop it")), \
            caplog.at_level(logging.WARNING, logger="tumorseg"):
        r = _predict_folder(scan, bright, tmp_path / "out", as_volume=False)
    assert not r.folders and "more than 2880 pixels in all" in caplog.text
    assert {x.source.name: x.n_tumour for x in r.results}["scan_6.png"] == 1  # no volume rule
    r = _predict_folder(scan, bright, tmp_path / "out2", as_volume=False)  # within the usual limits: one volume
    assert len(r.folders) == 1 and {x.source.name: x.n_tumour for x in r.results}["scan_6.png"] == 0


def test_list_shows_the_folders_predicted_as_volumes(tmp_path, capsys):
    # predict --list groups a folder's numbered slices as predict will: LGG naming always, any number with --as-volume
    from tumorseg.cli import main

    scan, lgg = tmp_path / "scan", tmp_path / "P7"
    _exported_scan(scan, [f"IM{n:04d}.png" for n in (1, 2, 3, 4, 5, 6)])
    _exported_scan(lgg, [f"P7_{n}.png" for n in (1, 2, 3)])
    Image.fromarray(np.zeros((24, 24), np.uint8)).save(scan / "notes.png")
    assert main(["predict", str(scan), str(lgg), "--list", "--model", "t1c"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("P7 ") and "slices of one volume, 3 images" in line for line in lines)
    assert any("images, 7 images" in line for line in lines) and lines[-1].startswith("2 input(s)")
    assert main(["predict", str(scan), str(lgg), "--list", "--model", "t1c", "--as-volume"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("scan") and "slices of one volume, 6 images" in line for line in lines)
    assert any("images, 1 image " in line for line in lines)  # notes.png, on its own
    assert lines[-1] == "3 input(s); nothing predicted (--list)."  # no --series hint without DICOM


def test_a_folder_of_datasets_gives_every_one_and_names_what_it_skips(tmp_path, caplog):
    """data/brats/<case>/ (a BraTS download one level down), data/lgg/TCGA_X_1/ (an LGG root: slices, never masks),
    data/study/P1/SE1/ (DICOM two levels down), data/figshare/{images,masks}/ (a paired layout: not read, and only
    images/ is named in the log line, with the fix)."""
    from tumorseg.inference.files import collect_inputs
    from tumorseg.inference.volumes import split_volume_inputs
    from data._dicom_series import series_pixels, write_mr_series

    data = tmp_path / "data"
    case = data / "brats" / "case-1"
    case.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 2), np.int16), np.eye(4)), str(case / "case-1-t2f.nii.gz"))
    patient = data / "lgg" / "TCGA_X_1"
    patient.mkdir(parents=True)
    for i in (1, 2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(patient / f"TCGA_X_1_{i}.tif")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(patient / f"TCGA_X_1_{i}_mask.tif")
    write_mr_series(data / "study" / "P1" / "SE1", series_pixels())
    for part in ("images", "masks"):
        (data / "figshare" / part).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(data / "figshare" / part / "1.png")
    with caplog.at_level(logging.INFO, logger="tumorseg"):
        volumes, images = split_volume_inputs([data])
    assert volumes == [case, *volumes[1:]] and [v.name for v in volumes[1:]] == ["study_P1_SE1"]
    assert images == [data / "lgg"]
    assert [f.name for f in collect_inputs(images)] == ["TCGA_X_1_1.tif", "TCGA_X_1_2.tif"]
    notes = [r.getMessage() for r in caplog.records if "not read" in r.getMessage()]
    assert notes == [f"{data}: not read, image files in subfolder figshare/images (only the images of a folder given "
                     "as input are predicted; give it as input)"]
