"""``tumorseg check-data``: what a dataset holds and every problem in it, before any training.

:func:`check_dataset` reads a dataset with the format readers, decodes every
slice once and returns a :class:`DataReport`: format, patients, slices, image
sizes, raw intensity range, mask values, share of empty masks, tumour-size
distribution, classes, and a list of :class:`Problem` (each naming its file).
A problem is *fatal* when it would break training: unreadable files,
image/mask size mismatch, mask values outside the expected set, missing
partners, duplicate names, NaN/inf voxels. A patient id spanning several
classes is reported but not fatal. ``tumorseg train`` runs the same checks
(:func:`load_checked`) while decoding and stops with the report.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from tumorseg.data.dataset import SliceArrays, WindowOf, prepare_slice
from tumorseg.data.formats import detect_format, load_record, read_dataset
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError

MAX_LISTED = 20  # problems printed per kind; the rest are counted


@dataclass
class Problem:
    file: str
    message: str
    fatal: bool = True


@dataclass
class DataReport:
    """Summary and problems of one dataset; ``str(report)`` is the printed report."""

    path: str
    format: str = "?"
    summary: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing would break training."""
        return not any(p.fatal for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "ok": self.ok, **self.summary,
                "problems": [vars(p) for p in self.problems]}

    def __str__(self) -> str:
        s = self.summary
        lines = [f"{self.path}: format {self.format}"]
        for key, label in (("patients", "patients"), ("slices", "slices"), ("channels", "channels"),
                           ("image_sizes", "image sizes"), ("raw_intensity", "intensity (raw)"),
                           ("mask_values", "mask values"), ("empty_masks", "empty masks"),
                           ("tumour_fraction", "tumour size (share of slice)"), ("classes", "classes"),
                           ("folds", "folds")):
            if key in s:
                lines.append(f"  {label:<29} {_fmt(s[key])}")
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s) ({sum(p.fatal for p in self.problems)} would break training):")
            by_msg: dict[str, int] = Counter()
            for p in self.problems:
                kind = p.message.split(":")[0]
                by_msg[kind] += 1
                if by_msg[kind] <= MAX_LISTED:
                    lines.append(f"  {'ERROR' if p.fatal else 'warning'}  {p.file}: {p.message}")
            for kind, n in by_msg.items():
                if n > MAX_LISTED:
                    lines.append(f"  ... and {n - MAX_LISTED} more '{kind}'")
        else:
            lines.append("no problems found.")
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class _Collector:
    """Accumulates statistics and problems over decoded slices."""

    def __init__(self) -> None:
        self.sizes: Counter = Counter()
        self.channels: Counter = Counter()
        self.mask_values: set = set()
        self.lo, self.hi = np.inf, -np.inf
        self.fractions: list[float] = []
        self.empty = 0
        self.problems: list[Problem] = []

    def add(self, rec: SliceRecord, image: np.ndarray, mask: np.ndarray, raw: tuple[float, float, int]) -> None:
        self.sizes[f"{image.shape[-1]}x{image.shape[-2]}"] += 1
        self.channels[1 if image.ndim == 2 else image.shape[0]] += 1
        self.lo, self.hi = min(self.lo, raw[0]), max(self.hi, raw[1])
        self.mask_values |= set(np.unique(mask).astype(int).tolist())
        frac = float(mask.mean()) if mask.size else 0.0
        if frac == 0:
            self.empty += 1
        else:
            self.fractions.append(frac)
        if raw[2]:
            self.problems.append(Problem(str(rec.image), f"NaN/inf values: {raw[2]} in slice {rec.case_id}"))


def _structure(records: list[SliceRecord], problems: list[Problem]) -> None:
    """Duplicate names, missing masks and patients spanning classes."""
    seen: dict[str, SliceRecord] = {}
    for r in records:
        if r.case_id in seen:
            problems.append(Problem(str(r.image), f"duplicate name: '{r.case_id}' also from {seen[r.case_id].image}"))
        seen.setdefault(r.case_id, r)
    unlabelled = Counter(str(r.image) for r in records if r.mask is None)  # once per file, not per volume slice
    for image, n in unlabelled.items():
        what = f"no label volume for its {n} slices (fine for predict, not for training)" if n > 1 else "no mask for this image"
        problems.append(Problem(image, f"missing partner: {what}"))
    classes: dict[str, set] = defaultdict(set)
    for r in records:
        if r.patient and r.label:
            classes[r.patient].add(r.label)
    for patient, labs in sorted(classes.items()):
        if len(labs) > 1:
            problems.append(Problem(f"patient {patient}", f"patient spans classes: {', '.join(sorted(labs))}", fatal=False))


