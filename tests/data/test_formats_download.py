"""``tumorseg download figshare`` against a local HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("h5py")

from test_formats_figshare import slice_pair, write_cvind, write_mat  # noqa: E402
from tumorseg.cli import main  # noqa: E402
from tumorseg.data import read_dataset  # noqa: E402
from tumorseg.data.download import download_figshare, fetch  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _mat_bytes(tmp_path, n, label):
    write_mat(tmp_path / f"{n}.mat", *slice_pair(n), label=label, pid=f"P{n // 3}")
    return (tmp_path / f"{n}.mat").read_bytes()


class Server:
    """Serves ``files`` (path -> bytes) with HTTP Range support; records the Range headers it saw."""

    def __init__(self, files):
        self.files, self.ranges = files, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                rng = self.headers.get("Range")
                outer.ranges.append(rng)
                start = int(rng.split("=")[1].rstrip("-")) if rng else 0
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def figshare_server(tmp_path):
    """An article of the real structure: two brainTumorDataPublic_*.zip (one nested in a bundle zip) and cvind.mat."""
    stage = tmp_path / "stage"
    stage.mkdir()
    zip1 = _zip({"1.mat": _mat_bytes(stage, 1, 1), "2.mat": _mat_bytes(stage, 2, 1)})
    bundle = _zip({"brainTumorDataPublic_3-4.zip": _zip({"3.mat": _mat_bytes(stage, 3, 2), "4.mat": _mat_bytes(stage, 4, 3)})})
    write_cvind(stage / "cvind.mat", [1, 1, 2, 2])
    blobs = {"brainTumorDataPublic_1-2.zip": zip1, "bundle.zip": bundle, "cvind.mat": (stage / "cvind.mat").read_bytes()}
    server = Server({f"/files/{k}": v for k, v in blobs.items()})
    article = {"id": 1512427, "files": [
        {"name": k, "size": len(v), "supplied_md5": hashlib.md5(v).hexdigest(), "download_url": f"{server.url}/files/{k}"}
        for k, v in blobs.items()]}
    server.files["/v2/articles/1512427"] = json.dumps(article).encode()
    server.api = f"{server.url}/v2/articles/1512427"
    server.blobs = blobs
    yield server
    server.close()


def test_download_verifies_unpacks_nested_zips_and_reads(figshare_server, tmp_path):
    out = download_figshare(tmp_path / "fs", api_url=figshare_server.api, progress=False)
    assert (out / "brainTumorDataPublic_1-2" / "1.mat").is_file()
    assert (out / "bundle" / "brainTumorDataPublic_3-4" / "4.mat").is_file()  # zip inside a zip
    recs = read_dataset(out)
    assert [r.case_id for r in recs] == ["1", "2", "3", "4"] and all(r.option("member") is None for r in recs)
    assert [r.option("fold") for r in recs] == [1, 1, 2, 2]
    assert main(["check-data", str(out), "--no-progress"]) == 0


def test_resume_uses_range_and_a_second_run_downloads_nothing(figshare_server, tmp_path):
    name = "brainTumorDataPublic_1-2.zip"
    body = figshare_server.blobs[name]
    out = tmp_path / "fs"
    out.mkdir()
    (out / f"{name}.part").write_bytes(body[:100])  # an interrupted download
    md5 = hashlib.md5(body).hexdigest()
    fetch(f"{figshare_server.url}/files/{name}", out / name, len(body), md5, progress=False)
    assert figshare_server.ranges[-1] == "bytes=100-"
    assert (out / name).read_bytes() == body and not (out / f"{name}.part").exists()
    n = len(figshare_server.ranges)
    fetch(f"{figshare_server.url}/files/{name}", out / name, len(body), md5, progress=False)
    assert len(figshare_server.ranges) == n  # verified on disk, not fetched again


def test_checksum_mismatch_is_an_error_and_removes_the_part(figshare_server, tmp_path):
    name = "cvind.mat"
    body = figshare_server.blobs[name]
    with pytest.raises(DataError, match="MD5 checksum mismatch"):
        fetch(f"{figshare_server.url}/files/{name}", tmp_path / name, len(body), "0" * 32, progress=False)
    assert not (tmp_path / f"{name}.part").exists()
    with pytest.raises(DataError, match="downloaded .* bytes, expected 999999"):
        fetch(f"{figshare_server.url}/files/{name}", tmp_path / name, 999999, "", progress=False)


def test_unreachable_server_is_a_clear_cli_error(tmp_path, capsys):
    rc = main(["download", "figshare", "--out", str(tmp_path / "x"), "--api-url", "http://127.0.0.1:9/none",
               "--no-progress"])
    assert rc == 2 and "cannot connect" in capsys.readouterr().err
