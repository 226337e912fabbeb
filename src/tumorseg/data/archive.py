"""ZIP archives as inputs: a DICOM series or study exported from a PACS or a viewer, NIfTI/NRRD volumes or image
slices, sent or shared as one ``.zip``.

An archive is read as the folder it was made from: ``tumorseg predict study.zip`` is ``tumorseg predict study/``
after unzipping (series found in the tree, one mask per series, ...), and a ``.zip`` uploaded to ``tumorseg serve``
is read as its files uploaded together. Nothing in an archive is trusted:

- member names never become paths as they stand: a name with ``..``, an absolute path or a drive is refused; the
  rest are written below one fresh folder, component by component (no links are ever created);
- sizes are checked from the central directory before anything is inflated (members at most ``max_files``, their
  declared sizes together at most the limits' ``max_decoded_bytes``: :mod:`tumorseg.limits`), and
  :mod:`zipfile` never inflates a member past its declared size (a lying header gives a CRC error, not a bomb);
- an encrypted member, a compression that :mod:`zipfile` cannot read, or a corrupt archive is a one-line
  :class:`~tumorseg.errors.DataError` naming the archive and the fix (unzip it first).

Folders and files that archivers add by themselves (``__MACOSX/``, ``.DS_Store``, ``Thumbs.db``, ``desktop.ini``)
are skipped. Archives inside the archive are not opened.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from tumorseg import limits
from tumorseg.errors import DataError

MAX_FILES = 100_000  # members of one archive given on the command line (serve passes its own, smaller cap)
JUNK_DIRS = frozenset({"__MACOSX"})
JUNK_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive


def is_zip(path: str | Path) -> bool:
    """A file named ``*.zip`` (the name decides, as for the other inputs; the bytes are checked when it is read)."""
    p = Path(path)
    return p.suffix.lower() == ".zip" and p.is_file()


def is_zip_bytes(data: bytes) -> bool:
    """Bytes that start as a ZIP archive does (an upload is sniffed, never judged by its name)."""
    return data[:4] in ZIP_MAGIC


def _parts(info: zipfile.ZipInfo, where: str) -> tuple[str, ...] | None:
    """The safe path components of a member, ``None`` for one to skip (a folder entry, archiver junk).

    Raises:
        DataError: a name that would leave the folder it is unpacked into (``..``, absolute, a drive).
    """
    name = info.filename.replace("\\", "/")
    if info.is_dir() or name.endswith("/"):
        return None
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise DataError(f"{where}: holds a file named '{info.filename}', outside the archive's own folder; the "
                        "archive is not safe to read (unzip it yourself and check it).")
    parts = tuple(p for p in parts if p not in ("", "."))
    if not parts or parts[0] in JUNK_DIRS or parts[-1].lower() in JUNK_FILES or parts[-1].startswith("._"):
        return None
    return parts


Member = tuple[zipfile.ZipInfo, tuple[str, ...]]  # a member and its safe path components


def members(archive: zipfile.ZipFile, where: str, max_files: int = MAX_FILES) -> list[Member]:
    """The members worth reading, with their safe path components, checked against the limits in force before
    anything is inflated.

    Raises:
        DataError: an unsafe name, an encrypted member, no file at all.
        LimitExceeded: more than ``max_files`` members, or their declared sizes together over ``max_decoded_bytes``
            (HTTP 413 in ``serve``).
    """
    infos = archive.infolist()
    if len(infos) > max_files:
        raise limits.LimitExceeded(f"{where}: holds {len(infos):,} files; at most {max_files:,} are accepted from one "
                                   "archive; unzip it and give the folders you need.")
    kept = [(info, parts) for info in infos if (parts := _parts(info, where)) is not None]
    if any(info.flag_bits & 0x1 for info, _ in kept):
        raise DataError(f"{where}: is encrypted; unzip it with its password and give the folder instead.")
    total, lim = sum(info.file_size for info, _ in kept), limits.current()
    if total > lim.max_decoded_bytes:
        raise limits.LimitExceeded(f"{where}: unpacks to {total / 2**20:,.0f} MiB; at most "
                                   f"{lim.max_decoded_bytes >> 20} MiB are accepted from one archive; unzip it "
                                   "yourself, or send fewer files.")
    if not kept:
        raise DataError(f"{where}: the archive holds no files.")
    return kept


def open_archive(source, where: str) -> zipfile.ZipFile:
    """``zipfile.ZipFile(source)``, or a one-line :class:`DataError` naming ``where`` when it is not a readable ZIP."""
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise DataError(f"{where}: is not a readable ZIP archive (truncated or corrupt); send or copy it "
                        "again.") from None


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> Iterator[bytes]:
    """A member's bytes in 1 MiB chunks (at most its declared size: :mod:`zipfile` stops there)."""
    try:
        with archive.open(info) as f:
            while chunk := f.read(1 << 20):
                yield chunk
    except NotImplementedError:
        raise DataError(f"{where}: '{info.filename}' is compressed in a way Python cannot read (e.g. Deflate64); "
                        "unzip it with another tool and give the folder.") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError):
        raise DataError(f"{where}: '{info.filename}' is corrupt (its data does not match its checksum); send or copy "
                        "the archive again.") from None


