"""scripts/pack_lgg.py: the copy keeps the chosen channels pixel for pixel, zeroes the others, and reads as LGG."""

import importlib.util
from pathlib import Path

import numpy as np

from data._phantom import lgg_folder
from tumorseg.data.dataset import load_slices
from tumorseg.data.formats import read_dataset
from tumorseg.data.formats.lgg import read_tif_channels

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pack_lgg", ROOT / "scripts" / "pack_lgg.py")
pack_lgg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pack_lgg)


def test_flair_copy_reads_the_same_and_drops_the_other_channels(tmp_path: Path, capsys) -> None:
    lgg_folder(tmp_path / "lgg", n_patients=2)
    assert pack_lgg.main(["--lgg", str(tmp_path / "lgg"), "--out", str(tmp_path / "out"), "--keep", "flair"]) == 0
    assert "2 patients, 4 slices" in capsys.readouterr().out
    a = read_dataset(tmp_path / "lgg", "lgg", channels="flair")
    b = read_dataset(tmp_path / "out", "lgg", channels="flair")
    assert [r.case_id for r in a] == [r.case_id for r in b]
    sa, sb = load_slices(a, 256, progress=False), load_slices(b, 256, progress=False)
    assert np.array_equal(sa.images, sb.images) and np.array_equal(sa.masks, sb.masks)
    img = next((tmp_path / "out").glob("TCGA_*/*_1.tif"))
    ch = read_tif_channels(img)
    assert ch.shape[0] == 3 and ch[1].any() and not ch[0].any() and not ch[2].any()
