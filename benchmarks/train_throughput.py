"""Training throughput (images/s) of the DataLoader path vs the device path, in one run, written as JSON.

Both paths run through the real :class:`tumorseg.training.trainer.Trainer` (its
``setup`` builds the loader, model, optimizer, autocast and optional
``torch.compile``; each step is ``Trainer.train_step``):

* ``loader`` (today's path): ``DataLoader`` over ``AugmentedItems`` — per-item
  augmentation on the CPU (in worker processes on a GPU machine), batches copied
  to the device, and, as the trainer did until now, the loss read back
  (``.item()``, a host sync) after every step;
* ``device``: the training set resident on the device as ``uint8``, batches
  gathered, converted and augmented there, channels-last on CUDA, the losses
  kept on the device and read once per timed block (a logging interval).

Per network (the width-8 residual U-Net of ``cpu-fast``/``bundled`` and the
width-32 one of ``best``): the same batch, image size and augmentation for both
paths; ``--warmup`` steps each, then ``--rounds`` rounds of ``--steps`` timed
steps per path, alternating which path goes first (fair under a machine whose
load changes). It also times the data alone (batches made, no network).

    python benchmarks/train_throughput.py                    # CPU: about 2 minutes on 2 idle cores
    python benchmarks/train_throughput.py --sync-debug --out $OUT/train_throughput_cuda.json   # on a GPU

On a GPU the defaults are batch 32 at 256², 10 warm-up and 2 × 30 timed steps per path and network
(about a minute on an H100; ``--compile`` adds compile time). ``--sync-debug`` makes CUDA warn at any
host sync inside the device path's timed steps. The device machine needs the MONAI and torchinfo
wheels (see ``scripts/gpu_campaign.py``).

Data: the first slices of ``../shared/data/figshare`` (synthetic phantoms when it is absent).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from tumorseg import __version__
from tumorseg.config import TrainConfig
from tumorseg.data import read_dataset
from tumorseg.data.dataset import load_slices
from tumorseg.data.synthetic import make_dataset
from tumorseg.device import resolve_device
from tumorseg.training import distributed as D
from tumorseg.training.device_data import StepLosses
from tumorseg.training.presets import preset
from tumorseg.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
NETS = {"w8": preset("bundled")["model_kwargs"], "w32": preset("best")["model_kwargs"],
        "w12": preset("servable")["model_kwargs"]}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _data(folder: Path | None, n: int, size: int, tmp: Path):
    if folder is None or not folder.exists():
        folder = make_dataset(tmp / "synthetic", n=n, size=size, seed=0)
    records = read_dataset(str(folder), "auto")[:n]
    return str(folder), load_slices(records, size, progress=False)


def _trainer(data_dir: str, arrays, a: argparse.Namespace, net: str, path: str, out: Path) -> tuple[Trainer, Iterator]:
    """A set-up Trainer for ``net`` on data path ``path``, and an iterator over its first epoch's batches."""
    cfg = TrainConfig(data=data_dir, out=str(out / f"{net}-{path}"), model="unet", model_kwargs=dict(NETS[net]),
                      batch_size=a.batch_size, image_size=a.image_size, lr=1e-3, optimizer="adamw", loss="dice-bce",
                      augment=a.augment, data_path=path, device=a.device, compile=a.compile, grid_every=0,
                      evaluate_test=False, seed=0)
    trainer = Trainer(cfg, D.DistEnv(device=resolve_device(a.device)), progress=False)
    trainer.setup({"train": arrays, "val": arrays.subset([0]), "test": arrays.subset([])})
    trainer.net.train()
    trainer.sampler.set_epoch(1)
    return trainer, iter(trainer.loader)  # one epoch holds every step this benchmark takes


@contextlib.contextmanager
def _sync_debug(on: bool) -> Iterator[None]:
    """``torch.cuda.set_sync_debug_mode("warn")`` inside the block when ``on`` (the final read excepted)."""
    if not on:
        yield
        return
    torch.cuda.set_sync_debug_mode("warn")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def _steps(trainer: Trainer, batches: Iterator, n: int, read_every_step: bool) -> float:
    """Seconds for ``n`` training steps, the device's queue drained at the end."""
    losses = StepLosses(n, trainer.device)
    t0 = time.perf_counter()
    for _ in range(n):
        x, y = next(batches)
        loss = trainer.train_step(x, y)
        if read_every_step:
            loss.item()  # what the trainer did after every step until now
        losses.add(loss, len(x))
    if trainer.device.type == "cuda":
        torch.cuda.set_sync_debug_mode("default")  # (--sync-debug) the one read below is meant
    losses.cpu()  # the device path's one read per logging interval
    _sync(trainer.device)
    return time.perf_counter() - t0


