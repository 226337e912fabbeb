"""On-disk slice cache: built once, reused, invalidated when the data or the preprocessing change."""

from __future__ import annotations

import os
import pickle

import numpy as np

from tumorseg.config import TrainConfig
from tumorseg.data import read_dataset
from tumorseg.data.cache import RowView, cached_slices, split_views
from tumorseg.data.dataset import load_slices
from tumorseg.data.synthetic import make_dataset
from tumorseg.training.fit import train


def test_cache_matches_decoding_and_is_reused(tmp_path):
    data = make_dataset(tmp_path / "data", n=12, size=32, seed=2, n_patients=3)
    records = read_dataset(data)
    cache = tmp_path / "cache"
    a = cached_slices(records, 32, cache, progress=False)
    ref = load_slices(records, 32, progress=False)
    assert isinstance(a.images, np.memmap)
    assert np.array_equal(np.asarray(a.images), ref.images) and np.array_equal(np.asarray(a.masks), ref.masks)
    entries = sorted(p.name for p in cache.iterdir())
    cached_slices(records, 32, cache, progress=False)  # second time: same entry, nothing rebuilt
    assert sorted(p.name for p in cache.iterdir()) == entries and len(entries) == 1

    cached_slices(records, 64, cache, progress=False)  # other preprocessing: a new entry
    assert len(list(cache.iterdir())) == 2
    img = data / "images" / "3.png"
    st = img.stat()
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a changed file: a new entry
    cached_slices(read_dataset(data), 32, cache, progress=False)
    assert len(list(cache.iterdir())) == 3
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no half-built entries left


def test_row_view_reads_rows_and_pickles_by_path(tmp_path):
    data = make_dataset(tmp_path / "data", n=8, size=32, seed=2, n_patients=2)
    arrays = cached_slices(read_dataset(data), 32, tmp_path / "cache", progress=False)
    view = split_views(arrays, [5, 1, 3], in_memory=False)
    assert isinstance(view.images, RowView) and view.images.shape == (3, 32, 32)
    assert np.array_equal(view.images[1], np.asarray(arrays.images[1]))
    assert np.array_equal(view.images[[0, 2]], np.asarray(arrays.images[[5, 3]]))
    blob = pickle.dumps(view.images)
    assert len(blob) < 2000  # path and indices, not the pixels
    assert np.array_equal(pickle.loads(blob)[2], np.asarray(arrays.images[3]))


def test_training_from_cache_equals_in_memory(synthetic_dataset, tmp_path):
    def run(name, cache):
        return train(TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / name), model_kwargs={"width": 4},
                                 image_size=32, epochs=1, batch_size=4, grid_every=0, evaluate_test=False,
                                 cache=cache), progress=False).history

    mem, disk = run("mem", None), run("disk", str(tmp_path / "cache"))
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in mem] == \
        [{k: v for k, v in h.items() if k != "seconds"} for h in disk]


def test_one_environment_variable_names_every_cache(tmp_path, monkeypatch):
    import pytest

    from tumorseg.config import cache_root
    from tumorseg.data.cache import resolve_cache_dir
    from tumorseg.inference.onnx import cache_dir

    for name in ("TUMORSEG_CACHE_DIR", "TUMORSEG_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "tumorseg"
    monkeypatch.setenv("TUMORSEG_CACHE_DIR", str(tmp_path / "c"))
    assert resolve_cache_dir("default") == tmp_path / "c" and cache_dir() == tmp_path / "c" / "onnx"
    monkeypatch.delenv("TUMORSEG_CACHE_DIR")
    monkeypatch.setenv("TUMORSEG_CACHE", str(tmp_path / "old"))
    with pytest.warns(FutureWarning, match="TUMORSEG_CACHE_DIR"):
        assert cache_root() == tmp_path / "old"
