"""``tumorseg report OUT`` on a ``predict`` output folder: one HTML page over what ``predict`` wrote there.

Reads ``summary.json`` (one row per volume, DICOM series and LGG patient folder), ``failed.csv`` and the
``<name>_overlay.png`` pictures (``predict --overlay``), and writes ``OUT/report.html``: a bar chart of the tumour
volume (mL, else voxels) of each input, a table of every row (slices with tumour, mL, longest axial diameter, the
mask file, linked), the inputs that failed with the reason, and each input's overlay. Overlays and masks are
linked by their relative file names, not inlined, so the page stays small however many volumes there are (keep it
beside them); the chart is inlined. Where the model kept one lesion per volume, a column says how many lesions it
left out and how close the runner-up came (a "close call": :class:`~tumorseg.inference.postprocess.LeftOut`).
"""

from __future__ import annotations

import csv
import html
import json
import logging
from pathlib import Path

from tumorseg.errors import TumorsegError
from tumorseg.inference.postprocess import CLOSE_CALL, is_close_call

log = logging.getLogger(__name__)
MAX_BARS = 60  # inputs shown in the chart (the largest tumours first); the table lists all


def is_predict_folder(folder: Path) -> bool:
    """A folder ``predict`` wrote volume summaries into (``summary.json``), not a training run."""
    return (folder / "summary.json").is_file() and not (folder / "config.json").exists()


def _chart(rows: list[dict]) -> str:
    from tumorseg.evaluation.report import _png, plt

    unit = "mL" if all(r.get("volume_ml") is not None for r in rows) else "voxels"
    key = "volume_ml" if unit == "mL" else "tumour_voxels"
    shown = sorted(rows, key=lambda r: -(r.get(key) or 0))[:MAX_BARS]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(shown) + 1.2))
    ax.barh([r["name"] for r in shown][::-1], [r.get(key) or 0 for r in shown][::-1], color="#c0392b")
    ax.set_xlabel(f"predicted tumour ({unit})")
    ax.tick_params(axis="y", labelsize=8)
    more = f" (the {MAX_BARS} largest of {len(rows)})" if len(rows) > MAX_BARS else ""
    ax.set_title(f"Predicted tumour per input{more}", fontsize=10)
    return _png(fig)


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):  # two decimals; small values (a single-slice lesion) with two significant digits
        return f"{value:.2f}" if value == 0 or abs(value) >= 0.1 else f"{value:.2g}"
    if isinstance(value, list):
        return "×".join("?" if v is None else f"{v:g}" for v in value)
    return html.escape(str(value))


def _left_out(row: dict) -> str:
    """The "lesions left out" cell: ``–`` (the rule did not run), ``0``, or ``3 (runner-up 40 %, slice 12)``, in
    bold for a close call."""
    n = row.get("lesions_left_out")
    if not n:
        return _cell(n)
    where = f", slice {row['runner_up_slice']}" if row.get("runner_up_slice") is not None else ""
    text = html.escape(f"{n} (runner-up {float(row.get('runner_up_share') or 0):.0%}{where})")
    return f"<b>{text} close call</b>" if is_close_call(row.get("runner_up_share")) else text


def build_predict_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for a ``predict`` output folder (see the module docstring) and return its path.

    Raises:
        TumorsegError: no readable ``summary.json`` in ``folder``.
    """
    from tumorseg.evaluation.report import CSS

    folder = Path(folder)
    try:
        rows = json.loads((folder / "summary.json").read_text())["volumes"]
    except (OSError, ValueError, KeyError) as exc:
        raise TumorsegError(f"{folder}: no readable summary.json ({exc.__class__.__name__}); run tumorseg predict "
                            "on volumes, DICOM series or LGG patient folders into it first.") from None
    failed = []
    if (folder / "failed.csv").is_file():
        with open(folder / "failed.csv", newline="") as f:
            failed = list(csv.DictReader(f))
    found = sum(bool(r.get("tumour_found")) for r in rows)
    parts = [f"<h1>tumorseg predictions: {html.escape(folder.name)}</h1>",
             f"<p>{len(rows)} input(s): tumour found in <b>{found}</b>, none in <b>{len(rows) - found}</b>"
             f"{f'; {len(failed)} could not be read' if failed else ''}. Research use only — not for diagnosis.</p>"]
    if rows:
        parts.append(_chart(rows))
    cols = ("name", "n_slices", "slices_with_tumour", "volume_ml", "max_diameter_mm", "cross_section_mm",
            "tumour_voxels", "voxel_mm", "largest_slice")
    heads = ("input", "slices", "with tumour", "mL", "longest axial diameter (mm)", "largest cross-section (mm)",
             "voxels", "voxel (mm)", "largest slice")
    if any(r.get("model") for r in rows):  # summary.json files written before the column existed lack it
        cols, heads = (*cols, "model"), (*heads, "model")
    close = any(r.get("lesions_left_out") is not None for r in rows)  # the one-lesion rule ran somewhere
    table = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "<th>mask</th>"
             + ("<th>lesions left out (runner-up: share of the kept one's score, slice)</th>" if close else "")
             + "</tr>"]
    for r in rows:
        mask = r.get("mask") or ""
        link = f"<a href='{html.escape(mask)}'>{html.escape(mask)}</a>" if mask else "–"
        table.append("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in cols) + f"<td>{link}</td>"
                     + (f"<td>{_left_out(r)}</td>" if close else "") + "</tr>")
    parts.append("<h2>Every input</h2>" + "".join(table) + "</table>")
    if any(is_close_call(r.get("runner_up_share")) for r in rows):
        parts.append(f"<p><b>Close call</b>: the model keeps one lesion per volume, and another lesion scored at "
                     f"least {CLOSE_CALL:.0%} of the kept one's score (its voxels of high probability). Look at both "
                     "(its slice is given); <code>tumorseg predict --no-one-lesion</code> keeps every lesion.</p>")
    if failed:
        parts.append("<h2>Could not be read</h2><table><tr><th>input</th><th>reason</th></tr>" + "".join(
            f"<tr><td>{html.escape(f.get('input', ''))}</td><td style='text-align:left'>"
            f"{html.escape(f.get('reason', ''))}</td></tr>" for f in failed) + "</table>")
    overlays = [(r["name"], f"{r['name']}_overlay.png") for r in rows if (folder / f"{r['name']}_overlay.png").is_file()]
    if overlays:
        parts.append("<h2>Overlays</h2><p>Predicted tumour in red, radiological view (predict --overlay).</p>"
                     + "".join(f"<div class='g'><p><b>{html.escape(n)}</b></p><img src='{html.escape(p)}' "
                               f"loading='lazy' style='max-width:520px'></div>" for n, p in overlays))
    elif rows:
        parts.append("<p>No overlays in this folder: run predict with --overlay to see each input here.</p>")
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>tumorseg predictions</title><style>{CSS}</style>"
           f"</head><body>{''.join(parts)}</body></html>")
    path = Path(out) if out else folder / "report.html"
    path.write_text(doc)
    log.debug("report written to %s", path)
    return path