def _data_only(trainer: Trainer, batches: Iterator, n: int) -> float:
    """Seconds to make ``n`` batches on the device (no network)."""
    t0 = time.perf_counter()
    for _ in range(n):
        x, y = next(batches)
        x.to(trainer.device, non_blocking=True), y.to(trainer.device, non_blocking=True)
    _sync(trainer.device)
    return time.perf_counter() - t0


def measure(a: argparse.Namespace, tmp: Path) -> dict:
    per_path_steps = a.warmup + a.rounds * a.steps
    data_dir, arrays = _data(Path(a.data) if a.data else None, max(per_path_steps, a.data_batches + 1) * a.batch_size,
                             a.image_size, tmp)
    results: dict = {}
    for net in a.nets.split(","):
        trainers = {p: _trainer(data_dir, arrays, a, net, p, tmp) for p in ("loader", "device")}
        times = {p: 0.0 for p in trainers}
        for p, (t, it) in trainers.items():
            _steps(t, it, a.warmup, read_every_step=p == "loader")
        for r in range(a.rounds):
            for p in (("loader", "device") if r % 2 == 0 else ("device", "loader")):
                # --sync-debug: CUDA warns at every host sync inside the device path's steps (there should be none)
                debug = a.sync_debug and p == "device" and trainers[p][0].device.type == "cuda"
                with _sync_debug(debug):
                    times[p] += _steps(*trainers[p], a.steps, read_every_step=p == "loader")
        n_img = a.rounds * a.steps * a.batch_size
        row = {p: {"images_per_s": round(n_img / times[p], 2), "ms_per_step": round(1000 * times[p] / (a.rounds * a.steps), 1)}
               for p in trainers}
        row["device_vs_loader"] = round(row["device"]["images_per_s"] / row["loader"]["images_per_s"], 2)
        row["parameters"] = sum(p.numel() for p in trainers["loader"][0].model.parameters())
        results[net] = row
        print(net, json.dumps(row), flush=True)
        del trainers
    # the data alone: fresh trainers of the small net, so every batch comes from the start of an epoch
    trainers = {p: _trainer(data_dir, arrays, a, "w8", p, tmp) for p in ("loader", "device")}
    data_rate = {}
    for p, (t, it) in trainers.items():
        _data_only(t, it, 1)
        data_rate[p] = round(a.data_batches * a.batch_size / _data_only(t, it, a.data_batches), 1)
    data_rate["device_vs_loader"] = round(data_rate["device"] / data_rate["loader"], 2)
    results["data_only_images_per_s"] = data_rate
    print("data only", json.dumps(data_rate), flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "figshare"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--nets", default="w8,w32", help="comma-separated: w8 (bundled), w32 (best), w12 (servable)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: 32 on a GPU, 16 on a CPU")
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--augment", default="mri")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps per path (default: 10 GPU, 1 CPU)")
    ap.add_argument("--rounds", type=int, default=None, help="default: 2 on a GPU, 4 on a CPU")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per path per round (default: 30 GPU, 3 CPU)")
    ap.add_argument("--data-batches", type=int, default=None, help="batches timed for the data alone")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (both paths)")
    ap.add_argument("--sync-debug", action="store_true",
                    help="CUDA: warn at every host sync in the device path's timed steps (expect none)")
    ap.add_argument("--out", default=None, help="default: benchmarks/results/train_throughput_{cpu,cuda}.json")
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    device = resolve_device(a.device)
    gpu = device.type == "cuda"
    a.batch_size = a.batch_size or (32 if gpu else 16)
    a.warmup = a.warmup if a.warmup is not None else (10 if gpu else 1)
    a.rounds = a.rounds or (2 if gpu else 4)
    a.steps = a.steps or (30 if gpu else 3)
    a.data_batches = a.data_batches or (50 if gpu else 8)
    out = Path(a.out or ROOT / "benchmarks" / "results" / f"train_throughput_{device.type}.json")
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(a, Path(tmp))
    report = {
        "benchmark": "tumorseg training throughput: DataLoader path (per-item CPU augmentation, .item() every step) "
                     "vs device path (data resident on the device, batched augmentation there, no per-step sync)",
        "command": "python benchmarks/train_throughput.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items()
            if k not in ("out", "note", "compile", "sync_debug", "data"))
                   + (" --compile" if a.compile else "") + (" --sync-debug" if a.sync_debug else ""),
        "settings": {k: v for k, v in vars(a).items() if k not in ("out", "note")},
        "device": torch.cuda.get_device_name(device) if gpu else platform.processor() or "cpu",
        "machine": {"logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_avg_at_end": list(os.getloadavg()), "python": platform.python_version(),
                    "torch": torch.__version__, "tumorseg": __version__},
        "wall_s": round(time.time() - t0, 1),
        "note": a.note,
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
