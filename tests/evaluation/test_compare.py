"""`tumorseg compare`: paired comparison of scored results (bootstrap over patients, Wilcoxon per patient)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tumorseg.cli import main
from tumorseg.errors import DataError
from tumorseg.evaluation.compare import compare, load_result, paired
from tumorseg.evaluation.per_case import write_per_case

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


def _rows(dice_by_patient: dict[str, list[float]]) -> list[dict]:
    return [{"case_id": f"{p}_{i}", "patient": p, "label": "", "dice": d, "iou": d / (2 - d)}
            for p, ds in dice_by_patient.items() for i, d in enumerate(ds)]


def test_reproduces_the_recorded_per_patient_tests_of_the_t1c_recipe():
    """The research script's numbers in docs/results/t1c-effunet-cpu/summary.json, from the same committed CSVs."""
    recorded = json.loads((RESULTS / "t1c-effunet-cpu" / "summary.json").read_text())["paired"]
    new = load_result(str(RESULTS / "t1c-effunet-cpu" / "fold_*" / "per_case.csv"))
    against = {"cpu-fast (CPU; light aug.)": load_result(str(RESULTS / "pretrained-cpu-fast-cpu" / "fold_*" /
                                                           "per_case.csv")),
               "bundled (H200; t1c-unet's recipe)": load_result(RESULTS / "t1c-mixed-h200" / "cv-bundled")}
    for name, base in against.items():
        s = compare([base, new], common=True)
        c = s["comparisons"][0]
        assert c["wilcoxon_p"] == pytest.approx(recorded[name]["wilcoxon_p"], rel=1e-9)
        assert (c["better"], c["worse"]) == (recorded[name]["patients_better"], recorded[name]["patients_worse"])
        assert c["n_units"] == 178 and c["unit"] == "patient" and c["n_cases"] == 2639
    assert s["cases_left_out"] == 970  # cv-bundled also scored the LGG tumour-free slices


def test_difference_interval_and_counts_on_known_data():
    rng = np.random.default_rng(3)
    base = {f"p{k}": list(rng.uniform(0.5, 0.9, size=rng.integers(1, 6))) for k in range(40)}
    other = {p: [d + 0.05 + rng.normal(0, 0.02) for d in ds] for p, ds in base.items()}
    a, b = _rows(base), _rows(other)
    c = paired(a, b)
    true = np.mean([r["dice"] for r in b]) - np.mean([r["dice"] for r in a])
    assert c["difference"] == pytest.approx(true) and c["ci95"][0] < true < c["ci95"][1]
    assert 0.03 < c["ci95"][0] and c["ci95"][1] < 0.07 and c["wilcoxon_p"] < 1e-6
    assert c["better"] == 40 and c["worse"] == 0 and c["unit"] == "patient"
    assert paired(a, b) == c  # seeded: the same numbers every time
    assert paired(a, list(reversed(b)))["ci95"] == c["ci95"]  # rows paired by case id, not by position
    same = paired(a, a)
    assert same["difference"] == 0 and same["wilcoxon_p"] is None and same["same"] == 40
    # HD95: lower is better
    for r, s in zip(a, b):
        r["hd95_px"], s["hd95_px"] = 10.0, 8.0
    assert paired(a, b, metric="hd95_px")["better"] == 40


def test_without_patients_the_unit_is_the_image_and_per_volume_needs_volumes():
    a = [{"case_id": str(i), "patient": "", "dice": 0.5} for i in range(10)]
    b = [{"case_id": str(i), "patient": "", "dice": 0.5 + 0.01 * i} for i in range(10)]
    c = paired(a, b)
    assert c["unit"] == "image" and c["n_units"] == 10 and c["better"] == 9 and c["same"] == 1
    with pytest.raises(DataError, match="per-volume comparison needs"):
        paired(a, b, level="volume")


def test_per_volume_dice_per_patient():
    def rows(pred_px):
        return [{"case_id": f"{p}_{z}", "patient": p, "dice": 0.0, "tumour_area_px": 100,
                 "predicted_area_px": pred_px, "intersection_px": min(pred_px, 100)}
                for p in ("a", "b", "c") for z in range(3)]
    c = paired(rows(50), rows(100), level="volume")  # per-volume Dice 2*50/150 -> 1 for every patient
    assert c["unit"] == "patient" and c["n_units"] == 3 and c["metric"] == "per-volume dice"
    assert c["difference"] == pytest.approx(1 - 100 / 150) and c["better"] == 3


def test_case_sets_files_and_the_command(tmp_path, capsys):
    rng = np.random.default_rng(0)
    base = _rows({f"p{k}": list(rng.uniform(0.4, 0.9, 3)) for k in range(12)})
    other = [dict(r, dice=min(1.0, r["dice"] + 0.1)) for r in base]
    for k, part in enumerate((base[:18], base[18:])):  # the baseline as two fold files
        (tmp_path / "a" / f"fold_{k}").mkdir(parents=True)
        write_per_case(part, tmp_path / "a" / f"fold_{k}" / "per_case.csv")
    (tmp_path / "b").mkdir()
    write_per_case(other[:-3], tmp_path / "b" / "per_case.csv")  # one patient short
    a_spec, b_spec = str(tmp_path / "a" / "fold_*" / "per_case.csv"), str(tmp_path / "b")
    assert main(["compare", a_spec, b_spec]) == 2
    assert "hold different cases" in capsys.readouterr().err
    assert main(["compare", a_spec, b_spec, "--common", "--out", str(tmp_path / "c.json"),
                 "--plot", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "3 case rows not in every result left out" in out and "bootstrap over 11 patients" in out
    c = json.loads((tmp_path / "c.json").read_text())["comparisons"][0]
    assert c["n_cases"] == 33 and c["better"] == 11 and (tmp_path / "c.png").stat().st_size > 1000
    for k in range(2):  # the same cases in two fold files: refused, not counted twice
        (tmp_path / "dup" / f"fold_{k}").mkdir(parents=True)
        write_per_case(base[:3], tmp_path / "dup" / f"fold_{k}" / "per_case.csv")
    with pytest.raises(DataError, match="is in both"):
        load_result(str(tmp_path / "dup" / "fold_*" / "per_case.csv"))


def test_bad_inputs_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(tmp_path / "empty")]) == 2
    assert "no per-case scores" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "nothing_*.csv"), str(tmp_path / "empty")]) == 2
    assert "matches no file" in capsys.readouterr().err
