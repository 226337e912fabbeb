"""``tumorseg report RUN_DIR``: one self-contained HTML page (images inlined as base64 PNG).

Reads what a run (or a cross-validation folder) already wrote: ``config.json``,
``history.csv``, ``test/metrics.json`` + ``test/per_case.csv`` (or
``cv_summary.json`` + ``cv_per_case.csv``), and re-predicts only the gallery
cases with ``best.pt`` when the dataset is still where the config says.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tumorseg.errors import TumorsegError  # noqa: E402
from tumorseg.evaluation.per_case import read_per_case  # noqa: E402

log = logging.getLogger(__name__)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _read_history(path: Path) -> list[dict[str, float]]:
    """``history.csv``: every column is a number."""
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _curves(history: list[dict]) -> str:
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    ep = [h["epoch"] for h in history]
    a.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    a.plot(ep, [h["val_loss"] for h in history], "o-", label="validation")
    a.set(title="Loss", xlabel="epoch")
    a.legend()
    b.plot(ep, [h["val_dice"] for h in history], "o-", color="C2")
    b.set(title="Validation Dice (threshold 0.5)", xlabel="epoch", ylim=(0, 1))
    for ax in (a, b):
        ax.grid(alpha=0.3)
    return _png(fig)


def _dice_plots(rows: list[dict]) -> str:
    dice = np.array([r["dice"] for r in rows])
    frac = np.array([r["tumour_fraction"] for r in rows]) * 100
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.hist(dice, bins=np.linspace(0, 1, 21), color="C0", edgecolor="white")
    a.axvline(dice.mean(), color="k", ls="--", label=f"mean {dice.mean():.3f}")
    a.set(title="Per-image Dice", xlabel="Dice", ylabel="images")
    a.legend()
    labels = sorted({r["label"] for r in rows}) or [""]
    for i, lab in enumerate(labels):
        sel = np.array([r["label"] == lab for r in rows])
        b.scatter(frac[sel], dice[sel], s=8, alpha=0.6, color=f"C{i}", label=lab or None)
    b.set(xscale="log", title="Dice vs tumour size", xlabel="tumour area (% of image, log)", ylabel="Dice", ylim=(-0.02, 1.02))
    ticks = [t for t in (0.03, 0.1, 0.3, 1, 3, 10, 30) if frac.min() / 2 <= t <= frac.max() * 2]
    b.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    b.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    b.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if labels != [""]:
        b.legend(fontsize=8)
    b.grid(alpha=0.3)
    return _png(fig)


def _table(title: str, groups: dict[str, dict]) -> str:
    cols = [("n_images", "images", "{:.0f}"), ("mean_dice", "Dice", "{:.3f}"), ("std_dice", "± sd", "{:.3f}"),
            ("mean_iou", "IoU", "{:.3f}"), ("mean_sensitivity", "sensitivity", "{:.3f}"),
            ("mean_precision", "precision", "{:.3f}"), ("mean_hd95_px", "HD95 (px)", "{:.1f}"),
            ("n_missed", "nothing predicted", "{:.0f}"), ("n_no_overlap", "Dice 0", "{:.0f}")]
    head = "".join(f"<th>{c[1]}</th>" for c in cols)
    body = ""
    for name, g in groups.items():
        cells = "".join(f"<td>{fmt.format(g[k]) if k in g else '–'}</td>" for k, _, fmt in cols)
        extra = ""
        if "tumour_fraction_range" in g:
            lo, hi = g["tumour_fraction_range"]
            extra = f" <small>({lo * 100:.2f}–{hi * 100:.2f} %)</small>"
        body += f"<tr><th>{html.escape(name)}{extra}</th>{cells}</tr>"
    return f"<h3>{html.escape(title)}</h3><table><tr><th></th>{head}</tr>{body}</table>"


def _presence(metrics: dict[str, Any], rows: list[dict], cv: dict[str, Any] | None = None) -> str:
    """Tumour presence per image, the Dice rule, scores by tumour present/absent and per-volume Dice.

    Runs scored before these existed get them recomputed from their per-case rows.
    """
    if "presence" not in metrics:
        from tumorseg.evaluation.evaluate import summarise

        metrics = {**metrics, **{k: v for k, v in summarise(rows).items()
                                 if k in ("presence", "by_presence", "per_volume")}}
    p = metrics["presence"]

    def rate(v) -> str:
        return "–" if v is None else f"{v:.3f}"

    out = ("<h3>Tumour presence (per image: anything predicted or not)</h3><table><tr><th></th><th>images</th>"
           "<th>predicted with tumour</th><th>predicted empty</th><th>rate</th></tr>"
           f"<tr><th>tumour slices</th><td>{p['n_tumour']}</td><td>{p['tp']}</td><td>{p['fn']}</td>"
           f"<td>sensitivity {rate(p['sensitivity'])}</td></tr>"
           f"<tr><th>tumour-free slices</th><td>{p['n_tumour_free']}</td><td>{p['fp']}</td><td>{p['tn']}</td>"
           f"<td>specificity {rate(p['specificity'])}; false-positive slice rate {rate(p['fp_slice_rate'])}</td></tr>"
           f"</table><p>Dice rule: {html.escape(p['dice_rule'])}.</p>")
    if cv and "specificity_mean_over_folds" in cv:
        out += (f"<p>Across folds: sensitivity {cv['sensitivity_mean_over_folds']:.3f} ± "
                f"{cv['sensitivity_std_over_folds']:.3f}, specificity {cv['specificity_mean_over_folds']:.3f} ± "
                f"{cv['specificity_std_over_folds']:.3f}.</p>")
    if len(metrics.get("by_presence", {})) > 1:
        out += _table("Per tumour present / absent", metrics["by_presence"])
    v = metrics.get("per_volume")
    if v:
        folds = (f" (across folds {cv['volume_dice_mean_over_folds']:.3f} ± {cv['volume_dice_std_over_folds']:.3f})"
                 if cv and "volume_dice_mean_over_folds" in cv else "")
        out += ("<h3>Per-volume Dice</h3><p>Each patient's slices pooled (2·Σtp / (Σpred + Σtruth)), "
                + (f"1 patient: <b>{v['mean_dice']:.3f}</b>{folds}" if v["n_patients"] == 1 else
                   f"then averaged over {v['n_patients']} patients: <b>{v['mean_dice']:.3f} ± {v['std_dice']:.3f}</b> "
                   f"(median {v['median_dice']:.3f}){folds}")
                + "; the per-image mean above weighs every slice alike.</p>")
    return out


def _gallery(run: Path, cfg: dict, rows: list[dict], n: int = 4) -> str:
    """Image | truth | prediction for the n best and n worst cases (re-predicted with best.pt)."""
    from tumorseg.data import load_slices, read_dataset
    from tumorseg.data.context import with_context, with_neighbours
    from tumorseg.evaluation.evaluate import score_arrays
    from tumorseg.inference.field_of_view import volume_windows
    from tumorseg.inference.postprocess import settings
    from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint

    order = sorted(rows, key=lambda r: r["dice"])
    picks = {"worst": order[:n], "best": order[::-1][:n]}
    try:
        records = {r.case_id: r for r in read_dataset(cfg["data"], cfg.get("data_format", "auto"),
                                                          **cfg.get("data_options", {}))}
        ckpt = load_checkpoint(run / "best.pt")
    except (TumorsegError, OSError) as exc:
        return f"<p>Gallery skipped: {html.escape(str(exc))}</p>"
    model = model_from_checkpoint(ckpt)
    k = int(ckpt["preprocessing"].get("context_slices", 0))  # a 2.5-D model: read the picks' neighbours too
    out = ""
    for name, chosen in picks.items():
        recs = [records[r["case_id"]] for r in chosen if r["case_id"] in records]
        if not recs:
            continue
        arrays = load_slices(with_neighbours(recs, list(records.values()), k),
                             int(ckpt["preprocessing"]["image_size"]), progress=False,
                             intensity=ckpt["preprocessing"].get("intensity", "none"), window_of=volume_windows())
        arrays = with_context(arrays, k).subset(range(len(recs)))
        scored, preds = score_arrays(model, arrays, "cpu", post=settings(ckpt), distances=False)
        shown = arrays.images if arrays.images.ndim == 3 else arrays.images[:, arrays.images.shape[1] // 2]  # (N, C, S, S)
        fig, axes = plt.subplots(len(recs), 3, figsize=(7.5, 2.5 * len(recs)), squeeze=False)
        for i, r in enumerate(recs):
            ax = axes[i]
            ax[0].imshow(shown[i], cmap="gray")
            ax[1].imshow(arrays.masks[i], cmap="gray")
            ax[2].imshow(shown[i], cmap="gray")
            ax[2].imshow(np.ma.masked_where(~preds[i], preds[i]), cmap="autumn", alpha=0.55)
            if arrays.masks[i].any():
                ax[2].contour(arrays.masks[i], levels=[0.5], colors="lime", linewidths=0.8)
            ax[0].set_ylabel(f"{r.case_id} ({r.label or '?'})\nDice {scored[i]['dice']:.3f}", fontsize=8)
            for a, t in zip(ax, ("Image", "Ground truth", "Prediction (green: truth)")):
                a.set_xticks([]), a.set_yticks([])
                if i == 0:
                    a.set_title(t, fontsize=9)
        out += f"<div class='g'><h3>{n} {name} cases</h3>{_png(fig)}</div>"
    return out


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child{text-align:left}img{max-width:100%}pre{background:#f5f5f5;padding:1em;overflow:auto}
.g{display:inline-block;vertical-align:top;margin-right:1em}"""


