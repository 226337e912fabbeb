"""DDP on CPU: `torchrun --nproc_per_node 2` (Gloo) trains like one process with the same global batch.

The loss is dice-bce (per-image Dice + BCE, a mean over images), so with equal per-rank batches the
mean of the ranks' gradients is the gradient of the global batch: the trajectories agree up to float
rounding. (A batch-level Dice, the seed's loss, would differ slightly by construction.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tumorseg.config import TrainConfig
from tumorseg.data.synthetic import make_dataset
from tumorseg.models.checkpoint import load_checkpoint

CHILD = Path(__file__).with_name("_train_child.py")


def _run(cfg: TrainConfig, tmp: Path, result_dir: Path, nproc: int) -> None:
    result_dir.mkdir()
    cfg_path = tmp / f"{Path(cfg.out).name}.json"
    cfg.save(cfg_path)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 \
        else [sys.executable]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    proc = subprocess.run([*launcher, str(CHILD), str(cfg_path), "ddp", str(result_dir)], capture_output=True, text=True,
                          timeout=300, env={**env, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("data_path", ["loader", "device"])
def test_two_gloo_ranks_match_one_process(tmp_path, data_path):
    data = make_dataset(tmp_path / "data", n=48, size=32, seed=5, n_patients=12)  # 28 train slices, 12 val

    def cfg(name: str) -> TrainConfig:
        return TrainConfig(data=str(data), out=str(tmp_path / name), model="unet",
                           model_kwargs={"width": 4, "levels": 3, "num_res_units": 1}, loss="dice-bce",
                           image_size=32, epochs=1, batch_size=8, lr=3e-3, grid_every=0, evaluate_test=False,
                           device="cpu", data_path=data_path)

    _run(cfg("ddp"), tmp_path, tmp_path / "ddp-out", nproc=2)
    _run(cfg("single"), tmp_path, tmp_path / "single-out", nproc=1)

    r0 = torch.load(tmp_path / "ddp-out" / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "ddp-out" / "rank1.pt", weights_only=True)
    for k in r0:  # DDP keeps the replicas bit-identical
        assert torch.equal(r0[k], r1[k]), k

    ddp = json.loads((tmp_path / "ddp-out" / "rank0.json").read_text())
    ddp1 = json.loads((tmp_path / "ddp-out" / "rank1.json").read_text())
    one = json.loads((tmp_path / "single-out" / "rank0.json").read_text())
    assert ddp["history"][0]["val_dice"] == ddp1["history"][0]["val_dice"]  # all-reduced: every rank agrees
    # train() freed the process group on every rank: no Gloo worker thread is left to run into interpreter shutdown
    # (there, releasing its last finished collective's tensors aborts the process: a flaky exit code -6)
    for r in (ddp, ddp1):
        assert not [t for t in r["threads"] if "gloo" in t], r["threads"]
    steps_ddp, steps_one = ddp["step_losses"]["1"], one["step_losses"]["1"]
    assert len(steps_ddp) == len(steps_one) == 4  # ceil(28 / 8) global steps either way
    assert torch.allclose(torch.tensor(steps_ddp), torch.tensor(steps_one), rtol=1e-4, atol=1e-5), (steps_ddp, steps_one)
    for key in ("train_loss", "val_loss", "val_dice", "val_iou"):
        assert abs(ddp["history"][0][key] - one["history"][0][key]) < 1e-3, key
    # weights: close, not equal; Adam turns the rounding noise of near-zero gradients (the conv biases that
    # instance norm cancels) into steps of about lr, so compare the whole parameter vector
    single = torch.load(tmp_path / "single-out" / "rank0.pt", weights_only=True)
    a = torch.cat([r0[k].flatten() for k in r0 if r0[k].is_floating_point()])
    b = torch.cat([single[k].flatten() for k in r0 if r0[k].is_floating_point()])
    assert (a - b).norm() / b.norm() < 1e-2
    assert (a - b).abs().max() <= 4 * 3e-3 + 1e-6  # at most lr per Adam step, 4 steps

    # only rank 0 wrote the run directory, and the config states the effective batch and LR
    saved = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert saved["runtime"]["world_size"] == 2 and saved["runtime"]["backend"] == "gloo"
    assert saved["runtime"]["per_process_batch_size"] == 4 and saved["runtime"]["effective_batch_size"] == 8
    assert saved["runtime"]["effective_lr"] == 3e-3
    assert load_checkpoint(tmp_path / "ddp" / "last.pt")["train_state"]["world_size"] == 2
