"""SIGTERM/SIGINT during `tumorseg train`: the step finishes, last.pt is written, the resume command is printed,
the exit status is 128 + the signal; and a run that cannot write its directory fails before any training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tumorseg.config import TrainConfig
from tumorseg.errors import TumorsegError
from tumorseg.models.checkpoint import load_checkpoint
from tumorseg.training.fit import fit


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_checkpoints_and_prints_resume_command(synthetic_dataset, tmp_path, signum):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "tumorseg", "train", "--data", str(synthetic_dataset), "--out", str(out),
           "--model-kwargs", '{"width": 4}', "--image-size", "32", "--epochs", "500", "--batch-size", "2",
           "--checkpoint-every-steps", "1", "--no-progress", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not (out / "last.pt").exists():  # training has started once the first step checkpoint exists
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1]
        time.sleep(0.1)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert f"tumorseg train --resume {out}" in err
    assert signal.Signals(signum).name in err
    assert "Traceback" not in err
    state = load_checkpoint(out / "last.pt")["train_state"]
    assert state["global_step"] >= 1 and not state["finished"]
    assert not list(out.glob("*.tmp"))


def _cfg(data: Path, out: Path) -> TrainConfig:
    return TrainConfig(data=str(data), out=str(out), model_kwargs={"width": 4}, image_size=32, epochs=1, batch_size=4)


def test_unwritable_run_dir_fails_at_start(synthetic_dataset, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    t0 = time.time()
    with pytest.raises(TumorsegError, match="cannot write the run directory"):
        fit(_cfg(synthetic_dataset, blocker / "run"), progress=False)
    assert time.time() - t0 < 5


def test_too_little_disk_space_fails_at_start(synthetic_dataset, tmp_path, monkeypatch):
    import shutil

    import tumorseg.training.rundir as rundir_module

    monkeypatch.setattr(rundir_module.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 2**20))
    with pytest.raises(TumorsegError, match="MiB free"):
        fit(_cfg(synthetic_dataset, tmp_path / "run"), progress=False)
    assert not (tmp_path / "run" / "split.json").exists()  # nothing was read or trained


def test_cli_reports_unwritable_run_dir(synthetic_dataset, tmp_path):
    from tumorseg.cli import main

    (tmp_path / "f").write_text("x")
    assert main(["train", "--data", str(synthetic_dataset), "--out", str(tmp_path / "f" / "run"), "--image-size", "32",
                 "--model-kwargs", '{"width": 4}', "--no-progress"]) == 2
