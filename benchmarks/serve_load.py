"""Load test of ``tumorseg serve``: N concurrent clients × R uploads against a local server (not part of the tests).

Starts ``tumorseg serve`` on 127.0.0.1 (a free port; never another host) in a
subprocess, waits for ``/api/health``, then runs ``--clients`` concurrent
clients that each POST ``--requests`` images to ``/api/segment``, bounded by
``--max-seconds``. Writes JSON: throughput, latency p50/p95/max, status counts
and errors (expected 0), then stops the server it started.

    python benchmarks/serve_load.py --model CKPT --clients 32 --requests 20 --out benchmarks/results/serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from _server import local_server  # 127.0.0.1 only: this benchmark talks to a server it started

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _sample_image() -> tuple[str, bytes]:
    native = DATA / "figshare-native" / "images"
    if native.is_dir():
        path = sorted(native.glob("*.png"))[0]
        return path.name, path.read_bytes()
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((512, 512)) * 255).astype(np.uint8)).save(buf, "PNG")
    return "synthetic.png", buf.getvalue()


async def _client(http: httpx.AsyncClient, url: str, name: str, data: bytes, n: int, deadline: float,
                  latencies: list, statuses: Counter, errors: list) -> None:
    for _ in range(n):
        if time.perf_counter() > deadline:
            return
        t0 = time.perf_counter()
        try:
            r = await http.post(url, files={"file": (name, data, "image/png")})
            statuses[r.status_code] += 1
            if r.status_code != 200:
                errors.append(f"{r.status_code}: {r.text[:200]}")
            else:
                latencies.append(time.perf_counter() - t0)
        except httpx.HTTPError as exc:
            errors.append(f"{exc.__class__.__name__}: {exc}")


async def _run(base: str, clients: int, requests: int, max_seconds: float) -> dict:
    name, data = _sample_image()
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=httpx.Timeout(max_seconds), limits=limits) as http:
        t0 = time.perf_counter()
        deadline = t0 + max_seconds
        await asyncio.gather(*(_client(http, base + "/api/segment", name, data, requests, deadline, latencies,
                                       statuses, errors) for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    done = sum(statuses.values())
    return {
        "clients": clients, "requests_per_client": requests, "requests_planned": clients * requests,
        "requests_done": done, "ok": statuses.get(200, 0), "errors": len(errors), "error_samples": errors[:5],
        "status_counts": {str(k): v for k, v in statuses.items()}, "wall_s": round(wall, 2),
        "throughput_req_per_s": round(done / wall, 2), "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1), "latency_ms_max": round(float(lat.max()), 1),
        "image": f"{name} ({len(data)} bytes)",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="checkpoint or .onnx for the server (default: bundled model)")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=20, help="requests per client")
    ap.add_argument("--max-seconds", type=float, default=300.0, help="stop sending after this long")
    ap.add_argument("--out", default="benchmarks/results/serve_load.json")
    a = ap.parse_args(argv)
    if a.clients < 1 or a.clients > 256 or a.requests < 1 or a.requests > 1000:
        ap.error("keep --clients in 1..256 and --requests in 1..1000")
    args = ["--backend", a.backend] + (["--model", a.model] if a.model else [])
    try:
        with local_server(args, start_timeout_s=180) as (base, health, startup_s, _):
            result = asyncio.run(_run(base, a.clients, a.requests, a.max_seconds))
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    report = {"command": "python benchmarks/serve_load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "server": {**health, "startup_s": round(startup_s, 1), "url": base},
              "machine": {"logical_cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg()}, **result}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
