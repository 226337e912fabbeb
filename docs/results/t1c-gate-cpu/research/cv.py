import numpy as np, json, sys, torch
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
L = lambda n: np.load(f'runs/gate-research/{n}.npz')
fs, lg, lp, b13, b13a = L('figshare'), L('lgg'), L('lggpre'), L('brats13'), L('brats13all')
ck = torch.load('src/tumorseg/models/bundled/t1c.pt', weights_only=True)
valcases = set(ck['split']['val'])
fs_val = np.array([c in valcases for c in fs['case']])
SEL = sys.argv[1] if len(sys.argv) > 1 else 'all'
C = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
USE_PRE = len(sys.argv) > 3 and sys.argv[3] == 'pre'
Q = float(sys.argv[4]) if len(sys.argv) > 4 else 0.01
def cols(f):
    # layout: pooled levels: 8,16,32,64,128(bottom) each mean+max -> 16,32,64,128,256 ; then 3 seg stats
    sizes = [16, 32, 64, 128, 256]; edges = np.cumsum([0] + sizes)
    parts = {'l%d' % i: f[:, edges[i]:edges[i+1]] for i in range(5)}; parts['seg'] = f[:, edges[-1]:]
    keys = {'all': list(parts), 'deep': ['l3', 'l4', 'seg'], 'bottom': ['l4', 'seg'], 'bottomonly': ['l4'], 'seg': ['seg']}[SEL]
    return np.concatenate([parts[k] for k in keys], 1)
import os
from sklearn.ensemble import HistGradientBoostingClassifier
def fit(X, y):
    if os.environ.get('CLF') == 'hgb':
        c = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, class_weight='balanced', random_state=0).fit(X, y)
        c.decision_function = lambda Z, c=c: c.predict_proba(Z)[:, 1]
        return c
    return fit_lr(X, y)
def fit_lr(X, y):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000, class_weight='balanced')).fit(X, y)
sgk = StratifiedGroupKFold(5, shuffle=True, random_state=0)
fs_folds = list(sgk.split(fs['feats'], fs['label'], fs['patient']))
lg_strat = np.array([lg['present'][lg['patient'] == p].any() for p in lg['patient']])
lg_folds = list(sgk.split(lg['feats'], lg_strat, lg['patient']))
res = []
for k in range(5):
    ftr, fte = fs_folds[k]; ltr, lte = lg_folds[k]
    Xs = [cols(fs['feats'][ftr]), cols(lg['feats'][ltr])]; ys = [np.ones(len(ftr)), lg['present'][ltr]]
    gs = [fs['patient'][ftr], lg['patient'][ltr]]
    src = [np.zeros(len(ftr)), np.ones(len(ltr))]
    if USE_PRE:
        neg = ltr[~lp['present'][ltr]]
        Xs.append(cols(lp['feats'][neg])); ys.append(np.zeros(len(neg))); gs.append(lp['patient'][neg]); src.append(np.full(len(neg), 2))
    X = np.concatenate(Xs); y = np.concatenate(ys).astype(int); g = np.concatenate(gs); s = np.concatenate(src)
    # inner OOF scores -> threshold keeping (1-Q) of figshare positives
    oof = np.zeros(len(y))
    for itr, ite in StratifiedGroupKFold(4, shuffle=True, random_state=1).split(X, y * 3 + s, g):
        oof[ite] = fit(X[itr], y[itr]).decision_function(X[ite])
    thr = np.quantile(oof[(s == 0) & (y == 1)], Q)
    clf = fit(X, y)
    sf = clf.decision_function(cols(fs['feats'][fte])) >= thr
    sl = clf.decision_function(cols(lg['feats'][lte])) >= thr
    pres = lg['present'][lte]
    r = dict(fold=k, thr=float(thr), fs_kept=float(sf.mean()), fs_kept_valsplit=float(sf[fs_val[fte]].mean()) if fs_val[fte].any() else None,
             fs_n_val=int(fs_val[fte].sum()),
             lgg_neg_fp=float(sl[~pres].mean()), lgg_pos_kept=float(sl[pres].mean()),
             inner_lgg_neg_fp=float((oof[(s == 1) & (y == 0)] >= thr).mean()))
    for name, d in (('b13core', b13), ('b13all', b13a)):
        sb = clf.decision_function(cols(d['feats'])) >= thr
        r[name + '_neg_fp'] = float(sb[~d['present']].mean()); r[name + '_pos_kept'] = float(sb[d['present']].mean())
    res.append(r)
keys = [k for k in res[0] if k not in ('fold',)]
print(SEL, C, 'pre' if USE_PRE else '-', Q)
for k in keys:
    v = [r[k] for r in res if r[k] is not None]
    print(f'  {k:22s} ' + ' '.join(f'{x:.3f}' for x in v) + f'   mean {np.mean(v):.3f}')
