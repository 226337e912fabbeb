"""A DICOM study folder (several series, plus reports and localizers, in one folder): each image series is
predicted on its own, named after it, with the model its description calls for."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")

from pydicom.uid import generate_uid  # noqa: E402

from conftest import tiny_checkpoint  # noqa: E402
from data._dicom_series import series_pixels, write_mr_series, write_report  # noqa: E402
from tumorseg.data.formats.dicom import DicomSeries, list_series, read_dicom_series  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402
from tumorseg.inference.choose import Choice, choose_model  # noqa: E402
from tumorseg.inference.files import predict_inputs  # noqa: E402
from tumorseg.inference.volumes import predict_volumes, select_series, split_volume_inputs  # noqa: E402

def write_study(folder, pix=None):
    """``folder``: series 3 'AX T1 POST GAD', series 5 'Ax T2 FLAIR' (4 slices each), a 2-slice localizer
    (series 1) and a report. Returns ``{number: paths in slice order}`` of the two image series."""
    pix = series_pixels() if pix is None else pix
    study = generate_uid()
    t1c = write_mr_series(folder, pix, number=3, description="AX T1 POST GAD", study=study, prefix="A")
    flair = write_mr_series(folder, pix, number=5, description="Ax T2 FLAIR", study=study, prefix="B")
    for p in write_mr_series(folder, pix[:2], number=1, description="3-plane loc", study=study, prefix="L"):
        ds = pydicom.dcmread(p)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        ds.save_as(p, enforce_file_format=True)
    write_report(folder / "SR001.dcm", study)
    return {3: t1c, 5: flair}




def test_study_folder_is_listed_by_series_without_reports_or_localizers(tmp_path, caplog):
    paths = write_study(tmp_path / "study")
    with caplog.at_level(logging.INFO, logger="tumorseg"):
        found = list_series(tmp_path / "study")
    assert [(s.number, s.description, s.name) for s in found] == [
        (3, "AX T1 POST GAD", "study_s3_ax-t1-post-gad"), (5, "Ax T2 FLAIR", "study_s5_ax-t2-flair")]
    assert sorted(found[0].files) == sorted(paths[3]) and found[1].uid == pydicom.dcmread(paths[5][0]).SeriesInstanceUID
    assert "study: left out 2 localizer images, 1 SR object (not images to predict)" in caplog.text
    assert str(found[1]) == f"{tmp_path / 'study'} [series 5 'Ax T2 FLAIR']"
    with pytest.raises(DataError, match=r"study: holds 2 DICOM series \(AX T1 POST GAD: 4 files; Ax T2 FLAIR: 4 "
                                        r"files\); `tumorseg predict` on the folder predicts each one"):
        read_dicom_series(tmp_path / "study")


def test_one_series_beside_a_report_is_read_as_the_folder(tmp_path):
    pix = series_pixels()
    write_mr_series(tmp_path / "one", pix)
    write_report(tmp_path / "one" / "SR001.dcm", generate_uid())
    [series] = list_series(tmp_path / "one")
    assert series.name == "one" and len(series.files) == 4
    volume, _, dss = read_dicom_series(tmp_path / "one")  # the report no longer makes it "two series"
    assert volume.shape == (4, 24, 32) and len(dss) == 4
    assert split_volume_inputs([tmp_path / "one"])[0] == [tmp_path / "one"]  # one input, named as before


def test_each_series_of_a_study_is_predicted_with_its_own_outputs(tmp_path, bright):
    pix = series_pixels()
    paths = write_study(tmp_path / "study", pix)
    volumes, images = split_volume_inputs([tmp_path / "study"])
    assert images == [] and [v.name for v in volumes] == ["study_s3_ax-t1-post-gad", "study_s5_ax-t2-flair"]
    results = predict_volumes(volumes, bright, tmp_path / "out", progress=False)
    for result, number in zip(results, (3, 5)):
        name = result.summary.name
        assert [p.name for p in result.outputs[-3:]] == [f"{name}_mask.nii.gz", f"{name}_seg.dcm",
                                                         f"{name}_rtstruct.dcm"]
        assert (tmp_path / "out" / name / f"{name}_000.png").is_file() and result.n_tumour == 2
        seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(result.outputs[-2]))
        sources = [pydicom.dcmread(p) for p in paths[number]]
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
        referenced = {str(i.ReferencedSOPInstanceUID)
                      for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
        assert referenced == {s.SOPInstanceUID for s in sources} and seg.NumberOfFrames == 2  # its own series only
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]
    assert [r["name"] for r in rows] == ["study_s3_ax-t1-post-gad", "study_s5_ax-t2-flair"]
    assert rows[1]["input"] == f"{tmp_path / 'study'} [series 5 'Ax T2 FLAIR']"


def test_an_anonymised_flair_series_gets_flair_by_its_timing(fake_bundled, tmp_path):
    """A series whose description names nothing ("AX 7"), or calls it POST (a FLAIR after contrast), acquired with a
    FLAIR's inversion and echo times: flair, the reason naming them. A T1 of short times keeps its description's
    model."""
    pix = series_pixels()
    study = generate_uid()
    for number, desc, ti, te in ((7, "AX 7", 2500, 120), (8, "AX T2 POST", 2200, 90), (9, "AX T1 POST", 900, 10)):
        for path in write_mr_series(tmp_path / "study", pix, number=number, description=desc, study=study,
                                    prefix=f"S{number}_"):
            ds = pydicom.dcmread(path)
            ds.InversionTime, ds.EchoTime = ti, te
            ds.save_as(path, enforce_file_format=True)
    plain, post_flair, t1c = list_series(tmp_path / "study")
    assert choose_model(plain) == Choice("flair", "DICOM series 'AX 7' with inversion time 2500 ms, echo time 120 "
                                                  "ms: a FLAIR's timing")
    assert choose_model(post_flair).name == "flair" and "2200 ms" in choose_model(post_flair).reason
    assert choose_model(t1c) == Choice("t1c", "DICOM series 'AX T1 POST' described as contrast-enhanced T1")


def test_series_get_the_model_their_description_calls_for(fake_bundled, tmp_path, caplog):
    write_study(tmp_path / "study")
    t1c, flair = list_series(tmp_path / "study")
    assert choose_model(flair).name == "flair" and "'Ax T2 FLAIR' described as FLAIR" in choose_model(flair).reason
    assert choose_model(t1c) == Choice("t1c", "DICOM series 'AX T1 POST GAD' described as contrast-enhanced T1")
    with caplog.at_level(logging.INFO, logger="tumorseg"):
        report = predict_inputs([tmp_path / "study"], None, tmp_path / "out", progress=False, backend="torch")
    assert {r.source.name: r.model for r in report.results} == {"study_s3_ax-t1-post-gad": "t1c",
                                                                 "study_s5_ax-t2-flair": "flair"}
    assert "study: 2 DICOM series, each predicted on its own" in caplog.text
    assert not report.failed and (tmp_path / "out" / "study_s5_ax-t2-flair_mask.nii.gz").is_file()
    other = dataclasses.replace(t1c, files=t1c.files[:1])
    ds = pydicom.dcmread(other.files[0])
    ds.SeriesDescription = "AX T2"
    ds.save_as(other.files[0], enforce_file_format=True)
    assert choose_model(other) == Choice("t1c", "DICOM series 'AX T2' names neither FLAIR nor a contrast-enhanced T1; "
                                                "the default model, trained on contrast-enhanced T1")


def test_a_broken_series_fails_alone(tmp_path):
    write_study(tmp_path / "studies" / "a")
    bad = write_mr_series(tmp_path / "studies" / "a", series_pixels()[:2], number=8,
                          description="broken", prefix="X")
    ds = pydicom.dcmread(bad[0])  # one slice of another size: not one series
    ds.Rows, ds.Columns, ds.PixelData = 12, 16, np.zeros((12, 16), "<i2").tobytes()
    ds.save_as(bad[0], enforce_file_format=True)
    write_mr_series(tmp_path / "studies" / "b", series_pixels())  # a plain one-series folder beside it
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    report = predict_inputs([tmp_path / "studies"], ckpt, tmp_path / "out", progress=False, backend="torch")
    assert sorted(s.name for s in report.summaries) == ["a_s3_ax-t1-post-gad", "a_s5_ax-t2-flair", "b"]
    [(where, reason)] = report.failed
    assert isinstance(where, DicomSeries) and reason == "slices differ in size; not one series."
    with open(tmp_path / "out" / "failed.csv") as f:
        assert list(csv.reader(f))[1] == [f"{tmp_path / 'studies' / 'a'} [series 8 'broken']", reason]


def test_an_export_tree_gives_every_series_named_after_its_path(tmp_path, bright):
    """export/DICOMDIR, export/P1/ST1/SE1 (one series), export/P1/ST1/SE2 (two series), export/P2/ST1/SE1 (the same
    folder names in another patient): four series, no two written under the same name."""
    export = tmp_path / "export"
    pix = series_pixels()
    write_mr_series(export / "P1" / "ST1" / "SE1", pix, description="AX T1 POST")
    write_study(export / "P1" / "ST1" / "SE2", pix)
    write_mr_series(export / "P2" / "ST1" / "SE1", pix, description="AX FLAIR")
    write_report(export / "DICOMDIR", generate_uid())  # stands in for the index file: never an input
    for p in (export / "P1" / "ST1" / "SE1").iterdir():  # files without suffix, found by their preamble
        p.rename(p.with_suffix(""))
    volumes, images = split_volume_inputs([export])
    assert [v.name for v in volumes] == ["P1_ST1_SE1", "P1_ST1_SE2_s3_ax-t1-post-gad", "P1_ST1_SE2_s5_ax-t2-flair",
                                         "P2_ST1_SE1"]
    (export / "README.TXT").write_text("not an image")
    assert split_volume_inputs([export])[1] == []  # neither the DICOMDIR nor a README makes it an image folder
    report = predict_volumes(volumes, bright, tmp_path / "out", progress=False)
    assert [r.n_tumour for r in report] == [2, 2, 2, 2]
    assert (tmp_path / "out" / "P2_ST1_SE1_seg.dcm").is_file() and (tmp_path / "out" / "P1_ST1_SE1_seg.dcm").is_file()


def test_two_volumes_of_the_same_name_are_refused(tmp_path):
    write_mr_series(tmp_path / "a" / "series", series_pixels())
    write_mr_series(tmp_path / "b" / "series", series_pixels())
    with pytest.raises(DataError, match=r"a/series and .*b/series would both be written as 'series_\.\.\.'; rename one"):
        split_volume_inputs([tmp_path / "a" / "series", tmp_path / "b" / "series"])


def test_a_dual_echo_series_gives_each_echo(tmp_path, bright):
    uid, study = generate_uid(), generate_uid()
    pix = series_pixels()
    write_mr_series(tmp_path / "pdt2", pix, description="AX PD/T2", study=study, series_uid=uid, echo=1, prefix="A")
    write_mr_series(tmp_path / "pdt2", pix // 2, description="AX PD/T2", study=study, series_uid=uid, echo=2,
                    prefix="B")
    found = list_series(tmp_path / "pdt2")
    assert [(s.name, s.echo, len(s.files)) for s in found] == [("pdt2_s7_ax-pd-t2_e1", 1, 4),
                                                                ("pdt2_s7_ax-pd-t2_e2", 2, 4)]
    assert str(found[1]) == f"{tmp_path / 'pdt2'} [series 7 'AX PD/T2' echo 2]"
    results = predict_volumes(found, bright, tmp_path / "out", progress=False)
    assert [r.n_slices for r in results] == [4, 4] and (tmp_path / "out" / "pdt2_s7_ax-pd-t2_e2_seg.dcm").is_file()


def test_several_images_per_position_are_refused_with_the_reason(tmp_path):
    uid = generate_uid()
    write_mr_series(tmp_path / "dwi", series_pixels(), series_uid=uid, prefix="A")
    write_mr_series(tmp_path / "dwi", series_pixels(), series_uid=uid, prefix="B")  # a second direction, same echo
    with pytest.raises(DataError, match=r"dwi: 8 images at only 4 slice positions \(several images per position: "
                                        r"diffusion directions, repeats or time points\)"):
        read_dicom_series(tmp_path / "dwi")


def test_a_missing_slice_is_warned_about_and_mixed_planes_are_refused(tmp_path, caplog):
    paths = write_mr_series(tmp_path / "gap", series_pixels(n=5))
    paths[2].unlink()  # the middle slice lost in the export
    with caplog.at_level(logging.WARNING, logger="tumorseg"):
        volume, _, _ = read_dicom_series(tmp_path / "gap")
    assert len(volume) == 4 and "gap: slices are not evenly spaced (3.00 to 6.00 mm apart; a slice may be missing)" \
        in caplog.text
    uid = generate_uid()
    write_mr_series(tmp_path / "loc", series_pixels()[:2], series_uid=uid, prefix="A")
    write_mr_series(tmp_path / "loc", series_pixels()[:2], series_uid=uid, prefix="B",
                    orientation=(0, 1, 0, 0, 0, -1))
    with pytest.raises(DataError, match=r"loc: its images lie in 2 different orientations \(a localizer"):
        read_dicom_series(tmp_path / "loc")


def test_series_are_chosen_by_number_or_description(tmp_path):
    write_study(tmp_path / "export" / "a")
    write_mr_series(tmp_path / "export" / "b" / "SE1", series_pixels(), number=9, description="Sag T1 MPRAGE")
    volumes, _ = split_volume_inputs([tmp_path / "export"])
    assert len(volumes) == 3
    assert [v.name for v in select_series(volumes, ["FLAIR"])] == ["a_s5_ax-t2-flair"]
    assert [v.name for v in select_series(volumes, ["9", "post"])] == ["a_s3_ax-t1-post-gad", "b_SE1"]
    with pytest.raises(DataError, match=r"no DICOM series matches --series 'dwi' .*; the series found: 3 'AX T1 POST "
                                        r"GAD'; 5 'Ax T2 FLAIR'; 9 'Sag T1 MPRAGE'\."):
        select_series(volumes, ["dwi"])


def test_predict_list_says_what_would_be_predicted_and_writes_nothing(tmp_path, capsys, fake_bundled):
    from tumorseg.cli import main

    write_study(tmp_path / "study")
    assert main(["predict", str(tmp_path / "study"), "--list", "--series", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["study_s5_ax-t2-flair", "DICOM", "series,", "4", "files", str(tmp_path / "study"),
                              "[series", "5", "'Ax", "T2", "FLAIR']"]
    assert out[1].strip() == "model flair (DICOM series 'Ax T2 FLAIR' described as FLAIR)"
    assert out[2] == "1 input(s); nothing predicted (--list). Choose DICOM series with --series NUMBER or TEXT."
    assert main(["predict", str(tmp_path / "study")]) == 2  # no --out: a one-line error
    assert "predict needs --out FOLDER (or --list" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "study"), "--series", "5", "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.nii.gz")) == ["study_s5_ax-t2-flair_mask.nii.gz"]


def test_export_file_names_are_recognised(tmp_path):
    """Siemens .IMA, UID-named files (a numeric suffix) and files without suffix are DICOM when they carry the
    preamble; a DICOMDIR and other suffixes are not."""
    from tumorseg.data.formats.dicom import is_dicom_file

    paths = write_mr_series(tmp_path / "s", series_pixels())
    names = ["IM0001.IMA", "1.2.840.113619.2.55.3.604688119", "IM0003", "slice.dcm"]
    for p, name in zip(paths, names):
        p.rename(tmp_path / "s" / name)
    (tmp_path / "s" / "notes.txt").write_text("x")
    (tmp_path / "s" / "1.5").write_bytes(b"not dicom at all")
    assert {p.name for p in (tmp_path / "s").iterdir() if is_dicom_file(p)} == set(names)
    [series] = list_series(tmp_path / "s")
    assert len(series.files) == 4 and read_dicom_series(tmp_path / "s")[0].shape == (4, 24, 32)


def test_a_run_that_dies_keeps_the_summary_rows_it_finished(tmp_path, bright, monkeypatch):
    from tumorseg.inference import files, volumes

    write_study(tmp_path / "study")
    monkeypatch.setattr(files.Predictor, "from_checkpoint", classmethod(lambda cls, *a, **k: bright))
    real, calls = volumes.predict_volume, []

    def dies_on_the_second(path, *a, **k):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C, or the machine going away, half-way through the study
        return real(path, *a, **k)

    monkeypatch.setattr(volumes, "predict_volume", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        predict_inputs([tmp_path / "study"], "m.pt", tmp_path / "out", progress=False)
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]
    assert [r["name"] for r in rows] == ["study_s3_ax-t1-post-gad"]
    with open(tmp_path / "out" / "summary.csv") as f:
        assert [r["name"] for r in csv.DictReader(f)] == ["study_s3_ax-t1-post-gad"]
    assert not list((tmp_path / "out").glob(".summary*"))  # no half-written file left behind


def test_resume_skips_the_volumes_an_earlier_run_finished(tmp_path, bright, monkeypatch):
    from tumorseg.inference import files, volumes

    write_study(tmp_path / "study")
    monkeypatch.setattr(files.Predictor, "from_checkpoint", classmethod(lambda cls, *a, **k: bright))
    real, calls = volumes.predict_volume, []

    def counted(path, *a, **k):
        calls.append(path.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(path, *a, **k)

    monkeypatch.setattr(volumes, "predict_volume", counted)
    with pytest.raises(KeyboardInterrupt):
        predict_inputs([tmp_path / "study"], "m.pt", tmp_path / "out", progress=False)
    calls.clear()
    calls.append("-")  # the next call is the second: let it and the rest through
    monkeypatch.setattr(volumes, "predict_volume", lambda path, *a, **k: (calls.append(path.name), real(path, *a, **k))[1])
    report = predict_inputs([tmp_path / "study"], "m.pt", tmp_path / "out", progress=False, resume=True)
    assert calls == ["-", "study_s5_ax-t2-flair"]  # only the series the first run did not finish
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]
    assert [r["name"] for r in rows] == ["study_s3_ax-t1-post-gad", "study_s5_ax-t2-flair"]
    assert rows[0]["slices_with_tumour"] == 2 and rows[0]["mask"] == "study_s3_ax-t1-post-gad_mask.nii.gz"
    assert "study_s3_ax-t1-post-gad: tumour found in 2 of 4 slices (finished by an earlier run, --resume)" in \
        report.summary_lines()
    (tmp_path / "out" / "study_s5_ax-t2-flair_mask.nii.gz").unlink()  # a mask deleted since: predicted again
    calls.clear()
    predict_inputs([tmp_path / "study"], "m.pt", tmp_path / "out", progress=False, resume=True)
    assert calls == ["study_s5_ax-t2-flair"]
