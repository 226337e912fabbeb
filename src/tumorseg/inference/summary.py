"""Per-volume summary of a predicted mask: slices with tumour, tumour volume (mL), longest axial diameter, and the
largest cross-section as RANO measures a lesion (its longest axial diameter × the longest diameter perpendicular to
it, on the slice where that product is largest; :func:`cross_section`).

``tumorseg predict`` writes one row per volume input (NIfTI, BraTS case,
DICOM file or series) to ``summary.json`` and ``summary.csv`` in the output
folder and logs :meth:`VolumeSummary.line`; the web page shows the same
numbers. Edge cases: an empty mask gives ``tumour_found = False`` ("no tumour
found"), 0 mL and no diameter; without a known voxel size the mm/mL fields
are ``None`` (empty in the CSV) and only counts are given.

When the model keeps one lesion per volume (``largest_component_3d``), the row also says what that rule left
out: how many lesions, and the runner-up's size, slice and score relative to the kept one
(:class:`~tumorseg.inference.postprocess.LeftOut`); a runner-up scoring at least
:data:`~tumorseg.inference.postprocess.CLOSE_CALL` of the kept lesion adds a "close call" note to the line, so
that a user looks at both (``--no-one-lesion`` keeps every lesion).
"""

from __future__ import annotations

import csv
import json
import os
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist, squareform

from tumorseg.inference.postprocess import LeftOut, is_close_call

log = logging.getLogger(__name__)
KEEP_EVERY = "--no-one-lesion keeps every lesion"
RANO_MEASURABLE_MM = 10.0  # RANO (Wen et al. 2010): a measurable lesion has two perpendicular diameters of >= 10 mm
RANO_TARGETS = 5  # ... and the sum of products is taken over at most five target lesions (RANO 2.0: three)


