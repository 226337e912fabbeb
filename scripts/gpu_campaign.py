"""Run a set of trainings side by side on one GPU within a wall-clock budget, then pack the results.

Small 2-D U-Nets leave a modern GPU mostly idle, so instead of one run after
another this starts every job as its own ``tumorseg`` process (DataLoader
workers augment on the CPU cores, the GPU interleaves the processes) and:

* stops jobs still running at ``--deadline-s`` with SIGTERM (the trainer writes
  ``last.pt`` and exits), then finishes each stopped run from its ``best.pt``:
  calibration on val and test scoring, exactly what a completed run does — the
  run is marked ``cut_at_deadline`` in ``campaign.json``;
* aggregates every cross-validation folder (``cv_summary.json``);
* packs results into ``--pack-dir`` right after training and again at the end
  (``--total-s`` bounds the whole script, so the final pack always happens), as tar files of at most 15 MiB
  (metrics, histories, configs, plots, logs; checkpoints under 5 MiB).

The campaign used for the bundled model (one H200, see MODEL_CARD.md)::

    python scripts/gpu_campaign.py --data DATA --runs runs/gpu --campaign bundled --deadline-s 380

The 5-fold CV of the ``best`` preset was tried in a second, shorter lease and produced
nothing: 5 folds side by side had not finished 30 epochs after 140 s, and finishing
the cut runs outlasted the call (the reason for ``--total-s`` and the early pack)::

    python scripts/gpu_campaign.py --data DATA --runs runs/gpu --campaign best-cv --deadline-s 600 --workers 3

Getting the data there (the ``device`` tool sends at most 64 MiB and the figshare PNGs are 87 MB):
copy ``images/`` in two halves into ``gpudata/a`` and ``gpudata/b`` (with ``masks/`` and
``metadata.csv`` in ``b``; ``/gpudata/`` and ``/.whl/`` in ``.git/info/exclude``), download the
MONAI and torchinfo wheels into ``.whl``, then make two calls back to back while the machine is
warm: the first carries ``gpudata/a`` and copies it to ``/root/fs``; the second carries
``gpudata/b`` and ``.whl``, completes ``/root/fs``, installs the wheels with
``pip install --no-deps --target /tmp/site``, sets ``PYTHONPATH=/tmp/site:$PWD/src`` and runs this
script with ``--pack-dir $OUT``.

``--campaign smoke`` (``smoke-best-cv``) runs the same jobs tiny (a few slices, one epoch) to test the
script on a CPU before spending GPU minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path


def campaign_jobs(name: str, data: str, runs: Path, workers: int) -> dict[str, list[str]]:
    """Job name -> ``tumorseg`` arguments."""
    common = ["--data", data, "--no-progress", "--workers", str(workers)]
    tiny: list[str] = []
    if name.startswith("smoke"):
        tiny = ["--max-slices", "400", "--epochs", "1", "--image-size", "64"]
    cv = ["cv", *common, "--folds", "5"]
    if name in ("best-cv", "smoke-best-cv"):
        # 5-fold CV of the `best` preset (after the fold-0 comparison of the bundled campaign chose it)
        return {f"cv-best-f{k}": [*cv, "--preset", "best", "--fold", str(k), "--out", str(runs / "cv-best"), *tiny]
                for k in range(5)}
    jobs = {f"cv-bundled-f{k}": [*cv, "--preset", "bundled", "--fold", str(k), "--out", str(runs / "cv-bundled")]
            for k in range(5)}
    jobs["final-bundled"] = ["train", *common, "--preset", "bundled", "--split", "0.9,0.1,0",
                             "--out", str(runs / "final-bundled")]
    # the seed model under the same protocol (its folds are quick: no augmentation, 10 epochs)
    jobs["cv-seed"] = [*cv, "--preset", "original", "--out", str(runs / "cv-seed")]
    # fold-0 comparisons with the bundled recipe: wider, larger input, larger network
    jobs["cmp-w16-f0"] = [*cv, "--preset", "bundled", "--fold", "0", "--model-kwargs", '{"width": 16}',
                          "--out", str(runs / "cmp-w16")]
    jobs["cmp-w16-384-f0"] = [*cv, "--preset", "bundled", "--fold", "0", "--model-kwargs", '{"width": 16}',
                              "--image-size", "384", "--out", str(runs / "cmp-w16-384")]
    jobs["cmp-w32l6-f0"] = [*cv, "--preset", "bundled", "--fold", "0",
                            "--model-kwargs", '{"width": 32, "levels": 6, "num_res_units": 2}',
                            "--out", str(runs / "cmp-w32l6")]
    if name == "smoke":
        jobs = {k: v + tiny for k, v in jobs.items()}
        jobs["cmp-w16-384-f0"] = [a if a != "64" else "96" for a in jobs["cmp-w16-384-f0"]]
    return jobs


def run_jobs(jobs: dict[str, list[str]], runs: Path, deadline_s: float, threads: int) -> dict[str, dict]:
    logs = runs / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    procs, info, log_files = {}, {}, []
    t0 = time.time()
    for name, args in jobs.items():
        log = open(logs / f"{name}.log", "w")  # noqa: SIM115 - the child writes it until the end
        log_files.append(log)
        procs[name] = subprocess.Popen([sys.executable, "-m", "tumorseg", *args], stdout=log, stderr=subprocess.STDOUT,
                                       env=env, start_new_session=True)
        info[name] = {"args": args, "started_s": round(time.time() - t0, 1)}
    while time.time() - t0 < deadline_s:
        for name, p in procs.items():
            if p.poll() is not None and "ended_s" not in info[name]:
                info[name].update(returncode=p.returncode, ended_s=round(time.time() - t0, 1))
        if all("ended_s" in i for i in info.values()):
            break
        time.sleep(2)
    for name, p in procs.items():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            info[name]["cut_at_deadline"] = True
    for name, p in procs.items():
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        if "ended_s" not in info[name]:
            info[name].update(returncode=p.returncode, ended_s=round(time.time() - t0, 1))
        print(f"{name}: rc {p.returncode} after {info[name]['ended_s']} s"
              f"{' (cut at the deadline)' if info[name].get('cut_at_deadline') else ''}", flush=True)
    for log in log_files:
        log.close()
    return info


def finish_cut_runs(runs: Path, threads: int, budget_s: float) -> list[str]:
    """Score test (with calibration) for every run directory that has best.pt but no test/metrics.json.

    Finishing processes still running after ``budget_s`` are killed (their runs stay unscored).
    """
    todo = [d for d in sorted(p.parent for p in runs.rglob("best.pt")) if not _finished(d)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    procs = [subprocess.Popen([sys.executable, __file__, "--finish", str(d)], env=env, start_new_session=True)
             for d in todo]
    t0 = time.time()
    for p in procs:
        try:
            p.wait(timeout=max(1.0, budget_s - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return [str(d) for d, p in zip(todo, procs) if p.returncode == 0]


def _finished(run_dir: Path) -> bool:
    """A run is finished when it scored its test part, or, with no test part, when last.pt says so."""
    if (run_dir / "test" / "metrics.json").exists():
        return True
    from tumorseg.models.checkpoint import load_checkpoint

    last = run_dir / "last.pt"
    return last.exists() and bool(load_checkpoint(last).get("train_state", {}).get("finished"))


def finish_one(run_dir: Path) -> None:
    import torch

    from tumorseg.config import TrainConfig
    from tumorseg.training.fit import finish, prepare_data

    cfg = TrainConfig.load(run_dir / "config.json")
    cfg.out = str(run_dir)
    data = prepare_data(cfg, run_dir, split_path=run_dir / "split.json", progress=False)
    finish(cfg, run_dir, data, torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def aggregate_all(runs: Path) -> dict[str, dict]:
    from tumorseg.training.cv import aggregate

    out = {}
    for d in sorted(runs.iterdir()):
        if d.is_dir() and any(d.glob("fold_*/test/per_case.csv")):
            s = aggregate(d)
            out[d.name] = {k: s[k] for k in ("folds_done", "n_images", "dice_mean_over_folds", "dice_std_over_folds",
                                             "iou_mean_over_folds", "iou_std_over_folds")}
    return out


def pack(runs: Path, dest: Path, max_bytes: int = 15 * 2**20, max_ckpt: int = 5 * 2**20, max_tars: int = 7) -> list[str]:
    """Tar the results (no last.pt; best.pt only under ``max_ckpt``) into files of at most ``max_bytes``."""
    files = []
    for p in sorted(runs.rglob("*")):
        if not p.is_file() or p.name == "last.pt" or p.name.startswith("."):
            continue
        if p.suffix == ".pt" and p.stat().st_size > max_ckpt:
            continue
        files.append(p)
    files.sort(key=lambda p: (p.suffix == ".pt", str(p)))  # small results first, checkpoints last
    dest.mkdir(parents=True, exist_ok=True)
    written, size, tar = [], 0, None
    for p in files:
        n = p.stat().st_size
        if tar is None or size + n > max_bytes:
            if tar is not None:
                tar.close()
            if len(written) == max_tars:
                print(f"pack: out of tar files; left out {p} and later files", flush=True)
                break
            written.append(str(dest / f"results_{len(written)}.tar.gz"))
            tar, size = tarfile.open(written[-1], "w:gz"), 0
        tar.add(p, arcname=str(p.relative_to(runs.parent)))
        size += n
    if tar is not None:
        tar.close()
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data")
    ap.add_argument("--runs", default="runs/gpu")
    ap.add_argument("--campaign", default="bundled", choices=["bundled", "best-cv", "smoke", "smoke-best-cv"])
    ap.add_argument("--only", default=None, help="comma-separated job names to run (default: all)")
    ap.add_argument("--deadline-s", type=float, default=380, help="stop training jobs after this many seconds")
    ap.add_argument("--total-s", type=float, default=None,
                    help="hard budget for the whole script (default: deadline + 240): finishing stops in time to pack")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers per job")
    ap.add_argument("--threads", type=int, default=2, help="OMP threads per job")
    ap.add_argument("--pack-dir", default=None, help="write results_*.tar.gz here")
    ap.add_argument("--finish", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.finish:
        finish_one(Path(a.finish))
        return 0
    a.total_s = a.total_s or a.deadline_s + 240
    runs = Path(a.runs)
    runs.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    jobs = campaign_jobs(a.campaign, a.data, runs, a.workers)
    if a.only:
        jobs = {k: v for k, v in jobs.items() if k in a.only.split(",")}
    import torch

    meta = {"campaign": a.campaign, "deadline_s": a.deadline_s, "torch": torch.__version__,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "cpu_count": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    print(json.dumps(meta), flush=True)
    meta["jobs"] = run_jobs(jobs, runs, a.deadline_s, a.threads)
    meta["training_wall_s"] = round(time.time() - t0, 1)
    (runs / "campaign.json").write_text(json.dumps(meta, indent=2))
    if a.pack_dir:  # histories and logs come back even if what follows runs out of time
        print("packed (training only):", pack(runs, Path(a.pack_dir)), flush=True)
    meta["finished_from_best"] = finish_cut_runs(runs, a.threads, a.total_s - (time.time() - t0) - 30)
    try:
        meta["cv"] = aggregate_all(runs)
    except Exception as exc:  # keep packing whatever exists
        meta["cv_error"] = repr(exc)
    meta["total_wall_s"] = round(time.time() - t0, 1)
    (runs / "campaign.json").write_text(json.dumps(meta, indent=2))
    print(json.dumps({k: meta[k] for k in ("training_wall_s", "total_wall_s", "finished_from_best")}), flush=True)
    print(json.dumps(meta.get("cv", meta.get("cv_error")), indent=1), flush=True)
    if a.pack_dir:
        for old_tar in Path(a.pack_dir).glob("results_*.tar.gz"):
            old_tar.unlink()
        print("packed:", pack(runs, Path(a.pack_dir)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