def _postprocess(best: Path) -> str:
    """One paragraph on the post-processing stored in ``best`` (chosen on validation data), or ''."""
    if not best.exists():
        return ""
    from tumorseg.models.checkpoint import load_checkpoint

    ck = load_checkpoint(best)
    post, m = ck.get("postprocess") or {}, ck.get("metrics") or {}
    if not post:
        return "<p>Post-processing: threshold 0.5, no test-time augmentation, no clean-up (not calibrated).</p>"
    gain = ""
    if "val_dice_calibrated" in m and "val_dice" in m:
        gain = f" Validation Dice {m['val_dice']:.3f} at the defaults → {m['val_dice_calibrated']:.3f} calibrated."
    return (f"<p>Post-processing chosen on the <b>validation</b> split (never the test split), stored in "
            f"<code>best.pt</code> and applied above: threshold {post.get('threshold', 0.5)}, flip TTA "
            f"{'on' if post.get('tta') else 'off'}, components under {post.get('min_component_px', 0)} px removed."
            f"{gain}</p>")


METRICS_HEADING = "<h2>Metrics (per-image means; missed tumours count as Dice 0, HD95 = image diagonal)</h2>"


def _score_tables(metrics: dict[str, Any]) -> list[str]:
    """The score tables of a :func:`tumorseg.evaluation.evaluate.summarise` result: overall, per class, per size."""
    return [_table(title, {"all": metrics} if key is None else metrics[key])
            for key, title in ((None, "Overall"), ("by_class", "Per tumour class"),
                               ("by_size", "Per tumour-size tercile")) if key is None or key in metrics]


