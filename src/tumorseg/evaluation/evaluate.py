"""Evaluation: per-image Dice/IoU rows, ``metrics.json``, ``per_case.csv`` and a predictions figure.

Layout written to ``out``::

    metrics.json    {"n_images", "mean_dice", "mean_iou", "median_dice", ..., "by_class": {...},
                     "presence": {...}, "by_presence": {...}, "per_volume": {...}}
    per_case.csv    case_id, patient, label, dice, iou, ..., tumour_area_px, predicted_area_px, intersection_px
    per_volume.csv  patient, n_slices, n_tumour_slices, tumour_px, predicted_px, intersection_px, dice
                    (only when patients have several slices: LGG, BraTS); with the one-lesion rule also
                    dropped_tumour_px, lesions_left_out, runner_up_share (:func:`add_lesion_choice`)
    predictions.png best, median and worst cases (Image | Ground truth | Prediction)

``presence`` scores tumour presence per image (sensitivity, specificity,
false-positive slice rate; see :func:`tumorseg.evaluation.metrics.presence`),
``by_presence`` splits every score by tumour present/absent, ``per_volume``
gives the Dice of each patient's whole stack (mean ± sd over patients).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tumorseg.data import SliceArrays, load_slices, read_dataset
from tumorseg.data.context import with_context
from tumorseg.device import resolve_device
from tumorseg.errors import DataError
from tumorseg.evaluation.metrics import dice_iou, hd95, presence, sensitivity_precision, volume_dice
from tumorseg.evaluation.per_case import write_per_case
from tumorseg.evaluation.plots import prediction_grid
from tumorseg.inference import postprocess
from tumorseg.inference.field_of_view import volume_windows
from tumorseg.inference.predictor import predict_probabilities
from tumorseg.models import zoo
from tumorseg.models.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    resolve_checkpoint,
)

log = logging.getLogger(__name__)


def score_masks(preds: np.ndarray, arrays: SliceArrays, distances: bool = True) -> list[dict[str, Any]]:
    """One row per image of predicted ``(N, S, S) bool`` masks against ``arrays.masks``.

    Columns: case_id, patient, label, dice, iou, sensitivity, precision,
    hd95_px (with ``distances``), tumour_area_px, tumour_fraction,
    predicted_area_px, intersection_px (true-positive pixels, for per-volume Dice). See :mod:`tumorseg.evaluation.metrics` for the empty-mask rules.
    """
    p, t = torch.from_numpy(preds), torch.from_numpy(arrays.masks)
    dice, iou = dice_iou(p, t)
    sens, prec = sensitivity_precision(p, t)
    rows = []
    for i, rec in enumerate(arrays.records):
        row = {
            "case_id": rec.case_id,
            "patient": rec.patient or "",
            "label": rec.label or "",
            "dice": float(dice[i]),
            "iou": float(iou[i]),
            "sensitivity": float(sens[i]),
            "precision": float(prec[i]),
        }
        if distances:
            row["hd95_px"] = hd95(preds[i], arrays.masks[i])
        area = int(arrays.masks[i].sum())
        row |= {"tumour_area_px": area, "tumour_fraction": area / arrays.masks[i].size,
                "predicted_area_px": int(preds[i].sum()),
                "intersection_px": int((preds[i] & arrays.masks[i]).sum())}
        rows.append(row)
    return rows


def score_arrays(
    model: nn.Module, arrays: SliceArrays, device: torch.device | str, threshold: float = 0.5, batch_size: int = 16,
    distances: bool = True, post: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Predict ``arrays`` and score each image. Returns (rows, predicted masks ``(N, S, S) bool``).

    ``post`` (a checkpoint's post-processing settings) overrides ``threshold``
    and adds test-time flips, small-component removal, the presence gate and, for slices that form volumes
    (records with patient and slice index), the volume rules (:func:`tumorseg.inference.postprocess.apply_records`).
    """
    post = post or {"threshold": threshold}
    probs = predict_probabilities(model, arrays.images, device, batch_size, tta=bool(post.get("tta", False)))
    report: dict[str, Any] = {}
    preds = postprocess.apply_records(probs, post, arrays.records, report=report)
    rows = score_masks(preds, arrays, distances)
    if report.get("left_out"):  # the one-lesion rule ran on volumes: what it dropped, scored against the truth
        every = postprocess.apply_records(probs, {**post, "largest_component_3d": False}, arrays.records)
        add_lesion_choice(rows, arrays, preds, every, report["left_out"])
    return rows, preds