def inspect_records(records: list[SliceRecord], image_size: int | None = None, progress: bool = False,
                    intensity: str = "none", window_of: WindowOf | None = None,
                    ) -> tuple[dict[str, Any], list[Problem], SliceArrays | None]:
    """Decode every record once; return (summary, problems, arrays at ``image_size`` or ``None``).

    Arrays are only built when ``image_size`` is given and no slice failed; as :func:`load_slice` does, each slice
    and its mask are first padded or cropped by ``window_of(record)`` (a volume's field of view,
    :func:`tumorseg.inference.field_of_view.volume_windows`; ``None``: as read), and the image normalised with
    ``intensity`` (:mod:`tumorseg.data.intensity`), then resized. The summary describes the slices as read.
    """

    c = _Collector()
    _structure(records, c.problems)
    n = len(records)
    images = None
    masks = np.zeros((n, image_size, image_size), bool) if image_size else None
    failed = False
    for i, rec in enumerate(tqdm(records, desc="checking slices", unit="img", disable=not progress, leave=False)):
        try:
            got = load_record(rec)
        except DataError as exc:
            msg = str(exc)
            where, _, what = msg.partition(": ")
            c.problems.append(Problem(where if what else str(rec.image), f"unreadable or invalid: {what or msg}"))
            failed = True
            continue
        c.add(rec, got.image, got.mask, (got.raw_min, got.raw_max, got.nonfinite))
        if image_size and not failed:
            small, small_mask = prepare_slice(got.image, got.mask, image_size, intensity,
                                              window_of(rec) if window_of is not None else None)
            if images is None:
                images = np.empty((n, *small.shape), np.uint8)
            if small.shape != images.shape[1:]:
                c.problems.append(Problem(str(rec.image), f"channel mismatch: {small.shape[:-2] or (1,)} channels, "
                                                          f"the first slice has {images.shape[1:-2] or (1,)}"))
                failed = True
                continue
            images[i], masks[i] = small, small_mask
    fr = np.array(c.fractions) if c.fractions else np.zeros(1)
    summary: dict[str, Any] = {
        "patients": len({r.patient for r in records if r.patient}) or "unknown (split by slice)",
        "slices": n,
        "channels": dict(c.channels) if len(c.channels) > 1 else next(iter(c.channels), "?"),
        "image_sizes": dict(c.sizes.most_common(5)),
        "raw_intensity": {"min": float(c.lo), "max": float(c.hi)} if np.isfinite(c.lo) else "n/a",
        "mask_values": sorted(c.mask_values),
        "empty_masks": f"{c.empty}/{n} ({100 * c.empty / max(n, 1):.1f}%)",
        "tumour_fraction": {"min": float(fr.min()), "median": float(np.median(fr)), "max": float(fr.max())}
        if c.fractions else "no tumours",
    }
    labels = Counter(r.label for r in records if r.label)
    if labels:
        summary["classes"] = dict(sorted(labels.items()))
    folds = Counter(r.option("fold") for r in records if r.option("fold") is not None)
    if folds:
        summary["folds"] = dict(sorted(folds.items()))
    arrays = SliceArrays(images, masks, list(records)) if image_size and not failed and images is not None else None
    return summary, c.problems, arrays


def check_dataset(path: str | Path, fmt: str = "auto", progress: bool = False, **options: Any) -> DataReport:
    """Read and inspect the dataset at ``path``; never raises for problems in the data (they go in the report)."""
    report = DataReport(str(path))
    try:
        report.format = detect_format(path) if fmt == "auto" and Path(path).exists() else fmt
        records = read_dataset(path, report.format, **options)
    except DataError as exc:
        report.problems.append(Problem(str(path), f"cannot read the dataset: {exc}"))
        return report
    report.summary, report.problems, _ = inspect_records(records, progress=progress)
    return report


def load_checked(records: list[SliceRecord], image_size: int, source: str = "", progress: bool = True,
                 intensity: str = "none", window_of: WindowOf | None = None) -> SliceArrays:
    """Decode ``records`` at ``image_size`` with the check-data checks; what ``train`` uses (``intensity``,
    ``window_of``: as :func:`inspect_records`).

    Raises:
        DataError: the report, when any problem would break training.
    """
    summary, problems, arrays = inspect_records(records, image_size, progress, intensity, window_of)
    fatal = [p for p in problems if p.fatal]
    if fatal or arrays is None:
        report = DataReport(source or "dataset", "-", summary, problems)
        raise DataError(f"the data has problems that would break training (see 'tumorseg check-data'):\n{report}")
    return arrays
