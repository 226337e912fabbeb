"""Pieces of exact resume and the recipe hooks: sampler skip, seeded augmentation, LR schedule, best/early stop."""

from __future__ import annotations

import pytest
import torch

from tumorseg.errors import TumorsegError
from tumorseg.training.state import AugmentedItems, EpochSampler, Selector, build_scheduler, rng_state, set_rng_state


def test_sampler_order_depends_on_seed_and_epoch_and_skip_resumes_it():
    data = list(range(10))
    s = EpochSampler(data, num_replicas=1, rank=0, seed=3)
    s.set_epoch(2)
    full = list(s)
    s.set_epoch(2, skip=4)
    assert list(s) == full[4:] and len(s) == 6
    s.set_epoch(3)
    assert [i for _, i in s] != [i for _, i in full]
    shards = [EpochSampler(data, 2, r, seed=3) for r in (0, 1)]
    for sh in shards:
        sh.set_epoch(2)
    assert sorted(i for sh in shards for _, i in sh) == data  # two ranks: disjoint halves of the same epoch


def test_augmentation_is_a_function_of_seed_epoch_index():
    base = [(torch.rand(1, 8, 8), torch.zeros(1, 8, 8)) for _ in range(3)]
    items = AugmentedItems(base, lambda img, m: (img + torch.rand(()), m), seed=1)
    a = items[(1, 2)][0]
    torch.rand(5)  # global RNG use in between changes nothing
    assert torch.equal(items[(1, 2)][0], a)
    assert not torch.equal(items[(2, 2)][0], a)
    before = torch.get_rng_state()
    items[(1, 0)]
    assert torch.equal(torch.get_rng_state(), before)  # and augmentation leaves the global RNG alone


def test_cosine_schedule_with_warmup():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler("cosine", opt, warmup_steps=2, total_steps=6)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert lrs[3] == pytest.approx(0.5 * (1 + torch.cos(torch.tensor(torch.pi / 4)).item()))
    assert lrs[3] > lrs[4] > lrs[5] > 0
    assert build_scheduler("none", opt, 0, 6) is None
    with pytest.raises(TumorsegError, match="cosine"):
        build_scheduler("cosin", opt, 0, 6)


@pytest.mark.parametrize("metric, values, best_epoch", [("val_loss", [0.5, 0.4, 0.45, 0.46], 2),
                                                       ("val_dice", [0.5, 0.4, 0.45, 0.46], 1)])
def test_selector_and_early_stop(metric, values, best_epoch):
    sel = Selector(metric, patience=2)
    improved = [sel.update({"epoch": e + 1, metric: v}) for e, v in enumerate(values)]
    assert improved[0] and improved[best_epoch - 1] and sel.best_epoch == best_epoch
    assert sel.should_stop  # two epochs or more since the best
    again = Selector(metric, patience=2)
    again.load_state_dict(sel.state_dict())
    assert again.best_epoch == sel.best_epoch and again.should_stop
    assert not Selector(metric, patience=0).should_stop
    with pytest.raises(TumorsegError, match="val_dice"):
        Selector("dice")


def test_rng_state_round_trip():
    import random

    import numpy as np

    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1))
    set_rng_state(state)
    assert (random.random(), np.random.rand()) == a[:2] and torch.equal(torch.rand(1), a[2])