def _distribution(rows: list[dict]) -> str:
    return ("<h2>Distribution</h2><p>Per-image Dice histogram; Dice vs tumour size (log scale), "
            "coloured by tumour class.</p>" + _dice_plots(rows))


def _page(parts: list[str]) -> str:
    return ("<!doctype html><html><head><meta charset='utf-8'><title>tumorseg report</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")


def _volumes_table(rows: list[dict]) -> str:
    """Per-volume rows (``per_volume.csv``), worst Dice first."""
    ml = all(r.get("truth_ml") is not None for r in rows)
    head = "<th>volume</th><th>slices</th><th>tumour slices</th><th>Dice</th>" + (
        "<th>truth mL</th><th>predicted mL</th>" if ml else "<th>truth px</th><th>predicted px</th>")
    body = ""
    for r in sorted(rows, key=lambda r: float(r["dice"])):
        sizes = (r["truth_ml"], r["predicted_ml"]) if ml else (r["tumour_px"], r["predicted_px"])
        body += (f"<tr><th>{html.escape(str(r['patient']))}</th><td>{r['n_slices']}</td><td>{r['n_tumour_slices']}"
                 f"</td><td>{float(r['dice']):.3f}</td><td>{sizes[0]}</td><td>{sizes[1]}</td></tr>")
    return f"<h3>Per volume (worst first)</h3><table><tr>{head}</tr>{body}</table>"