@dataclass
class VolumeSummary:
    """One volume's result.

    Attributes:
        name: the input's name (file stem or folder).
        n_slices: slices predicted (the volume's third axis / the series' files / the file's frames).
        slices_with_tumour: slices whose mask has at least one voxel.
        tumour_voxels: voxels in the whole mask.
        voxel_mm: ``[slice, row, column]`` spacing in mm (``None``: unknown).
        volume_ml: ``tumour_voxels`` × voxel volume / 1000 (``None``: spacing or slice spacing unknown).
        max_diameter_mm: the longest distance between two voxel centres of one
            lesion (an 8-connected region) within one slice, over all slices
            and lesions (the per-lesion axial diameter of RANO-style reports for
            axial scans; two separate blobs are never measured across); ``None``
            without tumour or pixel spacing.
        largest_slice: index of the slice with the most tumour (``None``: none).
        cross_section_mm: ``[longest, perpendicular]`` diameters (mm) of the lesion cross-section (an 8-connected
            region of one slice) whose product is the largest in the volume: RANO's bidimensional measurement
            (:func:`cross_section`); ``None`` without tumour or pixel spacing.
        cross_section_mm2: their product (mm²), what RANO sums over target lesions and follows over time.
        cross_section_slice: the slice of that cross-section (numbered as ``largest_slice``).
        cross_section_px: where its two diameters lie on that slice: ``[[r0, c0, r1, c1], [r2, c2, r3, c3]]``, the
            end pixels (row, column of the predicted mask's slice) of the longest and of the perpendicular one
            (:func:`draw_lines` draws them).
        rano_measurable: 3-D lesions (26-connected) whose largest cross-section is measurable by RANO (both
            diameters at least 10 mm); ``None`` without tumour or pixel spacing.
        rano_sum_mm2: the sum of those lesions' largest cross-section products, over the :data:`RANO_TARGETS`
            largest (RANO's sum of products of perpendicular diameters; 0.0 when none is measurable). With the
            one-lesion rule there is one lesion; ``--no-one-lesion`` keeps them all.
        input, mask: the input path and the mask file written (for the CSV).
        model: the model that predicted it (a bundled name such as ``"flair"``, or a checkpoint's file name);
            ``""`` when not known (an older ``summary.json`` carried over by ``--resume``).
        lesions_left_out: 3-D lesions the one-lesion rule dropped (``None``: the rule did not run — turned off,
            one slice, nothing found).
        runner_up_voxels, runner_up_ml, runner_up_slice, runner_up_share: the dropped lesion ranked next: its
            voxels, volume (``None`` without spacing), slice with most of it (numbered as ``largest_slice``) and
            score over the kept lesion's (:class:`~tumorseg.inference.postprocess.LeftOut`); ``None`` when none
            was dropped.
    """

    name: str
    n_slices: int
    slices_with_tumour: int
    tumour_voxels: int
    voxel_mm: list[float] | None = None
    volume_ml: float | None = None
    max_diameter_mm: float | None = None
    largest_slice: int | None = None
    input: str = ""
    mask: str = ""
    model: str = ""
    lesions_left_out: int | None = None
    runner_up_voxels: int | None = None
    runner_up_ml: float | None = None
    runner_up_slice: int | None = None
    runner_up_share: float | None = None
    cross_section_mm: list[float] | None = None
    cross_section_mm2: float | None = None
    cross_section_slice: int | None = None
    cross_section_px: list[list[int]] | None = None
    rano_measurable: int | None = None
    rano_sum_mm2: float | None = None

    @property
    def tumour_found(self) -> bool:
        return self.tumour_voxels > 0

    def line(self, keep: str = KEEP_EVERY) -> str:
        """``"case: tumour in 12/155 slices, 23.40 mL, longest axial diameter 41.0 mm"`` or
        ``"case: no tumour found (155 slices)"`` (without ``"case: "`` when there is no name)."""
        prefix = f"{self.name}: " if self.name else ""
        if not self.tumour_found:
            return f"{prefix}no tumour found ({self.n_slices} slice{'s' if self.n_slices != 1 else ''})"
        parts = [f"tumour in {self.slices_with_tumour}/{self.n_slices} slices"]
        if self.volume_ml is None:
            parts.append(f"{self.tumour_voxels} voxels")
        else:  # two decimals; small volumes (a single slice) with two significant digits instead of "0.00"
            parts.append(f"{self.volume_ml:.2f} mL" if self.volume_ml >= 0.1 else f"{self.volume_ml:.2g} mL")
        if self.max_diameter_mm is not None:
            parts.append(f"longest axial diameter {self.max_diameter_mm:.1f} mm")
        if self.rano_measurable is not None and self.rano_measurable > 1:
            best = f", the {RANO_TARGETS} largest" if self.rano_measurable > RANO_TARGETS else ""
            parts.append(f"RANO sum of products {self.rano_sum_mm2:.0f} mm² ({self.rano_measurable} measurable "
                         f"lesions{best})")
        if self.cross_section_mm is not None and min(self.cross_section_mm) > 0:  # a line or dot has none
            longest, across = self.cross_section_mm
            small = ", below RANO's 10 mm" if across < RANO_MEASURABLE_MM else ""
            parts.append(f"largest cross-section {longest:.1f} × {across:.1f} mm (slice {self.cross_section_slice}"
                         f"{small})")
        return prefix + ", ".join(parts) + self.close_call_note(keep)

    @property
    def close_call(self) -> bool:
        """Whether the one-lesion rule dropped a runner-up scoring at least
        :data:`~tumorseg.inference.postprocess.CLOSE_CALL` of the kept lesion."""
        return is_close_call(self.runner_up_share)

    def close_call_note(self, keep: str = KEEP_EVERY) -> str:
        """``"; close call: ..."`` naming the runner-up lesion the one-lesion rule left out, or ``""``; ``keep``:
        how to keep every lesion where the note is read (``predict``'s flag; the web page's box)."""
        if not self.close_call:
            return ""
        size = (f"{self.runner_up_ml:.2f} mL" if self.runner_up_ml is not None and self.runner_up_ml >= 0.1 else
                f"{self.runner_up_ml:.2g} mL" if self.runner_up_ml is not None else f"{self.runner_up_voxels} voxels")
        where = f", largest on slice {self.runner_up_slice}" if self.runner_up_slice is not None else ""
        return (f"; close call: another lesion ({size}{where}) scored {self.runner_up_share:.0%} of the kept one and "
                f"was left out (check both; {keep})")

    def add_left_out(self, left: LeftOut | None, spacing_mm: Sequence[float | None] | None = None) -> None:
        """Fill the ``lesions_left_out`` / ``runner_up_*`` fields from the one-lesion rule's :class:`LeftOut`
        (``None``: the rule did not run; fields stay ``None``). ``spacing_mm`` as in :func:`summarise`."""
        if left is None or not self.tumour_found:
            return
        self.lesions_left_out = left.lesions
        if not left.lesions:
            return
        self.runner_up_voxels, self.runner_up_share, self.runner_up_slice = left.voxels, left.share, left.largest_slice
        if spacing_mm is not None and None not in spacing_mm:
            self.runner_up_ml = round(left.voxels * float(np.prod([float(s) for s in spacing_mm])) / 1000.0, 4)

    def row(self) -> dict:
        """Flat dict for ``summary.json``/``summary.csv`` (adds ``tumour_found``)."""
        return {**asdict(self), "tumour_found": self.tumour_found}


