"""Display orientation: slices shown to people in the radiological convention, whatever the array layout.

Prediction and every file written keep the input's own array layout and
geometry; only the pictures for a viewer (the web page) are turned, with
nibabel's orientation tools. The convention, by the plane a slice lies in
(its normal = the volume's third array axis; the nearest anatomical axis
decides for oblique scans):

=========  =====================================  ======================================
plane      rows (top -> bottom)                   columns (left -> right)
=========  =====================================  ======================================
axial      anterior -> posterior (anterior up)    patient's right -> left (radiological)
coronal    superior -> inferior                   patient's right -> left
sagittal   superior -> inferior                   anterior -> posterior
=========  =====================================  ======================================

In nibabel's axis codes (the direction each display axis *increases*
towards), an axial slice is shown as ``("P", "L")``: DICOM's usual LPS
layout, so a standard axial DICOM slice is shown as it is stored.
"""

from __future__ import annotations

import numpy as np

from tumorseg.data.formats._common import require

DISPLAY_CODES = {"sagittal": ("I", "P"), "coronal": ("I", "L"), "axial": ("P", "L")}
PLANES = ("sagittal", "coronal", "axial")  # by the RAS world axis (0, 1, 2) of the slice normal
STORED_AXES = (2, 0, 1)  # (slice, row, column) = the array's third, first, second axis: vol[:, :, k]
MAX_RESLICE_RATIO = 2.0  # axial reading when the coarsest voxel side is at most this many times the finest


def plane_of(affine: np.ndarray) -> str:
    """``"axial"``, ``"coronal"`` or ``"sagittal"``: the plane of slices along the third axis of ``affine``'s array."""
    nib = require("nibabel", "orienting slices for display")
    ornt = nib.orientations.io_orientation(np.asarray(affine, float))
    return "axial" if np.isnan(ornt[2, 0]) else PLANES[int(ornt[2, 0])]  # degenerate: read as stored, as axial


def display_ornt(affine: np.ndarray) -> np.ndarray | None:
    """The ``(2, 2)`` nibabel orientation transform that turns a slice ``vol[:, :, k]`` into the display layout.

    Args:
        affine: ``(4, 4)`` voxel-to-RAS affine of the 3-D array (NIfTI
            ``img.affine``, or :func:`dicom_slice_affine` for DICOM).

    Returns:
        an orientation transform for :func:`to_display` (a transpose and/or flips); ``None`` (shown as stored) for
        a degenerate affine (a damaged header's zero axis: no direction to speak of).
    """
    nib = require("nibabel", "orienting slices for display")
    ornt = nib.orientations.io_orientation(np.asarray(affine, float))  # (3, 2): RAS axis, direction per array axis
    if np.isnan(ornt).any():
        return None
    target = nib.orientations.axcodes2ornt(DISPLAY_CODES[PLANES[int(ornt[2, 0])]])
    return nib.orientations.ornt_transform(ornt[:2], target)


def to_display(slice2d: np.ndarray, ornt: np.ndarray | None) -> np.ndarray:
    """``slice2d`` ``(A, B)`` reoriented by :func:`display_ornt` (contiguous; ``ornt=None``: unchanged)."""
    if ornt is None:
        return slice2d
    nib = require("nibabel", "orienting slices for display")
    return np.ascontiguousarray(nib.orientations.apply_orientation(slice2d, ornt))


def to_display_any(image: np.ndarray, ornt: np.ndarray | None) -> np.ndarray:
    """:func:`to_display` for an ``(H, W)`` slice or a ``(C, H, W)`` stack of them (each channel alike)."""
    if ornt is None or image.ndim == 2:
        return to_display(image, ornt)
    return np.stack([to_display(c, ornt) for c in image])


def from_display(image: np.ndarray, ornt: np.ndarray | None) -> np.ndarray:
    """The inverse of :func:`to_display` (``(..., A', B')`` in the display layout back to the slice's own
    ``(..., A, B)``; leading axes kept): what a model fed display-oriented slices returns, put back in place."""
    if ornt is None:
        return image
    nib = require("nibabel", "orienting slices for display")
    inverse = np.zeros_like(np.asarray(ornt, float))
    for axis, (to, flip) in enumerate(np.asarray(ornt, float)):
        inverse[int(to)] = (axis, flip)
    lead = image.ndim - 2
    moved = np.moveaxis(image, tuple(range(lead)), tuple(range(2, 2 + lead))) if lead else image
    back = nib.orientations.apply_orientation(moved, inverse)
    return np.ascontiguousarray(np.moveaxis(back, tuple(range(2, 2 + lead)), tuple(range(lead))) if lead else back)


