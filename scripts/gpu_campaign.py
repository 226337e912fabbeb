"""Cross-validate a recipe and train its final model on one GPU within a wall-clock budget; results come back.

One command runs the whole campaign: the K folds of ``tumorseg cv`` for a
preset plus the final model on every dev patient (``tumorseg train --split
0.9,0.1,0``: 10 % of patients for checkpoint selection and calibration), each
job its own process side by side on the card, with the training data on the
GPU (the ``bundled`` and ``best`` presets use ``data_path="device"``, so the
CPU cores no longer limit them). Then:

* jobs still running at ``--deadline-s`` get SIGTERM (the trainer writes
  ``last.pt`` and exits) and are finished from their ``best.pt`` — calibration
  on val and test scoring, what a completed run does — marked ``cut_at_deadline``;
* the CV folds are aggregated (``cv_summary.json``, ``cv_per_case.csv``);
* ``--pack-dir`` is refreshed at the start, every ``--pack-every-s`` and
  whenever a job ends, and at the end, each file replaced atomically, so a
  call cut short still returns what existed (``--total-s`` bounds the whole script):

  ``campaign.json``  jobs, timings, CV summaries;
  ``results.tar.gz``  every small text result: metrics, per-case CSVs, histories, configs, splits, logs;
  ``plots.tar.gz``   loss curves and prediction grids (while under ``--max-file-mib``);
  ``final_best.pt``  the final model (calibrated ``best.pt``); over 15 MiB it comes in parts
                     ``final_best.pt.000``, ``.001``, ... (``cat final_best.pt.* > best.pt``), at most 3; the
                     parts beyond (``best``: 104 MB, 7 parts) wait in ``RUNS/final_parts/``, and
                     ``campaign.json`` gives the ``cp`` that brings them back in the next call.

  That is at most 6 files of at most 15 MiB: inside what the device tool returns (8 files, 16 MiB each,
  64 MiB in all, so keep ``--max-file-mib`` at 10 when the checkpoint needs parts).

The recipe campaign (9 minutes of an H100/H200 in all)::

    python scripts/gpu_campaign.py --data DATA --runs runs/gpu --preset servable --compare bundled --pack-dir $OUT

Every job gets ``--time-budget`` (default: the deadline less 60 s): after its second epoch it plans how many
epochs fit, at most its preset's, and anneals its learning rate over them, so jobs end on time with a finished
schedule rather than being cut (the deadline's SIGTERM stays as the backstop). ``--compare`` adds the CV of a
second preset on the same folds (the previous recipe, say). ``--train-args`` adds ``tumorseg`` flags to every
job (e.g. ``"--epochs 60 --augment strong"``). The
older campaigns stay available: ``--campaign bundled`` (the recipe plus the seed model's CV and fold-0
comparisons), ``best-cv``, and their tiny ``smoke`` versions; ``tests/test_gpu_campaign.py`` rehearses
the recipe campaign on the CPU with two folds of tiny synthetic data.

Getting the data there (the ``device`` tool sends at most 64 MiB a call, the repository's ~12 MB included,
and the figshare PNGs are 87 MB): ``python scripts/split_for_device.py DATA gpudata --part-mb 48`` writes
``gpudata/a``, ``gpudata/b``, ... and prints each call's copy command (``/gpudata/`` and ``/.whl/`` in
``.git/info/exclude``); download the MONAI and torchinfo wheels into ``.whl`` (scikit-learn is already on the
machine); then make the calls back to back while the machine is warm (it goes back after 30 s idle), each
carrying one part and copying it into the same folder; the last one also carries ``.whl``, installs the
wheels with ``pip install --no-deps --target /tmp/site``, sets ``PYTHONPATH=/tmp/site:$PWD/src`` and runs
this script with ``--pack-dir $OUT``.

The ``splits`` campaign takes the folds as split files (``--split-dir`` with ``fold_k.json``; one
``tumorseg train --split-file`` per fold, out ``runs/cv-PRESET/fold_k``, aggregated like ``tumorseg cv``):
for data mixed from several sources whose folds must stay those of one of them. ``--compare`` with
``--compare-split-dir`` cross-validates a second preset on its own split files (the same test slices),
``--variant NAME=FLAGS`` (repeatable) the preset with other flags on the same folds (``{k}`` in FLAGS
becomes the fold number: ``--split-file folds/mixed-10/fold_{k}.json`` trains on other slices of the same
folds, ``--init-from runs/cv-bundled/fold_{k}/best.pt`` fine-tunes fold-wise models of an earlier call),
``--final-split`` adds the final model. ``--variant`` works in the ``recipe`` campaign too (the preset's
``tumorseg cv --fold k`` jobs again, out ``runs/cv-NAME``), e.g. the ``t1c`` recipe with the output layer's prior
initialisation (``docs/results/t1c-head-prior-cpu/``)::

    python scripts/gpu_campaign.py --data /root/fs --runs /root/runs --preset pretrained \
        --variant "prior=--model-kwargs '{\"decoder_width\": 8, \"head_prior\": 0.01}'" --pack-dir $OUT

The T1c campaign of 2026-12-04 (H200, 3 calls: 110 MB of PNGs travel as
``gpudata/a``, ``gpudata/b`` of 48 MB each and ``gpudata/c`` with masks, metadata and split files;
results in ``docs/results/t1c-mixed-h200/``)::

    python scripts/prepare_t1c_data.py --figshare ../shared/data/figshare --lgg ../shared/data/lgg/kaggle_3m \
        --out /tmp/t1c-data --no-pre --folds 5
    python scripts/split_for_device.py /tmp/t1c-data gpudata --part-mb 48 --dest /root/t1c
    python scripts/gpu_campaign.py --campaign splits --data /root/t1c --preset t1c-mixed \
        --split-dir /root/t1c/folds/mixed --compare bundled --compare-split-dir /root/t1c/folds/figshare \
        --final-split /root/t1c/split.json --deadline-s 430 --time-budget-s 370 --pack-dir $OUT

The FLAIR campaign (LGG, per-volume Dice) needs one call: ``python scripts/pack_lgg.py --lgg
../shared/data/lgg/kaggle_3m --out gpudata/lgg --keep flair`` (48 MiB: only the FLAIR channel, read pixel
for pixel the same), carried with ``.whl``, then ``--data gpudata/lgg --preset flair-wide --compare flair``
(both presets carry ``--format lgg --channels flair`` and the per-volume calibration).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

MiB = 2**20
TEXT_SUFFIXES = {".json", ".csv", ".log", ".txt", ".md", ".html"}


# -- jobs -----------------------------------------------------------------------------------------------------


def recipe_jobs(preset: str, data: str, runs: Path, folds: int = 5, common: list[str] | None = None) -> dict[str, list[str]]:
    """The K CV folds of ``preset`` (one ``tumorseg cv --fold k`` each) and its final all-dev model."""
    common = common or []
    jobs = {f"cv-{preset}-f{k}": ["cv", "--data", data, *common, "--preset", preset, "--folds", str(folds),
                                  "--fold", str(k), "--out", str(runs / f"cv-{preset}")] for k in range(folds)}
    jobs[f"final-{preset}"] = ["train", "--data", data, *common, "--preset", preset, "--split", "0.9,0.1,0",
                               "--out", str(runs / f"final-{preset}")]
    return jobs


def split_jobs(preset: str, data: str, runs: Path, split_dir: str, common: list[str],
               final_split: str | None = None) -> dict[str, list[str]]:
    """One ``tumorseg train --split-file`` per ``split_dir/fold_k.json`` (out: ``runs/cv-PRESET/fold_k``, the
    layout ``tumorseg cv`` aggregates) and, with ``final_split``, the final model trained on that split."""
    files = sorted(Path(split_dir).glob("fold_*.json"), key=lambda f: int(f.stem.split("_")[1]))
    if not files:
        raise SystemExit(f"{split_dir}: no fold_*.json split files (scripts/prepare_t1c_data.py --folds K writes them)")
    jobs = {f"cv-{preset}-f{f.stem.split('_')[1]}": ["train", "--data", data, *common, "--preset", preset,
                                                     "--split-file", str(f), "--out", str(runs / f"cv-{preset}" / f.stem)]
            for f in files}
    if final_split:
        jobs[f"final-{preset}"] = ["train", "--data", data, *common, "--preset", preset, "--split-file", final_split,
                                   "--out", str(runs / f"final-{preset}")]
    return jobs


def campaign_jobs(name: str, data: str, runs: Path, workers: int, preset: str = "bundled", folds: int = 5,
                  train_args: list[str] | None = None, compare: str | None = None, split_dir: str | None = None,
                  compare_split_dir: str | None = None, final_split: str | None = None,
                  variants: list[str] | None = None) -> dict[str, list[str]]:
    """Job name -> ``tumorseg`` arguments. ``recipe``: CV + final of ``preset`` (and, with ``compare``, the CV of
    that preset on the same folds: the folds depend only on the data and the seed); the others as in the
    docstring."""
    common = ["--no-progress", "--workers", str(workers)]
    tiny = ["--max-slices", "400", "--epochs", "1", "--image-size", "64"] if name.startswith("smoke") else []
    if name == "smoke-splits":  # split files name every slice: no --max-slices
        tiny = tiny[2:]
    extra = [*tiny, *(train_args or [])]
    if name in ("splits", "smoke-splits"):  # folds given as split files (several sources, fixed folds)
        if not split_dir:
            raise SystemExit("--campaign splits needs --split-dir")
        jobs = split_jobs(preset, data, runs, split_dir, common, final_split)
        if compare:
            jobs |= split_jobs(compare, data, runs, compare_split_dir or split_dir, common)
    elif name == "recipe":
        jobs = recipe_jobs(preset, data, runs, folds, common)
        if compare:
            jobs |= {k: v for k, v in recipe_jobs(compare, data, runs, folds, common).items() if k.startswith("cv-")}
    elif name in ("best-cv", "smoke-best-cv"):
        # 5-fold CV of the `best` preset (after the fold-0 comparison of the bundled campaign chose it)
        jobs = {k: v for k, v in recipe_jobs("best", data, runs, 5, common).items() if k.startswith("cv-")}
    elif name in ("bundled", "smoke"):
        jobs = recipe_jobs("bundled", data, runs, 5, common)
        cv = ["cv", "--data", data, *common, "--folds", "5"]
        # the seed model under the same protocol (its folds are quick: no augmentation, 10 epochs)
        jobs["cv-seed"] = [*cv, "--preset", "original", "--out", str(runs / "cv-seed")]
        # fold-0 comparisons with the bundled recipe: wider, larger input, larger network
        for job, kwargs, size in [("cmp-w16", '{"width": 16}', None), ("cmp-w16-384", '{"width": 16}', "384"),
                                  ("cmp-w32l6", '{"width": 32, "levels": 6, "num_res_units": 2}', None)]:
            jobs[f"{job}-f0"] = [*cv, "--preset", "bundled", "--fold", "0", "--model-kwargs", kwargs,
                                 *(["--image-size", size] if size else []), "--out", str(runs / job)]
    else:
        raise SystemExit(f"unknown campaign '{name}': use recipe, splits, bundled, best-cv, smoke, smoke-splits or "
                         "smoke-best-cv")
    jobs = {k: [*v, *extra] for k, v in jobs.items()}
    for spec in variants or []:  # NAME=FLAGS: the preset's CV folds again with FLAGS (after --train-args), as cv-NAME
        vname, _, vflags = spec.partition("=")
        if name not in ("recipe", "splits", "smoke-splits") or not vname or \
                f"cv-{vname}" in {f"cv-{preset}", f"cv-{compare}"}:
            raise SystemExit(f"--variant '{spec}': give NAME=TUMORSEG_FLAGS with a new NAME (recipe and splits "
                             "campaigns only)")
        for job, args in list(jobs.items()):
            if job.startswith(f"cv-{preset}-f"):  # "{k}" in FLAGS: the fold's number (its own split file, say)
                i, k = args.index("--out"), job.rsplit("-f", 1)[1]
                o = Path(args[i + 1])  # recipe: runs/cv-PRESET (tumorseg cv --fold k); splits: runs/cv-PRESET/fold_k
                out = str(o.with_name(f"cv-{vname}") if o.name == f"cv-{preset}" else
                          o.parent.with_name(f"cv-{vname}") / o.name)
                jobs[job.replace(f"cv-{preset}-", f"cv-{vname}-", 1)] = [
                    *args[:i + 1], out, *args[i + 2:], *(f.replace("{k}", k) for f in shlex.split(vflags))]
    if name == "smoke":  # the 384² comparison stays larger than the others
        jobs["cmp-w16-384-f0"] = [a if a != "64" else "96" for a in jobs["cmp-w16-384-f0"]]
    return jobs


# -- packing --------------------------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # a call cut short returns the previous complete file, never half of one


def _tar(files: list[Path], root: Path, max_bytes: int) -> tuple[bytes, list[str]]:
    """gzip'd tar of ``files`` (names relative to ``root``), leaving out files once their uncompressed sizes
    (plus a tar header each) would pass ``max_bytes``: a bound the archive can never exceed."""
    buf, left_out, total = io.BytesIO(), [], 0
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in files:
            try:
                size = p.stat().st_size + 1024
                if total + size > max_bytes:
                    left_out.append(str(p.relative_to(root)))
                    continue
                tar.add(p, arcname=str(p.relative_to(root)))
                total += size
            except FileNotFoundError:  # a running job replaced or removed it meanwhile: the next pack has it
                continue
    return buf.getvalue(), left_out


def pack(runs: Path, dest: Path, meta: dict, final_run: Path | None = None, max_bytes: int = 15 * MiB,
         max_parts: int = 3) -> dict:
    """Refresh ``dest`` (see the module docstring); returns what was written and left out (also in campaign.json).

    Resume state (``last.pt``) and fold checkpoints stay behind; ``final_run/best.pt`` comes as ``final_best.pt``
    when it is at most ``max_bytes``, else in parts ``final_best.pt.000``, ``.001``, ... of at most ``max_bytes``
    each (join them with ``cat``): the first ``max_parts`` in ``dest``, the rest in ``runs/final_parts/``
    (``pack.final_checkpoint`` names them: ``rest_on_machine``, and the ``fetch_next_call`` command).
    """
    dest.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in runs.rglob("*") if p.is_file() and not p.name.startswith("."))
    text, left_text = _tar([p for p in files if p.suffix in TEXT_SUFFIXES], runs.parent, max_bytes)
    plots, left_plots = _tar([p for p in files if p.suffix == ".png"], runs.parent, max_bytes)
    _atomic_write(dest / "results.tar.gz", text)
    _atomic_write(dest / "plots.tar.gz", plots)
    info: dict = {"packed_at_s": meta.get("elapsed_s"), "left_out": left_text + left_plots}
    best = final_run / "best.pt" if final_run else None
    if best is not None and best.exists():
        data = best.read_bytes()
        parts = -(-len(data) // max_bytes)
        # one file, or parts to join with `cat final_best.pt.* > best.pt`; parts beyond `max_parts` (a call brings
        # back only so much) wait on the machine in RUNS/final_parts/ for the next call to copy to $OUT
        names = ["final_best.pt"] if parts == 1 else [f"final_best.pt.{i:03d}" for i in range(parts)]
        for old in dest.glob("final_best.pt*"):
            if old.name not in names[:max_parts]:
                old.unlink()
        rest_dir = runs / "final_parts"
        for i, name in enumerate(names):
            folder = dest if i < max_parts else rest_dir
            folder.mkdir(exist_ok=True)
            _atomic_write(folder / name, data[i * max_bytes:(i + 1) * max_bytes])
        info["final_checkpoint"] = {"from": str(best), "bytes": len(data), "files": names[:max_parts]}
        if parts > max_parts:
            rest = [str(rest_dir / n) for n in names[max_parts:]]
            info["final_checkpoint"]["rest_on_machine"] = rest
            info["final_checkpoint"]["fetch_next_call"] = f"cp {' '.join(rest)} $OUT/"
            info["left_out"].append(f"{best}: {len(rest)} of its {parts} parts wait on the machine (see final_checkpoint)")
    _atomic_write(dest / "campaign.json", json.dumps({**meta, "pack": info}, indent=2).encode())
    return info


# -- running --------------------------------------------------------------------------------------------------


def run_jobs(jobs: dict[str, list[str]], runs: Path, deadline_s: float, threads: int, on_change=None,
             every_s: float = 60.0, t0: float | None = None) -> dict[str, dict]:
    """Start every job as ``python -m tumorseg ...``; SIGTERM what still runs at ``deadline_s`` (from ``t0``).

    ``on_change(info)`` is called when a job ends and every ``every_s`` seconds (the incremental pack).
    """
    logs = runs / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    procs, info, log_files = {}, {}, []
    t0 = t0 or time.time()
    for name, args in jobs.items():
        log = open(logs / f"{name}.log", "w")  # noqa: SIM115 - the child writes it until the end
        log_files.append(log)
        procs[name] = subprocess.Popen([sys.executable, "-m", "tumorseg", *args], stdout=log, stderr=subprocess.STDOUT,
                                       env=env, start_new_session=True)
        info[name] = {"args": args, "started_s": round(time.time() - t0, 1)}
    last_call = time.time()
    while time.time() - t0 < deadline_s:
        ended = False
        for name, p in procs.items():
            if p.poll() is not None and "ended_s" not in info[name]:
                info[name].update(returncode=p.returncode, ended_s=round(time.time() - t0, 1))
                ended = True
        if all("ended_s" in i for i in info.values()):
            break
        if on_change and (ended or time.time() - last_call > every_s):
            on_change(info)
            last_call = time.time()
        time.sleep(1)
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


def finish_reserve_s(*presets: str | None) -> float:
    """Seconds a job needs after its last epoch to calibrate and score its test part: 60, or 150 when a preset is
    calibrated per volume (``volume-dice``: each setting is re-scored with 3-D rules on the CPU). On an H200 with
    six ``flair-wide`` jobs side by side, 60 s did not suffice (2026-12-04: all six cut while calibrating)."""
    from tumorseg.training.presets import PRESETS

    per_volume = any(PRESETS.get(p or "", {}).get("calibrate_objective") == "volume-dice" for p in presets)
    return 150.0 if per_volume else 60.0


def finish_cut_runs(runs: Path, threads: int, budget_s: float) -> list[str]:
    """Score test (with calibration) for every run directory that has best.pt but is not finished.

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data")
    ap.add_argument("--runs", default="runs/gpu")
    ap.add_argument("--campaign", default="recipe", choices=["recipe", "splits", "bundled", "best-cv", "smoke", "smoke-splits",
                                                     "smoke-best-cv"])
    ap.add_argument("--preset", default="bundled", help="recipe campaign: the preset to cross-validate and train")
    ap.add_argument("--folds", type=int, default=5, help="recipe campaign: CV folds")
    ap.add_argument("--compare", default=None, help="recipe campaign: also cross-validate this preset on the same "
                                                    "folds (e.g. the previous recipe)")
    ap.add_argument("--split-dir", default=None, help="splits campaign: folder of fold_k.json split files")
    ap.add_argument("--compare-split-dir", default=None,
                    help="splits campaign: the --compare preset's split files (default: --split-dir)")
    ap.add_argument("--final-split", default=None, help="splits campaign: split file of the final model")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                    help="recipe and splits campaigns: also cross-validate the preset with these tumorseg flags on "
                         "the same folds, as cv-NAME (repeatable; {k} in FLAGS: the fold number), e.g. "
                         "'no-p99=--intensity none'")
    ap.add_argument("--train-args", default="", help='tumorseg flags added to every job, e.g. "--epochs 60"')
    ap.add_argument("--time-budget-s", type=float, default=None,
                    help="each job's --time-budget (it plans its epochs to fit, at most its preset's); default: "
                         "the deadline less the time the jobs then need to calibrate and score test (60 s; 150 s for "
                         "presets calibrated per volume, such as flair); 0: none")
    ap.add_argument("--only", default=None, help="comma-separated job names to run (default: all)")
    ap.add_argument("--deadline-s", type=float, default=330, help="stop training jobs after this many seconds")
    ap.add_argument("--total-s", type=float, default=None,
                    help="hard budget for the whole script (default: deadline + 180): finishing stops in time to pack")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers per job (loader-path presets only)")
    ap.add_argument("--threads", type=int, default=2, help="OMP threads per job")
    ap.add_argument("--pack-dir", default=None, help="results to bring back: campaign.json, *.tar.gz, final_best.pt")
    ap.add_argument("--pack-every-s", type=float, default=60)
    ap.add_argument("--max-file-mib", type=float, default=15)
    ap.add_argument("--finish", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.finish:
        finish_one(Path(a.finish))
        return 0
    t0 = time.time()
    a.total_s = a.total_s or a.deadline_s + 180
    runs = Path(a.runs)
    runs.mkdir(parents=True, exist_ok=True)
    budget = a.deadline_s - finish_reserve_s(a.preset, a.compare) if a.time_budget_s is None else a.time_budget_s
    train_args = [*(["--time-budget", f"{budget:g}"] if budget > 0 else []), *shlex.split(a.train_args)]
    jobs = campaign_jobs(a.campaign, a.data, runs, a.workers, a.preset, a.folds, train_args, a.compare, a.split_dir,
                         a.compare_split_dir, a.final_split, a.variant)
    if a.only:
        jobs = {k: v for k, v in jobs.items() if k in a.only.split(",")}
    final = next((Path(v[v.index("--out") + 1]) for k, v in jobs.items() if k.startswith("final-")), None)
    import torch

    meta = {"campaign": a.campaign, "preset": a.preset, "compare": a.compare, "time_budget_s": budget,
            "deadline_s": a.deadline_s, "total_s": a.total_s,
            "torch": torch.__version__, "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "cpu_count": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    print(json.dumps(meta), flush=True)

    def refresh(stage: str, jobs_info: dict | None = None) -> None:
        meta.update(stage=stage, elapsed_s=round(time.time() - t0, 1))
        if jobs_info is not None:
            meta["jobs"] = jobs_info
        (runs / "campaign.json").write_text(json.dumps(meta, indent=2))
        if a.pack_dir:
            pack(runs, Path(a.pack_dir), meta, final, int(a.max_file_mib * MiB))

    refresh("starting")
    meta["jobs"] = run_jobs(jobs, runs, a.deadline_s, a.threads, lambda info: refresh("training", info),
                            a.pack_every_s, t0)
    meta["training_wall_s"] = round(time.time() - t0, 1)
    refresh("trained")
    meta["finished_from_best"] = finish_cut_runs(runs, a.threads, a.total_s - (time.time() - t0) - 20)
    try:
        meta["cv"] = aggregate_all(runs)
    except Exception as exc:  # keep packing whatever exists
        meta["cv_error"] = repr(exc)
    meta["total_wall_s"] = round(time.time() - t0, 1)
    refresh("done")
    print(json.dumps({k: meta[k] for k in ("training_wall_s", "total_wall_s", "finished_from_best")}), flush=True)
    print(json.dumps(meta.get("cv", meta.get("cv_error")), indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
