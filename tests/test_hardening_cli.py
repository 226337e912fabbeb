"""Fuzz-style walk over the CLI's options and inputs with bad values and hostile files (issue 13, rows 4–13).

Every case asserts: the exit status, an error of one line that names the
problem, no traceback, and nothing left in ``--out``. In-process (``main``),
bounded tables, synthetic data built in ``tmp_path``.
"""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest
from PIL import Image

import hostile
from conftest import tiny_checkpoint
from tumorseg.cli import main
from tumorseg.models import build_model
from tumorseg.models.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint


def run(capsys, argv: list[str]) -> tuple[int, str]:
    """``(exit status, stderr)`` of ``tumorseg ARGV``; fails on any uncaught exception (a traceback)."""
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def error_line(err: str) -> str:
    """The error, which must be one line (progress/log lines before it are allowed)."""
    lines = [ln for ln in err.strip().splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    assert err.strip().splitlines()[-1] == lines[0], err  # nothing after it
    return lines[0]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "best.pt", image_size=32)


# --- rows 5, 8, 9, 12: every option checked when parsed (or before anything is read) ---------------------------

TRAIN_BAD = [
    (["--batch-size", "-4"], "--batch-size"), (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "x"], "--batch-size"), (["--lr", "-1"], "--lr"), (["--lr", "0"], "--lr"),
    (["--lr", "nan"], "--lr"), (["--workers", "-2"], "--workers"), (["--image-size", "-64"], "--image-size"),
    (["--image-size", "0"], "--image-size"), (["--image-size", "100000"], "--image-size"),
    (["--max-slices", "-1"], "--max-slices"), (["--max-slices", "0"], "--max-slices"),
    (["--epochs", "0"], "--epochs"), (["--epochs", "-3"], "--epochs"), (["--loss", "dcie"], "did you mean 'dice'"),
    (["--optimizer", "sgd"], "--optimizer"), (["--augment", "hevy"], "--augment"),
    (["--scheduler", "step"], "--scheduler"), (["--select-metric", "dice"], "--select-metric"),
    (["--seed", "-1"], "--seed"), (["--warmup-epochs", "-1"], "--warmup-epochs"), (["--grad-clip", "inf"], "--grad-clip"),
    (["--early-stop-patience", "-1"], "--early-stop-patience"), (["--grid-every", "-2"], "--grid-every"),
    (["--checkpoint-every-steps", "-5"], "--checkpoint-every-steps"), (["--empty-fraction", "2"], "--empty-fraction"),
    (["--preset", "cpu-fats"], "did you mean 'cpu-fast'"), (["--split", "0.5,0.5"], "--split"),
    (["--model-kwargs", "{bad json"], "not valid json"), (["--model-kwargs", "[1]"], "json object"),
    (["--model-kwargs", '{"widht": 8}'], "did you mean 'width'"),
    (["--model-kwargs", '{"width": -8}'], "out of range"), (["--model-kwargs", '{"width": "8"}'], "must be int"),
    (["--model-kwargs", '{"width": 4096}'], "out of range"), (["--model", "unett"], "did you mean 'unet'"),
    (["--model", "unet", "--model-kwargs", '{"width": 1024, "levels": 8}'], "parameters"),
    (["--model", "gated-unet"], "train_presence_gate.py"), (["--model", "ensemble"], "tumorseg ensemble"),
    (["--image-size", "40"], "multiple of"),
    (["--preset", "servable", "--image-size", "32"], "use at least 64"),
    (["--time-budget", "soon"], "--time-budget"), (["--time-budget", "-1m"], "--time-budget"),
]


@pytest.mark.parametrize("extra,words", TRAIN_BAD, ids=[" ".join(a) for a, _ in TRAIN_BAD])
def test_train_bad_options(capsys, synthetic_dataset, tmp_path, extra, words):
    out = tmp_path / "run"
    rc, err = run(capsys, ["train", "--data", str(synthetic_dataset), "--out", str(out), "--device", "cpu",
                           "--no-progress", *extra])
    assert rc == 2
    assert words.lower() in error_line(err).lower()
    assert not out.exists()  # nothing written into --out


