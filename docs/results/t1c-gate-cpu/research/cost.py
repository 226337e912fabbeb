import csv, numpy as np, json, sys, glob
dice = {r['case_id']: float(r['dice']) for r in csv.DictReader(open('docs/results/cv-bundled-h200/cv_per_case.csv'))}
ks = sorted(int(f.split('_')[-2]) for f in glob.glob('runs/gate-cv/fold_*_scores.csv'))
print('folds', ks)
for mode in ('val-thr', 'own'):
  for keep in (0.995, 0.99, 0.98, 0.97, 0.95):
    base, gated, fp, lgkept = [], [], [], []
    for k in ks:
        rows = list(csv.DictReader(open(f'runs/gate-cv/fold_{k}_scores.csv')))
        fsr = [r for r in rows if r['source'] == 'figshare']
        s = np.array([float(r['logit']) for r in fsr]); d = np.array([dice[r['case']] for r in fsr])
        if mode == 'own': t = np.quantile(s, 1 - keep)
        else:
            if keep != 0.99: continue
            t = json.load(open(f'runs/gate-cv/fold_{k}.json'))['threshold']
        base += list(d); gated += list(np.where(s >= t, d, 0))
        lg = [r for r in rows if r['source'] == 'lgg_post']
        fp += [float(r['logit']) >= t for r in lg if r['present'] == '0']; lgkept += [float(r['logit']) >= t for r in lg if r['present'] == '1']
    if base: print(f'{mode} keep {keep}: figshare Dice {np.mean(base):.4f} -> {np.mean(gated):.4f}; LGG tumour-free marked {np.mean(fp):.3f} ({sum(fp)}/{len(fp)}); LGG tumour slices kept {np.mean(lgkept):.3f}')
