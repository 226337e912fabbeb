"""``tumorseg report OUT`` on a predict output folder: the chart, every row, the failures and the overlays."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from data._dicom_series import series_pixels, write_mr_series  # noqa: E402
from tumorseg.cli import main  # noqa: E402
from tumorseg.errors import TumorsegError  # noqa: E402
from tumorseg.inference.files import predict_inputs  # noqa: E402
from tumorseg.inference.report import build_predict_report  # noqa: E402


def test_report_over_a_predict_folder(tmp_path, bright, monkeypatch, capsys):
    from tumorseg.inference import files

    monkeypatch.setattr(files.Predictor, "from_checkpoint", classmethod(lambda cls, *a, **k: bright))
    write_mr_series(tmp_path / "in" / "tumour", series_pixels())
    write_mr_series(tmp_path / "in" / "clear", series_pixels() * 0)  # empty slices: no tumour
    (tmp_path / "in" / "broken").mkdir()
    (tmp_path / "in" / "broken" / "x.dcm").write_bytes(b"\0" * 200)
    report = predict_inputs([tmp_path / "in"], "m.pt", tmp_path / "out", with_overlay=True, progress=False)
    assert len(report.failed) == 1
    assert main(["report", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip() == f"report written to {tmp_path / 'out' / 'report.html'}"
    page = (tmp_path / "out" / "report.html").read_text()
    assert "2 input(s): tumour found in <b>1</b>, none in <b>1</b>; 1 could not be read" in page
    assert page.count("data:image/png;base64,") == 1  # the chart, inlined
    assert "<td>clear</td><td>4</td><td>0</td><td>0.00</td>" in page
    assert "<td>tumour</td><td>4</td><td>2</td><td>0.043</td>" in page  # 30 voxels × 3 × 0.8 × 0.6 mm³
    assert "href='tumour_mask.nii.gz'" in page and "broken" in page and "not a readable DICOM file" in page
    assert "<th>model</th>" in page and page.count("<td>m.pt</td>") == 2  # which model made each row
    linked = re.findall(r"<img src='([^']+)'", page)
    assert linked == ["clear_overlay.png", "tumour_overlay.png"]
    assert all((tmp_path / "out" / name).is_file() for name in linked)  # relative links that resolve


def test_a_folder_without_summary_is_a_clear_error(tmp_path):
    with pytest.raises(TumorsegError, match=r"no readable summary.json .*run tumorseg predict"):
        build_predict_report(tmp_path)


def test_a_summary_from_before_the_model_column_has_no_model_column(tmp_path):
    import json

    row = {"name": "old", "n_slices": 3, "slices_with_tumour": 0, "tumour_voxels": 0, "voxel_mm": None,
           "volume_ml": None, "max_diameter_mm": None, "largest_slice": None, "input": "x", "mask": "old_mask.nii.gz",
           "tumour_found": False}
    (tmp_path / "summary.json").write_text(json.dumps({"volumes": [row]}))
    page = build_predict_report(tmp_path).read_text()
    assert "<td>old</td><td>3</td><td>0</td>" in page and "<th>model</th>" not in page
    assert "lesions left out" not in page  # nor the one-lesion column: no row says the rule ran


def test_the_page_marks_a_close_call(tmp_path):
    import json

    base = {"n_slices": 30, "slices_with_tumour": 9, "tumour_voxels": 900, "voxel_mm": [1, 1, 1], "volume_ml": 0.9,
            "max_diameter_mm": 20.0, "largest_slice": 12, "input": "x", "mask": "m.nii.gz", "model": "flair",
            "tumour_found": True, "cross_section_mm": [20.0, 12.5], "cross_section_mm2": 250.0,
            "cross_section_slice": 12}
    rows = [{**base, "name": "close", "lesions_left_out": 3, "runner_up_voxels": 400, "runner_up_ml": 0.4,
             "runner_up_slice": 20, "runner_up_share": 0.4},
            {**base, "name": "clear", "lesions_left_out": 1, "runner_up_voxels": 9, "runner_up_ml": 0.009,
             "runner_up_slice": 3, "runner_up_share": 0.01},
            {**base, "name": "alone", "lesions_left_out": 0}]
    (tmp_path / "summary.json").write_text(json.dumps({"volumes": rows}))
    page = build_predict_report(tmp_path).read_text()
    assert "<b>3 (runner-up 40%, slice 20) close call</b>" in page
    assert "<td>1 (runner-up 1%, slice 3)</td>" in page and "<td>–</td>" not in page.split("alone")[1].split("</tr>")[0]
    assert "<b>Close call</b>: the model keeps one lesion per volume" in page
    assert "<th>largest cross-section (mm)</th>" in page and "<td>20×12.5</td>" in page
