#!/bin/bash
# usage: eval.sh MODEL OUTDIR [what...] — figshare val (t1c's val patients), 164 tumour-free LGG test slices,
# the 6 LGG test patients as post-contrast volumes, the BraTS 2015 T1c sample (2-core VM)
M=$1; O=$2; shift 2; mkdir -p $O
WHAT=${@:-fs-val lgg-neg lgg6-vol b15}
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=${THREADS:-2}
TS=tumorseg
S=../shared/data/samples
for w in $WHAT; do case $w in
fs-val) $TS evaluate --model $M --data ../shared/data/figshare --split val --out $O/fs-val --no-progress > $O/fs-val.log 2>&1;;
lgg-neg) $TS evaluate --model $M --data /tmp/lgg-neg-test --split all --out $O/lgg-neg --no-progress > $O/lgg-neg.log 2>&1;;
lgg6-vol) $TS evaluate --model $M --data /tmp/lgg6 --format lgg --channels post --split all --out $O/lgg6-vol --no-progress > $O/lgg6-vol.log 2>&1;;
b15) $TS evaluate --model $M --data $S/brats/brats_2013_pat0001_1 --format brats --modality t1c --image-glob 'T1c_*' --label-glob 'OT*' --labels 1,3,4 --empty-fraction 1 --split all --out $O/b15 --no-progress > $O/b15.log 2>&1;;
esac; done
echo done
