"""Distillation (``--teacher``): the student learns the teacher's probabilities, from a teacher that reads input
alike and never saw the student's test slices."""

from __future__ import annotations

import pytest
import torch

from tumorseg.config import TrainConfig
from tumorseg.errors import CheckpointError, TumorsegError
from tumorseg.training import distributed as D
from tumorseg.training.distill import DistillLoss
from tumorseg.training.fit import prepare_data
from tumorseg.training.losses import build_loss
from tumorseg.training.trainer import Trainer

NET = {"width": 4, "levels": 3}


def _trainer(data, out, **kw) -> Trainer:
    cfg = TrainConfig(data=str(data), out=str(out), model="unet", model_kwargs=NET, image_size=32, epochs=1,
                      batch_size=4, device="cpu", loss="dice-bce", **kw)
    t = Trainer(cfg, D.DistEnv(), progress=False)
    t.setup(prepare_data(cfg, t.out, D.DistEnv(), progress=False))
    return t


@pytest.fixture(scope="module")
def teacher(synthetic_dataset, tmp_path_factory):
    """A trained run (its best.pt) on the synthetic data's default split."""
    out = tmp_path_factory.mktemp("teacher") / "run"
    _trainer(synthetic_dataset, out).run()
    return out / "best.pt"


def test_the_loss_mixes_the_truth_and_the_teachers_probabilities():
    task = build_loss("dice-bce", True)
    logits, truth = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    soft = torch.rand(2, 1, 8, 8)
    half, only_teacher = DistillLoss(task, 0.5), DistillLoss(task, 1.0)
    assert torch.allclose(half(logits, truth, soft), 0.5 * task(logits, truth) + 0.5 * only_teacher(logits, truth, soft))
    # with the teacher agreeing with the truth, the soft term is the task loss itself
    assert torch.allclose(only_teacher(logits, truth, truth), task(logits, truth))
    # it pulls the student towards the teacher: the gradient lowers logits where the teacher says "no tumour"
    x = torch.zeros(1, 1, 4, 4, requires_grad=True)
    only_teacher(x, torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)).backward()
    assert (x.grad > 0).all()
    with pytest.raises(TumorsegError, match="--distill-weight"):
        DistillLoss(task, 0.0)


def test_tumour_only_distillation_leaves_tumour_free_images_to_the_truth():
    """--distill-on tumour: task loss at full weight, the teacher term only over the images holding a tumour,
    scaled by their share of the batch; a batch of tumour-free images gets the task loss alone."""
    task = build_loss("dice-bce", True)
    logits = torch.randn(3, 1, 8, 8)
    truth = torch.zeros(3, 1, 8, 8)
    truth[0, 0, 2:5, 2:5] = 1  # image 0 holds a tumour, images 1 and 2 do not
    soft = torch.rand(3, 1, 8, 8)
    only = DistillLoss(task, 0.5, tumour_only=True)
    expected = task(logits, truth) + 0.5 * (1 / 3) * DistillLoss(task, 1.0)(logits[:1], truth[:1], soft[:1])
    assert torch.allclose(only(logits, truth, soft), expected)
    # what the teacher says on a tumour-free image does not matter
    other = soft.clone()
    other[1:] = 1.0
    assert torch.allclose(only(logits, truth, other), only(logits, truth, soft))
    assert torch.allclose(only(logits[1:], truth[1:], soft[1:]), task(logits[1:], truth[1:]))
    # on the tumour image the teacher pulls: it says "tumour" everywhere, the truth only in 3x3, so outside the
    # tumour the logits are pushed down less than by the truth alone
    x, y = torch.zeros(1, 1, 8, 8, requires_grad=True), torch.zeros(1, 1, 8, 8, requires_grad=True)
    DistillLoss(task, 1.0, tumour_only=True)(x, truth[:1], torch.ones(1, 1, 8, 8)).backward()
    task(y, truth[:1]).backward()
    assert x.grad[0, 0, 0, 0] < y.grad[0, 0, 0, 0]


def test_a_student_trains_with_its_teacher_on_every_batch(synthetic_dataset, tmp_path, teacher):
    t = _trainer(synthetic_dataset, tmp_path / "student", teacher=str(teacher), distill_weight=0.7)
    calls = []
    forward = t.teacher.model.forward
    t.teacher.model.forward = lambda x: calls.append(x.shape[0]) or forward(x)
    result = t.run()
    assert sum(calls) == len(t.data["train"])  # the teacher saw every training batch once, and nothing else
    assert not any(p.requires_grad for p in t.teacher.parameters())  # frozen
    assert result.history[0]["train_loss"] > 0 and (t.out / "best.pt").exists()
    assert t.cfg.teacher == str(teacher)  # recorded in config.json with the run
    t = _trainer(synthetic_dataset, tmp_path / "student-t", teacher=str(teacher), distill_on="tumour")
    assert t.distill.tumour_only and t.run().history[0]["train_loss"] > 0


def test_a_teacher_that_saw_the_test_slices_or_reads_input_differently_is_refused(synthetic_dataset, tmp_path,
                                                                                   teacher):
    # another split of the same data: some of its test slices are the teacher's training slices
    with pytest.raises(CheckpointError, match=r"teacher was trained on \d+ of this run's \d+ test slices"):
        _trainer(synthetic_dataset, tmp_path / "leaky", teacher=str(teacher), seed=7)
    cfg = TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "big"), model="unet", model_kwargs=NET,
                      image_size=64, epochs=1, batch_size=4, device="cpu", loss="dice-bce", teacher=str(teacher))
    t = Trainer(cfg, D.DistEnv(), progress=False)
    with pytest.raises(CheckpointError, match="image_size: 64 vs 32"):
        t.setup(prepare_data(cfg, t.out, D.DistEnv(), progress=False))
    seed = TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "seed"), model="seed-ae", image_size=32,
                       epochs=1, batch_size=4, device="cpu", teacher=str(teacher))
    t = Trainer(seed, D.DistEnv(), progress=False)
    with pytest.raises(TumorsegError, match="returns logits"):
        t.setup(prepare_data(seed, t.out, D.DistEnv(), progress=False))


def test_cv_gives_each_fold_its_own_teacher(monkeypatch, synthetic_dataset, tmp_path):
    from tumorseg.training import cv

    seen = []
    monkeypatch.setattr(cv, "fit", lambda cfg, **kw: seen.append(cfg.teacher))
    monkeypatch.setattr(cv, "aggregate", lambda out: {})
    cfg = TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "cv"), teacher="runs/cv-best/fold_{fold}/best.pt")
    cv.run_cv(cfg, folds=3, progress=False)
    assert seen == [f"runs/cv-best/fold_{k}/best.pt" for k in range(3)]
