# As run on the 2-core VM (torch 2.13.0+cpu, 2 threads, one fold at a time), 2026-12-04: the shipped `flair`
# recipe with an ImageNet-pretrained EfficientNet-Lite0 U-Net (`--preset flair-pretrained`, model `effunet`)
# instead of the `t1c` weights, on the shipped recipe's own five CV split files (same train/val/test patients).
for K in 0 2 4 1 3; do   # fold 3 in the next session (2026-12-05)
  tumorseg train --data ../shared/data/lgg/kaggle_3m --preset flair-pretrained \
    --split-file docs/results/flair-cv-cpu/splits/fold_$K.json --out /work/fpre/fold_$K
done
# each fold model on its own 8 test patients, as calibrated and with the most confident lesion kept (p 0.95),
# and on the BraTS 2015 FLAIR sample: the same script, and so the same numbers' definitions, as the shipped recipe's
python docs/results/flair-lesion-core-cpu/evaluate_folds.py /work/fpre /work/fpre-eval   # -> folds.json
python docs/results/flair-lesion-core-cpu/compare_folds.py flair-pretrained /work/fpre-eval/folds.json \
  docs/results/flair-pretrained-cpu/comparison.json    # (was docs/results/flair-pretrained-cpu/compare.py)
# CPU inference speed beside the shipped t1c (training paused with SIGSTOP during the run):
python benchmarks/inference.py --model effunet=/work/fpre/fold_0/best.pt --sizes 512 --batches 1,16 \
  --out benchmarks/results/inference_effunet.json
