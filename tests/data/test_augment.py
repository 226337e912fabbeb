"""Batched augmentation (tumorseg.data.augment): binary masks, identity, flips, hand-checked geometry, seeding."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from tumorseg.data import augment as A
from tumorseg.data.augment import PRESETS, AugmentParams, Geometry, augment_batch, augment_params, draw_geometry
from tumorseg.errors import TumorsegError


def _batch(b: int = 6, c: int = 1, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(b, c, size, size, generator=g)
    masks = torch.zeros(b, 1, size, size)
    masks[:, :, 10:20, 8:14] = 1.0  # an off-centre rectangle: flips and rotations move it
    return images, masks


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_masks_stay_binary_and_images_in_range(name):
    images, masks = _batch(8, c=2)
    for seed in range(5):
        a, m = augment_batch(images, masks, PRESETS[name], _gen(seed))
        assert a.shape == images.shape and m.shape == masks.shape and a.dtype == images.dtype
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0


def test_no_change_params_give_the_inputs_back():
    images, masks = _batch()
    assert augment_batch(images, masks, None) == (images, masks)
    a, m = augment_batch(images, masks, AugmentParams(), _gen(0))
    assert a is images and m is masks
    # an affine that is drawn every time but has zero ranges resamples at the pixel centres: the identity
    a, m = augment_batch(images, masks, AugmentParams(p_affine=1.0), _gen(0))
    assert torch.allclose(a, images, atol=1e-6) and torch.equal(m, masks)


@pytest.mark.parametrize("resample", [False, True])
def test_flips_flip(resample):
    images, masks = _batch()
    p_affine = 1.0 if resample else 0.0  # zero-range affine: the flip then goes through grid_sample
    a, m = augment_batch(images, masks, AugmentParams(p_hflip=1.0, p_affine=p_affine), _gen(1))
    assert torch.allclose(a, images.flip(-1), atol=1e-6) and torch.equal(m, masks.flip(-1))
    a, m = augment_batch(images, masks, AugmentParams(p_vflip=1.0, p_affine=p_affine), _gen(1))
    assert torch.allclose(a, images.flip(-2), atol=1e-6) and torch.equal(m, masks.flip(-2))


def test_a_quarter_turn_is_rot90_and_the_grid_matches_affine_grid():
    images, masks = _batch(2, size=8)
    theta = torch.tensor([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]]).repeat(2, 1, 1)  # input point = R(90°) · output
    true, false = torch.ones(2, dtype=torch.bool), torch.zeros(2, dtype=torch.bool)
    a, m = A.apply_geometry(images, masks, Geometry(theta, None, true, false, false))
    # output (x, y) reads input (-y, x): a counter-clockwise quarter turn of the array (rows down, columns right)
    assert torch.allclose(a, torch.rot90(images, 1, dims=(-2, -1)), atol=1e-6)
    assert torch.equal(m, torch.rot90(masks, 1, dims=(-2, -1)))
    geo = draw_geometry(PRESETS["strong"], 4, 12, 20, _gen(3))
    ref = F.affine_grid(geo.theta, [4, 1, 12, 20], align_corners=False) + geo.field
    assert torch.allclose(geo.grid(12, 20), ref, atol=1e-6)


def test_same_seed_same_output_other_seed_other_output():
    images, masks = _batch(8)
    p = PRESETS["strong"]
    a1, m1 = augment_batch(images, masks, p, _gen(7))
    a2, m2 = augment_batch(images, masks, p, _gen(7))
    assert torch.equal(a1, a2) and torch.equal(m1, m2)
    a3, _ = augment_batch(images, masks, p, _gen(8))
    assert not torch.equal(a1, a3)
    torch.manual_seed(5)
    b1, _ = augment_batch(images, masks, p)  # generator=None: the global generator
    torch.manual_seed(5)
    assert torch.equal(augment_batch(images, masks, p)[0], b1)


def test_the_cpu_shortcuts_compute_what_the_whole_batch_way_does(monkeypatch):
    """On the CPU only the samples drawn for a change are computed; on a GPU the whole batch with torch.where.
    Both must give the same values (forced here by pretending the CPU is a device)."""
    images, masks = _batch(8, c=2)
    for name in sorted(PRESETS):
        ref = augment_batch(images, masks, PRESETS[name], _gen(11))
        with monkeypatch.context() as mp:
            mp.setattr(A, "_on_host", lambda device: False)
            whole = augment_batch(images, masks, PRESETS[name], _gen(11))
        assert torch.allclose(ref[0], whole[0], atol=1e-6) and torch.equal(ref[1], whole[1]), name


def test_elastic_moves_pixels_but_keeps_the_lesion_size():
    images, masks = _batch(4, size=64)
    masks[:, :, 20:40, 20:40] = 1.0
    p = AugmentParams(p_elastic=1.0, elastic_alpha=0.03, elastic_grid=4)
    a, m = augment_batch(images, masks, p, _gen(2))
    assert not torch.equal(m, masks)
    area, new_area = masks.sum((1, 2, 3)), m.sum((1, 2, 3))
    assert torch.all((new_area / area - 1).abs() < 0.25)


def test_brightness_alone_shifts_each_image_by_one_offset():
    images = torch.full((5, 1, 8, 8), 0.5)
    masks = torch.zeros(5, 1, 8, 8)
    a, _ = augment_batch(images, masks, AugmentParams(p_intensity=1.0, brightness=0.1), _gen(4))
    offsets = (a - images).flatten(1)
    assert torch.allclose(offsets, offsets[:, :1].expand_as(offsets))  # one offset per image
    assert torch.all(offsets.abs() <= 0.1 + 1e-6) and offsets.abs().sum() > 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        augment_batch(torch.rand(2, 1, 8, 8), torch.rand(2, 8, 8), PRESETS["light"])
    with pytest.raises(ValueError, match="probability"):
        AugmentParams(p_hflip=1.5)
    with pytest.raises(TumorsegError, match="Did you mean 'light'"):
        augment_params("lihgt")
    assert augment_params("none") is None and replace(PRESETS["light"], p_hflip=0.0).p_hflip == 0.0


def test_one_thread_on_the_cpu_and_the_thread_count_comes_back():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with A.one_thread("cpu"):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), A.one_thread(torch.device("cpu")):
            raise RuntimeError("an error inside")
        assert torch.get_num_threads() == 2
        with A.one_thread("meta"):  # not the CPU: left alone
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _head(size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1, 1, size, size)`` image and ``(size, size)`` radius map: a bright scalp/skull ring (radius 0.40–0.46 of
    the size) round a dimmer brain (radius < 0.36) with a dark half-disc "ventricle" inside; background 0."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2).sqrt() / size
    img = torch.zeros(size, size)
    img[r < 0.36] = 0.5
    img[(r >= 0.40) & (r < 0.46)] = 0.9
    img[(r < 0.08) & (xx < size / 2)] = 0.05
    return img[None, None], r


def test_brain_only_view_removes_the_ring_and_keeps_brain_and_tumour():
    img, r = _head()
    masks = torch.zeros_like(img)
    masks[..., 60:68, 7:13] = 1.0  # a "meningioma" on the ring itself: must survive
    p = AugmentParams(p_strip=1.0, strip_depth=0.24)  # depths 10-31 px at 128 px: the 8 px ring always goes
    for seed in range(4):
        out = A.strip_skull(img, masks, p, _gen(seed))
        ring = (r >= 0.41) & (r < 0.45) & (masks[0, 0] == 0)
        ring &= (torch.arange(128)[None, :] > 20)  # away from the kept tumour margin
        assert float(out[0, 0][ring].max()) == 0.0
        assert torch.equal(out[0, 0][r < 0.15], img[0, 0][r < 0.15])  # brain centre (and dark ventricle) intact
        assert torch.equal(out * masks, img * masks)  # the tumour is never cut
        assert float(out[0, 0][r > 0.48].max()) == 0.0  # background stays background


def test_brain_only_view_off_draws_nothing_so_old_recipes_keep_their_streams():
    images, masks = _batch(6, size=64)
    base = augment_batch(images, masks, PRESETS["mri"], _gen(5))
    same = augment_batch(images, masks, replace(PRESETS["mri"], strip_depth=0.07), _gen(5))  # p_strip 0
    assert torch.equal(base[0], same[0]) and torch.equal(base[1], same[1])
    stripped = augment_batch(images, masks, replace(PRESETS["mri-strip"], p_strip=1.0), _gen(5))
    assert not torch.equal(base[0], stripped[0])


@pytest.mark.parametrize("bad", [{"p_strip": 1.5}, {"strip_depth": -0.1}, {"strip_depth": 0.3}])
def test_brain_only_view_ranges_are_checked(bad):
    with pytest.raises(ValueError):
        AugmentParams(**bad)


@pytest.mark.parametrize("hflip,vflip", [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])
def test_transpose_is_exact_and_composes_with_the_flips(hflip, vflip):
    images, masks = _batch(3, size=8)
    a, m = augment_batch(images, masks, AugmentParams(p_hflip=hflip, p_vflip=vflip, p_transpose=1.0), _gen(2))
    # on the arrays: the flips, then the transpose (output = transpose(flips(input)))
    want_a, want_m = images, masks
    for p, dim in ((hflip, -1), (vflip, -2)):
        if p:
            want_a, want_m = want_a.flip(dim), want_m.flip(dim)
    want_a, want_m = want_a.transpose(-2, -1), want_m.transpose(-2, -1)
    assert torch.allclose(a, want_a, atol=1e-6) and torch.equal(m, want_m)


def test_mri_turn_reaches_all_eight_layouts_and_other_recipes_draw_as_before():
    images, masks = _batch(64, size=6)
    p = replace(PRESETS["mri-turn"], p_affine=0.0, p_intensity=0.0)
    a, _ = augment_batch(images, masks, p, _gen(4))
    layouts = []
    for k in range(4):
        turned = torch.rot90(images, k, dims=(-2, -1))
        layouts += [turned, turned.flip(-1)]
    seen = {next(j for j, lay in enumerate(layouts) if torch.allclose(a[i], lay[i], atol=1e-6))
            for i in range(len(a))}
    assert seen == set(range(8))
    # the transpose is drawn after everything else: with the same seed, the samples it leaves alone get the
    # geometry they get without the option, and the turned ones the same matrix with two columns swapped
    plain = draw_geometry(PRESETS["mri"], 16, 10, 10, _gen(9))
    turned = draw_geometry(replace(PRESETS["mri"], p_transpose=0.5), 16, 10, 10, _gen(9))
    swapped = ~torch.isclose(turned.theta, plain.theta).all(dim=(1, 2))
    assert 0 < int(swapped.sum()) < 16
    assert torch.equal(turned.theta[swapped], plain.theta[swapped][:, :, [1, 0, 2]])
    assert torch.equal(turned.resample, plain.resample | swapped)
