import pytest
import torch

from tumorseg.errors import TumorsegError
from tumorseg.models import MODELS, build_model, input_stride, returns_logits, to_probabilities
from tumorseg.models.seed_ae import SegmentationAE


def test_seed_ae_architecture_is_the_original():
    m = SegmentationAE()
    convs = [l for l in m.encoder if isinstance(l, torch.nn.Conv2d)]
    assert [c.in_channels for c in convs] == [1, 32, 64, 128, 256]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256, 512]
    assert [c.kernel_size[0] for c in convs] == [7, 5, 3, 3, 3]
    assert sum(isinstance(l, torch.nn.MaxPool2d) for l in m.encoder) == 5
    ups = [l for l in m.decoder if isinstance(l, torch.nn.ConvTranspose2d)]
    assert [(u.in_channels, u.out_channels) for u in ups] == [(512, 256), (256, 128), (128, 64), (64, 32), (32, 1)]
    assert isinstance(m.decoder[-1], torch.nn.Sigmoid)
    assert sum(p.numel() for p in m.parameters()) == 2_298_977


def test_seed_ae_shape_and_range():
    m = SegmentationAE().eval()
    with torch.no_grad():
        y = m(torch.rand(2, 1, 256, 256))
    assert y.shape == (2, 1, 256, 256)
    assert 0.0 <= y.min().item() and y.max().item() <= 1.0
    assert not returns_logits(m)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_forward_backward(name):
    model = build_model(name, in_channels=1)
    s = input_stride(model)
    x = torch.rand(2, 1, 2 * s, 2 * s)
    y = model(x)
    assert y.shape == (2, 1, 2 * s, 2 * s)
    y.float().mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    probs = to_probabilities(model, y.detach())
    assert 0.0 <= probs.min().item() and probs.max().item() <= 1.0


def test_unknown_model_suggests_closest():
    with pytest.raises(TumorsegError, match="Did you mean 'seed-ae'"):
        build_model("seed_ae")
