"""LGG kaggle_3m reader: 3-channel TIFF slices per patient folder, channel choice, predict on TIFF stacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

tifffile = pytest.importorskip("tifffile")

from conftest import shared_data, tiny_checkpoint  # noqa: E402
from tumorseg.cli import main  # noqa: E402
from tumorseg.data import load_slices, read_dataset  # noqa: E402
from tumorseg.data.dataset import SliceDataset  # noqa: E402
from tumorseg.data.formats import describe_records, detect_format  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402
from tumorseg.inference.files import predict_files  # noqa: E402
from tumorseg.models import build_model  # noqa: E402
from tumorseg.models.checkpoint import load_checkpoint  # noqa: E402


def write_case(folder, n_slices=3, size=32, seed=0):
    """One TCGA_* folder: <folder>_<n>.tif (H, W, 3) uint8 RGB and <folder>_<n>_mask.tif 0/255."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for n in range(1, n_slices + 1):
        img = np.stack([np.full((size, size), 10 * c + n, np.uint8) for c in range(3)], axis=-1)
        img[..., 1] += rng.integers(0, 50, (size, size)).astype(np.uint8)  # FLAIR differs from the others
        mask = np.zeros((size, size), np.uint8)
        if n > 1:
            mask[8:16, 8:20] = 255
        tifffile.imwrite(folder / f"{folder.name}_{n}.tif", img, photometric="rgb")
        tifffile.imwrite(folder / f"{folder.name}_{n}_mask.tif", mask)
    return folder


@pytest.fixture
def lgg_dir(tmp_path):
    root = tmp_path / "kaggle_3m"
    for i, name in enumerate(["TCGA_CS_4941_19960909", "TCGA_DU_5849_19950405", "TCGA_HT_7879_19981009"]):
        write_case(root / name, seed=i)
    (root / "data.csv").write_text("Patient,death01\nTCGA_CS_4941,1\n")
    return root


def test_flair_channel_by_default(lgg_dir):
    assert detect_format(lgg_dir) == "lgg"
    recs = read_dataset(lgg_dir)
    assert len(recs) == 9 and recs[0].patient == "TCGA_CS_4941_19960909"
    assert [r.case_id for r in recs[:3]] == [f"TCGA_CS_4941_19960909_{n}" for n in (1, 2, 3)]
    arrays = load_slices(recs, 32, progress=False)
    src = tifffile.imread(recs[0].image)
    assert arrays.images.shape == (9, 32, 32) and np.array_equal(arrays.images[0], src[..., 1])
    assert not arrays.masks[0].any() and arrays.masks[1].sum() == 8 * 12
    assert describe_records(recs)["channels"] == ["flair"]


def test_all_channels_give_c_s_s_arrays_and_tensors(lgg_dir):
    arrays = load_slices(read_dataset(lgg_dir, channels="all"), 32, progress=False)
    assert arrays.images.shape == (9, 3, 32, 32)
    image, mask = SliceDataset(arrays)[0]
    assert image.shape == (3, 32, 32) and mask.shape == (1, 32, 32)
    model = build_model("seed-ae", in_channels=3, width=4)
    assert model(image[None]).shape == (1, 1, 32, 32)


def test_missing_mask_and_bad_channels_are_clear(lgg_dir):
    (lgg_dir / "TCGA_CS_4941_19960909" / "TCGA_CS_4941_19960909_2_mask.tif").unlink()
    with pytest.raises(DataError, match=r"TCGA_CS_4941_19960909_2\.tif: image has no mask"):
        read_dataset(lgg_dir)
    with pytest.raises(DataError, match="--channels 't5'"):
        read_dataset(lgg_dir, channels="t5")
    with pytest.raises(DataError, match="--modality does not apply to format 'lgg'"):
        read_dataset(lgg_dir, modality="t1")


def _ckpt(tmp_path, in_channels, reader_channels=None):
    pre = {}
    if reader_channels is not None:
        pre = {"loader": "lgg", "channels": ["flair"] * len(reader_channels), "reader_options": {"channels": reader_channels}}
    return tiny_checkpoint(tmp_path / f"m{in_channels}{reader_channels}.pt", in_channels=in_channels, **pre)


def test_predict_tiff_stack_gives_one_channel_mask_and_refuses_mismatch(lgg_dir, tmp_path):
    tif = lgg_dir / "TCGA_CS_4941_19960909" / "TCGA_CS_4941_19960909_2.tif"
    for ckpt in (_ckpt(tmp_path, 3), _ckpt(tmp_path, 1, [1])):  # all channels; LGG FLAIR picked as in training
        [out] = predict_files([tif], ckpt, tmp_path / "out", progress=False, backend="torch")
        im = Image.open(out)
        assert im.mode == "L" and im.size == (32, 32)
    with pytest.raises(DataError, match=r"_2\.tif: has 3 channel\(s\) but the model .* trained on 1"):
        predict_files([tif], _ckpt(tmp_path, 1), tmp_path / "out", progress=False, backend="torch")
    gray = tmp_path / "gray.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(gray)
    with pytest.raises(DataError, match=r"gray\.png: has 1 channel\(s\) but the model .* trained on 3"):
        predict_files([gray], _ckpt(tmp_path, 3), tmp_path / "out", progress=False, backend="torch")


def test_real_sample_reads_23_slices():
    root = shared_data("samples", "lgg")
    recs = read_dataset(root)
    assert len(recs) == 23 and {r.patient for r in recs} == {"TCGA_CS_4941_19960909"}
    arrays = load_slices(read_dataset(root, channels="all"), 64, progress=False)
    assert arrays.images.shape == (23, 3, 64, 64) and 0 < arrays.masks.sum()


def test_train_one_epoch_on_real_sample_with_all_channels(tmp_path):
    root = shared_data("samples", "lgg")
    rc = main(["train", "--data", str(root), "--channels", "all", "--epochs", "1", "--image-size", "64",
               "--batch-size", "8", "--model-kwargs", '{"width": 4}', "--out", str(tmp_path / "run"),
               "--device", "cpu", "--no-progress"])
    assert rc == 0
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    pre = ckpt["preprocessing"]
    assert pre["in_channels"] == 3 and ckpt["model"]["kwargs"]["in_channels"] == 3
    assert pre["channels"] == ["pre-contrast", "flair", "post-contrast"] and "normalisation" in pre
    assert torch.is_tensor(next(iter(ckpt["state_dict"].values())))