def _farthest_pair(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two of ``pts`` ``(N, 2)`` (N ≥ 2) farthest apart: searched among the convex hull's vertices."""
    candidates = np.arange(len(pts))
    if len(pts) > 3:
        try:
            candidates = ConvexHull(pts).vertices  # the farthest pair lies on the hull
        except QhullError:  # all on one line: few points, compare them all
            pass
    i, j = np.unravel_index(np.argmax(squareform(pdist(pts[candidates]))), (len(candidates), len(candidates)))
    return int(candidates[i]), int(candidates[j])


def longest_diameter(mask: np.ndarray, row_mm: float = 1.0, col_mm: float = 1.0) -> float:
    """Longest distance (mm) between two ``True`` pixel centres of a 2-D ``mask``; 0.0 for 0 or 1 pixel."""
    pts = np.argwhere(mask).astype(np.float64) * (row_mm, col_mm)  # (N, 2) in mm
    if len(pts) < 2:
        return 0.0
    i, j = _farthest_pair(pts)
    return float(np.hypot(*(pts[j] - pts[i])))


def cross_section_lines(mask: np.ndarray, row_mm: float = 1.0, col_mm: float = 1.0
                        ) -> tuple[float, float, list[list[int]]]:
    """:func:`cross_section` and where its two diameters lie: ``(longest, perpendicular, [[r0, c0, r1, c1],
    [r2, c2, r3, c3]])``, the pixels (row, column of ``mask``) at the ends of the longest diameter and of the
    perpendicular one (the outermost pixels of the widest band; ``[]`` for fewer than two pixels)."""
    pix = np.argwhere(mask)
    if len(pix) < 2:
        return 0.0, 0.0, []
    pts = pix.astype(np.float64) * (row_mm, col_mm)
    ia, ib = _farthest_pair(pts)
    a, b = pts[ia], pts[ib]
    longest = float(np.hypot(*(b - a)))
    u = (b - a) / longest
    along, across = pts @ u, pts @ np.array([-u[1], u[0]])
    band = np.rint((along - along.min()) / min(row_mm, col_mm)).astype(np.int64)
    order = np.argsort(band, kind="stable")
    starts = np.flatnonzero(np.r_[True, band[order][1:] != band[order][:-1]])
    ends = np.r_[starts[1:], len(order)]
    widths = np.maximum.reduceat(across[order], starts) - np.minimum.reduceat(across[order], starts)
    k = int(np.argmax(widths))
    members = order[starts[k]:ends[k]]
    lo, hi = members[np.argmin(across[members])], members[np.argmax(across[members])]
    lines = [[*map(int, pix[ia]), *map(int, pix[ib])], [*map(int, pix[lo]), *map(int, pix[hi])]]
    return longest, float(widths[k]), lines


def cross_section(mask: np.ndarray, row_mm: float = 1.0, col_mm: float = 1.0) -> tuple[float, float]:
    """``(longest, perpendicular)`` diameters (mm) of one lesion's 2-D ``mask``, as RANO measures a lesion on an
    axial slice: the longest distance between two pixel centres (:func:`longest_diameter`), and the longest extent
    of the lesion perpendicular to that line: over bands one pixel wide across it, the distance between the
    outermost pixel centres in the band (a caliper, so a concave lesion's gap counts). ``(0.0, 0.0)`` for fewer
    than two pixels; ``(d, 0.0)`` for a lesion one pixel thin. Where they lie: :func:`cross_section_lines`."""
    longest, across, _ = cross_section_lines(mask, row_mm, col_mm)
    return longest, across


def largest_cross_section(masks: np.ndarray, row_mm: float = 1.0, col_mm: float = 1.0
                          ) -> tuple[float, float, int, list[list[int]]] | None:
    """``(longest, perpendicular, slice, lines)`` of the lesion cross-section (an 8-connected region of one slice of
    a ``(Z, H, W)`` bool stack) whose :func:`cross_section` product is the largest, ``lines`` its two diameters'
    end pixels in the slice (:func:`cross_section_lines`); ``None`` without tumour."""
    best: tuple[float, float, int, list[list[int]]] | None = None
    for z in np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1)):
        labels, n = ndi.label(masks[z], structure=np.ones((3, 3), bool))
        for i, box in enumerate(ndi.find_objects(labels), start=1):
            if box is None:
                continue
            longest, across, lines = cross_section_lines(labels[box] == i, row_mm, col_mm)
            if best is None or longest * across > best[0] * best[1]:
                offset = [box[0].start, box[1].start] * 2
                best = (longest, across, int(z), [[v + o for v, o in zip(line, offset)] for line in lines])
    return best


