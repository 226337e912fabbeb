"""scripts/gpu_campaign.py: its jobs are valid tumorseg command lines; packing respects the transfer limits."""

import importlib.util
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tumorseg.cli import _train_config, build_parser
from tumorseg.data.synthetic import make_dataset
from tumorseg.models.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_campaign", ROOT / "scripts" / "gpu_campaign.py")
campaign = importlib.util.module_from_spec(spec)
spec.loader.exec_module(campaign)


@pytest.mark.parametrize("name", ["recipe", "bundled", "best-cv", "smoke"])
def test_every_job_is_a_valid_command_line(tmp_path, name):
    jobs = campaign.campaign_jobs(name, str(tmp_path / "data"), tmp_path / "runs", workers=2)
    assert jobs
    outs = set()
    for args in jobs.values():
        a = build_parser().parse_args(args)
        cfg = _train_config(a, a.out)
        assert cfg.num_workers == 2
        outs.add((a.out, tuple(getattr(a, "fold", None) or ())))
    assert len(outs) == len(jobs)  # no two jobs write the same fold


def test_bundled_campaign_trains_the_bundled_recipe_on_all_dev(tmp_path):
    jobs = campaign.campaign_jobs("bundled", "D", tmp_path, workers=1)
    a = build_parser().parse_args(jobs["final-bundled"])
    cfg = _train_config(a, a.out)
    assert cfg.split_fractions == (0.9, 0.1, 0.0) and cfg.model_kwargs["width"] == 8 and cfg.calibrate


def test_recipe_campaign_is_k_folds_plus_the_final_model(tmp_path):
    jobs = campaign.campaign_jobs("recipe", "D", tmp_path, workers=1, preset="best", folds=3,
                                  train_args=["--epochs", "60"])
    assert sorted(jobs) == ["cv-best-f0", "cv-best-f1", "cv-best-f2", "final-best"]
    for args in jobs.values():
        a = build_parser().parse_args(args)
        cfg = _train_config(a, a.out)
        assert cfg.epochs == 60 and cfg.data_path == "device" and cfg.model_kwargs["width"] == 32
    assert build_parser().parse_args(jobs["cv-best-f2"]).fold == [2]


def test_pack_keeps_text_results_plots_and_a_small_final_checkpoint(tmp_path):
    runs = tmp_path / "runs"
    (runs / "cv" / "fold_0" / "test").mkdir(parents=True)
    (runs / "cv" / "fold_0" / "test" / "per_case.csv").write_text("case_id,dice\n1,0.5\n")
    (runs / "cv" / "fold_0" / "last.pt").write_bytes(b"x" * 3000)
    (runs / "final").mkdir()
    (runs / "final" / "best.pt").write_bytes(b"w" * 3000)
    for i in range(4):
        (runs / "final" / f"plot{i}.png").write_bytes(bytes(range(256)) * 10)
    dest = tmp_path / "out"
    info = campaign.pack(runs, dest, {"stage": "training"}, runs / "final", max_bytes=6000)
    assert sorted(p.name for p in dest.iterdir()) == ["campaign.json", "final_best.pt", "plots.tar.gz", "results.tar.gz"]
    assert tarfile.open(dest / "results.tar.gz").getnames() == ["runs/cv/fold_0/test/per_case.csv"]
    plots = tarfile.open(dest / "plots.tar.gz").getnames()
    assert 0 < len(plots) < 4 and len(info["left_out"]) == 4 - len(plots)  # bounded: some plots left out
    assert json.loads((dest / "campaign.json").read_text())["pack"]["final_checkpoint"]["bytes"] == 3000
    weights = bytes(range(256)) * 50  # 12,800 bytes: over the limit, so in 3 parts that join back
    (runs / "final" / "best.pt").write_bytes(weights)
    info = campaign.pack(runs, dest, {}, runs / "final", max_bytes=6000)
    parts = sorted(dest.glob("final_best.pt*"))
    assert [p.name for p in parts] == ["final_best.pt.000", "final_best.pt.001", "final_best.pt.002"]
    assert b"".join(p.read_bytes() for p in parts) == weights and info["final_checkpoint"]["files"] == [
        p.name for p in parts]
    big = bytes(range(256)) * 80  # 20,480 bytes: 4 parts, one more than a call brings back
    (runs / "final" / "best.pt").write_bytes(big)
    info = campaign.pack(runs, dest, {}, runs / "final", max_bytes=6000)
    assert sorted(p.name for p in dest.glob("final_best.pt*")) == [f"final_best.pt.00{i}" for i in range(3)]
    rest = info["final_checkpoint"]["rest_on_machine"]
    assert rest == [str(runs / "final_parts" / "final_best.pt.003")] and rest[0] in info["final_checkpoint"][
        "fetch_next_call"] and any("best.pt" in x for x in info["left_out"])  # said so, with the command
    joined = b"".join(p.read_bytes() for p in [*sorted(dest.glob("final_best.pt*")), Path(rest[0])])
    assert joined == big


