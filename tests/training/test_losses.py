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


def test_presence_loss_adds_the_image_level_term_by_hand():
    import torch.nn.functional as F

    from tumorseg.training.losses import PresenceLoss

    logits = torch.full((2, 1, 8, 8), -4.0)
    logits[0, 0, :2, :2] = 3.0  # a 4-px false blob on a tumour-free slice
    target = torch.zeros(2, 1, 8, 8)
    target[1, 0, 4:8, 4:8] = 1.0
    base = lambda lg, t: torch.tensor(0.0)  # isolate the presence term  # noqa: E731
    loss = PresenceLoss(base, k=4, weight=1.0)(logits, target)
    # top-4 mean: image 0 → 3.0 (absent: BCE(3, 0)); image 1 → -4.0 (present: BCE(-4, 1))
    want = F.binary_cross_entropy_with_logits(torch.tensor([3.0, -4.0]), torch.tensor([0.0, 1.0]))
    assert float(loss) == pytest.approx(float(want), rel=1e-6)
    # the gradient reaches the blob on the empty slice and pushes it down
    lg = logits.clone().requires_grad_(True)
    PresenceLoss(base, k=4)(lg, target).backward()
    assert lg.grad[0, 0, 0, 0] > 0 and lg.grad[0, 0, 7, 7] == 0


def test_presence_loss_is_built_by_name_and_needs_logits():
    from tumorseg.errors import TumorsegError
    from tumorseg.training.losses import PresenceLoss, build_loss

    assert isinstance(build_loss("dice-bce-presence", True), PresenceLoss)
    with pytest.raises(TumorsegError, match="needs a model that returns logits"):
        build_loss("dice-bce-presence", False)


def test_batch_dice_bce_pools_the_batch_and_reaches_false_blobs_on_empty_slices():
    import torch.nn.functional as F

    from tumorseg.training.losses import build_loss

    logits = torch.full((2, 1, 8, 8), -6.0)
    logits[0, 0, :2, :2] = 0.0  # a doubtful false blob on a tumour-free slice
    logits[1, 0, 4:8, 4:8] = 6.0  # the tumour of slice 1, found
    target = torch.zeros(2, 1, 8, 8)
    target[1, 0, 4:8, 4:8] = 1.0
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * target).sum() + 1e-5) / (p.sum() + target.sum() + 1e-5)  # one Dice over the whole batch
    bce = F.binary_cross_entropy_with_logits(logits, target)
    loss = build_loss("batch-dice-bce", True)
    assert float(loss(logits, target)) == pytest.approx(float(dice + bce), rel=1e-5)
    lg = logits.clone().requires_grad_(True)
    build_loss("batch-dice-bce", True)(lg, target).backward()
    per_image = build_loss("dice-bce", True)
    lg2 = logits.clone().requires_grad_(True)
    per_image(lg2, target).backward()
    # per image, only BCE (averaged over all pixels) pushes the empty slice's blob down; pooled, Dice does too
    assert lg.grad[0, 0, 0, 0] > 2 * lg2.grad[0, 0, 0, 0] > 0
