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


def test_unet_learns_the_background_bias_of_sparse_masks():
    """Regression: MONAI's UNet ending in 1 instance-normed channel stays near p=0.5 (BCE 0.37 here); ours must not."""
    torch.manual_seed(0)
    model = build_model("unet", width=4, levels=3, num_res_units=1)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    x = torch.rand(8, 1, 32, 32)
    y = torch.zeros(8, 1, 32, 32)
    y[:, :, 10:14, 10:14] = 1  # 1.6 % foreground, like a small tumour
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.15
    assert torch.sigmoid(model(x))[y == 0].mean() < 0.1