def test_recipe_campaign_rehearsed_on_the_cpu(tmp_path):
    """The whole campaign, tiny: 2 folds + final on synthetic data, 1 epoch; results packed as for the GPU.

    About 22 s of CPU time in all (three jobs side by side; most of it starting Python, torch and MONAI), so
    well under a minute on an idle 2-core machine.
    """
    data = make_dataset(tmp_path / "data", n=32, size=32, seed=0, n_patients=8)
    out = tmp_path / "out"
    args = ["--data", str(data), "--runs", str(tmp_path / "runs"), "--folds", "2", "--threads", "1",
            "--preset", "servable", "--compare", "bundled",
            "--train-args", "--epochs 1 --image-size 64 --batch-size 8 --device cpu --grid-every 0",
            "--deadline-s", "1200", "--pack-dir", str(out)]  # generous: a busy shared machine is many times slower
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_campaign.py"), *args],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "campaign.json").read_text())
    assert meta["stage"] == "done" and sorted(meta["jobs"]) == ["cv-bundled-f0", "cv-bundled-f1", "cv-servable-f0",
                                                                "cv-servable-f1", "final-servable"]
    assert all(j["returncode"] == 0 and not j.get("cut_at_deadline") for j in meta["jobs"].values()), meta["jobs"]
    for recipe in ("cv-servable", "cv-bundled"):
        assert meta["cv"][recipe]["folds_done"] == ["fold_0", "fold_1"] and meta["cv"][recipe]["n_images"] == 32
    runs = tmp_path / "runs"
    for fold in ("fold_0", "fold_1"):  # the two recipes' folds hold the same patients
        assert ((runs / "cv-servable" / fold / "split.json").read_text()
                == (runs / "cv-bundled" / fold / "split.json").read_text())
    names = tarfile.open(out / "results.tar.gz").getnames()
    for name in ("runs/cv-servable/fold_0/test/per_case.csv", "runs/cv-servable/fold_1/test/per_case.csv",
                 "runs/cv-servable/cv_per_case.csv", "runs/cv-bundled/cv_per_case.csv",
                 "runs/final-servable/history.csv", "runs/logs/final-servable.log"):
        assert name in names, name
    parts = sorted(out.glob("final_best.pt*"))  # the servable network's fp32 weights are ~26 MB: in parts
    (tmp_path / "final.pt").write_bytes(b"".join(p.read_bytes() for p in parts))
    final = load_checkpoint(tmp_path / "final.pt")
    assert final["config"]["data_path"] == "device" and "postprocess" in final  # calibrated on its val part
    assert final["config"]["model_kwargs"]["levels"] == 6  # the servable network
    plan = final["config"]["runtime"]["time_budget"]  # every job had --time-budget (deadline - 60 s): time to spare
    assert plan["budget_s"] == 1140 and plan["epochs_planned"] == plan["epochs_asked"] == 1