def lesion_cross_sections(masks: np.ndarray, row_mm: float = 1.0, col_mm: float = 1.0
                          ) -> list[tuple[float, float, int, list[list[int]]]]:
    """Each 3-D lesion's largest cross-section (:func:`largest_cross_section` of the 26-connected regions of a
    ``(Z, H, W)`` bool stack), its slice and lines in the stack's coordinates, in label order; ``[]`` without tumour.
    Their largest product is the stack's :func:`largest_cross_section` (a region of one slice lies in one 3-D
    lesion)."""
    labels, _ = ndi.label(masks, structure=np.ones((3, 3, 3), bool))
    found = []
    for i, box in enumerate(ndi.find_objects(labels), start=1):
        if box is not None and (section := largest_cross_section(labels[box] == i, row_mm, col_mm)) is not None:
            longest, across, z, lines = section
            offset = [box[1].start, box[2].start] * 2
            found.append((longest, across, z + box[0].start, [[v + o for v, o in zip(ln, offset)] for ln in lines]))
    return found


def draw_lines(shape: tuple[int, int], lines: list[list[int]]) -> np.ndarray:
    """A ``(H, W) uint8`` picture, 255 on the pixels of each ``[r0, c0, r1, c1]`` segment (end pixels included),
    0 elsewhere: the cross-section's diameters (:attr:`VolumeSummary.cross_section_px`) to lay over a slice."""
    out = np.zeros(shape, np.uint8)
    for r0, c0, r1, c1 in lines:
        n = max(abs(r1 - r0), abs(c1 - c0)) + 1
        rows = np.clip(np.rint(np.linspace(r0, r1, n)).astype(int), 0, shape[0] - 1)
        cols = np.clip(np.rint(np.linspace(c0, c1, n)).astype(int), 0, shape[1] - 1)
        out[rows, cols] = 255
    return out


def lesion_diameter(mask: np.ndarray, row_mm: float = 1.0, col_mm: float = 1.0) -> float:
    """The largest :func:`longest_diameter` of the 8-connected lesions of a 2-D ``mask`` (mm); 0.0 when empty."""
    labels, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    if n <= 1:
        return longest_diameter(mask, row_mm, col_mm)
    return max(longest_diameter(labels[box] == i, row_mm, col_mm)
               for i, box in enumerate(ndi.find_objects(labels), start=1) if box is not None)