OTHER_BAD = [
    (["predict", "IN", "--out", "OUT", "--batch-size", "-1"], "--batch-size"),
    (["predict", "IN", "--out", "OUT", "--batch-size", "0"], "--batch-size"),
    (["predict", "IN", "--out", "FILE"], "existing file"),
    (["predict", "IN", "--out", "FILE/sub"], "is a file"),
    (["predict", "IN", "--out", "OUT", "--backend", "tensorrt"], "--backend"),
    (["predict", "IMAGES", "--out", "OUT", "--model", "MISSING"], "checkpoint not found"),
    (["evaluate", "--data", "IN", "--batch-size", "0"], "--batch-size"),
    (["serve", "--port", "0"], "--port"), (["serve", "--port", "70000"], "--port"),
    (["serve", "--max-upload-mb", "0"], "--max-upload-mb"), (["serve", "--max-upload-mb", "-5"], "--max-upload-mb"),
    (["serve", "--max-concurrent", "0"], "--max-concurrent"),
    (["summary", "--model-kwargs", '{"widht": 8}'], "did you mean 'width'"),
    (["summary", "--model-kwargs", '{"width": -1}'], "out of range"),
    (["summary", "--model-kwargs", '{"width": "x"}'], "must be int"),
    (["summary", "--image-size", "0"], "--image-size"), (["summary", "--in-channels", "0"], "--in-channels"),
    (["summary", "--model", "unet", "--model-kwargs", '{"levels": 0}'], "out of range"),
    (["export", "--onnx", "OUT", "--model", "MISSING"], "is a folder"),
    (["export", "--onnx", "x.onnx", "--opset", "5"], "--opset"),
    (["cv", "--data", "IN", "--out", "OUT", "--folds", "1"], "--folds"),
    (["cv", "--data", "IN", "--out", "OUT", "--folds", "3", "--fold", "7"], "--fold 7"),
    (["demo", "--n-images", "0"], "--n-images"), (["demo", "--epochs", "0"], "--epochs"),
    (["check-data", "IN", "--empty-fraction", "-1"], "--empty-fraction"),
    (["train", "--resume", "OUT"], "no config.json"),
    (["predict", "IN", "--out", "OUT", "--device", "gpu"], "--device"),
    (["serve", "--device", "cuda:x"], "--device"),
    (["cv", "--data", "IN", "--out", "OUT", "--model-kwargs", '{"widht": 4}'], "did you mean 'width'"),
    (["check-data", "IN", "--json", "OUT"], "is a folder"),
]


@pytest.mark.parametrize("argv,words", OTHER_BAD, ids=[" ".join(a) for a, _ in OTHER_BAD])
def test_other_commands_bad_options(capsys, synthetic_dataset, tmp_path, argv, words):
    (tmp_path / "OUT").mkdir()
    (tmp_path / "FILE").write_text("a file")
    subst = {"IN": str(synthetic_dataset), "IMAGES": str(synthetic_dataset / "images"), "OUT": str(tmp_path / "OUT"), "FILE": str(tmp_path / "FILE"),
             "FILE/sub": str(tmp_path / "FILE" / "sub"), "MISSING": str(tmp_path / "missing.pt")}
    rc, err = run(capsys, [subst.get(a, a) for a in argv])
    assert rc == 2
    assert words.lower() in error_line(err).lower()
    assert list((tmp_path / "OUT").iterdir()) == []


# --- row 10: checkpoints that unpickle but hold bad content ----------------------------------------------------

def _bad_checkpoint(path, change) -> str:
    model = build_model("seed-ae", width=4)
    ck = make_checkpoint("seed-ae", {"width": 4}, model, {"image_size": 32, "in_channels": 1, "threshold": 0.5})
    change(ck)
    save_checkpoint(ck, path)
    return str(path)


BAD_CONTENT = {
    "unknown kwarg": (lambda ck: ck["model"].update(kwargs={"widht": 4}), "did you mean 'width'"),
    "string width": (lambda ck: ck["model"].update(kwargs={"width": "4"}), "must be int"),
    "huge width": (lambda ck: ck["model"].update(kwargs={"width": 4096}), "out of range"),
    "wide model": (lambda ck: ck["model"].update(kwargs={"width": 1000}), "parameters"),
    "no preprocessing": (lambda ck: ck.pop("preprocessing"), "preprocessing"),
    "negative image size": (lambda ck: ck["preprocessing"].update(image_size=-5), "image_size"),
    "image size 40": (lambda ck: ck["preprocessing"].update(image_size=40), "stride"),
    "threshold 7": (lambda ck: ck["preprocessing"].update(threshold=7), "threshold"),
    "wrong shapes": (lambda ck: ck["model"].update(kwargs={"width": 8}), "do not fit"),
    "unknown model": (lambda ck: ck["model"].update(name="seed-aee"), "did you mean 'seed-ae'"),
    "no weights": (lambda ck: ck.pop("state_dict"), "state_dict"),
    "bad postprocess": (lambda ck: ck.update(postprocess={"threshold": "high"}), "postprocess"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONTENT))
def test_bad_checkpoint_content_is_one_line(capsys, tmp_path, case):
    change, words = BAD_CONTENT[case]
    path = _bad_checkpoint(tmp_path / "bad.pt", change)
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "a.png")
    rc, err = run(capsys, ["predict", str(tmp_path / "a.png"), "--model", path, "--out", str(tmp_path / "o"),
                           "--backend", "torch", "--no-progress"])
    line = error_line(err)
    assert rc == 2 and "bad.pt" in line and words.lower() in line.lower()
    assert not (tmp_path / "o").exists()


