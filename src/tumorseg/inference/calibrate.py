"""Choose post-processing on validation data only: threshold, test-time flips, clean-up, tumour-presence gate.

The grid is small on purpose (2 TTA settings × 9 thresholds × 5 clean-up sizes,
one forward pass per TTA setting). It is stored in the checkpoint under
``"postprocess"``, so ``predict``/``evaluate``/``serve`` apply the same.
Never call this with test data.

Objective (``objective``): ``"slice-dice"`` (default), the mean per-image
Dice of the validation slices that hold a tumour; or ``"volume-dice"``, the
mean over validation patients of each patient's per-volume Dice (all of a
patient's slices pooled, :func:`tumorseg.evaluation.metrics.volume_dice`),
the metric of the LGG literature, which rewards outlining the whole lesion
over skipping its faint edge slices. When the validation data also has tumour-free slices, the presence
gate (``presence_prob``, ``presence_px``; see :mod:`tumorseg.inference.postprocess`) is
searched too, and only settings that mark a tumour on at most ``max_fp_rate``
of those slices are eligible (if none is, the one with the fewest false
positives wins, ties broken by Dice, and a warning says the limit was not met). A setting that leaves every
validation tumour slice empty never wins while another finds any: it meets any false-positive limit by
marking nothing, which is a useless model, not a calibrated one. Without tumour-free slices the gate
stays off, as before.

With ``"volume-dice"`` and validation slices that form volumes (patient and
slice index, e.g. LGG), the volume settings of :mod:`tumorseg.inference.postprocess` are searched too:
smoothing across slices (``z_smooth`` in :data:`Z_SMOOTH`) together with the grid above, and then the
volume rules — hysteresis (``hysteresis_prob`` in :data:`HYSTERESIS_PROB`) and the one-3-D-lesion
rule (``largest_component_3d``, keeping the largest component or, with ``lesion_core_prob`` in
:data:`LESION_CORE_PROB`, the one with the most confident voxels; its thin slices trimmed with
``lesion_slice_share`` in :data:`LESION_SLICE_SHARE`) — on top of the :data:`TOP_K` best settings found without them (and the
:data:`TOP_K` best by the objective alone, which the rules may make eligible) at each smoothing level, kept
when they score better. Without smoothing the search is the one of earlier versions, so on the same val data
the chosen settings score at least as well as theirs did.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from tumorseg.data import SliceArrays
from tumorseg.evaluation.metrics import confusion, dice_iou_from_counts
from tumorseg.inference.postprocess import apply, apply_volumes, smooth_records, variants, volume_groups
from tumorseg.inference.predictor import predict_probabilities

log = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
MIN_COMPONENT_PX = (0, 10, 25, 50, 100)  # at the model's resolution
PRESENCE_PROB = (0.0, 0.7, 0.8, 0.9, 0.95, 0.98)
PRESENCE_PX = (0, 25, 50, 100, 150, 200, 300)
MAX_FP_RATE = 0.03
TOP_K = 25  # settings re-scored with the volume rules (each costs a labelling of every val volume)
Z_SMOOTH = (0.0, 0.2, 0.33)  # volume-dice on volumes only
HYSTERESIS_PROB = (0.0, 0.95, 0.99)
LESION_SLICE_SHARE = (0.0, 0.1)  # with the one-lesion rule: its slices below this share of its largest emptied
LESION_CORE_PROB = (0.0, 0.5, 0.95)  # with the one-lesion rule: the largest component, or the most confident
# (0.5: for networks whose probabilities never reach 0.95, like the bundled t1c, which stop at 0.59)
OBJECTIVES = ("slice-dice", "volume-dice")


def _pixel_counts(preds: np.ndarray, truth: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per slice of ``preds (N, S, S) bool``: Dice against ``truth`` (the empty rule), predicted and true-positive
    pixel counts, each ``(N,) float64``."""
    tp, fp, fn = confusion(torch.from_numpy(preds), truth)
    dice = dice_iou_from_counts(tp, fp, fn)[0].numpy()
    return dice, (tp + fp).double().numpy(), tp.double().numpy()


