"""The output convolution of effunet checkpoints: its bias, how many of its weights are positive / negative, and the
largest probability any pixel can get (sigmoid(bias + 6 * sum of positive weights) is no bound — ReLU inputs are
unbounded — so only "capped at sigmoid(bias)" when no weight is positive).

    python docs/results/t1c-head-prior-cpu/head_weights.py t1c RUN/fold_0/best.pt ...   # -> one line each
"""
import math
import sys

from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint

for name in sys.argv[1:]:
    path = resolve_checkpoint(name)
    head = model_from_checkpoint(load_checkpoint(path), path).net.segmentation_head[0]
    w, b = head.weight.detach(), head.bias.item()
    pos, neg = int((w > 0).sum()), int((w < 0).sum())
    cap = f"capped at p = {1 / (1 + math.exp(-b)):.4f}" if pos == 0 else "not capped"
    print(f"{name}: bias {b:+.3f}, weights > 0: {pos}, < 0: {neg} of {w.numel()}; {cap}")
