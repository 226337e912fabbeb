"""Paired comparison of scored results: is B better than A on the same cases, and by how much?
``tumorseg compare A B [C ...]``.

Each result is what ``evaluate``, ``score`` or ``cv`` wrote (a folder with ``per_case.csv``, ``cv_per_case.csv`` or
``test/per_case.csv``, a per-case CSV itself, or a quoted glob of per-fold CSVs, ``'runs/x/fold_*/per_case.csv'``).
Results are paired case by case (``case_id``); different case sets are refused (``common=True``: the cases all
results share, with the number left out said).

Slices of one patient are not independent, so when the rows name patients the unit of analysis is the patient:

- ``level="image"`` (mean per-image score): the difference of the means, with a 95 % confidence interval from a
  bootstrap over patients (patients drawn with replacement, all their slices with them; over slices when no patient
  is named), and the Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`) on each patient's mean difference;
- ``level="volume"``: per-volume Dice (:func:`tumorseg.evaluation.evaluate.per_volume`), one value per patient,
  bootstrap and Wilcoxon over patients.

"better / worse / same" count units (patients, or slices without patients) whose score went up, down, or stayed
within 1e-9. The bootstrap is seeded (``seed``), so a comparison gives the same numbers every time.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tumorseg.errors import DataError

METRICS = ("dice", "iou", "sensitivity", "precision", "hd95_px")
LOWER_IS_BETTER = ("hd95_px",)
_CANDIDATES = ("per_case.csv", "cv_per_case.csv", "test/per_case.csv", "test_per_case.csv")


@dataclass
class Result:
    """One side of a comparison: its per-case rows and where they came from."""

    name: str  # as given
    rows: list[dict[str, Any]]
    files: list[Path]


def load_result(spec: str | Path) -> Result:
    """Rows of a result folder, a per-case CSV or a glob of them (module doc).

    Raises:
        DataError: nothing found, no per-case CSV in a folder, a case that appears twice.
    """
    from tumorseg.evaluation.per_case import read_per_case

    text = str(spec)
    if any(c in text for c in "*?["):
        files = [Path(p) for p in sorted(glob.glob(text))]
        if not files:
            raise DataError(f"{text}: matches no file.")
    else:
        path = Path(text)
        if path.is_dir():
            found = next((path / c for c in _CANDIDATES if (path / c).is_file()), None)
            if found is None:
                raise DataError(f"{path}: no per-case scores ({', '.join(_CANDIDATES)}) in it; give what evaluate, "
                                "score or cv wrote.")
            files = [found]
        elif path.is_file():
            files = [path]
        else:
            raise DataError(f"{path}: no such file or folder.")
    rows: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for f in files:
        try:
            part = read_per_case(f)
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{f}: not a per-case CSV ({exc.__class__.__name__}: {exc}).") from None
        for r in part:
            if "case_id" not in r or "dice" not in r:
                raise DataError(f"{f}: not a per-case CSV (no case_id / dice columns).")
            if str(r["case_id"]) in seen:
                raise DataError(f"case {r['case_id']} is in both {seen[str(r['case_id'])]} and {f}; give each case "
                                "once (one fold's file per fold).")
            seen[str(r["case_id"])] = f
            rows.append(r)
    if not rows:
        raise DataError(f"{text}: no scored cases.")
    return Result(text, rows, files)


def _units(rows: list[dict[str, Any]], metric: str, level: str) -> tuple[dict[str, np.ndarray], str]:
    """Unit -> the metric's values of its cases (image level), or its one per-volume Dice (volume level)."""
    from tumorseg.evaluation.evaluate import per_volume

    if level == "volume":
        volumes = per_volume(rows)
        if not volumes:
            raise DataError("per-volume comparison needs rows with patients of several slices (and intersection_px); "
                            "use --level image.")
        return {str(v["patient"]): np.array([v["dice"]]) for v in volumes}, "patient"
    by_patient = all(r.get("patient") not in (None, "") for r in rows)
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(str(r["patient"] if by_patient else r["case_id"]), []).append(float(r[metric]))
    return {k: np.array(v) for k, v in out.items()}, "patient" if by_patient else "image"


