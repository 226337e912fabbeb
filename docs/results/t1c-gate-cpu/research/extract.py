"""Research: features of the t1c network for an image-level tumour-presence gate."""
import os
os.makedirs("runs/gate-research", exist_ok=True)
import sys, numpy as np, torch
from tumorseg.data.formats import read_dataset
from tumorseg.data.dataset import load_slices
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint
from monai.networks.layers import SkipConnection

ck = load_checkpoint('src/tumorseg/models/bundled/t1c.pt'); m = model_from_checkpoint(ck, 't1c').eval()

def run(seq, x, feats):
    down, skip, up = seq[0], seq[1], seq[2]
    h = down(x); feats.append(h)
    sub = skip.submodule
    if isinstance(sub, torch.nn.Sequential) and len(sub) == 3 and isinstance(sub[1], SkipConnection):
        y = run(sub, h, feats)
    else:
        y = sub(h); feats.append(y)
    return up(torch.cat([h, y], 1))

@torch.no_grad()
def feats_of(images):
    out = []
    for s in range(0, len(images), 32):
        x = torch.from_numpy(images[s:s+32]).float().div(255)[:, None]
        fs = []
        y = m.head(m.act(run(m.body.model, x, fs)))
        assert torch.allclose(y, m(x), atol=1e-5)
        pooled = [torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1) for f in fs]
        p = torch.sigmoid(y)[:, 0]
        seg = torch.stack([y.amax((1, 2, 3)), (p > 0.45).float().mean((1, 2)), p.mean((1, 2))], 1)
        out.append(torch.cat(pooled + [seg], 1).numpy())
    return np.concatenate(out)

sets = {
 'figshare': read_dataset('../shared/data/figshare', 'paired'),
 'lgg': read_dataset('../shared/data/lgg/kaggle_3m', 'lgg', channels='post'),
 'lggpre': read_dataset('../shared/data/lgg/kaggle_3m', 'lgg', channels='pre'),
 'brats13': read_dataset('../shared/data/samples/brats/brats_2013_pat0001_1', 'brats', modality='t1c', image_glob='T1c_*', label_glob='OT*', labels='1,3,4', empty_fraction=1.0),
 'brats13all': read_dataset('../shared/data/samples/brats/brats_2013_pat0001_1', 'brats', modality='t1c', image_glob='T1c_*', label_glob='OT*', labels='1,2,3,4', empty_fraction=1.0),
}
for name, recs in sets.items():
    a = load_slices(recs, 256, progress=False)
    f = feats_of(a.images)
    np.savez_compressed(f'runs/gate-research/{name}.npz', feats=f, present=a.masks.any((1, 2)),
                        area=a.masks.sum((1, 2)), brain=(a.images > 10).mean((1, 2)),
                        patient=np.array([str(r.patient) for r in recs]), case=np.array([r.case_id for r in recs]),
                        label=np.array([str(r.label) for r in recs]), slice_index=np.array([r.slice_index if r.slice_index is not None else -1 for r in recs]))
    print(name, f.shape, a.masks.any((1,2)).sum(), flush=True)
