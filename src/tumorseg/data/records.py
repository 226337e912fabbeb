"""The one internal description of a training/evaluation slice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SliceRecord:
    """One 2-D slice with its tumour mask.

    Attributes:
        case_id: unique name of the slice inside its dataset (e.g. ``"17"``).
        image: path of the image file.
        mask: path of the binary mask file (``None`` for unlabelled data).
        patient: patient (group) id used to keep a patient inside one split;
            ``None`` when the dataset does not say.
        label: tumour class name (e.g. ``"glioma"``) or ``None``.
    """

    case_id: str
    image: Path
    mask: Path | None = None
    patient: str | None = None
    label: str | None = None
