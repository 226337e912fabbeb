"""Fuzz-style checks of ``tumorseg serve``: hostile uploads, other web pages, floods (issue 13, rows 1–3).

Everything talks to 127.0.0.1 only; every loop is bounded. Hostile files are
built on the fly (tests/hostile.py) and are a few hundred kB at most.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import hostile
from conftest import tiny_checkpoint

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
httpx = pytest.importorskip("httpx")
pytest.importorskip("nibabel")
pytest.importorskip("pydicom")

from fastapi import HTTPException  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from tumorseg.inference.predictor import Predictor  # noqa: E402
from tumorseg.web.app import create_app  # noqa: E402
from tumorseg.web.guards import Admission, allowed_hosts, host_ok, same_origin  # noqa: E402

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("hard") / "m.pt", image_size=32)


@pytest.fixture(scope="module")
def predictor(ckpt):
    return Predictor.from_checkpoint(ckpt, "cpu", backend="torch")


@pytest.fixture(scope="module")
def client(predictor):
    return TestClient(create_app(predictor, max_upload_mb=2), base_url=BASE)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {name: build() for name, build in hostile.TABLE.items()}


def _png(size=(24, 20)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.arange(size[0] * size[1]) % 251).astype(np.uint8).reshape(size)).save(buf, "PNG")
    return buf.getvalue()


def _post(client, data: bytes, **kw):
    return client.post("/api/segment", files={"file": ("x", data, "application/octet-stream")}, **kw)


def _one_line(r) -> str:
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail and "/tmp" not in detail
    return detail


# --- row 1 and 2: bombs are refused from their headers --------------------------------------------------------

@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(hostile.TABLE))
def test_hostile_upload_gets_4xx_in_one_line(client, bombs, name):
    t0 = time.perf_counter()
    r = _post(client, bombs[name])
    if name == "nifti_gz_small_header_trailing_bomb":  # a small volume: served, the trailing data never inflated
        assert r.status_code == 200, r.text
        assert r.json()["n_slices"] == 8
    else:
        assert r.status_code == 413, r.text
        words = _one_line(r)
        assert "accepted" in words or "decompresses to more than" in words
    assert time.perf_counter() - t0 < 10


def test_declared_size_within_caps_but_truncated_is_400(client):
    data = hostile.nifti_gz_bomb((64, 64, 8))[:-200]  # the gzip stream cut short
    r = _post(client, data)
    assert r.status_code == 400 and _one_line(r)


def test_a_stack_of_slices_in_one_tiff_is_one_volume_and_an_animated_png_is_400(client):
    import io

    from PIL import Image

    pages = [Image.fromarray(np.full((20, 24), 40 * i, np.uint8)) for i in range(3)]
    bufs = {fmt: io.BytesIO() for fmt in ("TIFF", "PNG")}
    for fmt, buf in bufs.items():
        pages[0].save(buf, fmt, save_all=True, append_images=pages[1:])
    r = _post(client, bufs["TIFF"].getvalue())
    assert r.status_code == 200 and (r.json()["kind"], r.json()["n_slices"]) == ("tiff-stack", 3)
    r = _post(client, bufs["PNG"].getvalue())
    assert r.status_code == 400 and "stack of 24×20 images" in _one_line(r)


def test_a_tiff_of_a_pixel_type_pillow_cannot_decode_says_which(client):
    """numpy's float64 (``tifffile.imwrite``'s default): 400 naming the type and the fix, as ``predict`` says."""
    import io

    tifffile = pytest.importorskip("tifffile")
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ones((20, 24), "float64"))
    r = _post(client, buf.getvalue())
    assert r.status_code == 400 and "a TIFF of float64 pixels" in _one_line(r) and "float32" in _one_line(r)


@pytest.mark.parametrize("kind", ["nrrd", "dicom", "tiff"])
def test_a_small_file_of_more_slices_than_the_cap_is_413_before_any_model_call(client, kind, monkeypatch):
    """Each slice is a model call: thousands of 2×2 slices fit the voxel cap in a few kB, so the slice count is capped
    too (2,048 per upload): NRRD once its slicing axis is known, DICOM frames and TIFF pages from their headers."""
    import io

    from PIL import Image

    from tumorseg.inference.predictor import Predictor as P

    monkeypatch.setattr(P, "probabilities", lambda *a, **k: pytest.fail("the model was called"))
    if kind == "nrrd":
        pytest.importorskip("SimpleITK")
        data = hostile.nrrd_gz_bomb((2, 2, 3000))
    elif kind == "dicom":
        pytest.importorskip("pydicom")
        data = hostile.dicom_deflate_bomb(2, 2, 3000, 16)
    else:
        pages = [Image.fromarray(np.full((2, 2), i % 250 + 1, np.uint8)) for i in range(2049)]
        buf = io.BytesIO()
        pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:])
        data = buf.getvalue()
    r = _post(client, data)
    assert r.status_code == 413, r.text
    count = "2,049" if kind == "tiff" else "3,000"
    assert f"holds {count} slices; at most 2,048 per volume are accepted" in _one_line(r)


# --- row 3: Host, Origin, token --------------------------------------------------------------------------------

def test_host_must_name_this_server(client):
    assert client.get("/api/health").status_code == 200
    for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
        assert client.get("/api/health", headers={"host": host}).status_code == 200, host
    for host in ("attacker.example", "attacker.example:8000", "127.0.0.1.nip.io", "localhost.evil.example", ""):
        r = _post(client, _png(), headers={"host": host})
        assert r.status_code == 400 and "does not name this server" in _one_line(r), host


def test_cross_origin_requests_are_refused(client):
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999", "http://localhost:8000.evil.example"):
        r = _post(client, _png(), headers={"origin": origin})
        assert r.status_code == 403 and "refused" in _one_line(r), origin
    r = _post(client, _png(), headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403
    # the page itself, and clients that are not browsers, are served
    assert _post(client, _png(), headers={"origin": BASE}).status_code == 200
    assert _post(client, _png(), headers={"origin": BASE, "sec-fetch-site": "same-origin"}).status_code == 200
    assert _post(client, _png()).status_code == 200
    # a link from another site to the page is a navigation: allowed
    assert client.get("/", headers={"sec-fetch-site": "cross-site"}).status_code == 200


def test_token_required_when_set(predictor):
    c = TestClient(create_app(predictor, token="s3cret-token"), base_url=BASE)
    assert c.get("/").status_code == 401 and "token" in _one_line(c.get("/"))
    assert _post(c, _png()).status_code == 401
    assert c.get("/api/model", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/static/app.js").status_code == 200  # public assets
    assert c.get("/api/model", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
    assert c.get("/api/model", headers={"x-tumorseg-token": "s3cret-token"}).status_code == 200
    page = c.get("/?token=s3cret-token")  # the printed URL: sets the cookie the page's own requests carry
    assert page.status_code == 200 and "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=Strict" in page.headers["set-cookie"]
    assert _post(c, _png()).status_code == 200  # the client kept the cookie


def test_allowed_hosts_rules():
    local = allowed_hosts("127.0.0.1")
    assert host_ok("127.0.0.1:8000", local) and host_ok("LOCALHOST:1", local) and host_ok("[::1]:80", local)
    assert not host_ok("192.168.1.9:8000", local) and not host_ok("evil.example", local) and not host_ok(None, local)
    extra = allowed_hosts("127.0.0.1", ["scanner.lab"])
    assert host_ok("scanner.lab:8000", extra) and not host_ok("other.lab", extra)
    wild = allowed_hosts("0.0.0.0")
    assert host_ok("10.1.2.3:8000", wild) and host_ok("[fe80::1]:8000", wild) and not host_ok("evil.example", wild)
    assert host_ok("anything", allowed_hosts("127.0.0.1", ["*"]))
    assert same_origin("http://127.0.0.1:8000", "127.0.0.1:8000", "http")
    assert same_origin("http://localhost", "localhost", "http")
    assert not same_origin("http://127.0.0.1:8001", "127.0.0.1:8000", "http")
    assert not same_origin("null", "127.0.0.1:8000", "http")


# --- concurrency: bounded active and waiting requests, then 503 with Retry-After -------------------------------

def test_admission_queues_then_refuses_with_retry_after():
    async def scenario():
        adm = Admission(max_active=1, max_waiting=1, wait_s=0.5)
        release = asyncio.Event()
        order = []

        async def hold(tag):
            async with adm.slot():
                order.append(tag)
                await release.wait()

        first = asyncio.create_task(hold("first"))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(hold("second"))  # waits
        await asyncio.sleep(0.01)
        with pytest.raises(HTTPException) as busy:  # the queue is full
            async with adm.slot():
                pass
        assert busy.value.status_code == 503 and int(busy.value.headers["Retry-After"]) >= 1
        release.set()
        await asyncio.gather(first, second)
        assert order == ["first", "second"] and adm.active == adm.waiting == 0
        blocker = asyncio.Event()
        holder = asyncio.create_task(hold("third"))
        release.clear()
        await asyncio.sleep(0.01)
        with pytest.raises(HTTPException) as late:  # waited longer than wait_s
            async with adm.slot():
                pass
        assert late.value.status_code == 503 and "waited" in late.value.detail
        release.set()
        blocker.set()
        await holder

    asyncio.run(asyncio.wait_for(scenario(), 10))


# --- a real server: RSS stays bounded under the hostile uploads ----------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux) to read the server's RSS")
def test_real_server_rss_stays_bounded(ckpt, bombs, tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    cmd = [sys.executable, "-m", "tumorseg", "serve", "--model", str(ckpt), "--backend", "torch", "--device", "cpu",
           "--host", "127.0.0.1", "--port", str(port), "--max-concurrent", "2"]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    http = httpx.Client(timeout=60)  # one client (httpx.post would build an SSL context per call)
    try:
        deadline = time.time() + 90
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                if http.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "server did not start"
            time.sleep(0.3)
        baseline = _status_kb(server.pid, "VmRSS")

        def send_bytes(data: bytes) -> int:
            body, ctype = hostile.multipart("x.bin", data)
            return http.post(base + "/api/segment", content=body, headers={"content-type": ctype}).status_code

        def send(name: str) -> int:
            return send_bytes(bombs[name])

        statuses = {name: send(name) for name in sorted(bombs)}
        with ThreadPoolExecutor(3) as pool:  # "three at once"
            statuses["3x dicom"] = list(pool.map(send, ["dicom_deflate_12000sq_frame"] * 3))
            statuses["3x nifti"] = list(pool.map(send, ["nifti_gz_261kB_256MiB"] * 3))
        r = http.post(base + "/api/segment", headers={"host": "attacker.example", "origin": "http://attacker.example"},
                      files={"file": ("x.png", _png())})
        growth_mb = (_status_kb(server.pid, "VmHWM") - baseline) / 1024
        # the largest image accepted (4096², the UPLOADS pixel cap): docs/inference.md states ~320 MB per request
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # peak := current
        before = _status_kb(server.pid, "VmRSS")
        at_cap = send_bytes(hostile.png_zeros(4096, 4096))
        cap_mb = (_status_kb(server.pid, "VmHWM") - before) / 1024
    finally:
        http.close()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    assert r.status_code == 400  # DNS rebinding over real HTTP
    for name, status in statuses.items():
        codes = status if isinstance(status, list) else [status]
        assert all(400 <= c < 500 or (name == "nifti_gz_small_header_trailing_bomb" and c == 200) for c in codes), \
            (name, codes)
    assert growth_mb < 300, f"peak RSS grew by {growth_mb:.0f} MB"
    assert at_cap == 200 and cap_mb < 450, f"a 4096² upload: status {at_cap}, peak RSS +{cap_mb:.0f} MB"