def _scores_report(folder: Path, out: str | Path | None) -> Path:
    """``report.html`` for a folder ``evaluate`` or ``score`` wrote (``metrics.json`` + ``per_case.csv``): tables,
    presence, per-volume Dice and the Dice distribution; no training curves or gallery (no run to read)."""
    metrics = json.loads((folder / "metrics.json").read_text())
    rows = read_per_case(folder / "per_case.csv")
    what = (f"model <code>{html.escape(str(metrics['checkpoint']))}</code> on <code>{html.escape(str(metrics['data']))}"
            f"</code> ({html.escape(str(metrics.get('split', '')))})" if "checkpoint" in metrics else
            f"mask files against truth files (<code>tumorseg score</code>, {len({r.get('truth_file') for r in rows})} "
            "truth files)")
    parts = [f"<h1>tumorseg report: {html.escape(folder.name)}</h1>", f"<p>Scores of {what}.</p>"]
    if metrics.get("missing_predictions"):
        parts.append(f"<p><b>{len(metrics['missing_predictions'])} truth files had no prediction</b> and are scored "
                     "as empty predictions: " + ", ".join(html.escape(Path(f).name)
                                                          for f in metrics["missing_predictions"][:20]) + "</p>")
    if metrics.get("failed"):
        parts.append(f"<p><b>{len(metrics['failed'])} truth files could not be scored</b> (left out): "
                     + "; ".join(html.escape(f["reason"]) for f in metrics["failed"][:10]) + "</p>")
    parts += [METRICS_HEADING, *_score_tables(metrics), _presence(metrics, rows)]
    if (folder / "per_volume.csv").exists():
        parts.append(_volumes_table(read_per_case(folder / "per_volume.csv")))
    parts.append(_distribution(rows))
    if (folder / "predictions.png").exists():
        parts.append("<h2>Examples</h2><img src='data:image/png;base64,"
                     + base64.b64encode((folder / "predictions.png").read_bytes()).decode("ascii") + "'>")
    path = Path(out) if out else folder / "report.html"
    path.write_text(_page(parts))
    return path


def build_report(run_dir: str | Path, out: str | Path | None = None, gallery: bool = True) -> Path:
    """Write ``report.html`` for a run or CV directory, or a folder of ``evaluate`` / ``score`` results, and return
    its path.

    Raises:
        TumorsegError: the folder holds neither a scored run, a CV summary nor scores.
    """
    run = Path(run_dir)
    cv = (run / "cv_summary.json").exists()
    if cv:
        summary = json.loads((run / "cv_summary.json").read_text())
        rows = read_per_case(run / "cv_per_case.csv")
        metrics = summary["pooled"]
        fold0 = sorted(run.glob("fold_*"))[0]
        cfg = json.loads((fold0 / "config.json").read_text())
        history_path, model_run = fold0 / "history.csv", fold0
    elif (run / "test" / "metrics.json").exists():
        metrics = json.loads((run / "test" / "metrics.json").read_text())
        rows = read_per_case(run / "test" / "per_case.csv")
        cfg = json.loads((run / "config.json").read_text())
        history_path, model_run = run / "history.csv", run
    elif (run / "metrics.json").exists() and (run / "per_case.csv").exists():
        return _scores_report(run, out)
    else:
        raise TumorsegError(f"{run}: no test/metrics.json, cv_summary.json or metrics.json + per_case.csv. Train "
                            "(or run cv, evaluate, score) first, then report.")

    parts = [f"<h1>tumorseg report: {html.escape(run.name)}</h1>",
             f"<p>Model <b>{html.escape(cfg['model'])}</b> {html.escape(json.dumps(cfg.get('model_kwargs', {})))}, "
             f"data <code>{html.escape(cfg['data'])}</code>, image size {cfg['image_size']}.</p>"]
    if cv:
        k = len(summary["folds_done"])
        parts.append(
            f"<h2>Cross-validation ({k} folds, patient-grouped)</h2><p>Mean ± sd across folds: Dice "
            f"<b>{summary['dice_mean_over_folds']:.3f} ± {summary['dice_std_over_folds']:.3f}</b>, IoU "
            f"<b>{summary['iou_mean_over_folds']:.3f} ± {summary['iou_std_over_folds']:.3f}</b>. Tables below pool the "
            f"{summary['n_images']} held-out images of all folds.</p>")
    parts.append(METRICS_HEADING)
    if cv:
        parts.append("<p>Each fold chose its own post-processing on its own validation patients; fold 0's is:</p>")
    parts.append(_postprocess(model_run / "best.pt"))
    parts += _score_tables(metrics)
    parts.append(_presence(metrics, rows, summary if cv else None))
    if history_path.exists():
        parts.append(f"<h2>Training curves{' (fold 0)' if cv else ''}</h2>" + _curves(_read_history(history_path)))
    parts.append(_distribution(rows))
    if gallery and (model_run / "best.pt").exists():
        parts.append("<h2>Gallery</h2>" + _gallery(model_run, cfg, rows))
    parts.append(f"<h2>Configuration</h2><pre>{html.escape(json.dumps(cfg, indent=2))}</pre>")
    path = Path(out) if out else run / "report.html"
    path.write_text(_page(parts))
    log.debug("report written to %s", path)
    return path
