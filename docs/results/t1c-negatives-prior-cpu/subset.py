"""LGG volume metrics restricted to the patients a split file holds out (test), from evaluate's per_case.csv.
usage: subset.py SPLIT.json EVAL_DIR [EVAL_DIR ...]"""
import csv, json, sys
from collections import defaultdict
split = json.load(open(sys.argv[1]))
test = sorted({x.rsplit('_', 2)[0] for x in split['test'] if x.startswith('TCGA')})
for d in sys.argv[2:]:
    rows = [r for r in csv.DictReader(open(f"{d}/per_case.csv")) if r['patient'] in test]
    free = [r for r in rows if int(r['tumour_area_px']) == 0]
    tum = [r for r in rows if int(r['tumour_area_px']) > 0]
    agg = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        a = agg[r['patient']]; a[0] += int(r['intersection_px']); a[1] += int(r['tumour_area_px']); a[2] += int(r['predicted_area_px'])
    vd = [2 * i / (t + p) if t + p else 1.0 for i, t, p in agg.values()]
    out = {"eval": d, "patients": len(agg), "free_slices": len(free),
           "free_marked": sum(int(r['predicted_area_px']) > 0 for r in free),
           "tumour_slices": len(tum), "tumour_found": sum(int(r['intersection_px']) > 0 for r in tum),
           "volume_dice_mean": round(sum(vd) / len(vd), 4),
           "per_patient": {p: round(v, 3) for p, v in zip(agg, vd)}}
    print(json.dumps(out))