def add_lesion_choice(rows: list[dict[str, Any]], arrays: SliceArrays, preds: np.ndarray, every: np.ndarray,
                      left_out: list) -> None:
    """Add the one-lesion rule's choice to ``rows`` (one per image of ``arrays``, in place): ``dropped_tumour_px``,
    the truth pixels of the image inside lesions the rule dropped (:func:`~tumorseg.inference.postprocess
    .dropped_lesions`; ``every``: the masks with the rule off), and for each image of a volume its volume's
    ``lesions_left_out`` and ``runner_up_share`` (:class:`~tumorseg.inference.postprocess.LeftOut`, one per
    volume of :func:`~tumorseg.inference.postprocess.volume_groups`, in that order). :func:`per_volume` sums and
    keeps them per patient."""
    hits = (postprocess.dropped_lesions(every, preds, arrays.records) & arrays.masks).reshape(len(rows), -1).sum(1)
    volume_of: dict[int, Any] = {}
    for group, left in zip(postprocess.volume_groups(arrays.records), left_out):
        volume_of.update(dict.fromkeys(group, left))
    for i, row in enumerate(rows):
        left = volume_of.get(i)
        row |= {"dropped_tumour_px": int(hits[i]), "lesions_left_out": left.lesions if left else None,
                "runner_up_share": left.share if left else None}


SCORES = ("dice", "iou", "sensitivity", "precision", "hd95_px")


