import pytest
import torch

from tumorseg.training.losses import build_loss


def seed_dice(p, t, s=1e-6):
    return 1 - (2 * (p * t).sum() + s) / ((p**2).sum() + (t**2).sum() + s)


@pytest.mark.parametrize(
    "p, t, expected",
    [
        # perfect prediction
        ([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]], 0.0),
        # half overlap: 2*1 / (2 + 1) -> 1 - 2/3
        ([[1.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]], 1 - 2 / 3),
        # soft prediction 0.5 everywhere vs one pixel: 2*0.5 / (4*0.25 + 1) = 0.5
        ([[0.5, 0.5], [0.5, 0.5]], [[1.0, 0.0], [0.0, 0.0]], 0.5),
        # both empty: smoothing gives 1 - s/s = 0
        ([[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]], 0.0),
        # empty truth, non-empty prediction: 1 - s / (2 + s) ~ 1
        ([[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]], 1.0),
    ],
)
def test_seed_dice_loss_hand_values(p, t, expected):
    loss = build_loss("dice", model_returns_logits=False)
    p, t = torch.tensor(p)[None, None], torch.tensor(t)[None, None]
    assert loss(p, t).item() == pytest.approx(expected, abs=1e-5)


def test_seed_dice_loss_sums_over_the_batch():
    torch.manual_seed(0)
    p = torch.rand(3, 1, 8, 8)
    t = (torch.rand(3, 1, 8, 8) > 0.7).float()
    loss = build_loss("dice", model_returns_logits=False)
    assert loss(p, t).item() == pytest.approx(seed_dice(p, t).item(), rel=1e-5)


def test_logit_losses_apply_sigmoid():
    logits = torch.full((1, 1, 4, 4), 20.0)  # sigmoid ~ 1 everywhere
    t = torch.ones(1, 1, 4, 4)
    for name in ("dice", "dice-bce", "dice-focal"):
        assert build_loss(name, model_returns_logits=True)(logits, t).item() == pytest.approx(0.0, abs=1e-4)


def test_unknown_loss_and_logit_losses_on_prob_models():
    from tumorseg.errors import TumorsegError

    with pytest.raises(TumorsegError, match="dice-bce"):
        build_loss("dice-bc", True)
    with pytest.raises(TumorsegError, match="logits"):
        build_loss("dice-bce", False)
