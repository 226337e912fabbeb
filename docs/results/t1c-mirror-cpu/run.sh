cd /work/main
export OMP_NUM_THREADS=2
.venv/bin/tumorseg train --data /work/data/t1c-mirror --preset bundled --loss dice-bce-presence --epochs 6 --lr 5e-4 \
  --warmup-epochs 0.3 --batch-size 32 --intensity p99 --init-from default --split-file /work/data/t1c-mirror/split.json \
  --device cpu --precision fp32 --max-fp-rate 0.03 --out runs/t1c-mirror
