"""figshare / LGG parts of a mixed test per_case.csv. usage: figsplit.py PER_CASE.csv"""
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1])))
fig = [r for r in rows if not r['case_id'].startswith('TCGA')]
lgg = [r for r in rows if r['case_id'].startswith('TCGA')]
print('figshare n', len(fig), 'dice %.4f iou %.4f' % (st.mean(float(r['dice']) for r in fig), st.mean(float(r['iou']) for r in fig)),
      'left empty', sum(int(r['predicted_area_px']) == 0 for r in fig))
print('lgg tumour-free n', len(lgg), 'marked', sum(int(r['predicted_area_px']) > 0 for r in lgg))
for c in ('meningioma', 'glioma', 'pituitary'):
    x = [float(r['dice']) for r in fig if r.get('label') == c]; print(c, len(x), '%.4f' % st.mean(x))
