"""Display orientation: a marker at a known anatomical side lands on the expected side of the displayed slice."""

from __future__ import annotations

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

from tumorseg.data.formats.orientation import dicom_slice_affine, display_ornt, plane_of, to_display  # noqa: E402


def rot(axis: int, deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    i, j = [a for a in range(3) if a != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def affine(linear: np.ndarray, zooms=(1.0, 1.0, 1.0), offset=(-20.0, 15.0, 3.0)) -> np.ndarray:
    a = np.eye(4)
    a[:3, :3] = np.asarray(linear, float) @ np.diag(zooms)
    a[:3, 3] = offset
    return a


# The display's top-left corner, as RAS directions: axial (anterior, patient's right), coronal (superior, right),
# sagittal (superior, anterior).
TOP_LEFT = {"axial": np.array([1.0, 1.0, 0.0]), "coronal": np.array([1.0, 0.0, 1.0]),
            "sagittal": np.array([0.0, 1.0, 1.0])}

AFFINES = {
    "RAS, anisotropic": (affine(np.eye(3), (1.2, 0.9, 2.5)), "axial"),
    "LPS (BraTS)": (affine(np.diag([-1.0, -1.0, 1.0])), "axial"),
    "axes swapped: x->A, y->L": (affine([[0, -1, 0], [1, 0, 0], [0, 0, 1]]), "axial"),
    "third axis inferior": (affine(np.diag([1.0, -1.0, -1.0])), "axial"),
    "oblique 20 deg about z, 10 about x": (affine(rot(0, 10) @ rot(2, 20) @ np.diag([-1.0, 1.0, 1.0])), "axial"),
    "coronal stack": (affine([[-1, 0, 0], [0, 0, 1], [0, -1, 0]]), "coronal"),
    "sagittal stack": (affine([[0, 0, 1], [1, 0, 0], [0, -1, 0]]), "sagittal"),
}


def marked_slice(aff: np.ndarray, shape=(40, 30)) -> tuple[np.ndarray, np.ndarray]:
    """Slice ``(A, B)`` of a volume with ``aff``: 200 at the voxel farthest towards the plane's top-left, 100 at the
    opposite corner; returns the slice and the RAS direction used."""
    plane = plane_of(aff)
    ij = np.stack(np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij"), -1).reshape(-1, 2)
    world = (aff[:3, :3] @ np.c_[ij, np.zeros(len(ij))].T).T  # (N, 3) RAS offsets of each voxel centre
    score = world @ TOP_LEFT[plane]
    img = np.zeros(shape, np.uint8)
    img[tuple(ij[np.argmax(score)])] = 200
    img[tuple(ij[np.argmin(score)])] = 100
    return img, TOP_LEFT[plane]


@pytest.mark.parametrize("name", list(AFFINES))
def test_marker_lands_top_left(name):
    aff, plane = AFFINES[name]
    assert plane_of(aff) == plane
    img, _ = marked_slice(aff)
    shown = to_display(img, display_ornt(aff))
    assert sorted(shown.shape) == sorted(img.shape) and shown.flags.c_contiguous
    r, c = np.argwhere(shown == 200)[0]
    assert r == 0 and c == 0, f"{name}: top-left marker shown at {(r, c)}"
    r, c = np.argwhere(shown == 100)[0]
    assert (r, c) == (shown.shape[0] - 1, shown.shape[1] - 1)


def test_brats_layout_is_a_transpose():
    """BraTS arrays are (X to patient's left, Y to posterior): the radiological view is the transpose."""
    img = np.arange(12).reshape(3, 4)
    assert np.array_equal(to_display(img, display_ornt(np.diag([-1.0, -1.0, 1.0, 1.0]))), img.T)


@pytest.mark.parametrize("iop, expected", [
    ([1, 0, 0, 0, 1, 0], "identity"),  # standard axial DICOM: shown as stored
    ([-1, 0, 0, 0, -1, 0], "rot180"),  # columns towards the patient's right, rows towards anterior
    ([0, 1, 0, 0, 0, -1], "identity"),  # standard sagittal
    ([1, 0, 0, 0, 0, -1], "identity"),  # standard coronal
    ([0, 1, 0, 1, 0, 0], "transpose"),  # axial with rows and columns swapped
])
def test_dicom_orientation(iop, expected):
    img = np.arange(6).reshape(2, 3)
    want = {"identity": img, "rot180": img[::-1, ::-1], "transpose": img.T}[expected]
    assert np.array_equal(to_display(img, display_ornt(dicom_slice_affine(iop, 0.5, 0.7))), want)


def test_dicom_bad_orientation():
    with pytest.raises(ValueError, match="6 values"):
        dicom_slice_affine([1, 0, 0])
    with pytest.raises(ValueError, match="parallel"):
        dicom_slice_affine([1, 0, 0, 1, 0, 0])
    assert to_display(np.ones((2, 3)), None).shape == (2, 3)
