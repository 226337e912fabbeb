import numpy as np
from PIL import Image

from conftest import shared_data, tiny_checkpoint
from tumorseg.inference.files import predict_files


def _ckpt(tmp_path):
    return tiny_checkpoint(tmp_path / "m.pt", image_size=64)


def test_native_512_slices_give_512_masks(tmp_path):
    native = shared_data("figshare-native", "images")
    files = sorted(native.iterdir())[:3]
    written = predict_files(files, _ckpt(tmp_path), tmp_path / "out", progress=False)
    for src, dst in zip(files, written):
        assert Image.open(dst).size == Image.open(src).size == (512, 512)
        assert set(np.unique(np.asarray(Image.open(dst)))) <= {0, 255}


def test_rgb_and_tiff_inputs(tmp_path):
    rgb = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.jpg")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "b.tif")
    written = predict_files([tmp_path / "a.jpg", tmp_path / "b.tif"], _ckpt(tmp_path), tmp_path / "out", progress=False)
    for w in written:
        im = Image.open(w)
        assert im.mode == "L" and im.size == (50, 40)
