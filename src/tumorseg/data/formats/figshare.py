"""figshare brain tumour dataset (Cheng et al., article 1512427) as downloaded: MATLAB v7.3 ``.mat`` files.

Layout accepted (any mix)::

    DIR/brainTumorDataPublic_1-766/1.mat ...        loose files in sub-folders
    DIR/1.mat ...                                   or directly in DIR
    DIR/brainTumorDataPublic_1-766.zip ...          or still zipped
    DIR/cvind.mat                                   optional: patient-wise 5-fold indices

Each ``N.mat`` is HDF5 with a struct ``cjdata``: ``image`` (int16, usually
512×512), ``tumorMask`` (0/1), ``label`` (1 meningioma, 2 glioma,
3 pituitary), ``PID`` (patient id as uint16 character codes) and
``tumorBorder``. h5py returns MATLAB arrays transposed (MATLAB is
column-major), so every 2-D array is transposed back to the orientation MATLAB
shows. Intensities are 16-bit: each image is scaled by its own 0.5–99.5
percentiles to ``uint8`` (not by /255). Patient = PID without a trailing
letter (``MR040240B`` and ``MR040240C`` are repeat scans of one person), as
``patient_group`` in ../shared/data/figshare/metadata.csv.
"""

from __future__ import annotations

import io
import re
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from tumorseg import limits
from tumorseg.data.formats._common import Loaded, finite_range, natural_key, require, to_uint8
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError

CLASSES = {1: "meningioma", 2: "glioma", 3: "pituitary"}
NORMALISATION = "per-image 0.5-99.5 percentile -> 0..255"
_SKIP = {"cvind.mat"}


def _zips(path: Path) -> list[Path]:
    return sorted(path.rglob("*.zip"), key=lambda p: natural_key(p.name))


def _loose(path: Path) -> list[Path]:
    """Every ``N.mat`` under ``path`` (any depth: unpacked archives may nest folders)."""
    return sorted((p for p in path.rglob("*.mat") if p.name not in _SKIP), key=lambda p: natural_key(p.name))


