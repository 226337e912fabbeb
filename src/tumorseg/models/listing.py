"""``tumorseg models``: the bundled models (:mod:`tumorseg.models.zoo`) as a table, with the numbers stored in
each checkpoint. Kept apart from the registry, which :mod:`tumorseg.models.checkpoint` imports, so that reading
checkpoints here makes no import cycle."""

from __future__ import annotations

from typing import Any

from tumorseg.models import zoo
from tumorseg.models.checkpoint import load_checkpoint


def describe(entry: zoo.BundledModel) -> dict[str, Any]:
    """A row of ``tumorseg models``: name, input, CV numbers (from the checkpoint's ``metrics``), size, card.

    Reads the checkpoint (weights-only) for its metrics when installed.
    """
    row: dict[str, Any] = {"name": entry.name, "input": entry.intended_input, "installed": entry.installed,
                           "card": str(entry.card), "description": entry.description, "cv": "", "size_mb": None}
    if not entry.installed:
        row["cv"] = "not installed in this build"
        return row
    m = load_checkpoint(entry.checkpoint).get("metrics") or {}
    folds = f"{int(m.get('cv_folds', 0))}-fold CV"
    if m.get("cv_folds_planned"):  # a CV still running when the model was bundled
        folds = f"{int(m.get('cv_folds', 0))} of {int(m['cv_folds_planned'])} CV folds"
    if "cv_dice_mean" in m:
        row["cv"] = f"Dice {m['cv_dice_mean']:.3f} ± {m.get('cv_dice_std', 0):.3f} ({folds})"
    elif "test_dice" in m:
        row["cv"] = f"test Dice {m['test_dice']:.3f}"
    elif "val_dice" in m:
        row["cv"] = f"val Dice {m['val_dice']:.3f}"
    if "cv_volume_dice_mean" in m and "cv_specificity_mean" in m:
        # volumes with tumour-free slices (LGG): the per-volume Dice is the figure that matters, and it replaces the
        # per-slice mean, which counts every tumour-free slice left empty as Dice 1 and so flatters a model on mostly
        # empty stacks. Where every slice holds a tumour (figshare, no specificity) the per-slice mean stays.
        row["cv"] = f"per-volume Dice {m['cv_volume_dice_mean']:.3f} ± {m.get('cv_volume_dice_std', 0):.3f} ({folds})"
    for key, label in (("cv_sensitivity_mean", "sens"), ("cv_specificity_mean", "spec")):
        if key in m:
            row["cv"] += f", {label} {m[key]:.2f}"
    row["size_mb"] = round(entry.checkpoint.stat().st_size / 1e6, 2)
    return row


def models_table() -> str:
    """The text ``tumorseg models`` prints: one row per bundled model, then the alias and a hint."""
    rows = [describe(e) for e in zoo.BUNDLED.values()]
    head = ("name", "intended input", "cross-validation", "size", "model card")
    cells = [[r["name"] + (" (default)" if r["name"] == zoo.DEFAULT else ""), r["input"], r["cv"],
              f"{r['size_mb']:.1f} MB" if r["size_mb"] is not None else "-", r["card"]] for r in rows]
    widths = [max(len(head[i]), *(len(c[i]) for c in cells)) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*c) for c in cells)]
    lines.append(f"aliases: {', '.join(f'{a} = {t}' for a, t in zoo.ALIASES.items())}. Use: --model NAME, or a "
                 "checkpoint path; without --model, each input gets the model that fits it (see README).")
    return "\n".join(lines)