def summarise(masks: np.ndarray, spacing_mm: Sequence[float | None] | None = None, name: str = "",
              model: str = "", left_out: LeftOut | None = None) -> VolumeSummary:
    """Summary of a ``(Z, H, W)`` bool mask stack (one ``(H, W)`` image is one slice).

    Args:
        masks: the predicted masks, slice first.
        spacing_mm: ``(slice, row, column)`` spacing in mm, matching ``masks``'
            axes; the slice spacing may be ``None`` (a single image without
            thickness: no volume, diameters still given). ``None``: unknown.
        name: the volume's name. model: the model that predicted it (``VolumeSummary.model``).
        left_out: what the one-lesion rule left out (:meth:`VolumeSummary.add_left_out`).
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim == 2:
        masks = masks[None]
    per_slice = masks.reshape(len(masks), -1).sum(axis=1)  # (Z,) voxels per slice
    total = int(per_slice.sum())
    spacing = [None if s is None else float(s) for s in spacing_mm] if spacing_mm is not None else None
    in_plane = spacing is not None and spacing[1] is not None and spacing[2] is not None
    volume = None
    if spacing is not None and None not in spacing:
        volume = round(total * spacing[0] * spacing[1] * spacing[2] / 1000.0, 4)
    diameter = section = None
    if total and in_plane:
        diameter = round(max(lesion_diameter(m, spacing[1], spacing[2]) for m, n in zip(masks, per_slice) if n), 2)
        lesions = lesion_cross_sections(masks, spacing[1], spacing[2])  # measured once, for both numbers
        section = max(lesions, key=lambda s: s[0] * s[1]) if lesions else None
    summary = VolumeSummary(
        name=name, n_slices=len(masks), slices_with_tumour=int(np.count_nonzero(per_slice)), tumour_voxels=total,
        voxel_mm=spacing, volume_ml=volume, max_diameter_mm=diameter,
        largest_slice=int(np.argmax(per_slice)) if total else None, model=model)
    if section is not None:
        summary.cross_section_mm = [round(section[0], 2), round(section[1], 2)]
        summary.cross_section_mm2 = round(section[0] * section[1], 1)
        summary.cross_section_slice, summary.cross_section_px = section[2], section[3]
        products = sorted((a * b for a, b, _, _ in lesions if min(a, b) >= RANO_MEASURABLE_MM), reverse=True)
        summary.rano_measurable, summary.rano_sum_mm2 = len(products), round(sum(products[:RANO_TARGETS]), 1)
    summary.add_left_out(left_out, spacing)
    return summary


def _cell(v) -> object:
    """CSV text of a value: ``None`` -> empty, a spacing list -> ``1x1x2.5`` (``?`` for an unknown entry), the
    cross-section's lines -> ``30 10 30 50;40 30 20 30``."""
    if v is None:
        return ""
    if isinstance(v, list) and v and isinstance(v[0], list):  # cross_section_px: "r0 c0 r1 c1;r2 c2 r3 c3"
        return ";".join(" ".join(str(x) for x in line) for line in v)
    if isinstance(v, list):
        return "x".join("?" if x is None else f"{x:g}" for x in v)
    return v


def write_summaries(summaries: Sequence[VolumeSummary], out: Path) -> list[Path]:
    """Write ``out/summary.json`` (``{"volumes": [row, ...]}``) and ``out/summary.csv`` (one row per volume).

    Each file is written beside its target and moved over it (``os.replace``), so a run killed while writing
    leaves the previous complete file, never half of one (``predict`` rewrites both after every volume).
    """
    rows = [s.row() for s in summaries]
    out.mkdir(parents=True, exist_ok=True)
    js, cs = out / "summary.json", out / "summary.csv"
    tmp_js, tmp_cs = out / ".summary.json.part", out / ".summary.csv.part"
    tmp_js.write_text(json.dumps({"volumes": rows}, indent=2) + "\n")
    names = [f.name for f in fields(VolumeSummary)] + ["tumour_found"]
    with open(tmp_cs, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(v) for k, v in r.items()})
    os.replace(tmp_js, js)
    os.replace(tmp_cs, cs)
    return [js, cs]
