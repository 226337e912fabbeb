"""Peak memory and epoch time of training from in-memory arrays vs the on-disk slice cache.

Runs ``tumorseg train`` three times as child processes: in memory, with a cold cache (builds it),
with a warm cache (memory-maps it). For each: peak RSS (``wait4`` rusage), peak anonymous RSS
(sampled from /proc: the part the OS cannot drop; mapped cache pages are file-backed and can),
the epoch's seconds from history.csv, and the wall time. Writes JSON to stdout and ``--json``.

    python benchmarks/cache_memory.py --data ../shared/data/figshare --out /tmp/cachebench --json benchmarks/results/cache_memory.json -- \\
        --model-kwargs '{"width": 4}' --batch-size 16 --epochs 1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path


def _peak_anon(pid: int, box: dict) -> None:
    while box.get("running", True):
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("RssAnon:"):
                    box["anon_kib"] = max(box.get("anon_kib", 0), int(line.split()[1]))
        except OSError:
            return
        time.sleep(0.1)


def run(cmd: list[str]) -> dict:
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    box: dict = {}
    watcher = threading.Thread(target=_peak_anon, args=(proc.pid, box), daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    box["running"] = False
    err = proc.stderr.read()
    if status != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err[-2000:]}")
    return {"peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "peak_anon_rss_mib": round(box.get("anon_kib", 0) / 1024, 1),
            "wall_s": round(time.time() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--json", default=None)
    ap.add_argument("train_args", nargs=argparse.REMAINDER, help="after --: extra 'tumorseg train' options")
    a = ap.parse_args()
    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    extra = [x for x in a.train_args if x != "--"]
    base = [sys.executable, "-m", "tumorseg", "train", "--data", a.data, "--no-progress", "--device", "cpu", *extra]
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs", "train_args": extra}
    for name, opts in [("in_memory", []), ("cache_cold", ["--cache", str(out / "cache")]),
                       ("cache_warm", ["--cache", str(out / "cache")])]:
        run_dir = out / name
        r = run([*base, "--out", str(run_dir), *opts])
        rows = list(csv.DictReader(open(run_dir / "history.csv")))
        r["epoch_s"] = [round(float(row["seconds"]), 1) for row in rows]
        results[name] = r
        print(name, r, flush=True)
    text = json.dumps(results, indent=2)
    print(text)
    if a.json:
        Path(a.json).write_text(text)


if __name__ == "__main__":
    main()