def holds_mat_files(path: Path) -> bool:
    """The zip at ``path`` holds slice ``.mat`` files (from its directory; nothing is inflated)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.lower().endswith(".mat") and Path(n).name not in _SKIP for n in z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def detect(path: Path) -> bool:
    if path.is_file():
        suffix = path.suffix.lower()
        return (suffix == ".mat" and path.name not in _SKIP) or (suffix == ".zip" and holds_mat_files(path))
    if not path.is_dir():
        return False
    if any(z.name.startswith("brainTumorDataPublic") for z in _zips(path)):
        return True
    return (path / "cvind.mat").is_file() or any(True for _ in path.glob("*.mat")) or any(
        True for sub in path.iterdir() if sub.is_dir() and sub.name.startswith("brainTumorDataPublic")
    )


@lru_cache(maxsize=8)
def _zipfile(path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(path)


def _open_h5(source: Path, member: str | None):
    h5py = require("h5py", "reading figshare .mat (MATLAB v7.3) files")
    where = f"{source}:{member}" if member else str(source)
    try:
        if member is None:
            return h5py.File(source, "r"), where
        return h5py.File(io.BytesIO(_zipfile(source).read(member)), "r"), where
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{where}: not a readable MATLAB v7.3 (HDF5) file ({exc.__class__.__name__}). "
            "Re-download it or remove it from the folder."
        ) from None


def _cjdata(f, where: str):
    if "cjdata" not in f:
        raise DataError(f"{where}: has no 'cjdata' struct (found {sorted(f.keys())}); not a figshare 1512427 slice.")
    return f["cjdata"]


def decode_pid(codes: np.ndarray) -> str:
    """MATLAB char array (uint16 codes, any shape) -> ``str``."""
    return "".join(chr(int(c)) for c in np.asarray(codes).ravel() if int(c) != 0).strip()


def patient_group(pid: str) -> str:
    """``MR040240B`` -> ``MR040240`` (repeat scans of one person); other ids unchanged."""
    return re.sub(r"(?<=\d)[A-Za-z]$", "", pid)


def read_cvind(path: Path) -> list[int]:
    """Fold number (1..5) of slice ``N`` at position ``N-1``, from ``cvind.mat`` (v7.3 or v5)."""
    try:
        h5py = require("h5py", "reading cvind.mat")
        with h5py.File(path, "r") as f:
            key = "cvind" if "cvind" in f else next(iter(f.keys()))
            arr = np.asarray(f[key][()])
    except OSError:  # an older MATLAB file (v5): scipy reads those
        from scipy.io import loadmat

        mat = loadmat(path)
        arr = np.asarray(mat.get("cvind", next(v for k, v in mat.items() if not k.startswith("__"))))
    return [int(v) for v in arr.ravel()]


def _sources(path: Path) -> list[tuple[Path, str | None, str]]:
    """``(file, zip member or None, case id)`` for every slice file; loose files win over zipped copies."""
    if path.is_file():
        if path.suffix.lower() == ".mat":
            return [(path, None, path.stem)]
        zips, loose = [path], []
    else:
        zips, loose = _zips(path), _loose(path)
    out = [(p, None, p.stem) for p in loose]
    have = {p.stem for p in loose}
    for z in zips:
        try:
            names = _zipfile(z).namelist()
        except (zipfile.BadZipFile, OSError):
            raise DataError(f"{z}: not a readable zip file. Re-download it (tumorseg download figshare).") from None
        for name in sorted(names, key=natural_key):
            stem = Path(name).stem
            if name.endswith(".mat") and Path(name).name not in _SKIP and stem not in have:
                out.append((z, name, stem))
    return out


def read(path: Path) -> list[SliceRecord]:
    """Read every ``N.mat`` (loose or zipped) into records with patient, class and cvind fold.

    Opens each file once to read ``PID`` and ``label`` (the image is decoded
    later, by :func:`load`).

    Raises:
        DataError: no .mat files, a file without ``cjdata``, an unknown label.
    """
    sources = _sources(path)
    if not sources:
        raise DataError(
            f"{path}: no figshare .mat files (N.mat) or brainTumorDataPublic_*.zip found. "
            "Get them with: tumorseg download figshare --out DIR"
        )
    folds: list[int] = []
    cvs = sorted((path if path.is_dir() else path.parent).rglob("cvind.mat"))
    if cvs:
        folds = read_cvind(cvs[0])
    records = []
    for source, member, stem in sources:
        f, where = _open_h5(source, member)
        with f:
            cj = _cjdata(f, where)
            pid = decode_pid(cj["PID"][()]) if "PID" in cj else ""
            label = int(np.asarray(cj["label"][()]).ravel()[0]) if "label" in cj else None
        if label is not None and label not in CLASSES:
            raise DataError(f"{where}: label {label} is not 1, 2 or 3 (meningioma, glioma, pituitary).")
        options: list[tuple[str, object]] = [("member", member)] if member else []
        if folds and stem.isdigit() and 0 < int(stem) <= len(folds):
            options.append(("fold", folds[int(stem) - 1]))
        records.append(SliceRecord(
            case_id=stem, image=source, mask=source, patient=patient_group(pid) or None,
            label=CLASSES.get(label) if label is not None else None,
            loader="figshare-mat", options=tuple(options),
        ))
    return records


def load(record: SliceRecord) -> Loaded:
    """Decode one slice: image ``(H, W) uint8`` (percentile-scaled), mask ``(H, W) bool``."""
    return _decode(record.image, record.option("member"))


def read_image(path: Path) -> np.ndarray:
    """One figshare ``.mat`` slice's image as ``(H, W) uint8``, scaled as the dataset reader scales it
    (:data:`NORMALISATION`): what ``predict`` feeds a model for such a file.

    Raises:
        DataError: not a readable MATLAB v7.3 file, no ``cjdata`` struct, not 2-D, over the limits.
    """
    return _decode(Path(path), None).image


def read_mask(path: Path) -> np.ndarray:
    """One figshare ``.mat`` slice's ``tumorMask`` as ``(H, W) bool`` (what ``tumorseg score`` takes as truth).

    Raises:
        DataError: as :func:`read_image`; a mask of values other than 0/1.
    """
    return _decode(Path(path), None).mask


def _decode(source: Path, member: str | None) -> Loaded:
    f, where = _open_h5(source, member)
    with f:
        cj = _cjdata(f, where)
        for name in ("image", "tumorMask"):  # HDF5 datasets declare their shape: checked before reading (bombs)
            if name in cj and len(cj[name].shape) == 2:
                limits.check_image(*cj[name].shape, f"{where}: cjdata.{name}", 1, cj[name].dtype.itemsize)
        raw = np.asarray(cj["image"][()]).T  # h5py gives MATLAB's column-major array transposed
        tmask = np.asarray(cj["tumorMask"][()]).T if "tumorMask" in cj else np.zeros(raw.shape, np.uint8)
    if raw.ndim != 2:
        raise DataError(f"{where}: cjdata.image has shape {raw.shape}; expected a 2-D slice.")
    values = np.unique(tmask)
    if not set(values.tolist()) <= {0, 1}:
        raise DataError(f"{where}: tumorMask has values {values[:8].tolist()}; expected 0 and 1.")
    if tmask.shape != raw.shape:
        raise DataError(f"{where}: tumorMask is {tmask.shape} but image is {raw.shape}.")
    lo, hi, bad = finite_range(raw.astype(np.float32))
    return Loaded(to_uint8(raw), tmask.astype(bool), lo, hi, str(raw.dtype), bad)
