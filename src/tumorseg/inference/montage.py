"""Pictures of a prediction: one slice with its mask (:func:`overlay`) and a volume at a glance (:func:`montage`).

``predict --overlay`` writes ``<stem>_overlay.png`` for each 2-D image and,
for a volume (NIfTI file, BraTS case folder, DICOM series, LGG patient folder), one
``<name>_overlay.png``: a grid of up to 16 slices in the radiological view
(:mod:`tumorseg.data.formats.orientation`), each with its mask tinted red and
its slice index (as read: the file's third-axis index, or the axial index of a
sagittal/coronal volume read as axial slices) in the
corner. The slices shown span the predicted tumour (first to last slice with
a mask, the largest one always among them); when nothing was found they
span the slices that hold brain, so "no tumour found" can be checked by eye. A volume's largest cross-section
(:func:`tumorseg.inference.summary.largest_cross_section`) is always among the tiles, its two diameters in cyan.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from tumorseg.data.formats.orientation import to_display
from tumorseg.inference.summary import draw_lines

MAX_TILES = 16
CYAN = (0, 220, 255)  # the largest cross-section's diameters, as the web page draws them
TILE_PX = 192  # the longer side of one tile; the picture is at most 4 tiles wide


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """RGB ``(H, W, 3) uint8``: the grayscale ``(H, W) uint8`` image with the ``(H, W) bool`` mask tinted red and
    outlined."""
    rgb = np.repeat(image[..., None], 3, axis=2).astype(np.float32)
    red = np.array([255, 40, 40], np.float32)
    rgb[mask] = (1 - alpha) * rgb[mask] + alpha * red
    edge = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1))
    rgb[edge] = red
    return rgb.astype(np.uint8)


def shown_slices(array: np.ndarray, masks: np.ndarray, n: int = MAX_TILES, also: int | None = None) -> list[int]:
    """Indices of at most ``n`` slices to show, ascending: evenly spaced from the first to the last slice with a
    mask, plus the slice with the largest mask; with no mask anywhere, evenly spaced over the slices that are
    not all zero (all slices if every one is). ``array`` ``(Z, ...)``, ``masks`` ``(Z, H, W) bool``; ``Z >= 1``;
    ``also``: a slice to show as well (the largest cross-section's)."""
    area = masks.reshape(len(masks), -1).sum(1)
    found = np.flatnonzero(area)
    span = found if len(found) else np.flatnonzero(array.reshape(len(array), -1).any(1))
    if not len(span):
        span = np.arange(len(array))
    picks = set(np.linspace(span[0], span[-1], min(n, span[-1] - span[0] + 1)).round().astype(int).tolist())
    keep = [int(area.argmax())] if len(found) else []
    if also is not None and 0 <= also < len(array):
        keep.append(int(also))
    for best in keep:  # the largest cut (and the slice asked for) replaces its nearest neighbour
        if best not in picks:
            picks.discard(min((i for i in picks if i not in keep), key=lambda i: abs(i - best), default=None))
            picks.add(best)
    return sorted(picks)


def montage(array: np.ndarray, masks: np.ndarray, ornt: np.ndarray | None = None, n: int = MAX_TILES,
            tile_px: int = TILE_PX, labels: Sequence[int] | None = None,
            measure: tuple[int, list[list[int]]] | None = None) -> np.ndarray:
    """RGB ``(rows·h, cols·w, 3) uint8`` grid of :func:`shown_slices` of a volume with their masks.

    Args:
        array: ``(Z, H, W)`` or ``(Z, C, H, W)`` ``uint8`` slices as the model read them (``C``: the middle
            channel is shown).
        masks: ``(Z, H, W) bool`` predicted masks, same layout.
        ornt: :func:`tumorseg.data.formats.orientation.display_ornt` of the volume (``None``: shown as stored).
        n: at most this many tiles, 4 to a row.
        tile_px: the longer side of a tile (slices are resized, nearest neighbour for the outline's sake).
        labels: the number written on each slice's tile (default: its index in ``array``), e.g. the slice numbers
            of an LGG patient's files when ``array`` holds only the slices to show.
        measure: ``(slice, lines)``: the largest cross-section's slice and its diameters' end pixels
            (:attr:`~tumorseg.inference.summary.VolumeSummary.cross_section_px`), drawn in cyan on that slice's
            tile (always among the tiles).
    """
    tiles = []
    for z in shown_slices(array, masks, n, also=measure[0] if measure else None):
        image = array[z] if array.ndim == 3 else array[z, array.shape[1] // 2]
        rgb = overlay(to_display(image, ornt), to_display(masks[z], ornt))
        h, w = rgb.shape[:2]
        scale = tile_px / max(h, w)
        if measure and z == measure[0] and measure[1]:
            lines = draw_lines(masks[z].shape, measure[1]) > 0
            if scale < 1:  # thick enough to survive the nearest-neighbour shrink
                lines = ndi.binary_dilation(lines, iterations=int(np.ceil(1 / scale / 2)))
            rgb[to_display(lines, ornt)] = CYAN
        tile = Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.NEAREST)
        ImageDraw.Draw(tile).text((4, 2), str(z if labels is None else labels[z]), fill=(255, 255, 0))
        tiles.append(np.asarray(tile))
    th, tw = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    cols = min(4, len(tiles))
    rows = -(-len(tiles) // cols)
    grid = np.zeros((rows * th, cols * tw, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * th : r * th + t.shape[0], c * tw : c * tw + t.shape[1]] = t
    return grid
