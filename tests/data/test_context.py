"""Neighbouring slices as channels (``--context-slices``): which slices make a stack, in training and prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tumorseg.data.context import (ContextDropout, drop_context, neighbour_index, volume_stacks, with_context,
                                    with_neighbours)
from tumorseg.data.dataset import SliceArrays
from tumorseg.data.records import SliceRecord
from tumorseg.errors import CheckpointError, DataError
from tumorseg.models.checks import check_preprocessing

from conftest import tiny_checkpoint


def _lgg(patient: str, n: int) -> SliceRecord:
    return SliceRecord(f"{patient}_{n}", Path(f"{patient}/{patient}_{n}.tif"), patient=patient, loader="lgg",
                       slice_index=n)


def test_neighbours_stay_inside_their_volume_and_stop_at_gaps():
    recs = [_lgg("a", 1), _lgg("a", 2), _lgg("a", 3), _lgg("a", 5), _lgg("b", 4),
            SliceRecord("png", Path("x.png")),
            # two NIfTI volumes of one patient (time points) with the same slice numbers: never mixed
            SliceRecord("t0_z1", Path("t0.nii.gz"), patient="p", loader="nifti", slice_index=1),
            SliceRecord("t1_z2", Path("t1.nii.gz"), patient="p", loader="nifti", slice_index=2)]
    idx = neighbour_index(recs, 1)
    assert idx.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 2], [3, 3, 3], [4, 4, 4], [5, 5, 5], [6, 6, 6], [7, 7, 7]]
    idx2 = neighbour_index(recs, 2)
    # slice 3 of "a": 1, 2 below; 4 is missing, so 5 is not reached and the stack repeats slice 3 above
    assert idx2[2].tolist() == [0, 1, 2, 2, 2]


def test_with_neighbours_adds_the_records_a_stack_needs():
    pool = [_lgg("a", n) for n in (1, 2, 3, 4)] + [_lgg("b", 2)]
    got = with_neighbours([pool[2], pool[4]], pool, 1)  # a_3 and b_2
    assert [r.case_id for r in got] == ["a_3", "b_2", "a_2", "a_4"]
    assert with_neighbours([pool[0]], pool, 0) == [pool[0]]


def test_with_context_stacks_images_and_keeps_masks():
    recs = [_lgg("a", n) for n in (1, 2, 3)]
    images = np.stack([np.full((4, 4), v, np.uint8) for v in (10, 20, 30)])
    masks = np.zeros((3, 4, 4), bool)
    masks[1, 1, 1] = True
    out = with_context(SliceArrays(images, masks, recs), 1)
    assert out.images.shape == (3, 3, 4, 4)
    assert out.images[:, :, 0, 0].tolist() == [[10, 10, 20], [10, 20, 30], [20, 30, 30]]
    assert out.masks is masks and out.records == recs
    assert with_context(SliceArrays(images, masks, recs), 0).images is images
    with pytest.raises(DataError, match="one-channel"):
        with_context(SliceArrays(out.images, masks, recs), 1)
    with pytest.raises(DataError, match="--context-slices 9"):
        with_context(SliceArrays(images, masks, recs), 9)


def test_volume_stacks_repeat_the_ends():
    slices = [np.full((2, 2), v, np.uint8) for v in range(4)]
    got = volume_stacks(slices, [0, 3], 1)
    assert [s[:, 0, 0].tolist() for s in got] == [[0, 0, 1], [2, 3, 3]]


def test_context_dropout_shows_the_centre_alone():
    image = torch.stack([torch.full((3, 3), float(v)) for v in (1, 2, 3)])
    mask = torch.zeros(1, 3, 3)
    alone, _ = ContextDropout(None, p=1.0)(image, mask)
    assert alone[:, 0, 0].tolist() == [2.0, 2.0, 2.0]
    kept, _ = ContextDropout(None, p=0.0)(image, mask)
    assert torch.equal(kept, image)
    batch = torch.stack([image] * 400)  # the device path: per sample, from the batch's generator
    out = drop_context(batch, 0.25, torch.Generator().manual_seed(0))
    alone_rows = (out[:, 0] == out[:, 2]).flatten(1).all(1)
    assert 60 < int(alone_rows.sum()) < 140 and torch.equal(out[~alone_rows], batch[~alone_rows])
    assert torch.equal(out[:, 1], batch[:, 1])  # the centre slice is never changed


def test_checkpoint_context_must_fit_its_channels():
    check_preprocessing({"image_size": 32, "in_channels": 3, "context_slices": 1}, "m.pt")
    with pytest.raises(CheckpointError, match="context_slices"):
        check_preprocessing({"image_size": 32, "in_channels": 1, "context_slices": 1}, "m.pt")


# -- prediction: the stacks a context model is given ------------------------------------------------------------


def _spy(tmp_path, monkeypatch):
    """A FLAIR context model (k = 1) whose network calls are recorded: each input's per-channel means."""
    from tumorseg.inference.predictor import Predictor

    ckpt = tiny_checkpoint(tmp_path / "ctx.pt", in_channels=3, context_slices=1, modality="flair",
                           reader_options={"channels": [1]}, channels=["flair"])
    seen = []

    def small(self, images, batch_size=16):
        seen.extend(images.reshape(len(images), images.shape[1], -1).mean(-1).round().tolist())
        return np.zeros((len(images), *images.shape[-2:]), np.float32)

    monkeypatch.setattr(Predictor, "predict_small", small)
    return Predictor.from_checkpoint(ckpt, "cpu", backend="torch"), seen, ckpt


