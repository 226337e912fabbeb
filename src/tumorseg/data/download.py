"""``tumorseg download figshare``: fetch the public figshare article 1512427 (Cheng et al.), no login.

Steps: read the article's file list from the figshare API (name, size, MD5,
download URL); download each file into ``OUT`` with a progress bar, resuming
an interrupted download from its ``.part`` file with an HTTP ``Range``
request; check size and MD5; then unpack every zip (and zips inside zips) into
a folder of its own name beside it. Afterwards ``OUT`` reads with
``--format figshare-mat`` (auto-detected). Only the standard library
(``urllib``) is used; ``api_url`` points it elsewhere (tests use a local
server on 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm.auto import tqdm

from tumorseg.errors import DataError, TumorsegError

log = logging.getLogger(__name__)

FIGSHARE_API = "https://api.figshare.com/v2/articles/1512427"
CHUNK = 1 << 20


def _open(url: str, headers: dict[str, str] | None = None, timeout: float = 60):
    req = urllib.request.Request(url, headers={"User-Agent": "tumorseg", **(headers or {})})
    try:
        return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 (http/https URLs from the API)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # range not satisfiable: the .part is already complete (or bigger)
            return exc
        raise TumorsegError(f"{url}: HTTP {exc.code} {exc.reason}. Try again later.") from None
    except (urllib.error.URLError, OSError) as exc:
        raise TumorsegError(
            f"{url}: cannot connect ({getattr(exc, 'reason', exc)}). Check the internet connection; "
            "run the same command again to resume."
        ) from None


def article_files(api_url: str = FIGSHARE_API) -> list[dict[str, Any]]:
    """The article's files: ``[{"name", "size", "md5", "url"}]``."""
    with _open(api_url) as resp:
        meta = json.load(resp)
    files = []
    for f in meta.get("files", []):
        files.append({"name": f["name"], "size": int(f.get("size") or 0),
                      "md5": f.get("supplied_md5") or f.get("computed_md5") or "", "url": f["download_url"]})
    if not files:
        raise TumorsegError(f"{api_url}: the article lists no files.")
    return files


def md5sum(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 (integrity check against figshare's published MD5, not security)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, dest: Path, size: int = 0, md5: str = "", progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), then verify ``size`` and ``md5`` when given.

    Raises:
        DataError: the finished file has the wrong size or checksum (the
            partial file is removed so the next run starts afresh).
    """
    if dest.is_file() and (not size or dest.stat().st_size == size) and (not md5 or md5sum(dest) == md5):
        log.info("%s: already downloaded", dest)
        return dest
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    resp = _open(url, {"Range": f"bytes={have}-"} if have else None)
    with resp:
        status = getattr(resp, "status", None) or resp.getcode()
        if status == 416:
            pass  # nothing left to fetch
        else:
            if have and status != 206:  # the server ignored the range: start over
                have = 0
            with open(part, "ab" if have else "wb") as f, tqdm(
                total=size or None, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
                leave=False,
            ) as bar:
                while block := resp.read(CHUNK):
                    f.write(block)
                    bar.update(len(block))
    got = part.stat().st_size
    if size and got != size:
        if got > size:
            part.unlink()
        raise DataError(f"{dest}: downloaded {got} bytes, expected {size}. Run the command again to resume.")
    if md5 and md5sum(part) != md5:
        part.unlink()
        raise DataError(f"{dest}: MD5 checksum mismatch (corrupt download). Run the command again to re-download it.")
    part.replace(dest)
    return dest


def _safe_members(z: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    for info in z.infolist():
        p = PurePosixPath(info.filename)
        if p.is_absolute() or ".." in p.parts:
            raise DataError(f"{archive}: member '{info.filename}' would be written outside the folder; refusing to unpack.")
    return z.infolist()


def unpack_archive(archive: Path) -> Path:
    """Extract ``archive`` into ``archive.parent/<stem>/`` (once), then any zips inside it, recursively."""
    target = archive.with_suffix("")
    done = target / ".unpacked"
    if not done.is_file():
        try:
            with zipfile.ZipFile(archive) as z:
                tmp = target.with_name(target.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                z.extractall(tmp, members=_safe_members(z, archive))
        except zipfile.BadZipFile:
            raise DataError(f"{archive}: not a valid zip file. Delete it and run the command again.") from None
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
        done.touch()
    for inner in sorted(target.rglob("*.zip")):
        unpack_archive(inner)
    return target


def download_figshare(out: str | Path, api_url: str | None = None, progress: bool = True, unpack: bool = True) -> Path:
    """Download (and unpack) figshare article 1512427 into ``out``; returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = article_files(api_url or FIGSHARE_API)
    for f in files:
        name = Path(f["name"]).name  # never a path from the server
        fetch(f["url"], out / name, f["size"], f["md5"], progress)
    if unpack:
        for archive in sorted(out.glob("*.zip")):
            unpack_archive(archive)
    return out

