"""scripts/gpu_campaign.py: its jobs are valid tumorseg command lines; packing respects the transfer limits."""

import importlib.util
import tarfile
from pathlib import Path

import pytest

from tumorseg.cli import _train_config, build_parser

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_campaign", ROOT / "scripts" / "gpu_campaign.py")
campaign = importlib.util.module_from_spec(spec)
spec.loader.exec_module(campaign)


@pytest.mark.parametrize("name", ["bundled", "best-cv", "smoke"])
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


def test_pack_splits_into_bounded_tars_and_skips_resume_state(tmp_path):
    runs = tmp_path / "runs"
    (runs / "a").mkdir(parents=True)
    (runs / "a" / "history.csv").write_text("epoch\n1\n")
    (runs / "a" / "best.pt").write_bytes(b"x" * 3000)
    (runs / "a" / "last.pt").write_bytes(b"x" * 3000)
    (runs / "a" / "huge.pt").write_bytes(b"x" * 9000)
    for i in range(4):
        (runs / "a" / f"plot{i}.png").write_bytes(bytes(range(256)) * 10)
    tars = campaign.pack(runs, tmp_path / "out", max_bytes=6000, max_ckpt=5000)
    assert len(tars) >= 2
    names = [n for t in tars for n in tarfile.open(t).getnames()]
    assert "runs/a/history.csv" in names and "runs/a/best.pt" in names
    assert "runs/a/last.pt" not in names and "runs/a/huge.pt" not in names


def test_split_flag_rejects_bad_fractions(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # checked when the command line is parsed
        build_parser().parse_args(["train", "--data", "D", "--out", "O", "--split", "0.9,0.2,0"])
    assert stop.value.code == 2 and "summing to 1" in capsys.readouterr().err
