"""Can a z-extent rule trim the kept lesion where it runs on past the tumour's ends? Two candidate rules applied
after the shipped volume rules, on the stored probabilities of probs.py (from the repository root):

    python z_extent.py OUT/lgg.npz OUT/b15.npz [OUT/lgg-f0.npz ...]        # -> z_extent.txt

``ends k``: the lesion's first and last k slices are emptied; ``area f``: slices where the lesion covers less than
a share f of its largest slice's area are emptied; ``span k``: a lesion on fewer than k slices is dropped whole. Also printed: how the marked tumour-free slices and the found
tumour slices of the lesion are spread over these features.
"""
import sys, numpy as np
from tumorseg.inference import postprocess
from tumorseg.models.checkpoint import load_checkpoint, resolve_checkpoint

shipped = postprocess.settings(load_checkpoint(resolve_checkpoint("t1c")))
base = {**shipped, "lesion_slice_share": 0.0}  # the rules below start from the model before the trim was shipped


def volumes(npz, post=base):
    d = np.load(npz)
    probs, masks, pat, z = d["probs"].astype(np.float32), d["masks"], d["patient"], d["z"]
    for q in np.unique(pat):
        i = np.where(pat == q)[0]
        i = i[np.argsort(z[i])]
        yield q, postprocess.binarize_volume(probs[i], post), masks[i]


def trim(pred, rule, value):
    area = pred.reshape(len(pred), -1).sum(1)
    if not area.any() or value == 0:
        return pred
    keep = np.ones(len(pred), bool)
    zs = np.where(area > 0)[0]
    if rule == "ends":
        keep[zs[:value]] = keep[zs[-value:]] = False
    elif rule == "span":
        keep[:] = len(zs) >= value
    else:
        keep = area >= value * area.max()
    return pred & keep[:, None, None]


def score(vols, rule, value, pats=None):
    fp = nf = tp = nt = 0
    dice = []
    for q, pred, m in vols:
        if pats is not None and q not in pats:
            continue
        p = trim(pred, rule, value)
        t = m.reshape(len(m), -1).any(1); s = p.reshape(len(p), -1).any(1)
        fp += int((s & ~t).sum()); nf += int((~t).sum()); tp += int((s & t).sum()); nt += int(t.sum())
        den = p.sum() + m.sum()
        dice.append(2 * (p & m).sum() / den if den else 1.0)
    return f"marked {fp}/{nf} found {tp}/{nt} vol {np.mean(dice):.3f}"


if __name__ == "__main__":
    lgg = list(volumes(sys.argv[1])); b15 = list(volumes(sys.argv[2]))
    folds = [(f, list(volumes(f))) for f in sys.argv[3:]]
    pats = np.array(sorted(q for q, _, _ in lgg)); rng = np.random.default_rng(0); rng.shuffle(pats)
    halves = {"A": set(pats[:20]), "B": set(pats[20:])}
    # where the kept lesion's slices lie: position from its nearer end, share of its largest slice's area
    pos, share = {0: [], 1: []}, {0: [], 1: []}
    for _, pred, m in lgg:
        area = pred.reshape(len(pred), -1).sum(1); zs = np.where(area > 0)[0]
        t = m.reshape(len(m), -1).any(1)
        for k in zs:
            pos[int(t[k])].append(min(k - zs[0], zs[-1] - k)); share[int(t[k])].append(area[k] / area.max())
    print("LGG slices of the kept lesion, by position from its nearer end (0 = an end slice): tumour-free / tumour")
    for k in range(6):
        print(f"  {k}: {sum(np.array(pos[0]) == k)} / {sum(np.array(pos[1]) == k)}")
    print(f"  6+: {sum(np.array(pos[0]) >= 6)} / {sum(np.array(pos[1]) >= 6)}")
    print("... by share of the lesion's largest slice area: tumour-free / tumour")
    for lo, hi in ((0, .1), (.1, .2), (.2, .3), (.3, .5), (.5, .7), (.7, 1.01)):
        a0, a1 = np.array(share[0]), np.array(share[1])
        print(f"  [{lo}, {hi}): {((a0 >= lo) & (a0 < hi)).sum()} / {((a1 >= lo) & (a1 < hi)).sum()}")
    def rows(rules, lgg, b15, folds, before=""):
        for rule, values in rules:
            for v in values:
                row = [f"{before}{rule} {v}"] + [f"LGG-{h}: {score(lgg, rule, v, keep)}" for h, keep in halves.items()]
                row += [f"LGG-all: {score(lgg, rule, v)}", f"B15: {score(b15, rule, v)}"]
                row += [f"{f.split('/')[-1]}: {score(vs, rule, v)}" for f, vs in folds]
                print(" | ".join(row), flush=True)

    rows((("ends", (0, 1, 2)), ("area", (0.1, 0.2, 0.3))), lgg, b15, folds)
    # a lesion on few slices dropped whole, on top of the shipped trim (each fold model with area 0.1 too)
    trimmed = {**base, "lesion_slice_share": 0.1}
    lgg, b15 = list(volumes(sys.argv[1], trimmed)), list(volumes(sys.argv[2], trimmed))
    folds = [(f, list(volumes(f, trimmed))) for f in sys.argv[3:]]
    rows((("span", (0, 3, 4, 5, 6)),), lgg, b15, folds, before="area 0.1 + ")
