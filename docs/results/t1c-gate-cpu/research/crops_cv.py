import numpy as np, torch, sys, json
from torch import nn
from sklearn.model_selection import StratifiedGroupKFold
from tumorseg.data.augment import augment_batch, PRESETS
torch.set_num_threads(2)
Z = np.load('runs/gate-research/crops.npz')
g = lambda n, k: Z[f'{n}_{k}']
KEEP = float(sys.argv[1]) if len(sys.argv) > 1 else 0.99
EPOCHS = int(sys.argv[2]) if len(sys.argv) > 2 else 12
def net():
    c = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.InstanceNorm2d(o), nn.PReLU(), nn.Conv2d(o, o, 3, padding=1), nn.InstanceNorm2d(o), nn.PReLU(), nn.MaxPool2d(2))
    return nn.Sequential(c(2, 16), c(16, 32), c(32, 64), c(64, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 1))
def comp_idx(name, slices):  # components belonging to these slices
    return np.flatnonzero(np.isin(g(name, 'slice'), slices))
sgk = StratifiedGroupKFold(5, shuffle=True, random_state=0)
fsF = [te for _, te in sgk.split(g('fs', 'present'), g('fs', 'cls'), g('fs', 'patient'))]
has = {p: g('lgg', 'present')[g('lgg', 'patient') == p].any() for p in np.unique(g('lgg', 'patient'))}
lgF = [te for _, te in sgk.split(g('lgg', 'present'), np.array([has[p] for p in g('lgg', 'patient')]), g('lgg', 'patient'))]
@torch.no_grad()
def score(m, crops):
    m.eval(); return np.concatenate([m(torch.from_numpy(crops[s:s+256]).float() / 255).squeeze(1).numpy() for s in range(0, len(crops), 256)]) if len(crops) else np.zeros(0)
R = []
for k in range(5):
    v = (k + 1) % 5
    tr_fs = np.concatenate([f for i, f in enumerate(fsF) if i not in (k, v)]); tr_lg = np.concatenate([f for i, f in enumerate(lgF) if i not in (k, v)])
    parts = [('fs', tr_fs), ('lgg', tr_lg), ('pre', tr_lg)]
    X = np.concatenate([g(n, 'crops')[comp_idx(n, s)] for n, s in parts]); y = np.concatenate([g(n, 'label')[comp_idx(n, s)] for n, s in parts]).astype(np.float32)
    torch.manual_seed(k); m = net(); opt = torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=1e-4)
    pw = torch.tensor((1 - y.mean()) / y.mean()); lossf = nn.BCEWithLogitsLoss(pos_weight=pw)
    aug = PRESETS['mri']; gen = torch.Generator().manual_seed(k)
    vfs = comp_idx('fs', fsF[v]); vfs = vfs[g('fs', 'label')[vfs]]
    vlg = comp_idx('lgg', lgF[v])
    best = None
    for ep in range(EPOCHS):
        m.train(); order = np.random.default_rng(ep + 10 * k).permutation(len(X))
        for s in range(0, len(X), 64):
            b = order[s:s+64]; xb = torch.from_numpy(X[b]).float() / 255
            img, msk = augment_batch(xb[:, :1], xb[:, 1:], aug, gen)
            out = m(torch.cat([img, msk], 1)).squeeze(1); loss = lossf(out, torch.from_numpy(y[b]))
            opt.zero_grad(); loss.backward(); opt.step()
        sv = score(m, g('fs', 'crops')[vfs]); thr = np.sort(sv)[int((1 - KEEP) * len(sv))]
        slg = score(m, g('lgg', 'crops')[vlg])
        # val: LGG tumour-free slices marked
        neg_sl = lgF[v][~g('lgg', 'present')[lgF[v]]]
        on = slg >= thr; sl = g('lgg', 'slice')[vlg]
        fp = np.mean([on[sl == s].any() for s in neg_sl])
        if best is None or fp < best[0]: best = (fp, thr, {kk: vv.clone() for kk, vv in m.state_dict().items()}, ep)
    fpv, thr, sd, ep = best; m.load_state_dict(sd)
    res = {'fold': k, 'epoch': ep, 'val_fp': fpv}
    for name, slices in (('fs', fsF[k]), ('lgg', lgF[k]), ('b13', np.arange(len(g('b13', 'present')))), ('b13all', np.arange(len(g('b13all', 'present'))))):
        idx = comp_idx(name, slices); on = score(m, g(name, 'crops')[idx]) >= thr; sl = g(name, 'slice')[idx]; lab = g(name, 'label')[idx]
        pres = g(name, 'present')[slices]
        marked = np.array([on[sl == s].any() for s in slices])
        truekept = np.array([on[(sl == s) & lab].any() for s in slices])
        res[name + '_tumourfree_marked'] = float(marked[~pres].mean()) if (~pres).any() else None
        res[name + '_tumour_found'] = float(truekept[pres].mean())
        res[name + '_tumour_found_before'] = float(np.array([lab[sl == s].any() for s in slices])[pres].mean())
        res[name + '_tumourfree_marked_before'] = float(np.array([(sl == s).any() for s in slices])[~pres].mean()) if (~pres).any() else None
    R.append(res); print(json.dumps({kk: (round(vv, 3) if isinstance(vv, float) else vv) for kk, vv in res.items()}), flush=True)
json.dump(R, open(f'runs/gate-research/crops_cv_{KEEP}.json', 'w'))
for key in R[0]:
    if key != 'fold' and R[0][key] is not None: print(f'{key:32s} {np.mean([r[key] for r in R]):.3f}')
