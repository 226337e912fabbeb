"""The one internal description of a training/evaluation slice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SliceRecord:
    """One 2-D slice with its tumour mask.

    Attributes:
        case_id: unique name of the slice inside its dataset (e.g. ``"17"``,
            ``"BraTS-GLI-00001-000_z077"``).
        image: path of the image file; for readers with a ``loader``, the
            file the loader reads (a ``.mat``, a ``.tif`` stack, a NIfTI volume,
            or a ``.zip`` holding the file).
        mask: path of the binary mask file (``None`` for unlabelled data); for
            volume readers, the label volume.
        patient: patient (group) id used to keep a patient inside one split;
            ``None`` when the dataset does not say.
        label: tumour class name (e.g. ``"glioma"``) or ``None``.
        loader: ``None`` when ``image``/``mask`` are plain 2-D image files;
            otherwise the name of the function in
            :data:`tumorseg.data.formats.LOADERS` that decodes this record
            (``"figshare-mat"``, ``"lgg"``, ``"nifti"``).
        slice_index: position of the slice inside a volume (axial index, the
            third array axis of a NIfTI volume); ``None`` for 2-D sources.
        options: loader settings as a hashable tuple of ``(name, value)`` pairs,
            e.g. ``(("channels", (1,)),)``; read them with :meth:`option`.
    """

    case_id: str
    image: Path
    mask: Path | None = None
    patient: str | None = None
    label: str | None = None
    loader: str | None = None
    slice_index: int | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def option(self, name: str, default: Any = None) -> Any:
        """Value of loader option ``name`` (``default`` when absent)."""
        for key, value in self.options:
            if key == name:
                return value
        return default
