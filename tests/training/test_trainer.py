"""The Trainer's steps one by one: validation runs the network once per batch and its scores match evaluation's."""

from __future__ import annotations

import json

import pytest

from tumorseg.config import TrainConfig
from tumorseg.evaluation.evaluate import score_arrays
from tumorseg.training import distributed as D
from tumorseg.training.fit import prepare_data
from tumorseg.training.trainer import Trainer


@pytest.fixture
def trainer(synthetic_dataset, tmp_path):
    cfg = TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "run"), model="unet",
                      model_kwargs={"width": 4, "levels": 3}, image_size=32, epochs=1, batch_size=4, device="cpu")
    env = D.DistEnv()
    t = Trainer(cfg, env, progress=False)
    t.setup(prepare_data(cfg, t.out, env, progress=False))
    return t


def test_validate_runs_the_network_once_per_batch(trainer):
    calls = []
    forward = trainer.model.forward
    trainer.model.forward = lambda x: calls.append(len(x)) or forward(x)
    val = trainer.validate()
    assert sum(calls) == len(trainer.data["val"])  # every val slice through the network exactly once
    rows, _ = score_arrays(trainer.model, trainer.data["val"], "cpu", trainer.cfg.threshold, distances=False)
    assert val["val_dice"] == pytest.approx(sum(r["dice"] for r in rows) / len(rows), abs=1e-9)
    assert val["val_iou"] == pytest.approx(sum(r["iou"] for r in rows) / len(rows), abs=1e-9)
    assert trainer.model.training  # validate leaves the model as training found it


def test_config_json_is_written_once_with_what_the_data_decided(trainer):
    saved = json.loads((trainer.out / "config.json").read_text())
    assert saved["model_kwargs"].get("in_channels", 1) == 1
    assert saved["input_spec"]["channels"] == ["gray"]
    assert saved["runtime"]["world_size"] == 1 and saved["runtime"]["per_process_batch_size"] == 4
    assert trainer.cfg.runtime == saved["runtime"]


def test_run_saves_and_a_resumed_trainer_restores(trainer):
    result = trainer.run()
    assert [h["epoch"] for h in result.history] == [1] and trainer.finished
    assert (trainer.out / "best.pt").exists() and (trainer.out / "last.pt").exists()
    again = Trainer(trainer.cfg, trainer.env, resume=True, progress=False)
    again.setup(trainer.data)
    assert again.finished and again.history == result.history  # nothing left to train


def test_init_from_starts_from_the_checkpoints_weights_and_refuses_another_network(synthetic_dataset, tmp_path):
    import torch

    from conftest import tiny_checkpoint
    from tumorseg.errors import CheckpointError
    from tumorseg.models.checkpoint import load_checkpoint

    src = tiny_checkpoint(tmp_path / "src.pt", image_size=32)
    kwargs = load_checkpoint(src)["model"]["kwargs"]
    cfg = TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "ft"), model="seed-ae", model_kwargs=kwargs,
                      image_size=32, epochs=1, batch_size=4, device="cpu", init_from=str(src), intensity="p99")
    env = D.DistEnv()
    t = Trainer(cfg, env, progress=False)
    t.setup(prepare_data(cfg, t.out, env, progress=False))
    want = load_checkpoint(src)["state_dict"]
    assert all(torch.equal(v, want[k]) for k, v in t.model.state_dict().items())
    other = TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "ft2"), model="seed-ae",
                        model_kwargs={"width": 8}, image_size=32, epochs=1, batch_size=4, device="cpu",
                        init_from=str(src))
    t2 = Trainer(other, env, progress=False)
    with pytest.raises(CheckpointError, match="--init-from needs the same network"):
        t2.setup(prepare_data(other, t2.out, env, progress=False))


def test_one_channel_weights_start_a_three_channel_network_with_the_same_output():
    import torch

    from tumorseg.models import build_model
    from tumorseg.training.trainer import inflate_input_channels

    torch.manual_seed(0)
    one = build_model("unet", in_channels=1, width=8, levels=3).eval()
    three = build_model("unet", in_channels=3, width=8, levels=3).eval()
    three.load_state_dict(inflate_input_channels(one.state_dict(), three.state_dict()))
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(three(x.repeat(1, 3, 1, 1)), one(x), atol=1e-5)
        assert not torch.allclose(three(torch.cat([x, 0 * x, 0 * x], 1)), one(x), atol=1e-3)
    # a mismatch that is not the input channels is left for load_state_dict to refuse
    wide = build_model("unet", in_channels=3, width=16, levels=3)
    with pytest.raises(RuntimeError):
        wide.load_state_dict(inflate_input_channels(one.state_dict(), wide.state_dict()))


def test_ema_weights_are_validated_kept_and_given_back_on_resume(synthetic_dataset, tmp_path):
    """--ema: an exponential moving average of the weights (torch.optim.swa_utils.AveragedModel) is what validation
    scores, best.pt holds, the run returns and a resume of the finished run gives back; last.pt keeps the trained
    weights and the average, for an exact resume."""
    import torch

    from tumorseg.models.checkpoint import load_checkpoint
    from tumorseg.training.trainer import ema_weights

    cfg = TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "run"), model="unet",
                      model_kwargs={"width": 4, "levels": 3}, image_size=32, epochs=1, batch_size=4, device="cpu",
                      lr=1e-2, ema_decay=0.9)
    env = D.DistEnv()
    t = Trainer(cfg, env, progress=False)
    t.setup(prepare_data(cfg, t.out, env, progress=False))
    result = t.run()
    last, best = load_checkpoint(t.out / "last.pt"), load_checkpoint(t.out / "best.pt")
    averaged = ema_weights(last["train_state"]["ema"])
    assert int(last["train_state"]["ema"]["n_averaged"]) == t.global_step > 1
    assert all(torch.equal(best["state_dict"][k], v) for k, v in averaged.items())  # one epoch: the best is it
    assert any(not torch.equal(last["state_dict"][k], v) for k, v in averaged.items())  # trained weights differ
    assert all(torch.equal(result.model.state_dict()[k], v) for k, v in averaged.items())
    rows, _ = score_arrays(result.model, t.data["val"], "cpu", cfg.threshold, distances=False)
    assert result.history[-1]["val_dice"] == pytest.approx(sum(r["dice"] for r in rows) / len(rows), abs=1e-9)
    again = Trainer(cfg, env, resume=True, progress=False)
    again.setup(t.data)
    assert again.finished and all(torch.equal(again.result().model.state_dict()[k], v) for k, v in averaged.items())


def test_an_ema_decay_outside_0_to_1_is_refused(synthetic_dataset, tmp_path):
    from tumorseg.errors import TumorsegError

    cfg = TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "run"), ema_decay=1.0)
    with pytest.raises(TumorsegError, match="--ema 1.0: give a decay between 0"):
        Trainer(cfg, D.DistEnv(), progress=False)
