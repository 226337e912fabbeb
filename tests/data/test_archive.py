"""ZIP archives as inputs (tumorseg.data.archive): read as the folder they hold, never trusted — names that leave the
folder, bombs, encrypted or corrupt archives get one line; ``predict`` reads a zipped series or patient as the
unzipped folder and names the archive in its summaries, ``--resume`` and failures."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import pytest

import hostile
from conftest import shared_data, tiny_checkpoint
from tumorseg import limits
from tumorseg.cli import main
from tumorseg.errors import DataError
from tumorseg.inference.files import plan_inputs, predict_inputs
from tumorseg.data.archive import is_zip_bytes, read_members, unpack, unpacked_inputs

SMALL = limits.Limits(1 << 20, 1 << 20, 1 << 20, "use a smaller file")


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    path.write_bytes(hostile.zip_of(files))
    return path


def test_unpack_reads_the_folder_it_was_made_from(tmp_path):
    z = _zip(tmp_path / "study.zip", {"study/s1/IM1.dcm": b"a", "study/s2/IM1.dcm": b"b", "__MACOSX/study/._x": b"",
                                      "study/.DS_Store": b"", "study/s1/._IM1.dcm": b""})
    top = unpack(z, tmp_path / "out")
    assert top == tmp_path / "out" / "study"  # one top folder: read as that folder
    assert sorted(p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()) == ["s1/IM1.dcm", "s2/IM1.dcm"]
    assert not (tmp_path / "out" / "__MACOSX").exists()
    one = unpack(_zip(tmp_path / "one.zip", {"a/scan.nii.gz": b"x"}), tmp_path / "one")
    assert one == tmp_path / "one" / "a" / "scan.nii.gz" and one.read_bytes() == b"x"  # one file: that file
    loose = unpack(_zip(tmp_path / "loose.zip", {"IM1.dcm": b"1", "IM2.dcm": b"2"}), tmp_path / "loose")
    assert loose == tmp_path / "loose"


@pytest.mark.parametrize("name", ["../evil.dcm", "a/../../evil.dcm", "/etc/evil.dcm", "C:/evil.dcm", "..\\evil.dcm"])
def test_names_that_leave_the_folder_are_refused_before_anything_is_written(tmp_path, name):
    z = _zip(tmp_path / "x.zip", {"ok.dcm": b"1", name: b"2"})
    with pytest.raises(DataError, match="outside the archive's own folder") as e:
        unpack(z, tmp_path / "out" / "x")
    assert "\n" not in str(e.value) and str(z) in str(e.value)
    assert not (tmp_path / "evil.dcm").exists() and not list((tmp_path / "out" / "x").iterdir())


def test_declared_sizes_are_checked_before_inflating(tmp_path):
    data = hostile.zip_bomb(2 << 20)  # 2 MiB of zeros in a few kB
    with limits.using(SMALL):
        with pytest.raises(limits.LimitExceeded, match="unpacks to 2 MiB; at most 1 MiB are accepted"):
            read_members(data)
        z = tmp_path / "bomb.zip"
        z.write_bytes(data)
        with pytest.raises(limits.LimitExceeded):
            unpack(z, tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())
    with pytest.raises(limits.LimitExceeded, match="holds 5 files; at most 4 are accepted"):
        read_members(hostile.zip_of({f"{i}.dcm": b"1" for i in range(5)}), max_files=4)


def _patch_central(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite a field of the (first) central directory entry: ``offset`` bytes after its signature."""
    at = data.index(b"PK\x01\x02") + offset
    return data[:at] + struct.pack(fmt, value) + data[at + struct.calcsize(fmt):]


def test_a_member_larger_than_it_declares_is_never_inflated_past_it():
    data = hostile.zip_of({"IM1.dcm": bytes(4 << 20)})
    lying = _patch_central(data, 24, "<I", 1000)  # uncompressed size: 1000 bytes instead of 4 MiB
    with pytest.raises(DataError, match="corrupt") as e:
        read_members(lying)
    assert "\n" not in str(e.value)


