"""Does a model depend on the skull? figshare val slices (the bundled t1c's own val patients, never trained on)
as they are vs brain-only (tumorseg.data.augment.brain_masks, fixed erosion depths), mean per-image Dice.
usage: strip_diag.py MODEL OUT.json [SPLIT_JSON] [FIGSHARE_DIR]
(SPLIT_JSON: the split.json of scripts/prepare_t1c_data.py --out DATA; its figshare val ids are the bundled
t1c model's own val patients)"""
import json, sys
import numpy as np, torch, torch.nn.functional as F
from PIL import Image
from tumorseg.inference.predictor import Predictor
from tumorseg.data.augment import brain_masks

model, out = sys.argv[1], sys.argv[2]
split = sys.argv[3] if len(sys.argv) > 3 else "/work/data/t1c-mix/split.json"
D = sys.argv[4] if len(sys.argv) > 4 else "../shared/data/figshare"
p = Predictor.from_checkpoint(model, device="cpu")
val = [v for v in json.load(open(split))["val"] if v.isdigit()]
imgs = np.stack([np.array(Image.open(f"{D}/images/{i}.png").convert("L")) for i in val])
msks = np.stack([np.array(Image.open(f"{D}/masks/{i}.png")) > 127 for i in val])
x = torch.from_numpy(imgs).float()[:, None] / 255
m = torch.from_numpy(msks).float()[:, None]
res = {"model": model, "slices": len(val)}
for depth in (0, 8, 12, 18):
    keep = torch.maximum(brain_masks(x, torch.full((len(x),), float(depth))), F.max_pool2d(m, 9, 1, 4))
    u8 = (x * keep)[:, 0].mul(255).round().numpy().astype(np.uint8)
    d = []
    for pr, mk in zip(p.probabilities(list(u8)), msks):
        b = p.binarize(pr)
        d.append(float(2 * (b & mk).sum() / max(b.sum() + mk.sum(), 1)))
    res[f"dice_depth_{depth}px"] = float(np.mean(d))
    print(depth, res[f"dice_depth_{depth}px"], flush=True)
json.dump(res, open(out, "w"), indent=1)
