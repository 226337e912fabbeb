"""NRRD (``.nrrd``, ``.nhdr``: 3D Slicer's format) and MetaImage (``.mha``, ``.mhd``: ITK-SNAP, grand-challenge)
volumes through SimpleITK (the ``itk`` extra): header, geometry and voxels in NIfTI's conventions, and masks written
back. :mod:`tumorseg.data.formats.nifti` reads these files wherever it reads NIfTI (``read_volume``, labels, case
folders), and :class:`tumorseg.io.ItkIO` predicts them.

ITK and NIfTI differ only in conventions, which this module converts: ITK's array is ``(Z, Y, X)`` of the file's
index order and its geometry is LPS (origin, spacing, direction cosines); here the voxels are ``(X, Y, Z)`` of the
same index order and the geometry the voxel-to-RAS affine (``diag(-1, -1, 1) · direction · diag(spacing)``, origin
flipped alike — the conversion nibabel and MONAI use). A file converted between NIfTI and NRRD/MHA by SimpleITK or
3D Slicer therefore gives the same slices.

Bounded memory: the header is read first (``ReadImageInformation``) and its declared size checked against
:mod:`tumorseg.limits` before any voxel is decoded; ITK then decodes into a buffer of exactly that size.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from tumorseg import limits
from tumorseg.data.formats._common import require
from tumorseg.errors import DataError

log = logging.getLogger(__name__)

ITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def is_itk_volume(path: Path) -> bool:
    """A NRRD or MetaImage file, by its suffix (:data:`ITK_SUFFIXES`)."""
    return Path(path).suffix.lower() in ITK_SUFFIXES


def is_detached(path: Path) -> bool:
    """A header whose voxels are in a separate file it names (``.nhdr``, ``.mhd``)."""
    return Path(path).suffix.lower() in (".nhdr", ".mhd")


def data_files(path: Path) -> list[Path] | None:
    """The data files a detached header names (NRRD ``data file:``, MetaImage ``ElementDataFile =``), relative to
    its folder; ``[]`` for a file holding its own voxels; ``None`` when the header lists several files or a
    pattern (``LIST``, ``%d``) or cannot be read."""
    if not is_detached(path):
        return []
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16).decode("latin-1")
    except OSError:
        return None
    found = re.search(r"^[ \t]*(?:data ?file[ \t]*:|ElementDataFile[ \t]*=)[ \t]*(.+?)[ \t]*$", head, re.M | re.I)
    if not found:
        return None
    name = found.group(1)
    if name.upper().startswith("LIST") or "%" in name or " " in name:
        return None
    return [] if name.upper() == "LOCAL" else [Path(path).parent / name]


def mask_suffix(path: Path) -> str:
    """The suffix a mask of ``path`` is written with: ``.nrrd`` for NRRD, ``.mha`` for MetaImage (one file with
    its data, also for a detached ``.nhdr`` / ``.mhd`` header)."""
    return ".nrrd" if Path(path).suffix.lower() in (".nrrd", ".nhdr") else ".mha"


def _sitk():
    sitk = require("SimpleITK", "reading NRRD and MetaImage volumes")
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK prints metadata warnings to stderr; errors still raise
    return sitk


def _itk_message(exc: Exception, path: Path) -> str:
    """The one informative line of a SimpleITK exception (``sitk::ERROR: ...``), shortened: without ITK's prefixes
    (``ITK ERROR: MetaImageIO(0x55...):``) and the file's quoted path (the error names it already)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    line = next((ln for ln in lines if "ERROR" in ln), lines[-1] if lines else exc.__class__.__name__)
    line = re.sub(r"^(sitk::ERROR:|ITK ERROR:)\s*(\w+\(0x[0-9a-f]+\):\s*)?", "", line.strip())
    return line.replace(f'"{path}"', "it").strip()[:160]