def test_encrypted_corrupt_and_empty_archives_get_one_line(tmp_path):
    data = hostile.zip_of({"IM1.dcm": b"1234"})
    with pytest.raises(DataError, match="is encrypted; unzip it with its password"):
        read_members(_patch_central(data, 8, "<H", 1))  # general purpose flag bit 0: encrypted
    with pytest.raises(DataError, match="not a readable ZIP archive"):
        read_members(data[:-30])
    with pytest.raises(DataError, match="holds no files"):
        read_members(hostile.zip_of({"__MACOSX/x": b"1"}))
    assert is_zip_bytes(data) and not is_zip_bytes(b"\x89PNG")


def _series_zip(tmp_path: Path, name: str = "export.zip", inside: str = "") -> Path:
    pytest.importorskip("pydicom")
    from data._dicom_series import series_pixels, write_mr_series

    paths = write_mr_series(tmp_path / "series", series_pixels())
    return _zip(tmp_path / name, {f"{inside}{p.name}": p.read_bytes() for p in paths})


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """tempfile's folder for this test alone, to see that the unpacked files are gone afterwards."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_predict_reads_a_zipped_series_as_its_folder_and_names_the_archive(tmp_path, private_tmp):
    pytest.importorskip("nibabel")
    z = _series_zip(tmp_path)
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    [row] = plan_inputs([z], ckpt)
    assert (row.input, row.name, row.kind, row.size) == (str(z), "export", "DICOM series", "4 files")
    out = tmp_path / "out"
    report = predict_inputs([z], ckpt, out, progress=False, backend="torch")
    assert (out / "export_mask.nii.gz").is_file() and not report.failed
    [summary] = json.loads((out / "summary.json").read_text())["volumes"]
    assert summary["input"] == str(z) and summary["n_slices"] == 4
    assert not list(private_tmp.glob("tumorseg-unzip-*"))  # the unpacked files are removed
    # found finished by the archive's name
    again = predict_inputs([z], ckpt, out, progress=False, resume=True, backend="torch")
    assert [r.model for r in again.results] == ["earlier run"]


def test_predict_reads_a_zipped_lgg_patient_as_its_folder(tmp_path, private_tmp):
    patient = shared_data("samples", "lgg", "TCGA_CS_4941_19960909")
    files = {f"TCGA_CS_4941_19960909/{p.name}": p.read_bytes() for p in sorted(patient.iterdir()) if p.is_file()}
    z = _zip(tmp_path / "patient.zip", files)
    ckpt = tiny_checkpoint(tmp_path / "m.pt", modality="flair")  # reads the FLAIR channel of the TIFFs
    out = tmp_path / "out"
    predict_inputs([z], ckpt, out, progress=False, backend="torch")
    n_images = sum(1 for name in files if name.endswith(".tif") and not name.endswith("_mask.tif"))
    assert len(list(out.glob("TCGA_CS_4941_19960909_*.png"))) == n_images  # the slices, never the masks
    [summary] = json.loads((out / "summary.json").read_text())["volumes"]
    assert summary["input"] == f"{z}/TCGA_CS_4941_19960909" and summary["n_slices"] == n_images
    assert not list(private_tmp.glob("tumorseg-unzip-*"))


def test_a_bad_archive_is_listed_and_the_others_predicted(tmp_path, private_tmp, capsys):
    pytest.importorskip("nibabel")
    good, bad = _series_zip(tmp_path), _zip(tmp_path / "bad.zip", {"../evil.dcm": b"1"})
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    code = main(["predict", str(bad), str(good), "--model", str(ckpt), "--out", str(tmp_path / "out"),
                 "--no-progress"])
    assert code == 1  # done, with a failure
    assert (tmp_path / "out" / "export_mask.nii.gz").is_file()
    failed = (tmp_path / "out" / "failed.csv").read_text()
    assert str(bad) in failed and "outside the archive's own folder" in failed
    assert main(["predict", str(bad), "--model", str(ckpt), "--out", str(tmp_path / "o2"), "--no-progress"]) == 1
    assert (tmp_path / "o2" / "failed.csv").is_file()
    assert not list(private_tmp.glob("tumorseg-unzip-*"))


def test_unpacked_inputs_keeps_other_inputs_and_cleans_up_on_errors(tmp_path, private_tmp):
    z = _zip(tmp_path / "a.zip", {"x/IM1.png": b"1", "x/IM2.png": b"2"})
    with pytest.raises(RuntimeError):
        with unpacked_inputs(["plain.png", z]) as u:
            assert u.inputs[0] == "plain.png" and Path(u.inputs[1]).name == "x"
            assert u.shown(Path(u.inputs[1]) / "IM1.png") == f"{z}/x/IM1.png"
            raise RuntimeError("boom")
    assert not list(private_tmp.glob("tumorseg-unzip-*"))
    corrupt = tmp_path / "c.zip"
    corrupt.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match="not a readable ZIP"):
        with unpacked_inputs([corrupt]):
            pass
    assert not list(private_tmp.glob("tumorseg-unzip-*"))


def test_read_members_gives_base_names_in_order():
    data = hostile.zip_of({"a/IM2.png": b"2", "a/IM1.png": b"1", "a/": b""})
    assert read_members(data) == [("IM2.png", b"2"), ("IM1.png", b"1")]


def test_a_zipped_export_tree_gives_each_series_and_a_broken_one_fails_alone(tmp_path, private_tmp):
    pydicom = pytest.importorskip("pydicom")
    pytest.importorskip("nibabel")
    import csv

    import numpy as np
    from data._dicom_series import series_pixels, write_mr_series

    write_mr_series(tmp_path / "export" / "P1" / "SE1", series_pixels(), number=3, description="AX T1 POST GAD")
    bad = write_mr_series(tmp_path / "export" / "P1" / "SE2", series_pixels()[:2], number=8, description="broken")
    ds = pydicom.dcmread(bad[0])  # one slice of another size: not one series
    ds.Rows, ds.Columns, ds.PixelData = 12, 16, np.zeros((12, 16), "<i2").tobytes()
    ds.save_as(bad[0], enforce_file_format=True)
    files = {p.relative_to(tmp_path).as_posix(): p.read_bytes()
             for p in (tmp_path / "export").rglob("*") if p.is_file()}
    z = _zip(tmp_path / "cd.zip", files)
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    report = predict_inputs([z], ckpt, tmp_path / "out", progress=False, backend="torch")
    assert [s.input for s in report.summaries] == [f"{z}/export/P1/SE1 [series 3 'AX T1 POST GAD']"]
    with open(tmp_path / "out" / "failed.csv") as f:
        [row] = list(csv.reader(f))[1:]
    assert row[0].startswith(f"{z}/export/P1/SE2") and "tumorseg-unzip" not in "".join(row)
    assert not list(private_tmp.glob("tumorseg-unzip-*"))


def test_other_archives_and_unknown_files_say_what_is_read(tmp_path):
    from tumorseg.inference.files import collect_inputs

    for name in ("scans.rar", "scans.tar.gz", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    failed: list = []
    collect_inputs([tmp_path / "scans.rar", tmp_path / "scans.tar.gz", tmp_path / "notes.txt"], failed)
    reasons = [reason for _, reason in failed]
    assert "an archive tumorseg does not open ('.rar'); unpack it and give the folder, or make it a .zip." in reasons
    assert any("('.gz')" in r for r in reasons)
    assert any(r.startswith("unsupported file type '.txt'. Supported: ") and ".nii.gz" in r and r.endswith(
        "or a .zip of those.") for r in reasons)


def test_a_file_and_a_folder_of_one_name_get_one_line(tmp_path):
    z = _zip(tmp_path / "clash.zip", {"a": b"1", "a/b.dcm": b"2"})
    with pytest.raises(DataError, match="'a/b.dcm' cannot be unpacked here") as e:
        unpack(z, tmp_path / "out")
    assert "\n" not in str(e.value)


def test_two_copies_in_one_archive_are_named_inside_it(tmp_path, private_tmp, capsys):
    """An archive holding its data twice (the Kaggle LGG archive: kaggle_3m/ and lgg-mri-segmentation/kaggle_3m/):
    predict --list says which two files clash, as paths inside the archive (never the temporary folder)."""
    import gzip

    import numpy as np

    nib = pytest.importorskip("nibabel")
    vol = nib.Nifti1Image(np.zeros((8, 8, 3), np.int16), np.eye(4))
    data = gzip.compress(vol.to_bytes())
    z = _zip(tmp_path / "lgg.zip", {"kaggle_3m/scan-t2f.nii.gz": data, "copy/kaggle_3m/scan-t2f.nii.gz": data})
    assert main(["predict", str(z), "--list"]) == 2
    err = capsys.readouterr().err
    assert f"{z}/kaggle_3m and {z}/copy/kaggle_3m would both be written as 'kaggle_3m_...'" in err
    assert "tumorseg-unzip" not in err and str(private_tmp) not in err


def test_the_kaggle_lgg_archive_with_its_two_copies_is_predicted_once(tmp_path, private_tmp, caplog):
    """The Kaggle LGG archive holds kaggle_3m/ twice (also under lgg-mri-segmentation/): the second copy's images are
    byte-for-byte the first's, so each slice is predicted once, the copies are named in one line (as paths inside
    the archive, like every log line of the run), and the patient is one volume."""
    from data._phantom import lgg_folder

    lgg_folder(tmp_path / "src" / "kaggle_3m", n_patients=2)
    files = {p.relative_to(tmp_path / "src").as_posix(): p.read_bytes()
             for p in sorted((tmp_path / "src").rglob("*")) if p.is_file()}
    files |= {f"lgg-mri-segmentation/{name}": data for name, data in files.items()}
    z = _zip(tmp_path / "lgg-mri-segmentation.zip", files)
    ckpt = tiny_checkpoint(tmp_path / "m.pt", modality="flair")
    out = tmp_path / "out"
    with caplog.at_level("WARNING"):
        predict_inputs([z], ckpt, out, progress=False, backend="torch")
    assert sorted(p.name for p in out.glob("*.png")) == sorted(
        f"TCGA_XX_{p:04d}_20000101_{k}.png" for p in range(2) for k in (1, 2))
    summaries = json.loads((out / "summary.json").read_text())["volumes"]
    assert [s["input"] for s in summaries] == [f"{z}/kaggle_3m/TCGA_XX_{p:04d}_20000101" for p in range(2)]
    [line] = [r.getMessage() for r in caplog.records if "exact copies" in r.getMessage()]
    assert line.startswith(f"4 images under {z}/lgg-mri-segmentation/kaggle_3m are exact copies")
    assert "tumorseg-unzip" not in caplog.text and str(private_tmp) not in caplog.text


def test_two_different_images_of_one_name_are_refused_naming_both(tmp_path):
    from PIL import Image

    from tumorseg.inference.files import collect_inputs

    for folder, value in (("a", 10), ("b", 20)):
        (tmp_path / folder).mkdir()
        Image.new("L", (8, 8), value).save(tmp_path / folder / "scan.png")
    with pytest.raises(DataError, match=r"a/scan.png and .*b/scan.png would both be written as 'scan.png'"):
        collect_inputs([tmp_path / "a", tmp_path / "b"])
    Image.new("L", (8, 8), 10).save(tmp_path / "b" / "scan.png")  # now the same bytes: read once
    assert collect_inputs([tmp_path / "a", tmp_path / "b"]) == [tmp_path / "a" / "scan.png"]
