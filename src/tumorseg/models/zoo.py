"""The bundled models: a plain registry of names → files in ``models/bundled/``, and ``--model`` resolution.

Each bundled model ``NAME`` is up to four files in ``src/tumorseg/models/bundled/``::

    NAME.pt     weights-only checkpoint (preprocessing, post-processing, metrics, split)
    NAME.onnx   the same network exported (``tumorseg export``), used by the ONNX backend
    NAME.json   the ONNX file's metadata (as ``tumorseg export`` writes beside it)
    NAME.md     the model card: data, recipe, cross-validation numbers, intended input

``NAME.onnx``/``.json`` are left out where they would pass the wheel's 25 MB (``t1c``, a cascade of two
networks: its float32 export is 29 MB); the ONNX backend then exports the model once into the cache on first use
(:func:`tumorseg.inference.onnx.cached_onnx`).

``--model`` accepts a bundled name (``t1c``, ``flair``, ``t1c-unet``; ``default``
is an alias of ``t1c`` so old commands keep working), or a checkpoint /
``.onnx`` path. A name whose files are not in this build (``flair`` until its weights
are trained) is listed by ``tumorseg models`` as "not installed" and asking
for it is a one-line error, as is an unknown name (with "did you mean").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tumorseg.errors import CheckpointError, did_you_mean

BUNDLED_DIR = Path(__file__).parent / "bundled"


@dataclass(frozen=True)
class BundledModel:
    """One named model shipped with tumorseg.

    ``modality``: the MRI sequence it was trained on (``"t1c"`` or
    ``"flair"``); ``channels``: input channels (both bundled models take one);
    ``intended_input``: one line for tables and notes; ``single_slice_note``: what a user must know about
    its output on one 2-D slice (``predict`` prints it once when the model marks a tumour on an image file),
    empty when nothing.
    """

    name: str
    modality: str
    channels: int
    intended_input: str
    description: str
    single_slice_note: str = ""

    def file(self, suffix: str) -> Path:
        """``models/bundled/NAME.<suffix>`` (``"pt"``, ``"onnx"``, ``"json"``, ``"md"``)."""
        return BUNDLED_DIR / f"{self.name}.{suffix}"

    @property
    def checkpoint(self) -> Path:
        return self.file("pt")

    @property
    def card(self) -> Path:
        return self.file("md")

    @property
    def installed(self) -> bool:
        """Whether the weights are in this build (the card may exist before them)."""
        return self.checkpoint.is_file()


def _tumour_slices_only(name: str, evidence: str) -> str:
    """The single-slice note of a model trained only on slices that hold a tumour; ``evidence``: its card's count."""
    return (f"{name} was trained only on slices that hold a tumour: on a single tumour-free slice it marks one almost "
            f"always ({evidence} in its card), so a mark on one image is not evidence of a tumour. On a whole volume "
            "(NIfTI, DICOM series, a folder of a scan's numbered slices: predict DIR --as-volume) it keeps one 3-D "
            "lesion, the most confident, which leaves most tumour-free slices empty.")


BUNDLED: dict[str, BundledModel] = {
    "t1c": BundledModel(
        "t1c", "t1c", 1,
        "one T1-weighted contrast-enhanced (T1c) slice or volume, grayscale",
        "U-Net on an ImageNet-pretrained EfficientNet-Lite0 encoder for T1c slices (figshare "
        "meningioma/glioma/pituitary, fine-tuned with tumour-free LGG post-contrast slices)"),
    "flair": BundledModel(
        "flair", "flair", 1,
        "one FLAIR slice or volume (LGG TIFFs: the FLAIR channel, channel 1)",
        "residual U-Net for FLAIR slices (LGG lower-grade glioma FLAIR abnormality)"),
    "t1c-unet": BundledModel(
        "t1c-unet", "t1c", 1,
        "one T1-weighted contrast-enhanced (T1c) slice or volume, grayscale",
        "the previous t1c (until 2026-12-05): a 0.2 M-parameter residual U-Net, 1.6x faster, less accurate; "
        "the flair model was fine-tuned from it",
        _tumour_slices_only("t1c-unet", "164 of 164 tumour-free LGG slices")),
}
ALIASES = {"default": "t1c"}
DEFAULT = "t1c"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".onnx")


