"""The bundled-model registry: names, aliases, resolution, 'not installed', and the `tumorseg models` table."""

import re

import pytest

from tumorseg.cli import main
from tumorseg.errors import CheckpointError
from tumorseg.models import listing, zoo
from tumorseg.models.checkpoint import DEFAULT_MODEL, resolve_checkpoint


def test_default_and_t1c_and_none_are_the_same_file():
    assert resolve_checkpoint(None) == resolve_checkpoint("default") == resolve_checkpoint("t1c") == DEFAULT_MODEL
    assert DEFAULT_MODEL == zoo.BUNDLED_DIR / "t1c.pt" and DEFAULT_MODEL.is_file()
    assert zoo.get("default").name == "t1c"


@pytest.mark.parametrize("name,hint", [("flare", "Did you mean 'flair'?"), ("t1", "Did you mean 't1c'?"),
                                       ("unet", "")])
def test_unknown_name_is_one_line_listing_the_names(name, hint):
    with pytest.raises(CheckpointError) as e:
        resolve_checkpoint(name)
    msg = str(e.value)
    assert "\n" not in msg and f"unknown model '{name}'" in msg and hint in msg
    assert "t1c, flair, t1c-unet, default" in msg


@pytest.mark.parametrize("value,is_name", [("t1c", True), ("flare", True), ("runs/x/best.pt", False),
                                           ("best.pt", False), ("model.onnx", False), ("/abs/dir/m", False)])
def test_names_and_paths_are_told_apart(value, is_name):
    assert zoo.looks_like_name(value) is is_name


def test_path_values_pass_through_unchanged(tmp_path):
    assert resolve_checkpoint(tmp_path / "best.pt") == tmp_path / "best.pt"


def test_flair_is_listed_but_refused_until_installed(monkeypatch, tmp_path):
    monkeypatch.setattr(zoo, "BUNDLED_DIR", tmp_path)  # an empty bundled folder: nothing installed
    assert not zoo.get("flair").installed
    with pytest.raises(CheckpointError, match=r"model 'flair' is not installed in this build .* Installed: none"):
        resolve_checkpoint("flair")
    table = listing.models_table()
    assert "flair" in table and "not installed in this build" in table


def test_installed_models_resolve_to_their_files(fake_bundled):
    assert resolve_checkpoint("flair") == fake_bundled / "flair.pt"
    assert zoo.name_of_file(fake_bundled / "flair.pt") == "flair" and zoo.name_of_file(fake_bundled / "x.pt") is None


def test_models_command_prints_name_input_cv_size_and_card(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["name", "intended"]
    t1c = next(line for line in lines if line.startswith("t1c (default)"))
    # the bundled t1c stores its recipe's CV (t1c.md) and its file size (a cascade of two float16 networks: 15 MB);
    # figshare slices all hold a tumour, so its per-slice Dice is shown, not the per-volume Dice its CV also stores
    assert re.search(r"  Dice 0\.\d{3} ± 0\.\d{3} \(([2-4] of 5 CV folds|5-fold CV)\)", t1c)
    assert f" {zoo.get('t1c').checkpoint.stat().st_size / 1e6:.1f} MB " in t1c
    assert t1c.rstrip().endswith("t1c.md")
    unet = next(line for line in lines if line.startswith("t1c-unet"))
    # the previous t1c stores its recipe's 5-fold CV (t1c-unet.md: 0.700 ± 0.026) and is 0.9 MB
    assert "Dice 0.700 ± 0.026 (5-fold CV)" in unet and re.search(r" (0\.9|1\.0) MB ", unet)
    assert unet.rstrip().endswith("t1c-unet.md")
    flair = next(line for line in lines if line.startswith("flair"))
    assert "FLAIR" in flair and flair.rstrip().endswith("flair.md")
    if zoo.get("flair").installed:  # its card's CV with the post-processing it ships with: 0.756 ± 0.080, 5 folds
        assert "per-volume Dice 0.756 ± 0.080" in flair and "(5-fold CV)" in flair
        # and not the per-slice mean, in which every tumour-free slice left empty scores 1 (0.878 for flair)
        assert flair.count("Dice") == 1
    assert ("not installed in this build" in flair) is (not zoo.get("flair").installed)
    assert "default = t1c" in out


def test_every_bundled_model_has_a_card():
    for entry in zoo.BUNDLED.values():
        text = entry.card.read_text()
        assert f"`{entry.name}`" in text.splitlines()[0] and "Intended input" in text


@pytest.mark.parametrize("command", [["predict", "x.png", "--out", "o"], ["evaluate", "--data", "d"],
                                     ["export", "--onnx", "m.onnx"]])
def test_unknown_model_on_the_command_line_is_a_one_line_error(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.png").write_bytes(b"")
    (tmp_path / "d").mkdir()
    assert main([*command, "--model", "flare"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown model 'flare'. Did you mean 'flair'?" in err[0]
