"""A ``tumorseg serve`` on 127.0.0.1 for the benchmarks: start it, wait until it answers, stop it.

Never talks to another host. The server's stderr goes to a temporary file
(a pipe nobody reads would block it once full) and is shown if it fails.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

HOST = "127.0.0.1"
SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_server(args: list[str], start_timeout_s: float = 300.0) -> Iterator[tuple[str, dict, float, int]]:
    """Run ``tumorseg serve --host 127.0.0.1 --port P ARGS``; yields ``(base_url, health, startup_s, pid)``.

    Raises:
        RuntimeError: the server exited or did not answer ``/api/health`` within ``start_timeout_s``.
    """
    port = free_port()
    base = f"http://{HOST}:{port}"
    cmd = [sys.executable, "-m", "tumorseg", "serve", "--host", HOST, "--port", str(port), *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
        try:
            t0 = time.perf_counter()
            while True:  # model load (and ONNX export on first use) happen before the port opens
                if server.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"the server exited:\n{log.read()[-3000:]}")
                try:
                    health = httpx.get(base + "/api/health", timeout=2).json()
                    break
                except httpx.HTTPError:
                    if time.perf_counter() - t0 > start_timeout_s:
                        raise RuntimeError(f"the server did not start within {start_timeout_s:g} s") from None
                    time.sleep(0.5)
            yield base, health, time.perf_counter() - t0, server.pid
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:  # uvicorn waits for requests in flight; a benchmark does not
                server.kill()
                server.wait()
