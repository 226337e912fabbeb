# usage: evalt1c.sh MODEL OUTDIR  — the t1c comparison set (2-core VM)
M=$1; O=$2; mkdir -p $O
export OMP_NUM_THREADS=${THREADS:-2}
TS=.venv/bin/tumorseg
S=../shared/data/samples
$TS evaluate --model $M --data ../shared/data/figshare --split val --out $O/fs-val --no-progress > $O/fs-val.log 2>&1
$TS evaluate --model $M --data /work/data/lgg-neg-test --split all --out $O/lgg-neg --no-progress > $O/lgg-neg.log 2>&1
$TS evaluate --model $M --data $S/brats/brats_2013_pat0001_1 --format brats --modality t1c --image-glob 'T1c_*' --label-glob 'OT*' --labels 1,3,4 --empty-fraction 1 --split all --out $O/b15 --no-progress > $O/b15.log 2>&1
$TS evaluate --model $M --data /work/data/lgg-test6 --format lgg --channels post --split all --out $O/lgg6-vol --no-progress > $O/lgg6-vol.log 2>&1
echo done
