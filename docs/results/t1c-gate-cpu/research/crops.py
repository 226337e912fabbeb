"""Research: second-stage check of each predicted component on a 64x64 crop (CAD-style false-positive reduction)."""
import os
os.makedirs("runs/gate-research", exist_ok=True)
import numpy as np, torch, json
from scipy import ndimage
from tumorseg.data.formats import read_dataset
from tumorseg.data.dataset import load_slices
from tumorseg.inference.predictor import Predictor
from tumorseg.inference import postprocess
D = '../shared/data'
sets = {
 'fs': read_dataset(f'{D}/figshare', 'paired'),
 'lgg': read_dataset(f'{D}/lgg/kaggle_3m', 'lgg', channels='post'),
 'pre': read_dataset(f'{D}/lgg/kaggle_3m', 'lgg', channels='pre'),
 'b13': read_dataset(f'{D}/samples/brats/brats_2013_pat0001_1', 'brats', modality='t1c', image_glob='T1c_*', label_glob='OT*', labels='1,3,4', empty_fraction=1.0),
 'b13all': read_dataset(f'{D}/samples/brats/brats_2013_pat0001_1', 'brats', modality='t1c', image_glob='T1c_*', label_glob='OT*', labels='1,2,3,4', empty_fraction=1.0),
}
p = Predictor.from_checkpoint('t1c', backend='onnx')
post = dict(p.post); H = 32
out = {}
for name, recs in sets.items():
    a = load_slices(recs, 256, progress=False)
    probs = p.predict_small(a.images, 32)
    crops, lab, sl, area, pmax = [], [], [], [], []
    for i, (img, m, pr) in enumerate(zip(a.images, a.masks, probs)):
        mask = postprocess.apply(pr, post, 256)
        L, n = ndimage.label(mask, np.ones((3, 3)))
        for c in range(1, n + 1):
            comp = L == c
            cy, cx = [int(round(v)) for v in ndimage.center_of_mass(comp)]
            pad = np.pad(img, H); pc = np.pad(comp, H)
            crops.append(np.stack([pad[cy:cy + 2 * H, cx:cx + 2 * H], pc[cy:cy + 2 * H, cx:cx + 2 * H] * 255]).astype(np.uint8))
            lab.append(bool((comp & m).any())); sl.append(i); area.append(int(comp.sum())); pmax.append(float(pr[comp].max()))
    out[name] = dict(crops=np.array(crops), label=np.array(lab), slice=np.array(sl), area=np.array(area), pmax=np.array(pmax),
                     present=a.masks.any((1, 2)), patient=np.array([str(r.patient) for r in recs]), case=np.array([r.case_id for r in recs]),
                     cls=np.array([str(r.label) for r in recs]))
    print(name, len(lab), sum(lab), flush=True)
np.savez('runs/gate-research/crops.npz', **{f'{k}_{kk}': vv for k, v in out.items() for kk, vv in v.items()})
