"""The device data path: same batches as the DataLoader path, seeded augmentation that resumes, on-device losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tumorseg.config import TrainConfig
from tumorseg.data.augment import PRESETS
from tumorseg.data.dataset import SliceArrays, SliceDataset
from tumorseg.data.records import SliceRecord
from tumorseg.data.splits import load_split
from tumorseg.data.synthetic import make_dataset
from tumorseg.errors import TumorsegError
from tumorseg.training.device_data import DeviceBatches, StepLosses, check_data_path, resident, sequential_batches
from tumorseg.training.state import AugmentedItems, EpochSampler

CPU = torch.device("cpu")


def _arrays(n: int = 11, size: int = 16, channels: int = 1) -> SliceArrays:
    rng = np.random.default_rng(0)
    shape = (n, size, size) if channels == 1 else (n, channels, size, size)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    masks = rng.random((n, size, size)) > 0.8
    return SliceArrays(images, masks, [SliceRecord(str(i), f"{i}.png") for i in range(n)])


def _loader_batches(arrays, epoch, batch, seed, skip=0, replicas=1, rank=0):
    ds = AugmentedItems(SliceDataset(arrays), None, seed)
    sampler = EpochSampler(ds, replicas, rank, seed)
    sampler.set_epoch(epoch, skip=skip)
    return list(DataLoader(ds, batch_size=batch, sampler=sampler))


@pytest.mark.parametrize("channels", [1, 3])
def test_unaugmented_batches_equal_the_dataloader_paths(channels):
    arrays = _arrays(channels=channels)
    dev = DeviceBatches(arrays, CPU, batch_size=4, seed=5, augment=None)
    for epoch, skip in [(1, 0), (2, 0), (2, 8)]:
        dev.set_epoch(epoch, skip=skip)
        got, want = list(dev), _loader_batches(arrays, epoch, 4, 5, skip)
        assert len(got) == len(want) == len(dev) and [len(x) for x, _ in got] == [len(x) for x, _ in want]
        for (x, y), (xr, yr) in zip(got, want):
            assert torch.equal(x, xr) and torch.equal(y, yr) and x.shape[1] == channels
    for rank in (0, 1):  # under DDP each rank gets the DataLoader path's share
        dev = DeviceBatches(arrays, CPU, 3, seed=5, augment=None, num_replicas=2, rank=rank)
        dev.set_epoch(3)
        assert all(torch.equal(a[0], b[0]) for a, b in zip(dev, _loader_batches(arrays, 3, 3, 5, 0, 2, rank)))


def test_augmented_batches_are_a_function_of_seed_epoch_step_so_a_resume_continues_exactly():
    arrays = _arrays(n=12)
    dev = DeviceBatches(arrays, CPU, batch_size=4, seed=1, augment=PRESETS["strong"])
    dev.set_epoch(2)
    full = list(dev)
    torch.rand(3)  # global RNG use changes nothing
    resumed = DeviceBatches(arrays, CPU, batch_size=4, seed=1, augment=PRESETS["strong"])
    resumed.set_epoch(2, skip=4)
    rest = list(resumed)
    assert len(rest) == 2
    for (x, y), (xr, yr) in zip(full[1:], rest):
        assert torch.equal(x, xr) and torch.equal(y, yr)
    plain = DeviceBatches(arrays, CPU, batch_size=4, seed=1, augment=None)
    plain.set_epoch(2)
    assert not torch.equal(full[0][0], next(iter(plain))[0])  # it did augment
    assert all(set(y.unique().tolist()) <= {0.0, 1.0} for _, y in full)
    dev.set_epoch(3)
    assert not torch.equal(next(iter(dev))[0], full[0][0])
    with pytest.raises(ValueError, match="whole number of batches"):
        dev.set_epoch(1, skip=3)


def test_step_losses_match_host_arithmetic_and_validation_batches_match_slicedataset():
    losses = StepLosses(2, CPU)
    values = [torch.tensor(0.123456789, dtype=torch.float32), torch.tensor(2.5), torch.tensor(1 / 3)]
    for v, n in zip(values, (4, 4, 3)):
        losses.add(v, n)  # a third step grows the buffer
    expected = torch.tensor([[v.item() * n, n] for v, n in zip(values, (4, 4, 3))], dtype=torch.float64)
    assert len(losses) == 3 and torch.equal(losses.cpu(), expected)
    arrays = _arrays(n=7)
    got = list(sequential_batches(arrays, CPU, 3))
    want = list(DataLoader(SliceDataset(arrays), batch_size=3, shuffle=False))
    assert len(got) == 3 and all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(got, want))


def test_cached_memory_mapped_arrays_go_to_the_device_in_chunks(tmp_path):
    from tumorseg.data import read_dataset
    from tumorseg.data.cache import cached_slices, split_views
    from tumorseg.data.dataset import load_slices

    data = make_dataset(tmp_path / "data", n=10, size=16, seed=4, n_patients=5)
    records = read_dataset(str(data), "auto")
    cached = cached_slices(records, 16, tmp_path / "cache", {}, str(data), progress=False)
    view = split_views(cached, [7, 1, 4, 2, 9], in_memory=False)  # lazy rows of the memory map, as for training
    images, masks = resident(view, CPU, chunk=2)
    plain = load_slices([records[i] for i in (7, 1, 4, 2, 9)], 16, progress=False)
    assert images.shape == masks.shape == (5, 1, 16, 16) and images.dtype == masks.dtype == torch.uint8
    assert torch.equal(images[:, 0], torch.from_numpy(plain.images))
    assert torch.equal(masks[:, 0].bool(), torch.from_numpy(plain.masks))


def test_unknown_data_path_is_refused():
    assert check_data_path("device") == "device"
    with pytest.raises(TumorsegError, match="loader .* or device"):
        check_data_path("gpu")


def test_training_on_the_device_path_runs_and_records_every_step(tmp_path):
    from tumorseg.training.fit import train

    data = make_dataset(tmp_path / "data", n=24, size=32, seed=2, n_patients=6)
    cfg = TrainConfig(data=str(data), out=str(tmp_path / "run"), model="unet",
                      model_kwargs={"width": 4, "levels": 3, "num_res_units": 1}, image_size=32, epochs=2,
                      batch_size=4, augment="strong", data_path="device", grid_every=0, evaluate_test=False)
    result = train(cfg, progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2]
    n_train = len(load_split(tmp_path / "run" / "split.json")["train"])
    assert len(result.step_losses[1]) == -(-n_train // 4)
    assert all(np.isfinite(result.step_losses[2]))
    saved = TrainConfig.load(tmp_path / "run" / "config.json")
    assert saved.data_path == "device" and saved.runtime["data_path"] == "device" and saved.runtime["num_workers"] == 0