def single_slice_note(label: str) -> str:
    """The caveat of the bundled model called ``label`` about its output on one 2-D slice; "" for any other
    model (a checkpoint file) or a bundled one without such a caveat."""
    entry = BUNDLED.get(label)
    return entry.single_slice_note if entry is not None else ""


def names() -> list[str]:
    """Every name ``--model`` accepts, bundled names first."""
    return [*BUNDLED, *ALIASES]


def get(name: str) -> BundledModel:
    """The bundled model called ``name`` (or an alias of one), installed or not.

    Raises:
        CheckpointError: unknown name (the message lists the names and the closest one).
    """
    key = ALIASES.get(name, name)
    if key not in BUNDLED:
        raise CheckpointError(f"unknown model '{name}'.{did_you_mean(name, names())} Bundled models: "
                              f"{', '.join(names())} (see 'tumorseg models'); or give a checkpoint file path.")
    return BUNDLED[key]


def looks_like_name(value: str | Path) -> bool:
    """True for ``"t1c"``, ``"flair"``, ``"flare"``; False for anything path-like or existing on disk."""
    text = str(value)
    if Path(text).exists() or "/" in text or "\\" in text:
        return False
    return not text.lower().endswith(CHECKPOINT_SUFFIXES)


def name_of_file(path: str | Path | None) -> str | None:
    """The bundled model whose ``.pt`` or ``.onnx`` file ``path`` is, else ``None``."""
    if not path:
        return None
    path = Path(path).resolve()
    for entry in BUNDLED.values():
        if path in (entry.checkpoint.resolve(), entry.file("onnx").resolve()):
            return entry.name
    return None


def bundled_name(value: str | Path | None) -> str | None:
    """The bundled model's name for a ``--model`` value (``None`` → ``t1c``), or ``None`` for another file.

    Raises:
        CheckpointError: ``value`` looks like a model name but is not one.
    """
    if value is None:
        return DEFAULT
    if looks_like_name(value):
        return get(str(value)).name
    return name_of_file(value)


def resolve(value: str | Path | None) -> Path:
    """``--model`` → checkpoint path: ``None``/``"default"``/``"t1c"``/``"flair"`` → bundled file, else a path.

    Raises:
        CheckpointError: unknown name, or a bundled model not installed in this build.
    """
    if value is not None and not looks_like_name(value):
        return Path(value)
    entry = get(DEFAULT if value is None else str(value))
    if not entry.installed:
        have = [m.name for m in BUNDLED.values() if m.installed]
        raise CheckpointError(
            f"model '{entry.name}' is not installed in this build ({entry.checkpoint} is missing; its weights are "
            f"added when trained). Installed: {', '.join(have) or 'none'}; or give --model RUN_DIR/best.pt.")
    return entry.checkpoint


def modality_of(checkpoint: dict[str, Any], source: str | Path | None = None) -> str | None:
    """The MRI sequence a model expects: the checkpoint's ``preprocessing["modality"]``, else a channel
    name it was trained on (``"flair"``, ``"post-contrast"``/``"t1c"`` → ``"t1c"``), else the bundled
    registry's entry when ``source`` is a bundled file, else ``None`` (unknown: e.g. ``["gray"]``)."""
    pre = checkpoint.get("preprocessing") or {}
    if pre.get("modality"):
        return str(pre["modality"])
    chans = [str(c).lower() for c in pre.get("channels") or []]
    if len(chans) == 1 and chans[0] in ("flair", "t1c", "post-contrast"):
        return "flair" if chans[0] == "flair" else "t1c"
    name = name_of_file(source)
    return BUNDLED[name].modality if name else None