def _lgg_patient(root: Path, n: int = 3) -> Path:
    """Slices 1..n of one patient; slice k's FLAIR channel (1) is 40·k, the others 7 (so a wrong channel shows)."""
    d = root / "TCGA_XX_0001_20000101"
    d.mkdir(parents=True)
    for k in range(1, n + 1):
        rgb = np.full((32, 32, 3), 7, np.uint8)
        rgb[..., 1] = 40 * k
        Image.fromarray(rgb).save(d / f"{d.name}_{k}.tif")
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(d / f"{d.name}_{k}_mask.tif")
    return d


def test_lgg_slice_files_are_read_with_their_neighbours(tmp_path, monkeypatch):
    from tumorseg.inference.volumes import read_model_input

    pred, _, _ = _spy(tmp_path, monkeypatch)
    d = _lgg_patient(tmp_path / "lgg")
    stacks = [read_model_input(d / f"{d.name}_{k}.tif", pred)[0] for k in (1, 2, 3)]
    assert [s[:, 0, 0].tolist() for s in stacks] == [[40, 40, 80], [40, 80, 120], [80, 120, 120]]


def test_a_corrupt_neighbour_costs_only_its_own_slice(tmp_path, monkeypatch):
    from tumorseg.inference.files import predict_inputs

    _, seen, ckpt = _spy(tmp_path, monkeypatch)
    d = _lgg_patient(tmp_path / "lgg")
    (d / f"{d.name}_2.tif").write_bytes(b"II*\x00 not really a TIFF")
    report = predict_inputs([d], ckpt, tmp_path / "out", device="cpu", backend="torch", progress=False)
    assert [p.name for p, _ in report.failed] == [f"{d.name}_2.tif"]
    assert sorted(seen) == [[40, 40, 40], [120, 120, 120]]  # slices 1 and 3, each without the broken slice 2


