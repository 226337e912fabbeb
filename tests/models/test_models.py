import pytest
import torch

from tumorseg.errors import TumorsegError
from tumorseg.models import MODELS, build_model, input_stride, returns_logits, to_probabilities
from tumorseg.models.seed_ae import SegmentationAE


# The original course project's network, as its description gives it (models/seed_ae.py, README: "a convolutional
# autoencoder"): five encoder blocks Conv2d -> ReLU -> MaxPool2d(2), channels 1->32->64->128->256->512, kernels
# 7, 5, 3, 3, 3, "same" padding; a decoder of five ConvTranspose2d (kernel 2, stride 2) 512->256->128->64->32->1
# with ReLU between them and a final Sigmoid; no skips, no normalisation. Written out by hand, layer by layer:
ORIGINAL_LAYERS = [
    ("Conv2d", 1, 32, 7), ("ReLU",), ("MaxPool2d", 2),
    ("Conv2d", 32, 64, 5), ("ReLU",), ("MaxPool2d", 2),
    ("Conv2d", 64, 128, 3), ("ReLU",), ("MaxPool2d", 2),
    ("Conv2d", 128, 256, 3), ("ReLU",), ("MaxPool2d", 2),
    ("Conv2d", 256, 512, 3), ("ReLU",), ("MaxPool2d", 2),
    ("ConvTranspose2d", 512, 256, 2), ("ReLU",),
    ("ConvTranspose2d", 256, 128, 2), ("ReLU",),
    ("ConvTranspose2d", 128, 64, 2), ("ReLU",),
    ("ConvTranspose2d", 64, 32, 2), ("ReLU",),
    ("ConvTranspose2d", 32, 1, 2), ("Sigmoid",),
]
# parameters: k*k*cin*cout + cout per layer
# encoder 7*7*1*32+32 = 1,600; 5*5*32*64+64 = 51,264; 9*64*128+128 = 73,856; 9*128*256+256 = 295,168;
#         9*256*512+512 = 1,180,160  -> 1,602,048
# decoder 4*512*256+256 = 524,544; 4*256*128+128 = 131,200; 4*128*64+64 = 32,832; 4*64*32+32 = 8,224; 4*32*1+1 = 129
#         -> 696,929; total 2,298,977
ORIGINAL_PARAMETERS = 2_298_977


def _describe(layer: torch.nn.Module) -> tuple:
    name = type(layer).__name__
    if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        return (name, layer.in_channels, layer.out_channels, layer.kernel_size[0])
    if isinstance(layer, torch.nn.MaxPool2d):
        return (name, layer.kernel_size)
    return (name,)


def test_seed_ae_architecture_is_the_original():
    m = SegmentationAE()
    layers = [l for l in m.modules() if not list(l.children())]  # the leaves, in forward order
    assert [_describe(l) for l in layers] == ORIGINAL_LAYERS
    for conv in (l for l in layers if isinstance(l, torch.nn.Conv2d)):
        assert conv.padding == "same" and conv.stride == (1, 1)
    for up in (l for l in layers if isinstance(l, torch.nn.ConvTranspose2d)):
        assert up.stride == (2, 2)  # each exactly doubles the size: 8x8 back to 256x256
    assert sum(p.numel() for p in m.parameters()) == ORIGINAL_PARAMETERS
    with torch.no_grad():
        assert m.encoder(torch.zeros(1, 1, 256, 256)).shape == (1, 512, 8, 8)  # five halvings of 256


def test_seed_ae_shape_and_range():
    m = SegmentationAE().eval()
    with torch.no_grad():
        y = m(torch.rand(2, 1, 256, 256))
    assert y.shape == (2, 1, 256, 256)
    assert 0.0 <= y.min().item() and y.max().item() <= 1.0
    assert not returns_logits(m)


# built from trained checkpoints, never trained as such: gated-unet (its gate is a hard switch, trained on its own:
# tests/models/test_presence_gate.py) and ensemble (tests/models/test_ensemble.py)
@pytest.mark.parametrize("name", sorted(set(MODELS) - {"gated-unet", "ensemble"}))
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


@pytest.mark.parametrize("name, stride, logits, padded", [("seed-ae", 32, False, "64×64"),
                                                          ("unet", 16, True, "48×32"),
                                                          ("attention-unet", 16, True, "48×32"),
                                                          ("dynunet", 32, True, "64×64")])
def test_every_model_declares_what_it_needs(name, stride, logits, padded):
    from tumorseg.models.base import SegmentationModel

    model = build_model(name)
    assert isinstance(model, SegmentationModel)
    assert (input_stride(model), returns_logits(model)) == (stride, logits)  # declared, not guessed
    with pytest.raises(ValueError, match=f"input 40×{stride + 8} is not a multiple of {stride}.*pad it to {padded}"):
        model(torch.zeros(1, 1, 40, stride + 8))  # 40 and stride + 8 round up to the next multiples


def test_the_protocol_sees_through_wrappers_and_refuses_plain_modules():
    class Wrapper(torch.nn.Module):  # like DistributedDataParallel: the network in .module
        def __init__(self, module):
            super().__init__()
            self.module = module

    inner = build_model("seed-ae", width=4)
    assert not returns_logits(Wrapper(inner)) and input_stride(Wrapper(Wrapper(inner))) == 32
    with pytest.raises(TumorsegError, match="subclass tumorseg.models.base.SegmentationModel"):
        returns_logits(torch.nn.Conv2d(1, 1, 1))


@pytest.mark.parametrize("name, monai_class, kwargs", [
    ("attention-unet", "AttentionUnet", dict(spatial_dims=2, in_channels=1, out_channels=1,
                                             channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2))),
    ("dynunet", "DynUNet", dict(spatial_dims=2, in_channels=1, out_channels=1, kernel_size=[3] * 6,
                                strides=[1] + [2] * 5, upsample_kernel_size=[2] * 5,
                                filters=[16, 32, 64, 128, 256, 320], norm_name="instance", res_block=True)),
])
def test_monai_models_keep_monais_parameter_names(name, monai_class, kwargs):
    """Checkpoints saved when these were plain MONAI modules still load: same names, same shapes."""
    import monai.networks.nets as nets

    ours = build_model(name).state_dict()
    theirs = getattr(nets, monai_class)(**kwargs).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
