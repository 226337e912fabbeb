"""scripts/split_for_device.py: every file once, parts under the limit, links copied as files, small files last."""

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("split_for_device", ROOT / "scripts" / "split_for_device.py")
split_for_device = importlib.util.module_from_spec(spec)
spec.loader.exec_module(split_for_device)


def _tree(root: Path) -> dict[str, bytes]:
    files = {f"images/{i:02d}.png": os.urandom(30_000 + 1000 * i) for i in range(10)}
    files |= {f"masks/{i:02d}.png": os.urandom(300) for i in range(10)}
    files |= {"metadata.csv": b"index,patient_group\n" * 500, "folds/mixed/fold_0.json": b"{}"}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def test_parts_hold_every_file_once_under_the_limit(tmp_path, capsys):
    src = tmp_path / "src"
    files = _tree(src)
    target = tmp_path / "elsewhere.png"
    target.write_bytes(os.urandom(20_000))
    (src / "images" / "linked.png").symlink_to(target)  # prepare_t1c_data.py links figshare's images
    files["images/linked.png"] = target.read_bytes()
    assert split_for_device.main([str(src), str(tmp_path / "out"), "--part-mb", "0.1"]) == 0
    parts = sorted((tmp_path / "out").iterdir())
    assert len(parts) >= 4 and len(capsys.readouterr().out.splitlines()) == len(parts)
    seen = {}
    for part in parts:
        got = {str(p.relative_to(part)): p for p in part.rglob("*") if p.is_file()}
        assert sum(p.stat().st_size for p in got.values()) <= 100_000
        assert not any(p.is_symlink() for p in got.values())
        assert not set(got) & set(seen)
        seen |= got
    assert {k: v.read_bytes() for k, v in seen.items()} == files
    last = {str(p.relative_to(parts[-1])) for p in parts[-1].rglob("*") if p.is_file()}
    assert {"metadata.csv", "folds/mixed/fold_0.json", "masks/00.png"} <= last  # what the run needs, last


def test_a_file_larger_than_a_part_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "big.nii.gz").write_bytes(os.urandom(200_000))
    with pytest.raises(SystemExit, match="larger than a part"):
        split_for_device.main([str(tmp_path / "src"), str(tmp_path / "out"), "--part-mb", "0.1"])
