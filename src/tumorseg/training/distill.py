"""Knowledge distillation (``--teacher CKPT``): a small network also learns a larger one's probabilities.

Issue 11's most accurate network (``--preset best``, 104 MB) is too large to ship; distillation trains a network
that fits (``--preset servable``, say) on the truth *and* on what the large one predicts for the very same
augmented batch, which carries more than the binary mask (how sure it is, where the border is uncertain):

    loss = (1 − w) · task_loss(student, truth) + w · DiceCE(student, teacher probabilities)

with ``w`` = ``--distill-weight`` (default 0.5). ``--distill-on tumour`` (a regulariser in the manner of "learning
without forgetting", for a fine-tune that adds tumour-free slices): the teacher is learnt only on the images whose
mask holds a tumour, and the task loss keeps its full weight,

    loss = task_loss(student, truth) + w · (n_t / B) · DiceCE(student[t], teacher probabilities[t])

over the batch's ``n_t`` tumour images ``t`` (``B`` images in all; no tumour image in a batch: the task loss
alone), so a start that outlines tumours well keeps its outlines while tumour-free images teach "no tumour" from
the truth alone (the start marks most of them, and learning that from it would undo the fine-tune). ``DiceCE`` is MONAI's ``DiceCELoss`` (sigmoid, per-image Dice + BCE)
with the teacher's probabilities as soft targets. The teacher is any checkpoint or bundled name, an ensemble too
(``tumorseg ensemble`` of K fold models), frozen, in eval mode, run under the same autocast as the student; it must
read its input as the student does (image size, channels, scale, intensity, loader), else a one-line error.
Validation, checkpoint selection and calibration use the truth only. For a cross-validation, use each fold's own
teacher (one that never saw the fold's test patients), e.g. ``--teacher runs/cv-best/fold_{k}/best.pt``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tumorseg.errors import CheckpointError, TumorsegError
from tumorseg.models import returns_logits, to_probabilities
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint
from tumorseg.models.ensemble import input_difference
from tumorseg.training.losses import build_loss


class Teacher(nn.Module):
    """A frozen network whose ``forward(x (B, C, S, S))`` returns its foreground probabilities ``(B, 1, S, S)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> "Teacher":  # stays in eval mode (dropout, batch norm statistics)
        return self

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return to_probabilities(self.model, self.model(x))


def load_teacher(path: str, student_preprocessing: dict[str, Any], device: torch.device,
                 test_ids: list[str] | tuple[str, ...] = ()) -> Teacher:
    """The teacher of checkpoint ``path`` (or bundled name) on ``device``. ``test_ids``: the student's test case
    ids; a teacher that trained or chose its epoch on any of them would leak them into the student's score.

    Raises:
        CheckpointError: it reads input differently from the student (naming the first difference and the fix), or
            its split's train/val parts hold some of ``test_ids``.
    """
    src = resolve_checkpoint(path)
    ckpt = load_checkpoint(src)
    if diff := input_difference(student_preprocessing, ckpt["preprocessing"]):
        raise CheckpointError(f"{src}: the teacher reads its input differently from this run ({diff}); train the "
                              "student with the teacher's image size, channels and --intensity.")
    split = ckpt.get("split") or {}
    seen = set(split.get("train", [])) | set(split.get("val", []))
    if leaked := [i for i in test_ids if i in seen]:
        raise CheckpointError(f"{src}: the teacher was trained on {len(leaked)} of this run's {len(test_ids)} test "
                              f"slices (e.g. {leaked[0]}); distil from one that never saw them (under 'cv': "
                              "--teacher 'runs/cv-best/fold_{fold}/best.pt', each fold's own).")
    return Teacher(model_from_checkpoint(ckpt, src)).to(device)


class DistillLoss(nn.Module):
    """``(1 − weight) · task(logits, target) + weight · DiceCE(logits, soft)``; all ``(B, 1, H, W)``, ``soft`` the
    teacher's probabilities in [0, 1]. ``tumour_only``: ``task + weight · (n_t / B) · DiceCE`` over the images whose
    ``target`` holds a foreground pixel (see the module doc)."""

    def __init__(self, task: nn.Module, weight: float, tumour_only: bool = False):
        super().__init__()
        if not 0.0 < weight <= 1.0:
            raise TumorsegError(f"--distill-weight {weight}: give a weight in (0, 1], e.g. --distill-weight 0.5.")
        self.task, self.weight, self.tumour_only = task, weight, tumour_only
        self.soft = build_loss("dice-bce", model_returns_logits=True)  # per-image Dice + BCE; takes soft targets

    def forward(self, logits: torch.Tensor, target: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
        if self.tumour_only:
            has = target.flatten(1).amax(1) > 0.5
            task = self.task(logits, target)
            if not bool(has.any()):  # a host sync per step; distillation is a CPU/small-run tool
                return task
            share = has.float().mean()
            return task + self.weight * share * self.soft(logits[has], soft[has])
        task = self.task(logits, target) if self.weight < 1.0 else logits.new_zeros(())
        return (1.0 - self.weight) * task + self.weight * self.soft(logits, soft)


def check_student(model: nn.Module) -> None:
    """Distillation's soft-target loss needs logits (``seed-ae`` ends in a Sigmoid)."""
    if not returns_logits(model):
        raise TumorsegError("--teacher needs a student network that returns logits; seed-ae ends in a Sigmoid: "
                            "use --model unet (or another U-Net).")