# --- row 4: predict on a folder never stops at one bad file -----------------------------------------------------

def _folder(tmp_path, n: int = 200, bad: dict[int, bytes] | None = None):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        path = folder / f"img_{i:03d}.png"
        if bad and i in bad:
            path.write_bytes(bad[i])
        else:
            Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(path)
    return folder


def test_predict_folder_writes_every_good_mask_and_lists_bad_files(capsys, ckpt, tmp_path):
    bad = {3: b"\x89PNG\r\n\x1a\n" + b"\0" * 40, 77: b"not an image at all", 150: hostile.png_bomb(50000, 50000)}
    folder = _folder(tmp_path, 200, bad)
    out = tmp_path / "out"
    rc, err = run(capsys, ["predict", str(folder), "--model", str(ckpt), "--out", str(out), "--backend", "torch",
                           "--batch-size", "16", "--no-progress"])
    assert rc == 1
    assert len(list(out.glob("img_*.png"))) == 197
    rows = list(csv.DictReader(open(out / "failed.csv")))
    assert sorted(r["input"] for r in rows) == sorted(str(folder / f"img_{i:03d}.png") for i in bad)
    assert all(r["reason"] for r in rows)
    for i in bad:
        assert f"img_{i:03d}.png" in err
    assert "declares" in err  # the bomb's reason: its declared size, refused before decoding

    # --strict stops at the first, names it, exit 2
    rc, err = run(capsys, ["predict", str(folder), "--model", str(ckpt), "--out", str(tmp_path / "s"),
                           "--backend", "torch", "--strict", "--no-progress"])
    assert rc == 2 and "img_003.png" in error_line(err)

    # a clean re-run exits 0 and removes the stale failed.csv
    for i in bad:
        (folder / f"img_{i:03d}.png").unlink()
    rc, _ = run(capsys, ["predict", str(folder), "--model", str(ckpt), "--out", str(out), "--backend", "torch",
                         "--no-progress"])
    assert rc == 0 and not (out / "failed.csv").exists()


def test_predict_missing_and_unsupported_inputs_are_listed(capsys, ckpt, tmp_path):
    folder = _folder(tmp_path, 3)
    (tmp_path / "notes.txt").write_text("x")
    rc, err = run(capsys, ["predict", str(folder), str(tmp_path / "nope.png"), str(tmp_path / "notes.txt"),
                           "--model", str(ckpt), "--out", str(tmp_path / "o"), "--backend", "torch", "--no-progress"])
    assert rc == 1 and "nope.png" in err and "notes.txt" in err
    assert len(list((tmp_path / "o").glob("img_*.png"))) == 3


def test_predict_refuses_frames_of_an_animated_png_but_reads_a_tiff_stack_and_a_thumbnail_page(capsys, ckpt,
                                                                                                  tmp_path):
    """An animated PNG would lose all but its first frame: a one-line failure naming the file and the fix. A
    multi-page TIFF of same-size pages (Fiji's volume stack) is one volume; a second page of another size (a
    thumbnail) leaves the first a 2-D image."""
    rng = np.random.default_rng(0)
    pages = [Image.fromarray(rng.integers(0, 255, (32, 40), dtype=np.uint8)) for _ in range(3)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    pages[0].save(tmp_path / "frames.png", save_all=True, append_images=pages[1:])
    pages[0].save(tmp_path / "thumb.tif", save_all=True, append_images=[pages[1].resize((10, 8))])
    out = tmp_path / "o"
    rc, err = run(capsys, ["predict", str(tmp_path / "stack.tif"), str(tmp_path / "frames.png"),
                           str(tmp_path / "thumb.tif"), "--model", str(ckpt), "--out", str(out), "--backend", "torch",
                           "--no-progress"])
    assert rc == 1
    line = next(x for x in err.splitlines() if "frames.png" in x)
    assert "stack of 40×32 images" in line and "Image Sequence" in line and "NIfTI" in line
    assert not any("stack.tif" in x and "error" in x for x in err.splitlines())
    assert [p.name for p in out.glob("*.png")] == ["thumb.png"]
    with Image.open(out / "stack_mask.tif") as mask:
        assert (mask.n_frames, mask.size) == (3, (40, 32))


def test_predict_empty_folder_names_images_and_volumes(capsys, ckpt, tmp_path):
    (tmp_path / "empty").mkdir()
    rc, err = run(capsys, ["predict", str(tmp_path / "empty"), "--model", str(ckpt), "--out", str(tmp_path / "o")])
    line = error_line(err)
    assert rc != 0 and "no images found" in line and ".png" in line and ".nii.gz" in line and "DICOM" in line


# --- row 7: decompression bombs in predict, train and check-data -----------------------------------------------

@pytest.mark.parametrize("kind", ["png", "tiff"])
def test_bomb_in_train_and_check_data(capsys, synthetic_dataset, tmp_path, kind):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synthetic_dataset, data)
    bomb = hostile.png_bomb(50000, 50000) if kind == "png" else hostile.tiff_bomb(50000, 50000)
    (data / "images" / "1.png").write_bytes(bomb)
    rc, err = run(capsys, ["check-data", str(data), "--no-progress"])
    assert rc == 1
    rc, err = run(capsys, ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--image-size", "32",
                           "--model-kwargs", '{"width": 4}', "--epochs", "1", "--device", "cpu", "--no-progress"])
    assert rc == 2 and "1.png" in err and "declares" in err
    assert not (tmp_path / "run").exists()  # row 11: a failed run leaves nothing behind


