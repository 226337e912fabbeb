"""check-data: summary and every problem with its file; train stops with the same report."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import shared_data
from tumorseg.cli import main
from tumorseg.config import TrainConfig
from tumorseg.data.checks import check_dataset
from tumorseg.errors import DataError
from tumorseg.training.fit import fit


def paired(root, n=6, size=32):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = ["index,patient_id,label_name"]
    for i in range(n):
        img = np.full((size, size), 40 + 20 * i, np.uint8)
        mask = np.zeros((size, size), np.uint8)
        mask[4 : 8 + i, 4:10] = 255
        Image.fromarray(img).save(root / "images" / f"{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
        rows.append(f"{i},p{i % 3},{'glioma' if i % 3 else 'meningioma'}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


def test_clean_dataset_summary(tmp_path):
    r = check_dataset(paired(tmp_path / "d"))
    assert r.ok and r.format == "paired" and not r.problems
    s = r.summary
    assert s["slices"] == 6 and s["patients"] == 3 and s["image_sizes"] == {"32x32": 6}
    assert s["mask_values"] == [0, 1] and s["classes"] == {"glioma": 4, "meningioma": 2}
    assert s["raw_intensity"] == {"min": 40.0, "max": 140.0} and s["empty_masks"].startswith("0/6")
    text = str(r)
    assert "format paired" in text and "no problems found" in text


def test_every_problem_names_its_file(tmp_path):
    root = paired(tmp_path / "d")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "masks" / "1.png")  # size mismatch
    Image.fromarray(np.array([[0, 1, 2, 3]] * 4, np.uint8)).resize((32, 32)).save(root / "masks" / "2.png")  # label map
    (root / "images" / "3.png").write_bytes(b"not a png")  # unreadable
    with open(root / "metadata.csv", "a") as f:
        f.write("4,p0,glioma\n")  # p0 already has meningioma
    r = check_dataset(root)
    assert not r.ok
    msgs = {p.file.rsplit("/", 1)[-1]: p.message for p in r.problems}
    assert "mask is 16×16" in msgs["1.png"] and "not binary" in msgs["2.png"] and "not a readable image" in msgs["3.png"]
    assert any("spans classes" in p.message and not p.fatal for p in r.problems)


def test_missing_partner_is_reported_not_crashed(tmp_path):
    root = paired(tmp_path / "d")
    (root / "masks" / "5.png").unlink()
    r = check_dataset(root)
    assert not r.ok and "5.png: image has no mask" in r.problems[0].message


def test_nan_voxels_and_duplicates(tmp_path):
    nib = pytest.importorskip("nibabel")
    pytest.importorskip("h5py")  # write_mat below writes MATLAB v7.3 (HDF5) files
    case = tmp_path / "nan" / "c1"
    case.mkdir(parents=True)
    vol = np.ones((8, 8, 4), np.float32)
    vol[2, 2, 1] = np.nan
    lab = np.zeros((8, 8, 4), np.uint8)
    lab[3:5, 3:5, 1:3] = 1
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(case / "c1_flair.nii.gz"))
    nib.save(nib.Nifti1Image(lab, np.eye(4)), str(case / "c1_seg.nii.gz"))
    r = check_dataset(tmp_path / "nan")
    assert any("NaN/inf" in p.message and p.fatal for p in r.problems)

    from test_formats_figshare import slice_pair, write_mat

    for sub in ("brainTumorDataPublic_1-766", "brainTumorDataPublic_767-1532"):
        (tmp_path / "fs" / sub).mkdir(parents=True)
        write_mat(tmp_path / "fs" / sub / "1.mat", *slice_pair())
    r = check_dataset(tmp_path / "fs")
    dup = [p for p in r.problems if "duplicate name: '1'" in p.message]
    assert r.format == "figshare-mat" and len(dup) == 1
    # the report names both files, so the user can tell which copy to remove
    assert "brainTumorDataPublic_767-1532" in dup[0].file + dup[0].message
    assert "brainTumorDataPublic_1-766" in dup[0].file + dup[0].message


def test_cli_takes_the_folder_as_train_does_or_positionally(tmp_path, capsys):
    """``check-data --data DIR`` (as README and train / evaluate spell it) is ``check-data DIR``; none or two
    different folders are a one-line error."""
    root = paired(tmp_path / "d")
    assert main(["check-data", "--data", str(root), "--no-progress"]) == 0
    by_option = capsys.readouterr().out
    assert main(["check-data", str(root), "--no-progress"]) == 0
    assert capsys.readouterr().out == by_option and "slices" in by_option
    for argv, said in ((["check-data"], "no dataset folder"),
                       (["check-data", str(root), "--data", str(tmp_path)], "two dataset folders")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert said in err and "check-data DIR (or --data DIR)" in err and "\n" not in err


def test_cli_exit_status_and_train_stops_with_the_report(tmp_path, capsys):
    root = paired(tmp_path / "d")
    assert main(["check-data", str(root), "--no-progress", "--json", str(tmp_path / "r.json")]) == 0
    assert "slices" in capsys.readouterr().out and (tmp_path / "r.json").is_file()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "masks" / "1.png")
    assert main(["check-data", str(root), "--no-progress"]) == 1
    assert "ERROR" in capsys.readouterr().out
    with pytest.raises(DataError, match=r"would break training(.|\n)*1\.png: unreadable or invalid: mask is 16×16"):
        fit(TrainConfig(data=str(root), out=str(tmp_path / "run"), epochs=1, image_size=32), progress=False)


@pytest.mark.parametrize("sample, ok", [(("samples", "lgg"), True), (("samples", "brats", "brats_2013_pat0001_1"), True),
                                        (("samples", "brats", "BraTS-GLI-00001-000"), False), (("figshare-native",), True)])
def test_real_samples(sample, ok, capsys):
    path = shared_data(*sample)
    assert main(["check-data", str(path), "--no-progress"]) == (0 if ok else 1)
    out = capsys.readouterr().out
    assert "slices" in out and "image sizes" in out
    if not ok:
        assert "no label volume" in out  # BraTS-GLI sample: volumes for prediction only
