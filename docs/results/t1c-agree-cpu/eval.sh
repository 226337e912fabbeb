# usage: LINKS=FOLDER bash docs/results/t1c-agree-cpu/eval.sh MODEL OUTDIR — the t1c comparison set (2-core VM), from
# the repo root. FOLDER (default /work/data) is what links.py wrote from DATA (scripts/prepare_t1c_data.py output):
#   FOLDER/fs-val        the 264 figshare val slices of the bundled t1c (and of the second model), metadata.csv
#   FOLDER/lgg-neg-test  the 164 tumour-free LGG post-contrast slices of the 6 LGG test patients (PNG, one each)
#   FOLDER/lgg-test6     links to those 6 patients' kaggle_3m folders (volumes; FLAIR masks)
# --include-training-slices: an ensemble counts every slice its members trained *or validated* on as seen; the
# figshare val slices were validation (checkpoint choice, calibration) for both members, never trained on.
M=$1; O=$2; mkdir -p $O
export OMP_NUM_THREADS=${THREADS:-2}
TS=.venv/bin/tumorseg
S=../shared/data/samples
L=${LINKS:-/work/data}
$TS evaluate --model $M --data $L/fs-val --split all --include-training-slices --out $O/fs-val --no-progress > $O/fs-val.log 2>&1
$TS evaluate --model $M --data $L/lgg-neg-test --split all --include-training-slices --out $O/lgg-neg --no-progress > $O/lgg-neg.log 2>&1
for OL in one-lesion no-one-lesion; do
  $TS evaluate --model $M --$OL --data $S/brats/brats_2013_pat0001_1 --format brats --modality t1c --image-glob 'T1c_*' \
    --label-glob 'OT*' --labels 1,3,4 --empty-fraction 1 --split all --out $O/b15-$OL --no-progress > $O/b15-$OL.log 2>&1
  $TS evaluate --model $M --$OL --data $L/lgg-test6 --format lgg --channels post --split all \
    --include-training-slices --out $O/lgg6-$OL --no-progress > $O/lgg6-$OL.log 2>&1
done
$TS predict $S/brats/BraTS-GLI-00001-000/BraTS-GLI-00001-000-t1c.nii.gz --model $M --out $O/brats23 --no-progress > $O/brats23.log 2>&1
echo done