def paired(base: list[dict[str, Any]], other: list[dict[str, Any]], metric: str = "dice", level: str = "image",
           n_boot: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """``other`` against ``base`` on the same cases (module doc). Rows must hold the same ``case_id``s.

    Returns:
        ``metric, level, unit, n_cases, n_units, mean_base, mean_other, difference`` (other − base),
        ``ci95`` ([low, high] of the difference), ``wilcoxon_p`` (``None`` with fewer than 2 units or no
        difference at all), ``better, worse, same`` (units; "better" = higher, or lower for HD95).
    """
    from scipy.stats import wilcoxon

    if metric not in METRICS:
        raise DataError(f"unknown metric '{metric}'; one of {', '.join(METRICS)}.")
    if level not in ("image", "volume"):
        raise DataError(f"unknown level '{level}'; image or volume.")
    if level == "image" and any(metric not in r for r in (*base, *other)):
        raise DataError(f"the results have no '{metric}' column (HD95 is written unless distances were skipped).")
    ids = {str(r["case_id"]) for r in base}
    if ids != {str(r["case_id"]) for r in other}:
        raise DataError("the two results do not hold the same cases.")
    order = {str(r["case_id"]): i for i, r in enumerate(base)}
    other = sorted(other, key=lambda r: order[str(r["case_id"])])  # same order as base, unit by unit
    a, unit = _units(base, metric, level)
    b, _ = _units(other, metric, level)
    keys = sorted(a)
    if set(keys) != set(b):
        raise DataError("the two results group their cases into different patients; compare results of one dataset.")
    diffs = [b[k] - a[k] for k in keys]  # per unit, case by case (one value per unit at volume level)
    sums, counts = np.array([d.sum() for d in diffs]), np.array([len(d) for d in diffs])
    mean_a = float(np.concatenate([a[k] for k in keys]).mean())
    mean_b = float(np.concatenate([b[k] for k in keys]).mean())
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for start in range(0, n_boot, 500):  # 500 resamples at a time: memory stays small with thousands of units
        draws = rng.integers(0, len(keys), size=(min(500, n_boot - start), len(keys)))
        boot[start:start + len(draws)] = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)  # drawn units' mean
    unit_diff = sums / counts
    sign = -1.0 if metric in LOWER_IS_BETTER and level == "image" else 1.0
    p = None
    if len(keys) >= 2 and np.any(unit_diff != 0):
        p = float(wilcoxon(unit_diff).pvalue)
    return {"metric": metric if level == "image" else "per-volume dice", "level": level, "unit": unit,
            "n_cases": len(base), "n_units": len(keys), "mean_base": mean_a, "mean_other": mean_b,
            "difference": mean_b - mean_a, "ci95": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))],
            "wilcoxon_p": p, "better": int(np.sum(sign * unit_diff > 1e-9)),
            "worse": int(np.sum(sign * unit_diff < -1e-9)), "same": int(np.sum(np.abs(unit_diff) <= 1e-9)),
            "n_boot": n_boot, "seed": seed}


def common_cases(results: list[Result]) -> tuple[list[Result], int]:
    """Each result cut to the cases all of them hold; and how many cases were left out in all."""
    shared = set.intersection(*({str(r["case_id"]) for r in res.rows} for res in results))
    if not shared:
        raise DataError("the results share no case; compare results of one dataset.")
    cut = [Result(res.name, [r for r in res.rows if str(r["case_id"]) in shared], res.files) for res in results]
    return cut, sum(len(res.rows) for res in results) - len(shared) * len(results)


def compare(results: list[Result], metric: str = "dice", level: str = "image", common: bool = False,
            n_boot: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Every result after the first against the first (:func:`paired`); ``results`` from :func:`load_result`.

    Raises:
        DataError: fewer than two results, or different case sets without ``common``.
    """
    if len(results) < 2:
        raise DataError("give at least two results to compare (the first is the baseline).")
    dropped = 0
    sets = [{str(r["case_id"]) for r in res.rows} for res in results]
    if any(s != sets[0] for s in sets[1:]):
        if not common:
            sizes = ", ".join(f"{res.name}: {len(s)}" for res, s in zip(results, sets))
            raise DataError(f"the results hold different cases ({sizes}; {len(set.intersection(*sets))} in all); "
                            "compare like with like, or add --common to use only the cases all of them hold.")
        results, dropped = common_cases(results)
    base = results[0]
    return {"baseline": base.name, "cases_left_out": dropped,
            "comparisons": [{"result": res.name, **paired(base.rows, res.rows, metric, level, n_boot, seed)}
                            for res in results[1:]],
            "files": {res.name: [str(f) for f in res.files] for res in results}}


def lines(summary: dict[str, Any]) -> list[str]:
    """The comparison in plain words, one line per result after the baseline."""
    out = [f"baseline: {summary['baseline']}" + (f" ({summary['cases_left_out']} case rows not in every result left "
                                                 "out)" if summary["cases_left_out"] else "")]
    for c in summary["comparisons"]:
        p = "n/a" if c["wilcoxon_p"] is None else f"{c['wilcoxon_p']:.2g}"
        out.append(f"{c['result']}: {c['metric']} {c['mean_other']:.4f} vs {c['mean_base']:.4f}, difference "
                   f"{c['difference']:+.4f} (95% CI {c['ci95'][0]:+.4f} to {c['ci95'][1]:+.4f}, bootstrap over "
                   f"{c['n_units']} {c['unit']}s; Wilcoxon p = {p}); {c['unit']}s better / worse / same: "
                   f"{c['better']} / {c['worse']} / {c['same']} ({c['n_cases']} cases)")
    return out


def _label(name: str) -> str:
    """A result's name short enough for an axis: its last two path parts."""
    return "/".join(Path(name).parts[-2:])


def plot(summary: dict[str, Any], results: list[Result], path: Path, metric: str = "dice",
         level: str = "image") -> None:
    """One panel per comparison: each unit's score (a patient's mean, or its per-volume Dice), the baseline (x)
    against the other (y), with the diagonal: points above it are units the other result scores higher."""
    from tumorseg.evaluation.report import plt

    comps = summary["comparisons"]
    fig, axes = plt.subplots(1, len(comps), figsize=(4.2 * len(comps), 4.4), squeeze=False)
    a, _ = _units(results[0].rows, metric, level)
    for ax, c, res in zip(axes[0], comps, results[1:]):
        b, _ = _units(res.rows, metric, level)
        keys = sorted(set(a) & set(b))
        x, y = [float(a[k].mean()) for k in keys], [float(b[k].mean()) for k in keys]
        ax.scatter(x, y, s=10, alpha=0.6)
        lo, hi = min(x + y), max(x + y)
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls="--")
        ax.set(xlabel=_label(summary["baseline"]), ylabel=_label(c["result"]),
               title=f"{c['metric']} per {c['unit']}: {c['difference']:+.3f}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