def read_members(data: bytes, where: str = "the archive", max_files: int = MAX_FILES) -> list[tuple[str, bytes]]:
    """An archive held in memory (an upload): ``[(file name, bytes), ...]`` in the archive's order; the names are
    the members' base names (for slice numbers and messages, never for paths).

    Raises:
        DataError, LimitExceeded: as :func:`members`, or a corrupt archive or member.
    """
    import io

    with open_archive(io.BytesIO(data), where) as archive:
        return [(parts[-1], b"".join(_read(archive, info, where)))
                for info, parts in members(archive, where, max_files)]


def unpack(path: Path, dest: Path, max_files: int = MAX_FILES, progress: bool = False) -> Path:
    """Write the archive ``path`` into the folder ``dest`` (created; emptied first when it exists) and return what
    to read: the only file when it holds one (a zipped ``scan.nii.gz``), its only top-level folder when it holds
    nothing else (an archive made by compressing one folder reads as that folder), else ``dest``. ``progress``: a
    progress bar of the bytes written.

    Raises:
        DataError, LimitExceeded: as :func:`members`, or a corrupt archive or member.
    """
    where = str(path)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with open_archive(path, where) as archive:
        kept = members(archive, where, max_files)
        with tqdm(total=sum(info.file_size for info, _ in kept), unit="B", unit_scale=True,
                  desc=f"unzip {path.name}", disable=not progress, leave=False) as bar:
            for info, parts in kept:
                target = dest.joinpath(*parts)
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "wb") as f:
                        for chunk in _read(archive, info, where):
                            f.write(chunk)
                            bar.update(len(chunk))
                except OSError as exc:  # a name clashing with a folder, too long for this disk, the disk full
                    raise DataError(f"{where}: '{info.filename}' cannot be unpacked here ({exc.strerror or exc}); "
                                    "unzip it yourself and give the folder.") from None
    if len(kept) == 1:
        return dest.joinpath(*kept[0][1])
    tops = {parts[0] for _, parts in kept}
    return dest / next(iter(tops)) if len(tops) == 1 else dest


@dataclass
class Unpacked:
    """Inputs with every ``.zip`` replaced by the folder it was unpacked into (:func:`unpacked_inputs`);
    :meth:`shown` writes a path below such a folder as ``archive.zip/inner/path`` again (summaries, messages)."""

    inputs: list[str | Path]
    folders: dict[Path, Path] = field(default_factory=dict)  # the folder an archive was unpacked into -> the archive

    def shown(self, text: str | Path) -> str:
        """``text`` (a path, a message) with every unpacked folder written as its archive."""
        text = str(text)
        for folder, archive in self.folders.items():
            text = text.replace(str(folder), str(archive))
        return text


class _Relabel(logging.Filter):
    """A handler filter that writes paths below an unpacked archive's folder as the archive's in every record."""

    def __init__(self, unpacked: Unpacked):
        super().__init__()
        self.unpacked = unpacked

    def filter(self, record: logging.LogRecord) -> bool:
        if self.unpacked.folders:
            message = record.getMessage()
            shown = self.unpacked.shown(message)
            if shown != message:
                record.msg, record.args = shown, None
        return True


@contextmanager
def unpacked_inputs(inputs: Sequence[str | Path], failed: list[tuple[Path, str]] | None = None) -> Iterator[Unpacked]:
    """Unpack each ``.zip`` among ``inputs`` into its own temporary folder (removed on exit, also on errors),
    named after the archive (``study.zip`` -> ``.../study/``, so outputs are named as for the unzipped folder;
    :func:`unpack` says what is read of it).

    With a ``failed`` list, an archive that cannot be read safely is appended to it as ``(path, reason)`` and left
    out instead of raised.

    Raises:
        DataError, LimitExceeded: an archive that cannot be read safely (:func:`unpack`), without ``failed``.
    """
    result, made = Unpacked([]), []
    handlers = list(logging.getLogger().handlers)  # the run's log lines name files as the archive's, not temporary ones
    relabel = _Relabel(result)
    try:
        for h in handlers:
            h.addFilter(relabel)
        for item in inputs:
            if not is_zip(item):
                result.inputs.append(item)
                continue
            archive = Path(item)
            work = Path(tempfile.mkdtemp(prefix="tumorseg-unzip-"))  # private (0700), one per archive and run
            made.append(work)
            dest = work / (archive.stem or "archive")
            try:
                result.inputs.append(unpack(archive, dest))
            except DataError as exc:
                if failed is None:
                    raise
                failed.append((archive, str(exc).removeprefix(f"{archive}: ")))
                continue
            result.folders[dest] = archive
        yield result
    finally:
        for h in handlers:
            h.removeFilter(relabel)
        for work in made:
            shutil.rmtree(work, ignore_errors=True)