def test_split_flag_rejects_bad_fractions(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # checked when the command line is parsed
        build_parser().parse_args(["train", "--data", "D", "--out", "O", "--split", "0.9,0.2,0"])
    assert stop.value.code == 2 and "summing to 1" in capsys.readouterr().err


def _split_files(data: Path, folder: Path, folds: int = 2) -> None:
    from tumorseg.data.formats import read_dataset
    from tumorseg.data.splits import kfold_split, save_split

    records = read_dataset(data)
    folder.mkdir(parents=True)
    for k in range(folds):
        save_split(kfold_split(records, folds, k, 42), folder / f"fold_{k}.json", "patient")


def test_splits_campaign_trains_each_split_file_and_its_variants(tmp_path):
    (tmp_path / "mixed").mkdir()
    (tmp_path / "fs").mkdir()
    for k in range(3):
        (tmp_path / "mixed" / f"fold_{k}.json").write_text("{}")
        (tmp_path / "fs" / f"fold_{k}.json").write_text("{}")
    jobs = campaign.campaign_jobs("splits", "D", tmp_path / "runs", workers=1, preset="t1c-mixed", compare="bundled",
                                  split_dir=str(tmp_path / "mixed"), compare_split_dir=str(tmp_path / "fs"),
                                  final_split="D/split.json", train_args=["--epochs", "40"],
                                  variants=["no-p99=--intensity none --epochs 50",
                                            "neg10=--split-file F/mixed-10/fold_{k}.json"])
    assert sorted(jobs) == sorted([*(f"cv-{r}-f{k}" for r in ("t1c-mixed", "bundled", "no-p99", "neg10")
                                     for k in range(3)), "final-t1c-mixed"])
    for k in range(3):  # "{k}": the fold's own file
        assert build_parser().parse_args(jobs[f"cv-neg10-f{k}"]).split_file == f"F/mixed-{10}/fold_{k}.json"
    outs = set()
    for name, args in jobs.items():
        a = build_parser().parse_args(args)
        cfg = _train_config(a, a.out)
        outs.add(a.out)
        assert a.command == "train"
        recipe = name.rsplit("-f", 1)[0].removeprefix("cv-")
        if name.startswith("cv-") and recipe != "neg10":
            k = name.rsplit("-f", 1)[1]
            assert Path(a.out) == tmp_path / "runs" / f"cv-{recipe}" / f"fold_{k}"
            assert Path(cfg.split_file) == tmp_path / ("fs" if recipe == "bundled" else "mixed") / f"fold_{k}.json"
        assert cfg.loss == ("dice-bce" if recipe == "bundled" else "dice-bce-presence")
        assert cfg.intensity == ("none" if recipe in ("bundled", "no-p99") else "p99")
        assert cfg.epochs == (50 if recipe == "no-p99" else 40)  # a variant's flags come after --train-args
    assert len(outs) == len(jobs)
    assert build_parser().parse_args(jobs["final-t1c-mixed"]).split_file == "D/split.json"
    with pytest.raises(SystemExit, match="new NAME"):
        campaign.campaign_jobs("splits", "D", tmp_path, 1, "t1c-mixed", split_dir=str(tmp_path / "mixed"),
                               compare="bundled", variants=["bundled=--epochs 2"])
    with pytest.raises(SystemExit, match="no fold_"):
        campaign.campaign_jobs("splits", "D", tmp_path, 1, "t1c-mixed", split_dir=str(tmp_path / "runs"))


def test_splits_campaign_rehearsed_on_the_cpu(tmp_path):
    """Two split-file folds of a preset and of one variant, tiny, packed and aggregated as on the GPU."""
    data = make_dataset(tmp_path / "data", n=24, size=32, seed=1, n_patients=6)
    _split_files(data, tmp_path / "folds")
    out = tmp_path / "out"
    args = ["--campaign", "splits", "--data", str(data), "--runs", str(tmp_path / "runs"), "--threads", "1",
            "--preset", "bundled", "--split-dir", str(tmp_path / "folds"), "--variant", "plain=--augment none",
            "--train-args", "--epochs 1 --image-size 32 --batch-size 8 --device cpu --grid-every 0",
            "--deadline-s", "1200", "--pack-dir", str(out)]
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_campaign.py"), *args],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "campaign.json").read_text())
    assert sorted(meta["jobs"]) == ["cv-bundled-f0", "cv-bundled-f1", "cv-plain-f0", "cv-plain-f1"]
    for recipe in ("cv-bundled", "cv-plain"):
        assert meta["cv"][recipe]["folds_done"] == ["fold_0", "fold_1"] and meta["cv"][recipe]["n_images"] == 24
    runs = tmp_path / "runs"
    for k in (0, 1):  # each job trained and tested on its split file's slices
        split = json.loads((tmp_path / "folds" / f"fold_{k}.json").read_text())
        assert json.loads((runs / "cv-plain" / f"fold_{k}" / "split.json").read_text())["test"] == split["test"]
    assert json.loads((runs / "cv-plain" / "fold_0" / "config.json").read_text())["augment"] == "none"


def test_presets_calibrated_per_volume_get_more_time_after_training():
    # six flair-wide jobs on an H200 were all cut while calibrating per volume with 60 s left after the budget
    assert campaign.finish_reserve_s("best") == 60.0
    assert campaign.finish_reserve_s("flair-wide") == campaign.finish_reserve_s("bundled", "flair") == 150.0
    assert campaign.finish_reserve_s("no-such-preset", None) == 60.0


def test_recipe_campaign_variant_runs_the_cv_folds_again_with_its_flags(tmp_path):
    # the t1c head-prior variant as the docstring gives it: JSON inside the flags survives the shell-like split
    flags = "--model-kwargs '{\"decoder_width\": 8, \"head_prior\": 0.01}'"
    jobs = campaign.campaign_jobs("recipe", "D", tmp_path / "runs", workers=1, preset="pretrained", folds=3,
                                  variants=[f"prior={flags}"])
    assert sorted(jobs) == sorted([*(f"cv-{r}-f{k}" for r in ("pretrained", "prior") for k in range(3)),
                                   "final-pretrained"])
    for k in range(3):
        a = build_parser().parse_args(jobs[f"cv-prior-f{k}"])
        assert (a.command, a.fold, Path(a.out)) == ("cv", [k], tmp_path / "runs" / "cv-prior")
        assert _train_config(a, a.out).model_kwargs == {"decoder_width": 8, "head_prior": 0.01}
        plain = build_parser().parse_args(jobs[f"cv-pretrained-f{k}"])
        assert Path(plain.out) == tmp_path / "runs" / "cv-pretrained"
        assert _train_config(plain, plain.out).model_kwargs == {"decoder_width": 8}
    with pytest.raises(SystemExit, match="recipe and splits campaigns only"):
        campaign.campaign_jobs("bundled", "D", tmp_path, 1, variants=[f"prior={flags}"])
