"""A dataset given as the .zip it came as (``--data data.zip``): unpacked once into the cache, read like its folder,
never trusted (tumorseg.data.unpacked)."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from conftest import shared_data
from tumorseg.cli import main
from tumorseg.data import unpacked
from tumorseg.data.formats import dataset_root, is_dataset_archive, read_dataset
from tumorseg.errors import DataError
from tumorseg.limits import LimitExceeded


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TUMORSEG_CACHE_DIR", str(folder))
    return folder


def _zip_tree(folder: Path, archive: Path, prefix: str = "") -> Path:
    """``archive`` holding every file under ``folder``, named ``prefix/relative/path``."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f"{prefix}{f.relative_to(folder).as_posix()}")
    return archive


def _ids(records) -> list[str]:
    return sorted(r.case_id for r in records)


def test_a_zipped_dataset_reads_as_its_folder_and_is_unpacked_once(synthetic_dataset, tmp_path, cache, monkeypatch):
    archive = _zip_tree(synthetic_dataset, tmp_path / "data.zip", "data/")  # made by compressing the folder
    records = read_dataset(archive)
    want = read_dataset(synthetic_dataset)
    assert _ids(records) == _ids(want) and {r.patient for r in records} == {r.patient for r in want}
    root = dataset_root(archive)
    assert root.name == "data" and root.parent.parent == cache / "unpacked" and root.is_dir()
    assert all(Path(r.image).is_relative_to(root) for r in records)

    def no_second_unpack(*a, **k):
        raise AssertionError("unpacked again")

    monkeypatch.setattr(unpacked, "_unpack", no_second_unpack)
    assert _ids(read_dataset(archive)) == _ids(want)  # found in the cache
    monkeypatch.undo()
    monkeypatch.setenv("TUMORSEG_CACHE_DIR", str(cache))
    os.utime(archive, ns=(1, 1))  # a replaced archive: unpacked again, the old copy never read
    assert dataset_root(archive) != root
    dotted = tmp_path / "data.v2.zip"  # dots in the name: its own entry and record
    shutil.copy(archive, dotted)
    assert dataset_root(dotted) not in (root, dataset_root(archive))
    assert sorted(p.name for p in (cache / "unpacked").glob("*.json")) == sorted(
        f"{p.name}.json" for p in (cache / "unpacked").iterdir() if p.is_dir())


def test_train_and_evaluate_take_a_zip_and_the_run_keeps_its_path(synthetic_dataset, tmp_path, cache, capsys):
    archive = _zip_tree(synthetic_dataset, tmp_path / "syn.zip", "syn/")
    run = tmp_path / "run"
    assert main(["train", "--data", str(archive), "--out", str(run), "--epochs", "1", "--batch-size", "8",
                 "--image-size", "64", "--no-progress", "--device", "cpu"]) == 0
    assert json.loads((run / "config.json").read_text())["data"] == str(archive)  # not the cache folder
    shutil.rmtree(cache)  # the cache emptied between runs: evaluate unpacks it again
    assert main(["evaluate", "--data", str(archive), "--model", str(run / "best.pt"), "--split", "test",
                 "--out", str(tmp_path / "ev"), "--no-progress"]) == 0
    split = json.loads((run / "split.json").read_text())
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["n_images"] == len(split["test"])
    capsys.readouterr()
    assert main(["check-data", str(archive), "--no-progress"]) == 0
    assert "24" in capsys.readouterr().out


def test_a_figshare_zip_of_mat_files_is_read_in_place(tmp_path):
    archive = tmp_path / "brainTumorDataPublic_1-766.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("1.mat", b"x")
    assert not is_dataset_archive(archive)
    assert dataset_root(archive) == archive
    plain = tmp_path / "pngs.zip"
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("images/1.png", b"x")
        z.writestr("cvind.mat", b"x")  # cvind.mat alone is not a figshare slice archive
    assert is_dataset_archive(plain)


