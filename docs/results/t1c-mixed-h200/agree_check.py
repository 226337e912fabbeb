"""Score one agreement setting (A = the bundled ``t1c``, B = a checkpoint) on DATA's val and test parts, exactly as
``docs/results/t1c-agree-cpu/search.py`` scores its grid (each member fed its own intensity scaling).

usage: python docs/results/t1c-mixed-h200/agree_check.py DATA B.pt AGREE_THRESHOLD RADIUS_PX GATE_PX > OUT.json

DATA: what ``scripts/prepare_t1c_data.py`` writes (its ``split.json``: val = figshare val + 6 LGG patients'
tumour-free post-contrast slices, test = 6 other LGG patients' tumour-free post-contrast slices).
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch

from tumorseg.inference.postprocess import apply, settings
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint

ROOT = Path(__file__).resolve().parents[3]
spec = importlib.util.spec_from_file_location("search", ROOT / "docs/results/t1c-agree-cpu/search.py")
search = importlib.util.module_from_spec(spec)
spec.loader.exec_module(search)


def main(data: Path, b_path: Path, thr: float, radius: int, gate_px: int) -> dict:
    torch.set_num_threads(1)
    split = json.loads((data / "split.json").read_text())
    a_ck, b_ck = load_checkpoint(ROOT / "src/tumorseg/models/bundled/t1c.pt"), load_checkpoint(b_path)
    a, b = model_from_checkpoint(a_ck), model_from_checkpoint(b_ck)
    post_a = settings(a_ck)
    out = {}
    for part in ("val", "test"):
        imgs, truth = search.load(data, split[part])
        pa = search.flips(a, imgs, intensity=a_ck.get("preprocessing", {}).get("intensity", "none"))
        pb = search.flips(b, imgs, intensity=b_ck.get("preprocessing", {}).get("intensity", "none"))
        gate = {"presence_prob": 0.0, "presence_px": gate_px}
        out[part] = search.score(apply(search.combine(pa, pb, thr, radius), {**post_a, **gate}), truth)
        out[f"{part}_a_alone"] = search.score(apply(pa.astype(np.float32).mean(0), post_a), truth)
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]),
                          int(sys.argv[5])), indent=1))
