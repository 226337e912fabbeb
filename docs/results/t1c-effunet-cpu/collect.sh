#!/bin/bash
# copy what this folder keeps from the runs (config, history, test metrics and per-case CSV of each fold; the final
# model's config, history and log; the real-scan checks), then print the tables:
#   bash docs/results/t1c-effunet-cpu/collect.sh /work/cpufast/effmri /work/cpufast/final-effmri runs/checks
# (fold models' BraTS/LGG checks from /work/cpufast/xfer/effmriK-*, where this session's runs wrote them)
set -e
CV=$1; FINAL=$2; CHECKS=$3; HERE=$(dirname "$0")
for d in "$CV"/fold_*; do
  [ -f "$d/test/per_case.csv" ] || continue
  k=$(basename "$d"); mkdir -p "$HERE/$k"
  cp "$d/config.json" "$d/history.csv" "$d/test/metrics.json" "$d/test/per_case.csv" "$HERE/$k/"
done
mkdir -p "$HERE/final/checks"
cp "$FINAL/config.json" "$FINAL/history.csv" "$HERE/final/"
for n in final-effmri final-effmri-slices; do
  [ -d "$CHECKS/$n" ] || continue
  mkdir -p "$HERE/final/checks/$n"
  for p in brats15 lgg-post fs-val native-val; do
    [ -f "$CHECKS/$n/$p/metrics.json" ] && cp "$CHECKS/$n/$p/metrics.json" "$HERE/final/checks/$n/$p.metrics.json"
  done
  [ -f "$CHECKS/$n/brats-gli/summary.json" ] && cp "$CHECKS/$n/brats-gli/summary.json" "$HERE/final/checks/$n/brats-gli.summary.json"
done
# fold models on the BraTS 2015 T1c sample / LGG post-contrast volumes (largest lesion; xfer.sh's evaluate commands)
for f in /work/cpufast/xfer/effmri*-brats15 /work/cpufast/xfer/effmri*-lgg; do
  [ -f "$f/metrics.json" ] || continue
  n=$(basename "$f"); k=${n#effmri}; k=${k%%-*}; part=${n#*-}
  cp "$f/metrics.json" "$HERE/fold_$k/xfer-$part.metrics.json"
done
python "$HERE/table.py"