def read_header(path: Path):
    """SimpleITK's ``ImageFileReader`` of ``path`` with only its header read, its declared size checked.

    Returns ``(reader, shape)``: ``shape`` is ``(X, Y, Z)`` (a 2-D image is one slice, ``Z = 1``; a trailing axis of
    length 1 of a 4-D file is dropped).

    Raises:
        DataError: unreadable header, more than one value per voxel (colour, vectors), not 2-D or 3-D, or over the
            limits (:class:`~tumorseg.limits.LimitExceeded`).
    """
    sitk = _sitk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise DataError(f"{path}: not a readable NRRD/MetaImage volume ({_itk_message(exc, path)}).") from None
    size = tuple(int(s) for s in reader.GetSize())
    comps = int(reader.GetNumberOfComponents())
    itemsize = sitk.Image([1] * len(size), reader.GetPixelID(), comps).GetSizeOfPixelComponent() if size else 1
    limits.check_volume(size + ((comps,) if comps > 1 else ()), itemsize, str(path))
    if comps != 1:
        raise DataError(f"{path}: {comps} values per voxel (colour or vector data); save one grayscale volume "
                        "(one value per voxel) per modality and give that.")
    if len(size) == 4 and size[3] == 1:
        size = size[:3]
    if len(size) == 2:
        size = size + (1,)
    if len(size) != 3:
        raise DataError(f"{path}: {len(size)}-D image of size {size}; expected one 3-D volume per modality "
                        "(save each 3-D volume as its own file).")
    limits.check_slice(size[0], size[1], str(path))
    return reader, size


def geometry(reader) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    """``(affine, zooms)`` of a header read by :func:`read_header`: the ``(4, 4)`` voxel-to-RAS affine of the
    ``(X, Y, Z)`` array, and the voxel size in mm (``None`` when a spacing is not positive)."""
    dim = int(reader.GetDimension())
    spacing = np.ones(3)
    origin = np.zeros(3)
    direction = np.eye(3)
    k = min(dim, 3)
    spacing[:k] = reader.GetSpacing()[:k]
    origin[:k] = reader.GetOrigin()[:k]
    direction[:k, :k] = np.asarray(reader.GetDirection(), float).reshape(dim, dim)[:k, :k]
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing  # column j: the direction of index axis j, times its spacing
    lps[:3, 3] = origin
    zooms = tuple(float(s) for s in spacing)
    return LPS_TO_RAS @ lps, (zooms if all(np.isfinite(z) and z > 0 for z in zooms) else None)


def read_image(path: Path):
    """``(image, raw, affine, zooms)``: the decoded SimpleITK ``image``, ``raw`` its voxels as a ``(X, Y, Z)`` numpy
    view of the stored type (valid only while ``image`` is referenced: keep it while using ``raw``), and
    :func:`geometry`'s affine and voxel size.

    Raises:
        DataError: as :func:`read_header`, the data cannot be decoded (truncated, a detached data file missing), or
            the voxels are not real numbers.
    """
    sitk = _sitk()
    reader, shape = read_header(path)
    affine, zooms = geometry(reader)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        what = ("its voxels, in the separate data file its header names, could not be read: is that file beside "
                "it?" if is_detached(path) else "its voxels could not be read")
        raise DataError(f"{path}: {what} ({_itk_message(exc, path)}).") from None
    raw = sitk.GetArrayViewFromImage(image)  # (Z, Y, X), or (Y, X) for a 2-D image
    if raw.dtype.kind not in "iuf":
        raise DataError(f"{path}: voxel type {raw.dtype} is not a real number; expected an integer or float volume.")
    return image, raw.reshape(shape[::-1]).transpose(2, 1, 0), affine, zooms


def write_like(mask_xyz: np.ndarray, reference: Path, out: Path) -> Path:
    """Write a ``(X, Y, Z)`` 0/1 mask as ``uint8`` with ``reference``'s size, spacing, origin and direction (its
    header read again), compressed."""
    sitk = _sitk()
    reader, shape = read_header(reference)
    if mask_xyz.shape != shape:
        raise DataError(f"{reference}: mask shape {mask_xyz.shape} differs from the volume's {shape}.")
    dim = int(reader.GetDimension())
    array = np.ascontiguousarray(mask_xyz.astype(np.uint8).transpose(2, 1, 0))  # (Z, Y, X) for ITK
    image = sitk.GetImageFromArray(array if dim >= 3 else array[0])
    if dim <= 3:
        image.SetSpacing(reader.GetSpacing())
        image.SetOrigin(reader.GetOrigin())
        image.SetDirection(reader.GetDirection())
    else:  # a 4-D header with one time point: its spatial part
        image.SetSpacing(reader.GetSpacing()[:3])
        image.SetOrigin(reader.GetOrigin()[:3])
        image.SetDirection(tuple(np.asarray(reader.GetDirection(), float).reshape(dim, dim)[:3, :3].ravel()))
    out.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(out), True)
    return out