def test_the_shallowest_dataset_in_the_archive_is_read(synthetic_dataset, tmp_path, cache, caplog):
    # the Kaggle LGG archive's shape: kaggle_3m/ at the top and a second copy one level down
    tree = tmp_path / "tree"
    shutil.copytree(synthetic_dataset, tree / "download" / "set_b")
    shutil.copytree(synthetic_dataset, tree / "set_a")
    (tree / "README.txt").write_text("read me")
    archive = _zip_tree(tree, tmp_path / "two.zip")
    assert dataset_root(archive).name == "set_a"
    # two at the same depth: the first by name, and a note naming both
    both = tmp_path / "both"
    shutil.copytree(synthetic_dataset, both / "b")
    shutil.copytree(synthetic_dataset, both / "a")
    (both / "notes.txt").write_text("two copies")
    with caplog.at_level("WARNING"):
        assert dataset_root(_zip_tree(both, tmp_path / "both.zip")).name == "a"
    assert "holds 2 datasets (a, b)" in caplog.text


def test_a_real_lgg_archive_of_kaggle_shape(tmp_path, cache):
    lgg = shared_data("lgg", "kaggle_3m")
    patients = sorted(d for d in lgg.iterdir() if d.is_dir())[:2]
    with zipfile.ZipFile(tmp_path / "archive.zip", "w") as z:  # as downloaded from Kaggle: two copies
        for top in ("kaggle_3m", "lgg-mri-segmentation/kaggle_3m"):
            for p in patients:
                for f in sorted(p.iterdir()):
                    z.write(f, f"{top}/{p.name}/{f.name}")
    records = read_dataset(tmp_path / "archive.zip")
    assert {r.patient for r in records} == {p.name for p in patients}
    assert len(records) == sum(1 for p in patients for f in p.glob("*.tif") if not f.stem.endswith("_mask"))


def test_unsafe_corrupt_and_too_large_archives_are_one_line_errors(tmp_path, cache, monkeypatch, capsys):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("images/1.png", b"x")
        z.writestr("../../outside.png", b"x")
    with pytest.raises(DataError, match="evil.zip: holds a file named '../../outside.png'"):
        dataset_root(evil)
    assert not (tmp_path.parent / "outside.png").exists()

    (tmp_path / "cut.zip").write_bytes(evil.read_bytes()[:40])
    assert main(["check-data", str(tmp_path / "cut.zip"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cut.zip: is not a readable ZIP archive" in err

    monkeypatch.setattr(unpacked, "MAX_BYTES", 10)
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("images/1.png", b"\0" * 1000)
    with pytest.raises(LimitExceeded, match="big.zip: unpacks to 0 MiB"):
        dataset_root(big)
    monkeypatch.setattr(unpacked, "MAX_BYTES", 1 << 30)

    class Full:
        free = 100 << 20

    monkeypatch.setattr(unpacked.shutil, "disk_usage", lambda path: Full)
    with pytest.raises(DataError, match="free .*set TUMORSEG_CACHE_DIR to a disk with room"):
        dataset_root(big)
    assert not (cache / "unpacked").exists() or not any((cache / "unpacked").iterdir())


def test_an_interrupted_unpack_leaves_nothing_a_later_run_would_trust(synthetic_dataset, tmp_path, cache,
                                                                       monkeypatch):
    archive = _zip_tree(synthetic_dataset, tmp_path / "data.zip", "data/")

    def interrupted(top, where, recognised):
        raise KeyboardInterrupt

    monkeypatch.setattr(unpacked, "_dataset_folder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dataset_root(archive)
    assert list((cache / "unpacked").iterdir()) == []  # no half-written copy, no temporary folder
    monkeypatch.undo()
    monkeypatch.setenv("TUMORSEG_CACHE_DIR", str(cache))
    assert _ids(read_dataset(archive)) == _ids(read_dataset(synthetic_dataset))


def test_reader_errors_name_the_archive_not_the_cache(synthetic_dataset, tmp_path, cache):
    tree = tmp_path / "tree"
    shutil.copytree(synthetic_dataset, tree)
    next((tree / "masks").iterdir()).unlink()  # an image without its mask
    archive = _zip_tree(tree, tmp_path / "broken.zip")
    with pytest.raises(DataError) as err:
        read_dataset(archive)
    assert str(archive) in str(err.value) and str(cache) not in str(err.value)