def _rank(fp: float | None, score: float, max_fp_rate: float, detection: float | None = None) -> tuple:
    """Sort key of a candidate: one that finds some val tumour (``detection`` > 0, or no tumour slices at all)
    first, then eligible ones, then fewer false positives only while none is eligible, then the objective."""
    ok = fp is None or fp <= max_fp_rate + 1e-12
    return detection is None or detection > 0, ok, 0.0 if ok else -fp, score


def _per_patient_volume_dice(patients: np.ndarray, n_patients: int, tp: np.ndarray, pred: np.ndarray,
                             truth_sum: np.ndarray) -> float:
    """Mean per-patient pooled Dice. ``patients``: ``(N,)`` int codes; ``tp``/``pred``: ``(N,)`` pixel counts after
    gating; ``truth_sum``: ``(P,)`` each patient's truth pixels. A patient with no truth and nothing predicted
    scores 1 (the Dice rule)."""
    tp_sum = np.bincount(patients, tp, n_patients)
    den = np.bincount(patients, pred, n_patients) + truth_sum
    return float(np.where(den > 0, 2 * tp_sum / np.maximum(den, 1), 1.0).mean())


def calibrate(model: nn.Module | None, val: SliceArrays, device: torch.device | str = "cpu", batch_size: int = 16,
              try_tta: bool = True, max_fp_rate: float = MAX_FP_RATE, objective: str = "slice-dice",
              progress: bool = False, probabilities: dict[bool, np.ndarray] | None = None) -> dict[str, Any]:
    """Return the chosen settings and what they score on ``val``.

    ``probabilities``: instead of running ``model`` (then ``None``), the ``(N, S, S)`` probability maps of
    ``val.images`` without and with flip TTA (keys ``False``, ``True``), computed elsewhere — e.g. each CV fold
    model's maps of its own test patients, so that settings are chosen on every patient's out-of-fold output, as
    nnU-Net chooses its post-processing on the cross-validation results.

    Keys: ``threshold``, ``tta``, ``min_component_px``, ``presence_prob``, ``presence_px``,
    ``largest_component_3d``, ``z_smooth``, ``hysteresis_prob`` (the settings); ``val_dice`` (mean Dice over
    the slices with a tumour), ``val_volume_dice`` (mean per-patient Dice; ``objective="volume-dice"`` only),
    ``objective``, ``val_fp_rate`` (fraction of tumour-free slices marked;
    ``None`` without such slices), ``val_detection`` (fraction of tumour slices
    with anything marked), ``val_dice_default`` (threshold 0.5, no TTA, no
    clean-up, no gate: the baseline calibration improves on). ``progress``: a bar over the probability maps
    searched and then the settings re-scored with the volume rules (a minute or two on a CPU for LGG's val).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"calibration objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    by_volume = objective == "volume-dice"
    truth = torch.from_numpy(np.ascontiguousarray(val.masks))
    if by_volume:
        names = [r.patient or r.case_id for r in val.records]
        codes = {n: i for i, n in enumerate(dict.fromkeys(names))}
        patients = np.array([codes[n] for n in names], dtype=np.int64)
        truth_px = val.masks.reshape(len(val), -1).sum(1).astype(np.float64)
        truth_sum = np.bincount(patients, truth_px, len(codes))
    positive = val.masks.reshape(len(val), -1).any(1)
    negative = ~positive
    has_neg, has_pos = bool(negative.any()), bool(positive.any())
    gates = [(pp, px) for pp in PRESENCE_PROB for px in PRESENCE_PX] if has_neg else [(0.0, 0)]
    candidates: list[tuple[tuple, dict[str, Any]]] = []
    default = None
    volumes = by_volume and bool(volume_groups(val.records))
    maps: dict[tuple[bool, float], np.ndarray] = {}
    levels = Z_SMOOTH if volumes else (0.0,)
    ttas = (False, True) if try_tta else (False,)
    bar = tqdm(total=len(ttas) * len(levels), desc="calibrating", unit="map", disable=not progress, leave=False)
    for tta in ttas:
        raw = (probabilities[tta] if probabilities is not None
               else predict_probabilities(model, val.images, device, batch_size, tta=tta))
        for a in levels:
            probs = maps[tta, a] = smooth_records(raw, val.records, a)
            peak = probs.reshape(len(probs), -1).max(1)
            for thr, min_px, preds, largest in variants(probs, THRESHOLDS, MIN_COMPONENT_PX):
                dice, pred_px, tp_px = _pixel_counts(preds, truth)
                marked = pred_px > 0
                for pp, px in gates:
                    gated = (peak < pp) | (largest < px)
                    d = np.where(gated, negative.astype(np.float64), dice)
                    m = marked & ~gated
                    pos_dice = float(d[positive].mean()) if has_pos else float(d.mean())
                    fp = float(m[negative].mean()) if has_neg else None
                    if not tta and a == 0 and thr == 0.5 and min_px == 0 and pp == 0 and px == 0:
                        default = pos_dice
                    found = {"threshold": thr, "tta": tta, "min_component_px": min_px, "presence_prob": pp,
                             "presence_px": px, "largest_component_3d": False, "lesion_core_prob": 0.0,
                             "lesion_slice_share": 0.0, "z_smooth": a, "hysteresis_prob": 0.0,
                             "val_dice": pos_dice, "val_fp_rate": fp,
                             "val_detection": float(m[positive].mean()) if has_pos else None, "objective": objective}
                    score = pos_dice
                    if by_volume:
                        score = found["val_volume_dice"] = _per_patient_volume_dice(
                            patients, len(codes), np.where(gated, 0.0, tp_px), np.where(gated, 0.0, pred_px),
                            truth_sum)
                    candidates.append((_rank(fp, score, max_fp_rate, found["val_detection"]), found))
            bar.update()
    bar.close()
    if volumes:
        # the best settings, and the best by the objective alone (the rules remove false positives, so those
        # may become eligible), for each smoothing level apart (so the search includes the one without smoothing)
        pool = []
        for a in Z_SMOOTH:
            level = [c for c in candidates if c[1]["z_smooth"] == a]
            pool += sorted(level, key=lambda c: c[0], reverse=True)[:TOP_K]
            pool += sorted(level, key=lambda c: c[0][-1], reverse=True)[:TOP_K]
        todo = {id(f): (k, f) for k, f in pool}.values()
        rules = [(seed, one_lesion, core, share) for seed in HYSTERESIS_PROB for one_lesion in (False, True)
                 for core in (LESION_CORE_PROB if one_lesion else (0.0,))
                 for share in (LESION_SLICE_SHARE if one_lesion else (0.0,))]
        bar = tqdm(todo, desc="calibrating volume rules", unit="setting", disable=not progress, leave=False)
        for _, found in bar:
            probs = maps[found["tta"], found["z_smooth"]]
            masks = apply(probs, found)
            for seed, one_lesion, core, share in rules:
                if (seed == 0 and not one_lesion) or (seed and seed <= found["threshold"]):
                    continue
                post = {**found, "largest_component_3d": one_lesion, "hysteresis_prob": seed,
                        "lesion_core_prob": core, "lesion_slice_share": share}
                dice, pred_px, tp_px = _pixel_counts(apply_volumes(masks, post, val.records, probs), truth)
                m = pred_px > 0
                fp = float(m[negative].mean()) if has_neg else None
                score = _per_patient_volume_dice(patients, len(codes), tp_px, pred_px, truth_sum)
                post.update(val_dice=float(dice[positive].mean()) if has_pos else float(dice.mean()),
                            val_fp_rate=fp, val_detection=float(m[positive].mean()) if has_pos else None,
                            val_volume_dice=score)
                candidates.append((_rank(fp, score, max_fp_rate, post["val_detection"]), post))
    rank, best = max(candidates, key=lambda c: c[0])
    best["val_dice_default"] = default
    if not rank[0]:
        log.warning("calibration: every setting leaves all %d val tumour slices empty; the model has not learned "
                    "to find them (train longer, or check the data)", int(positive.sum()))
    elif not rank[1]:
        log.warning("calibration: no setting marks at most %.0f %% of the %d tumour-free val slices while finding "
                    "any tumour; chose the fewest (%.1f %%). Raise --max-fp-rate, or train with more tumour-free "
                    "slices", 100 * max_fp_rate, int(negative.sum()), 100 * best["val_fp_rate"])
    log.info("calibration on %d val slices (%d tumour-free): %s", len(val), int(negative.sum()), best)
    return best