def dicom_slice_affine(orientation, row_mm: float = 1.0, col_mm: float = 1.0) -> np.ndarray:
    """RAS affine of a DICOM pixel array ``(rows, cols)`` (+ a third axis along the slice normal).

    Args:
        orientation: ImageOrientationPatient, six direction cosines in LPS: the
            direction along a row (column index increasing), then down a column.
        row_mm, col_mm: PixelSpacing (row spacing, column spacing); optional,
            the orientation alone decides the display.

    Raises:
        ValueError: ``orientation`` is not six numbers spanning a plane.
    """
    iop = np.asarray([float(v) for v in orientation], float)
    if iop.shape != (6,):
        raise ValueError(f"ImageOrientationPatient needs 6 values, got {iop.size}.")
    along_row, down_col = iop[:3], iop[3:]
    normal = np.cross(along_row, down_col)
    if np.linalg.norm(normal) < 1e-6:
        raise ValueError("ImageOrientationPatient's two directions are parallel.")
    lps = np.eye(4)
    lps[:3, 0] = down_col * row_mm  # array axis 0 = row index: moves down a column
    lps[:3, 1] = along_row * col_mm
    lps[:3, 2] = normal / np.linalg.norm(normal)
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # DICOM LPS -> RAS


def slice_axes(affine: np.ndarray, zooms: tuple[float, float, float] | None) -> tuple[tuple[int, int, int], str]:
    """Which array axes of a 3-D volume give its slices, rows and columns for prediction, and the plane it is stored in.

    The models are trained and checked on axial slices. A volume stored as axial slices (its third array
    axis nearest the superior-inferior axis) is read as stored: ``STORED_AXES``, slice k = ``vol[:, :, k]``.
    A sagittal or coronal volume whose voxels are near-isotropic (coarsest side ≤ ``MAX_RESLICE_RATIO`` × the
    finest: a 3-D acquisition) is read as axial slices instead, by reordering the array's axes — no
    resampling, no flips: slices along the superior-inferior axis, rows along right-left, columns along
    anterior-posterior (BraTS' layout). A thick-slice sagittal/coronal volume, or one without voxel sizes,
    stays in its stored plane (axial slices of it would be a few pixels wide).

    Args:
        affine: ``(4, 4)`` voxel-to-RAS affine of the array.
        zooms: voxel sizes along the array's three axes, or ``None`` when unknown.

    Returns:
        ``(axes, plane)``: ``axes`` such that ``vol.transpose(axes)`` is ``(slices, rows, columns)``, and the
        stored plane (``"axial"``, ``"coronal"``, ``"sagittal"``).
    """
    nib = require("nibabel", "orienting volumes")
    ornt = nib.orientations.io_orientation(np.asarray(affine, float))  # (3, 2): RAS axis, direction per array axis
    if np.isnan(ornt).any():  # a degenerate affine: no plane to speak of
        return STORED_AXES, "axial"
    world = [int(w) for w in ornt[:, 0]]
    plane = PLANES[world[2]]
    if plane == "axial" or zooms is None or min(zooms) <= 0 or max(zooms) > MAX_RESLICE_RATIO * min(zooms):
        return STORED_AXES, plane
    return (world.index(2), world.index(0), world.index(1)), plane


def axial_view(affine: np.ndarray, zooms: tuple[float, float, float] | None, usual: tuple[int, int, int], name: str,
               log) -> tuple[tuple[int, int, int] | None, np.ndarray | None, tuple[float, float, float] | None]:
    """What a reader needs to give a volume as axial slices (:func:`slice_axes`), relative to its usual layout.

    Args:
        affine, zooms: of the volume's ``(X, Y, Z)`` array (a NIfTI's own; a DICOM series' ``(cols, rows, slices)``).
        usual: the ``(X, Y, Z)`` axes that make the reader's usual ``(Z, H, W)`` array (NIfTI ``(2, 0, 1)``,
            a series ``(2, 1, 0)``).
        name, log: the file named in the one-line note (info) or warning (a thick-slice non-axial volume).

    Returns:
        ``(axes, view_affine, spacing)``: ``axes`` transposes the usual array into axial slices, ``view_affine``
        is the RAS affine of that array's ``(H, W, Z)``, ``spacing`` its ``(slice, row, column)`` mm;
        ``(None, None, None)`` when the usual layout is kept.
    """
    axes, plane = slice_axes(affine, zooms)
    if axes == STORED_AXES:
        if plane != "axial":
            log.warning("%s: %s slices %s; predicted in that plane, though the models were trained on axial "
                        "slices (a volume with near-isotropic voxels would be read as axial)", name, plane,
                        "of unknown voxel size" if zooms is None else "of %s mm" % "×".join(f"{v:g}" for v in zooms))
        return None, None, None  # slices along the stored third axis, in the reader's usual layout
    log.info("%s: stored as %s slices; read as axial slices (array axes reordered, no resampling), the "
             "mask written in the file's own layout", name, plane)
    inverse = np.argsort(usual)  # (X, Y, Z) axis -> position in the usual array
    return (tuple(int(inverse[a]) for a in axes), np.asarray(affine, float)[:, [axes[1], axes[2], axes[0], 3]],
            tuple(float(zooms[a]) for a in axes) if zooms is not None else None)