def test_volume_and_single_image_inputs(tmp_path, monkeypatch):
    pred, seen, _ = _spy(tmp_path, monkeypatch)
    slices = [np.full((32, 32), 50 * (z + 1), np.uint8) for z in range(3)]
    pred.probabilities(pred.inputs(slices, [0, 1, 2]))
    assert seen == [[50, 50, 100], [50, 100, 150], [100, 150, 150]]
    seen.clear()
    pred.probabilities([slices[1]])  # one slice alone: its own context
    assert seen == [[100, 100, 100]]
    with pytest.raises(DataError, match="2 channel"):
        pred.check_channels(np.zeros((2, 32, 32), np.uint8))
    from tumorseg.inference.volumes import far_off_note

    pred.input_stats = {"fg_median": [[200.0, 210.0, 220.0]]}  # one band: the slices' brightness
    assert far_off_note(Path("v"), pred.inputs(slices, [0, 1, 2]), pred) is not None  # centres 50-150: too dark
    fits = np.full((32, 32), 210, np.uint8)
    fits[0, :10] = np.arange(10)  # not blank, nor a mask's few grey levels
    assert far_off_note(Path("v"), [fits], pred) is None


def test_predict_on_an_lgg_folder_uses_neighbours(tmp_path, monkeypatch):
    from tumorseg.inference.files import predict_inputs

    _, seen, ckpt = _spy(tmp_path, monkeypatch)
    d = _lgg_patient(tmp_path / "lgg")
    predict_inputs([d], ckpt, tmp_path / "out", device="cpu", backend="torch", progress=False, strict=True)
    assert sorted(seen) == [[40, 40, 80], [40, 80, 120], [80, 120, 120]]


def test_train_and_evaluate_with_context_on_an_lgg_folder(tmp_path):
    from tumorseg.cli import main
    from tumorseg.models.checkpoint import load_checkpoint

    from data._phantom import lgg_folder

    lgg_folder(tmp_path / "lgg", n_patients=4)
    rc = main(["train", "--data", str(tmp_path / "lgg"), "--context-slices", "1", "--context-dropout", "0.3",
               "--data-path", "device", "--epochs", "1", "--image-size",
               "64", "--batch-size", "4", "--model", "unet", "--model-kwargs", '{"width": 4, "levels": 3}',
               "--out", str(tmp_path / "run"), "--device", "cpu", "--no-progress"])
    assert rc == 0
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    pre = ckpt["preprocessing"]
    assert pre["context_slices"] == 1 and pre["in_channels"] == 3 and ckpt["config"]["context_slices"] == 1
    assert ckpt["config"]["context_dropout"] == 0.3
    assert len(pre["input_stats"]["fg_median"]) == 1  # brightness of the slices, not of each stack channel
    assert pre["channels"] == ["flair"]
    rc = main(["evaluate", "--model", str(tmp_path / "run" / "best.pt"), "--data", str(tmp_path / "lgg"),
               "--split", "all", "--include-training", "--out", str(tmp_path / "ev"), "--no-progress"])
    assert rc == 0 and (tmp_path / "ev" / "metrics.json").is_file()
    assert main(["report", str(tmp_path / "run")]) == 0  # its gallery re-predicts slices with their neighbours
    page = (tmp_path / "run" / "report.html").read_text()
    assert "worst cases" in page and "Gallery skipped" not in page


def test_web_upload_of_a_volume_gives_each_slice_its_neighbours(tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    pytest.importorskip("httpx")
    nib = pytest.importorskip("nibabel")
    from fastapi.testclient import TestClient

    from tumorseg.web.app import create_app

    pred, seen, _ = _spy(tmp_path, monkeypatch)
    vol = np.zeros((32, 32, 3), np.int16)
    for z in range(3):
        vol[4:28, 4:28, z] = 200 * (z + 1)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "v.nii.gz"))
    client = TestClient(create_app(pred, max_upload_mb=1), base_url="http://127.0.0.1:8000")
    r = client.post("/api/segment", files={"file": ("v.nii.gz", (tmp_path / "v.nii.gz").read_bytes(),
                                                     "application/octet-stream")})
    assert r.status_code == 200, r.text
    # the reader's 8-bit scaling makes the faintest slice black: not run through the model, but still the
    # neighbour of the next one
    (a, b, c), (b2, c2, c3) = seen
    assert a == 0 < b == b2 < c == c2 == c3