def _stats(rs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n_images": len(rs)}
    for key in SCORES:
        if rs and key in rs[0]:
            v = np.array([r[key] for r in rs], dtype=np.float64)
            out[f"mean_{key}"] = float(v.mean())
            out[f"std_{key}"] = float(v.std())
    if rs:
        out["median_dice"] = float(np.median([r["dice"] for r in rs]))
    # missed: nothing predicted at all; no overlap: a tumour whose Dice is 0 (missed, or predicted elsewhere)
    out["n_missed"] = int(sum(r["predicted_area_px"] == 0 and r["tumour_area_px"] > 0 for r in rs))
    out["n_no_overlap"] = int(sum(r["dice"] == 0 and r["tumour_area_px"] > 0 for r in rs))
    return out


def per_volume(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per patient (in first-seen order) with its whole-stack Dice (:func:`volume_dice`).

    Empty when rows lack ``patient`` or ``intersection_px`` (older per_case.csv files), or when no
    patient has more than one slice (figshare: one slice per patient is the rule, not a volume).
    """
    if not rows or "intersection_px" not in rows[0] or not all(r["patient"] for r in rows):
        return []
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r["patient"]), []).append(r)
    if max(len(g) for g in groups.values()) < 2:
        return []
    out = []
    for patient, g in groups.items():
        truth, pred, inter = ([float(r[k]) for r in g] for k in ("tumour_area_px", "predicted_area_px",
                                                                 "intersection_px"))
        row = {"patient": patient, "n_slices": len(g), "n_tumour_slices": sum(t > 0 for t in truth),
               "tumour_px": int(sum(truth)), "predicted_px": int(sum(pred)), "intersection_px": int(sum(inter)),
               "dice": volume_dice(inter, pred, truth)}
        if "dropped_tumour_px" in g[0]:  # scored with the one-lesion rule (add_lesion_choice)
            shares = [r["runner_up_share"] for r in g if r.get("runner_up_share") is not None]
            lesions = [r["lesions_left_out"] for r in g if r.get("lesions_left_out") is not None]
            row |= {"dropped_tumour_px": int(sum(r["dropped_tumour_px"] or 0 for r in g)),
                    "lesions_left_out": max(lesions) if lesions else None,
                    "runner_up_share": max(shares) if shares else None}
        out.append(row)
    return out


def lesion_choice(volumes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How the one-lesion rule chose, over :func:`per_volume` rows scored with it (``None`` otherwise): patients
    who lost at least :data:`DROPPED_SHARE` of their tumour pixels with the dropped lesions (``n_tumour_dropped``;
    a few edge pixels in a dropped blob do not count), all dropped tumour pixels' share of all tumour pixels, and
    close calls (runner-up share ≥ :data:`~tumorseg.inference.postprocess.CLOSE_CALL`), with and without tumour
    dropped."""
    ruled = [v for v in volumes if v.get("dropped_tumour_px") is not None]
    if not ruled:
        return None
    lost = [v["dropped_tumour_px"] > 0 and v["dropped_tumour_px"] >= DROPPED_SHARE * v["tumour_px"] for v in ruled]
    close = [postprocess.is_close_call(v.get("runner_up_share")) for v in ruled]
    tumour = sum(v["tumour_px"] for v in ruled)
    return {"n_patients": len(ruled), "n_tumour_dropped": sum(lost),
            "dropped_tumour_share": sum(v["dropped_tumour_px"] for v in ruled) / tumour if tumour else 0.0,
            "n_close_calls": sum(close), "n_close_calls_tumour_dropped": sum(a and b for a, b in zip(close, lost)),
            "rule": f"tumour dropped: >= {DROPPED_SHARE:.0%} of a patient's truth pixels inside lesions the "
                    "one-lesion rule left out (3-D components that touch nothing kept); close call: the runner-up "
                    f"scored >= {postprocess.CLOSE_CALL} of the kept lesion"}


DROPPED_SHARE = 0.01
"""A patient counts as having lost tumour to the one-lesion rule when its dropped lesions hold this share of its
tumour pixels (:func:`lesion_choice`)."""


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean (± std over images) of every score, overall, per tumour class, per tumour-size tercile and per
    tumour present/absent; image-level presence; per-volume Dice when patients have several slices.

    Size terciles split the scored images by tumour area into three equal
    groups (boundaries given as fractions of the image in ``size_terciles``);
    images with an empty truth are left out of the terciles.
    """
    out = _stats(rows)
    out["n_patients"] = len({r["patient"] for r in rows if r["patient"]})
    labels = sorted({r["label"] for r in rows if r["label"]})
    if labels:
        out["by_class"] = {lab: _stats([r for r in rows if r["label"] == lab]) for lab in labels}
    sized = sorted((r for r in rows if r["tumour_area_px"] > 0), key=lambda r: r["tumour_fraction"])
    if len(sized) >= 3:
        thirds = np.array_split(np.arange(len(sized)), 3)
        out["by_size"] = {}
        for name, idx in zip(("small", "medium", "large"), thirds):
            group = [sized[i] for i in idx]
            out["by_size"][name] = _stats(group) | {
                "tumour_fraction_range": [group[0]["tumour_fraction"], group[-1]["tumour_fraction"]]
            }
    out["presence"] = presence([r["tumour_area_px"] for r in rows], [r["predicted_area_px"] for r in rows])
    out["by_presence"] = {name: _stats(group) for name, group in (
        ("tumour", [r for r in rows if r["tumour_area_px"] > 0]),
        ("tumour_free", [r for r in rows if r["tumour_area_px"] == 0])) if group}
    volumes = per_volume(rows)
    if volumes:
        d = np.array([v["dice"] for v in volumes])
        out["per_volume"] = {"n_patients": len(volumes), "mean_dice": float(d.mean()), "std_dice": float(d.std()),
                             "median_dice": float(np.median(d)),
                             "rule": "per patient: 2*sum(tp) / (sum(pred) + sum(truth)) over all its slices; "
                                     "mean and sd over patients"}
        choice = lesion_choice(volumes)
        if choice:
            out["per_volume"]["one_lesion"] = choice
    return out


def presence_lines(summary: dict[str, Any]) -> list[str]:
    """Plain-language lines on tumour presence, the Dice rule and per-volume Dice of a :func:`summarise` result."""
    p = summary.get("presence")
    if not p:
        return []
    sens = (f"sensitivity {p['sensitivity']:.3f} ({p['tp']} of {p['n_tumour']} tumour slices found)"
            if p["sensitivity"] is not None else "sensitivity n/a (no tumour slices)")
    spec = (f"specificity {p['specificity']:.3f} ({p['tn']} of {p['n_tumour_free']} tumour-free slices left empty), "
            f"false-positive slice rate {p['fp_slice_rate']:.3f}"
            if p["specificity"] is not None else "specificity n/a (no tumour-free slices)")
    lines = [f"tumour presence: {sens}; {spec}", f"Dice rule: {p['dice_rule']}"]
    v = summary.get("per_volume")
    if v:
        lines.append(f"per-volume Dice {v['mean_dice']:.4f} (1 patient, its slices pooled)" if v["n_patients"] == 1
                     else f"per-volume Dice {v['mean_dice']:.4f} ± {v['std_dice']:.4f} over {v['n_patients']} "
                     "patients (each patient's slices pooled)")
        c = v.get("one_lesion")
        if c:
            lines.append(f"one lesion per volume: the dropped lesions held >= {DROPPED_SHARE:.0%} of the tumour of "
                         f"{c['n_tumour_dropped']} of {c['n_patients']} patients ({c['dropped_tumour_share']:.1%} of "
                         "all tumour pixels); "
                         f"close calls {c['n_close_calls']} ({c['n_close_calls_tumour_dropped']} of them with tumour "
                         "left out)")
    return lines


def write_results(rows: list[dict[str, Any]], arrays: SliceArrays, preds: np.ndarray, out: Path, extra: dict | None = None) -> dict:
    """Write metrics.json, per_case.csv and predictions.png into ``out``; return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {**summarise(rows), **(extra or {})}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    write_per_case(rows, out / "per_case.csv")
    volumes = per_volume(rows)
    if volumes:
        write_per_case(volumes, out / "per_volume.csv")
    order = np.argsort([r["dice"] for r in rows])
    picks = list(dict.fromkeys([order[-1], order[-2] if len(order) > 1 else order[-1], order[len(order) // 2], order[1] if len(order) > 1 else order[0], order[0]]))
    prediction_grid(
        arrays.images[picks], arrays.masks[picks], preds[picks], out / "predictions.png",
        titles=[f"{rows[i]['case_id']}  Dice {rows[i]['dice']:.2f}" for i in picks],
    )
    return summary


def cases_to_score(records: list, ckpt: dict[str, Any], split: str, checkpoint: str | Path, data: str | Path,
                   include_training: bool = False) -> tuple[list, dict[str, int]]:
    """The records of ``data`` that ``evaluate`` scores for ``split``, and counts to store with the metrics.

    ``"test"``/``"val"``/``"train"``: the checkpoint's stored case ids of that
    part. ``"all"``: every record except those the checkpoint was trained or
    validated on, unless ``include_training``: scoring a model on its own
    training slices overstates its accuracy, so it never happens silently.
    "Trained on" means its stored ``train``/``val`` case ids; when the
    checkpoint also stores ``split_patients`` (case id -> patient), a record
    with a stored case id counts only if its patient is the same too (another
    dataset that reuses slice names is not the training set), and a record of
    a patient the checkpoint trained or validated on counts whatever its case
    id (the same patient read by another reader, e.g. LGG slices renamed when
    a training set was assembled: scores must be of unseen patients).

    Returns:
        (records, extra): ``extra`` is ``{"training_slices_left_out": n}`` or
        ``{"training_slices_included": n}`` for ``"all"``, else ``{}``.

    Raises:
        DataError: the split is not stored, is empty (e.g. the bundled model
            has no test part), none of its cases are in ``data``, or every
            slice of ``data`` is a training slice (one line each, naming the fix).
    """
    name = Path(str(checkpoint)).name
    stored = ckpt.get("split") or {}
    counts = ", ".join(f"{len(stored.get(k) or [])} {k}" for k in ("train", "val", "test"))
    if split != "all":
        if split not in stored:
            raise DataError(f"{checkpoint}: stores no split, so it has no '{split}' part. Use --split all to score "
                            f"the slices of {data}.")
        wanted = set(stored[split])
        if not wanted:
            raise DataError(f"{name} has no '{split}' part (its stored split: {counts} case ids), so there is no "
                            f"'{split}' slice to score. Use --split all to score the slices of {data} it was not "
                            "trained on.")
        chosen = [r for r in records if r.case_id in wanted]
        if not chosen:
            raise DataError(f"{data}: none of the {len(wanted)} '{split}' cases of {name} are here (another "
                            "dataset?). Use --split all to score the slices it was not trained on.")
        return chosen, {}
    seen = set(stored.get("train") or []) | set(stored.get("val") or [])
    patients = ckpt.get("split_patients") or {}
    seen_patients = {patients[c] for c in seen if c in patients}

    def trained_on(r) -> bool:
        if r.patient is not None and r.patient in seen_patients:
            return True
        if r.case_id not in seen:
            return False
        known = patients.get(r.case_id)
        return known is None or r.patient is None or known == r.patient

    training = [r for r in records if trained_on(r)]
    if not training:
        return records, {}
    if include_training:
        log.warning("%s: scoring %d slices that %s was trained or validated on; these scores overstate its "
                    "accuracy on new data.", data, len(training), name)
        return records, {"training_slices_included": len(training)}
    unseen = [r for r in records if not trained_on(r)]
    if not unseen:
        raise DataError(f"{data}: all {len(records)} slices are ones {name} was trained or validated on (case ids "
                        f"of its stored split: {counts}); nothing unseen is left to score. Evaluate on data it has "
                        "not seen, or add --include-training-slices to measure its fit to its training data.")
    n_patients = len({r.patient for r in training if r.patient is not None})
    log.warning("%s: left out %d of %d slices that %s was trained or validated on (case ids%s of its stored split); "
                "scoring the other %d. --include-training-slices scores them too.",
                data, len(training), len(records), name,
                f" and {n_patients} patient{'s' * (n_patients != 1)}" if n_patients else "", len(unseen))
    return unseen, {"training_slices_left_out": len(training)}


def display_view(arrays: SliceArrays) -> SliceArrays:
    """``arrays`` with every NIfTI volume's slices and masks turned to the radiological view
    (:func:`tumorseg.data.formats.nifti.record_display`), for a model whose ``preprocessing["view"]`` is
    ``"display"`` (``predict`` feeds it so; :class:`tumorseg.inference.predictor.Predictor`); other records (2-D
    files, LGG TIFFs, DICOM) as they are. The slices are square at this point, so the shapes do not change; Dice,
    IoU and the volume rules do not depend on the view."""
    from tumorseg.data.formats.nifti import record_display
    from tumorseg.data.formats.orientation import to_display_any

    images, masks = arrays.images.copy(), arrays.masks.copy()
    for i, record in enumerate(arrays.records):
        ornt = record_display(record)
        if ornt is not None:
            images[i], masks[i] = to_display_any(images[i], ornt), to_display_any(masks[i], ornt)
    return SliceArrays(images, masks, arrays.records)


def evaluate(
    checkpoint: str | Path | None,
    data: str | Path,
    out: str | Path,
    split: str = "test",
    data_format: str = "auto",
    device: str = "auto",
    batch_size: int = 16,
    data_options: dict[str, Any] | None = None,
    include_training: bool = False,
    one_lesion: bool | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a checkpoint on a dataset.

    Reader options (``channels``, ``modality``, ...) default to what the
    model reads (a bundled model's modality: the LGG FLAIR or post-contrast
    channel, the BraTS modality), then to those the checkpoint was trained
    with; ``data_options`` overrides them.

    Args:
        checkpoint: a bundled name (``t1c``, ``flair``, ``default``), a checkpoint file, or ``None``: the
            bundled model that fits the dataset (:func:`tumorseg.inference.choose.choose_for_dataset`),
            logged as one ``model: NAME (reason)`` line.
        split: ``"test"`` (or ``"val"``/``"train"``) uses the split stored in
            the checkpoint; ``"all"`` scores every labelled slice in ``data``
            that the checkpoint was not trained or validated on (see
            :func:`cases_to_score`).
        include_training: with ``"all"``, score the training/validation slices too
            (``metrics.json`` then says how many: ``training_slices_included``).
        one_lesion: keep only the largest 3-D component per volume (``True``), keep every lesion (``False``);
            ``None``: as the checkpoint says (``largest_component_3d``, :mod:`tumorseg.inference.postprocess`).
        progress: show the progress bar of reading the slices (``evaluate --no-progress`` hides it).

    Raises:
        DataError: nothing of the asked split is in ``data`` (see :func:`cases_to_score`).
    """
    from tumorseg.data.formats import detect_format, merge_options
    from tumorseg.inference.choose import choose_for_dataset, reader_options_for

    if checkpoint is not None:
        checkpoint = resolve_checkpoint(checkpoint)  # a bad --model is reported before the data are looked at
    fmt = detect_format(data) if data_format in (None, "auto") else data_format
    if checkpoint is None:
        choice = choose_for_dataset(fmt, data_options, data)
        log.info("%s", choice.line())
        checkpoint = resolve_checkpoint(choice.name)
    ckpt = load_checkpoint(checkpoint)
    trained_with = (ckpt.get("config") or {}).get("data_options", {})
    fitting = reader_options_for(fmt, zoo.modality_of(ckpt, checkpoint))  # e.g. the LGG channel of a t1c model
    fmt, options = merge_options(data, fmt, {**fitting, **trained_with}, data_options or {})
    records, extra = cases_to_score(read_dataset(data, fmt, **options), ckpt, split, checkpoint, data,
                                    include_training)
    model = model_from_checkpoint(ckpt, checkpoint)
    dev = resolve_device(device)
    model.to(dev)
    pre = ckpt["preprocessing"]
    arrays = load_slices(records, int(pre["image_size"]), progress=progress, intensity=pre.get("intensity", "none"),
                         window_of=volume_windows())  # volumes at the field of view predict gives them
    if pre.get("view") == "display":  # the model reads volumes in the radiological view, as predict feeds it
        arrays = display_view(arrays)
    arrays = with_context(arrays, int(pre.get("context_slices", 0)))
    post = postprocess.settings(ckpt)
    if one_lesion is not None:
        post["largest_component_3d"] = bool(one_lesion)
    rows, preds = score_arrays(model, arrays, dev, batch_size=batch_size, post=post)
    summary = write_results(
        rows, arrays, preds, Path(out),
        extra={"checkpoint": str(checkpoint), "model": ckpt["model"]["name"], "data": str(data), "split": split,
               "largest_component_3d": bool(post["largest_component_3d"]), **extra},
    )
    log.debug("mean Dice %.4f, mean IoU %.4f on %d images", summary["mean_dice"], summary["mean_iou"], summary["n_images"])
    return summary
