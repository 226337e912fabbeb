"""Run one ``tumorseg`` command in a fresh Python process and measure it: wall time and peak RSS.

Used by the benchmarks that report memory (a fresh process, so imports and earlier work do not count twice).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

CHILD = """
import resource, sys
from tumorseg.cli import main
rc = main(sys.argv[1:])
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(rc)
"""


@dataclass
class ChildRun:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float | None  # None when the command failed before printing it


def run_tumorseg(args: list[str]) -> ChildRun:
    """``tumorseg ARGS`` in a child process (``ru_maxrss`` of that process only)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss = next((int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("MAXRSS_KB")), None)
    return ChildRun(proc.returncode, proc.stdout, proc.stderr, wall, None if rss is None else round(rss / 1024, 1))
