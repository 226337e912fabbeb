# As run on the 2-core VM (torch 2.13.0+cpu), 2026-11-28. DATA = the t1c-scratch-cpu data:
#   python scripts/prepare_t1c_data.py --figshare ../shared/data/figshare --lgg ../shared/data/lgg/kaggle_3m --out DATA
# LGG_TEST6 = a folder of links to the 6 LGG test patients of DATA/split.json (TCGA_CS_5395_19981004,
#   TCGA_CS_6666_20011109, TCGA_DU_5871_19941206, TCGA_DU_6405_19851005, TCGA_DU_6408_19860521, TCGA_DU_7010_19860307)
# 1) two arms side by side, 1 thread each: the bundled t1c fine-tuned (its x/255 input kept) with brain-only views
#    and the presence loss, 8 epochs, lr 3e-4 (-> lr3e-4/) and 1e-4 (-> lr1e-4/); ~250 s an epoch
for LR in 3e-4 1e-4; do
  OMP_NUM_THREADS=1 tumorseg train --data DATA --preset bundled --augment mri-strip --loss dice-bce-presence \
    --epochs 8 --time-budget 45m --lr $LR --warmup-epochs 0.3 --batch-size 32 --init-from default \
    --split-file DATA/split.json --device cpu --precision fp32 --max-fp-rate 0.03 --out runs/t1cft/lr$LR &
done; wait
# 2) the lr 3e-4 arm's val Dice was still rising: 8 more epochs from its best.pt at 2e-4, 2 threads, ~140 s an epoch
OMP_NUM_THREADS=2 tumorseg train --data DATA --preset bundled --augment mri-strip --loss dice-bce-presence \
  --epochs 8 --time-budget 30m --lr 2e-4 --warmup-epochs 0.3 --batch-size 32 --init-from runs/t1cft/lr3e-4/best.pt \
  --split-file DATA/split.json --device cpu --precision fp32 --max-fp-rate 0.03 --out runs/t1cft/cont
# scoring: ../t1c-mirror-cpu/eval.sh RUN/best.pt OUT (figshare val, single tumour-free LGG slices, BraTS 2015
# sample T1c, 6 LGG test patients as post-contrast volumes) -> */eval-*.json; the two volume sets once more with
# the bundled model's one-lesion rule (-> cont/eval-*-1l.json):
tumorseg evaluate --model runs/t1cft/cont/best.pt --one-lesion --data ../shared/data/samples/brats/brats_2013_pat0001_1 \
  --format brats --modality t1c --image-glob 'T1c_*' --label-glob 'OT*' --labels 1,3,4 --empty-fraction 1 --split all --out OUT
tumorseg evaluate --model runs/t1cft/cont/best.pt --one-lesion --data LGG_TEST6 --format lgg --channels post --split all --out OUT
tumorseg evaluate --model t1c --data LGG_TEST6 --format lgg --channels post --split all --out OUT   # -> eval-bundled-t1c-lgg6-vol.json
python ../t1c-scratch-cpu/strip_diag.py runs/t1cft/cont/best.pt strip-diag-cont.json DATA/split.json ../shared/data/figshare
python compare.py      # per class / size third on figshare val against the bundled t1c -> comparison.json
# 3) (2026-11-28, later) 16 more epochs from cont/best.pt at 2e-4, 2 threads, ~145 s an epoch -> runs/t1cft/cont2;
#    scored with eval.sh as above: figshare val 0.700 (256/264 found), single tumour-free LGG slices 10.4 %, BraTS 2015
#    T1c 47/58 found, 32/74 marked (per-volume 0.486), 6 LGG volumes 42/92 found (0.210). Not kept: the run folder
#    was on a VM that is gone (t1c.md gives these numbers).
OMP_NUM_THREADS=2 tumorseg train --data DATA --preset bundled --augment mri-strip --loss dice-bce-presence \
  --epochs 16 --time-budget 45m --lr 2e-4 --warmup-epochs 0.3 --batch-size 32 --init-from runs/t1cft/cont/best.pt \
  --split-file DATA/split.json --device cpu --precision fp32 --max-fp-rate 0.03 --out runs/t1cft/cont2