def test_check_data_names_the_bomb(capsys, synthetic_dataset, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synthetic_dataset, data)
    (data / "images" / "2.png").write_bytes(hostile.png_bomb(50000, 50000))
    capsys.readouterr()
    assert main(["check-data", str(data), "--no-progress"]) == 1
    report = capsys.readouterr().out
    assert "2.png" in report and "declares" in report


# --- rows 6 and 11: run directories --------------------------------------------------------------------------

def _train(capsys, data, out, *extra):
    return run(capsys, ["train", "--data", str(data), "--out", str(out), "--image-size", "32", "--batch-size", "8",
                        "--model-kwargs", '{"width": 4}', "--epochs", "1", "--grid-every", "1", "--device", "cpu",
                        "--no-progress", *extra])


def test_train_refuses_an_existing_run_unless_overwrite(capsys, synthetic_dataset, tmp_path):
    out = tmp_path / "run"
    rc, _ = _train(capsys, synthetic_dataset, out)
    assert rc == 0
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    (out / "grids" / "epoch_099.png").write_bytes(b"stale")
    rc, err = _train(capsys, synthetic_dataset, out)
    line = error_line(err)
    assert rc == 2 and "already holds a run" in line and f"--resume {out}" in line and "--overwrite" in line
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()} == stamp  # untouched
    rc, _ = _train(capsys, synthetic_dataset, out, "--overwrite")
    assert rc == 0 and not (out / "grids" / "epoch_099.png").exists()
    assert load_checkpoint(out / "last.pt")["train_state"]["finished"]


def test_failed_run_leaves_nothing_and_resume_says_what_to_do(capsys, synthetic_dataset, tmp_path):
    out = tmp_path / "run"
    rc, _ = _train(capsys, synthetic_dataset, out, "--max-slices", "1")  # too few slices for a val part
    assert rc == 2 and not out.exists()
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"data": str(synthetic_dataset), "out": str(out)}))
    rc, err = run(capsys, ["train", "--resume", str(out), "--no-progress"])
    line = error_line(err)
    assert rc == 2 and "no last.pt" in line and "--overwrite" in line and "best.pt" not in line


def test_run_interrupted_after_a_checkpoint_is_kept(synthetic_dataset, tmp_path, monkeypatch):
    from tumorseg.config import TrainConfig
    from tumorseg.training import fit as fit_module

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(fit_module, "finish", boom)  # fails after training wrote last.pt
    cfg = TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "run"), model_kwargs={"width": 4},
                      image_size=32, epochs=1, batch_size=8, device="cpu")
    with pytest.raises(RuntimeError):
        fit_module.fit(cfg, progress=False)
    assert (tmp_path / "run" / "last.pt").exists() and (tmp_path / "run" / "config.json").exists()


# --- row 13: a missing optional dependency names its extra ------------------------------------------------------

def test_missing_extra_names_the_pip_command(capsys, ckpt, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ModuleNotFoundError
    rc, err = run(capsys, ["export", "--model", str(ckpt), "--onnx", str(tmp_path / "m.onnx")])
    line = error_line(err)
    assert rc == 2 and "pip install 'tumorseg[onnx]'" in line
    assert not (tmp_path / "m.onnx").exists()
    uvicorn = pytest.importorskip("uvicorn")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server was started"))
    monkeypatch.setitem(sys.modules, "fastapi", None)
    monkeypatch.delitem(sys.modules, "tumorseg.web.app", raising=False)
    rc, err = run(capsys, ["serve", "--model", str(ckpt), "--port", "8765"])
    assert rc == 2 and "pip install 'tumorseg[serve]'" in error_line(err)


def test_all_extra_lists_every_user_extra():
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    wanted = {d for name in ("formats", "onnx", "serve") for d in extras[name]}
    assert wanted <= set(extras["all"])

