"""Which bundled model fits an input, when ``--model`` is not given: :func:`choose_model`.

Rules, first match wins (file names compared case-insensitively):

=====================================================  ==========  ===========================================
input                                                  model       why
=====================================================  ==========  ===========================================
NIfTI named ``*-t2f*``, ``*_flair*``, ``Flair_*``        ``flair``   BraTS new / old / 2015 (DeepMedic) FLAIR
NIfTI named ``*-t1c*``, ``*_t1ce*``, ``T1c_*``           ``t1c``     BraTS T1 contrast-enhanced (the note points
                                                                   to a FLAIR file of the case beside it)
BIDS ``sub-*_FLAIR`` scan                              ``flair``   by the BIDS suffix (:mod:`.bids`)
BIDS ``sub-*_ce-<agent>_T1w`` scan                     ``t1c``     the ``ce-`` (contrast agent) entity
nnU-Net / MSD channel file ``<case>_XXXX.nii.gz``       ``flair``   by the channel's name in ``dataset.json``
                                                       (``t1c``)   (FLAIR; T1gd): :mod:`.decathlon`
BIDS ``anat/`` folder with a FLAIR (or ce-T1w) scan    ``flair``   as a BraTS case folder; named
                                                       (``t1c``)   ``sub-01[_ses-x]``
BraTS case folder with a FLAIR volume                  ``flair``   FLAIR shows the whole tumour (BraTS label)
BraTS case folder with only a T1c volume               ``t1c``
3-channel 8-bit TIFF (LGG: pre, FLAIR, post-contrast)  ``flair``   the FLAIR channel (1) is fed to the model
RGB TIFF slice of an LGG patient folder (``TCGA_*``    ``flair``   also when its channels are equal: kaggle_3m
folder, or ``_mask.tif`` beside it)                                replaced missing sequences with FLAIR
DICOM whose SeriesDescription/ProtocolName says FLAIR  ``flair``   also each series of a study folder; Siemens'
(or ``dark-fluid``)                                               name counts too
DICOM of a FLAIR's timing (inversion ≥ 1400 ms, echo   ``flair``   whatever its description (:func:`flair_timing`)
≥ 60 ms)
DICOM described as post-contrast T1 (POST, GAD, +C,    ``t1c``     (:func:`dicom_modality`); not with PRE, NATIVE,
KM…)                                                               W/O, NO CONTRAST…
figshare ``.mat`` slice                                ``t1c``     the T1-contrast slices t1c was trained on
anything else (PNG/JPEG, grayscale TIFF, other NIfTI)  ``t1c``     the default model, with a note saying so
=====================================================  ==========  ===========================================

NRRD and MetaImage volumes (``.nrrd``, ``.mha`` ...) and multi-page TIFF stacks (one volume in a ``.tif``) follow
the NIfTI rows by their names.
A chosen model that is not installed in this build falls back to ``t1c``, with
a note saying so. A folder is decided per file (see
:func:`tumorseg.inference.files.predict_inputs`). Every choice carries a
one-line reason that ``predict`` prints (``model: flair (BraTS FLAIR file name '-t2f')``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tumorseg.data.formats import bids, decathlon, nifti, tiff_stack
from tumorseg.data.formats.dicom import DicomSeries, inversion_echo_times, is_dicom_file, read_dicom
from tumorseg.models import zoo

# (modality, pattern on the lower-cased file name, how to name the match in the note)
_NAME_RULES = (
    ("flair", re.compile(r"[-_](t2f|flair)(?=[-_.]|$)"), "BraTS FLAIR file name"),
    ("flair", re.compile(r"^flair[-_.]"), "BraTS 2015 FLAIR file name"),
    ("t1c", re.compile(r"[-_](t1c|t1ce|t1gd)(?=[-_.]|$)"), "BraTS T1c file name"),
    ("t1c", re.compile(r"^t1c[-_.]"), "BraTS 2015 T1c file name"),
)
LGG_REASON = "3-channel 8-bit TIFF (LGG layout: pre-contrast, FLAIR, post-contrast)"
# an LGG slice file name: <patient>_<n>.tif, the patient as TCIA names TCGA-LGG cases (TCGA_CS_4941_19960909)
_LGG_NAME = re.compile(r"(tcga_[a-z0-9]{2}_[a-z0-9]{4}_\d{8})_\d+\.tiff?")


@dataclass(frozen=True)
class Choice:
    """A bundled model ``name`` and the one-line ``reason`` it was chosen."""

    name: str
    reason: str

    def line(self) -> str:
        return f"model: {self.name} ({self.reason})"


def modality_in_name(filename: str) -> tuple[str, str] | None:
    """``("flair", "BraTS FLAIR file name '-t2f'")`` for ``case-t2f.nii.gz``, ``("t1c", "BIDS contrast-enhanced T1w
    'ce-gd'")`` for ``sub-01_ce-gd_T1w.nii.gz`` (a BIDS name: :mod:`tumorseg.data.formats.bids`); ``None`` when the
    name says nothing (also a BIDS scan of another modality: ``_T1w`` without ``ce-``, ``_T2w``...)."""
    if bids.parse(Path(filename).name):
        found = bids.modality(Path(filename).name)
        return (found, bids.describe(Path(filename).name)) if found in ("flair", "t1c") else None
    low = Path(filename).name.lower()
    for modality, pattern, what in _NAME_RULES:
        m = pattern.search(low)
        if m:
            shown = Path(filename).name[m.start():m.end()]  # as spelled in the file name
            return modality, f"{what} '{shown}'"
    return None


def is_channel_stack(source, strict: bool = False) -> bool:
    """Whether a TIFF (a path or a binary file object) has 3 different 8-bit channels (the LGG layout:
    pre-contrast, FLAIR, post-contrast); a gray image saved as RGB has equal channels and is not a stack.

    The declared size is checked against :mod:`tumorseg.limits` before any pixel is decoded: over the limits it is
    not a stack (the reader refuses the file later), or, with ``strict`` (uploads), :class:`~tumorseg.limits.
    LimitExceeded` is raised at once (HTTP 413).
    """
    from tumorseg import limits

    try:
        with Image.open(source) as im:
            if im.format != "TIFF" or im.mode != "RGB":
                return False
            try:
                limits.check_slice(im.size[1], im.size[0], "the TIFF")
            except limits.LimitExceeded:
                if strict:
                    raise
                return False
            arr = np.asarray(im)
    except Image.DecompressionBombError:  # beyond PIL's own bound: far beyond ours too
        if strict:
            raise limits.LimitExceeded(f"the TIFF: declares more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels; "
                                       f"{limits.current().fix}.") from None
        return False
    except (UnidentifiedImageError, OSError):
        return False
    return not (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]))


# Words of a SeriesDescription / ProtocolName / SequenceName that mark a contrast-enhanced T1 (lower-cased tokens
# split on anything but letters, digits and "+"; "w/o" read as "without"), and words that say it is not one. Siemens
# names contrast KM (German Kontrastmittel: "t1_mprage_sag_KM", "nativ" before it); GE "+C" / "C+"; some sites the
# agent by its brand name.
_POST_CONTRAST = frozenset({"post", "postcontrast", "gad", "gd", "gado", "t1c", "t1ce", "t1gd", "+c", "t1+c", "c+",
                            "ce", "contrast", "postgad", "enhanced", "km", "+km", "kontrast", "gadolinium", "gadovist",
                            "gadavist", "dotarem", "magnevist", "multihance", "prohance", "clariscan", "omniscan"})
_PRE_CONTRAST = frozenset({"pre", "precontrast", "non", "noncontrast", "native", "nativ", "ohne", "without", "wo",
                           "unenhanced"})
_CONTRAST_WORDS = frozenset({"contrast", "gad", "gd", "km", "kontrast"})  # "no contrast", "no gad": not enhanced
# Siemens names its FLAIR "dark-fluid" ("t2_tirm_tra_dark-fluid", "t2_space_dark-fluid_sag")
_FLAIR_WORDS = re.compile(r"flair|dark[-_ ]?fluid")
# a FLAIR's timing: a long inversion (the fluid nulled; STIR's is ~150-250 ms, a T1-FLAIR's ~800-1100 ms with a short
# echo) and a T2-weighted echo; FLAIR uses ~1800-2500 ms and ~80-140 ms
FLAIR_MIN_INVERSION_MS = 1400.0
FLAIR_MIN_ECHO_MS = 60.0


def _dicom_header(path: Path | DicomSeries):
    """The header of the first DICOM file of ``path`` (a file, a series folder or a series of a study folder),
    or ``None`` when there is none or it cannot be read (the reader reports that later, with its own message)."""
    if isinstance(path, DicomSeries):
        first = path.files[0]
    else:
        first = path if path.is_file() else next((p for p in sorted(path.iterdir()) if is_dicom_file(p)), None)
    if first is None:
        return None
    try:  # header only; a deflated dataset is measured against the limits before pydicom inflates it
        return read_dicom(first, pixels=False)
    except Exception:  # also pydicom missing, or over the limits: the reader says so later
        return None


def dicom_modality(ds) -> tuple[str, str] | None:
    """``("flair", "'AX T2 FLAIR'")`` or ``("t1c", "'AX T1 POST GAD'")`` from a DICOM header's SeriesDescription,
    ProtocolName and SequenceName (FLAIR named anywhere; a contrast-enhanced T1 by words such as POST, GAD, +C,
    T1C unless PRE/NON/NATIVE is there too, or by a ContrastBolusAgent); ``None`` when they say neither."""
    texts = [str(getattr(ds, k, "") or "").strip() for k in ("SeriesDescription", "ProtocolName", "SequenceName")]
    shown = next((t for t in texts if t), "")
    text = " ".join(texts).lower()
    if _FLAIR_WORDS.search(text):
        return "flair", repr(shown)
    words = [t for t in re.split(r"[^a-z0-9+]+", text.replace("w/o", " without ")) if t]
    tokens = set(words)
    if tokens & _PRE_CONTRAST or any(a == "no" and b in _CONTRAST_WORDS for a, b in itertools.pairwise(words)):
        return None
    if tokens & _POST_CONTRAST or any(t.endswith(("+c", "+km")) for t in tokens):
        return "t1c", repr(shown)
    if str(getattr(ds, "ContrastBolusAgent", "") or "").strip():
        return "t1c", f"with contrast agent {str(ds.ContrastBolusAgent).strip()!r}"
    return None


def flair_timing(ds) -> str | None:
    """``"inversion time 2500 ms, echo time 120 ms"`` when a DICOM header's acquisition times are a FLAIR's
    (inversion at least :data:`FLAIR_MIN_INVERSION_MS`, echo at least :data:`FLAIR_MIN_ECHO_MS`;
    :func:`tumorseg.data.formats.dicom.inversion_echo_times`), else ``None``: how a FLAIR is told from the header
    when its description names it in no known way (an anonymised or site-specific name)."""
    ti, te = inversion_echo_times(ds)
    if ti is None or te is None or ti < FLAIR_MIN_INVERSION_MS or te < FLAIR_MIN_ECHO_MS:
        return None
    return f"inversion time {ti:.0f} ms, echo time {te:.0f} ms"


def _dicom_choice(path: Path | DicomSeries) -> Choice:
    """The model a DICOM file, series folder or series of a study folder calls for by its header (see
    :func:`dicom_modality`); the default model, saying so, when the header names neither sequence."""
    ds = _dicom_header(path)
    hit = dicom_modality(ds) if ds is not None else None
    what = "DICOM series" if isinstance(path, DicomSeries) or path.is_dir() else "DICOM"
    if hit and hit[0] == "flair":
        return Choice("flair", f"{what} {hit[1]} described as FLAIR")
    desc = str(getattr(ds, "SeriesDescription", "") or "").strip() if ds is not None else ""
    named = f"{what} {desc!r}" if desc else f"{what} without a series description"
    timing = flair_timing(ds) if ds is not None else None
    if timing:  # physics over words: no contrast-enhanced T1 is acquired so ("AX T2 POST": a FLAIR after contrast)
        return Choice("flair", f"{named} with {timing}: a FLAIR's timing")
    if hit:
        return Choice("t1c", f"{what} {hit[1]} described as contrast-enhanced T1")
    return Choice(zoo.DEFAULT, f"{named} names neither FLAIR nor a contrast-enhanced T1; the default model, trained "
                               "on contrast-enhanced T1")


def _flair_beside(path: Path, look_at: int = 64) -> Path | None:
    """A FLAIR-named NIfTI among the first ``look_at`` entries of ``path``'s folder (a BraTS case folder holds
    4–5 files; a large folder is not scanned in full), else ``None``."""
    try:
        for p in itertools.islice(path.parent.iterdir(), look_at):
            if p != path and nifti.is_volume(p) and (modality_in_name(p.name) or ("",))[0] == "flair":
                return p
    except OSError:
        return None
    return None


def _raw_choice(path: Path | DicomSeries) -> Choice:
    if isinstance(path, DicomSeries):  # one series of a study folder: its description decides
        return _dicom_choice(path)
    if path.is_dir():
        niftis = sorted(p for p in path.iterdir() if nifti.is_nifti(p))
        if niftis:
            found: dict[str, Path] = {}
            for p in niftis:
                hit = modality_in_name(p.name)
                if hit:
                    found.setdefault(hit[0], p)
            kind = "BIDS" if any(bids.parse(p.name) for p in niftis) else "BraTS"
            if "flair" in found:
                return Choice("flair", f"{kind} case folder with a FLAIR volume '{found['flair'].name}'")
            if "t1c" in found:
                return Choice("t1c", f"{kind} case folder with a T1c volume '{found['t1c'].name}'")
            return Choice(zoo.DEFAULT, "NIfTI case folder without a FLAIR or T1c file name; the default model")
        if any(is_dicom_file(p) for p in path.iterdir() if p.is_file()):
            return _dicom_choice(path)
        return Choice(zoo.DEFAULT, "no FLAIR marker in the input; the default model")
    if nifti.is_nifti(path) and (chosen := nifti.chosen_volume()) is not None and (n := nifti.volume_count(path)) > 1:
        names = decathlon.stacked_names(path, n)  # predict --volume K of a 4-D file
        return stacked_choice(chosen, names[0].get(chosen) if names else None, names[1] if names else "")
    if nifti.is_volume(path) and (channel := decathlon.describe(path)) is not None:  # nnU-Net raw: dataset.json
        found = decathlon.modality(path)
        if found in ("flair", "t1c"):
            return Choice(found, channel)
        return Choice(zoo.DEFAULT, f"{channel}, which no bundled model was trained on: the default model, trained on "
                                   "contrast-enhanced T1; the case's FLAIR or T1gd channel fits better")
    if nifti.is_nifti(path) and (n := nifti.volume_count(path)) > 1:  # 4-D, no volume chosen, none named
        return Choice(zoo.DEFAULT, f"a 4-D file of {n} volumes, none known as FLAIR or T1gd: predict --volume K "
                                   "picks one (0-based), else it is refused")
    if nifti.is_volume(path):
        hit = modality_in_name(path.name)
        if hit and hit[0] == "t1c" and (flair := _flair_beside(path)) is not None:
            return Choice("t1c", f"{hit[1]}; the FLAIR volume '{flair.name}' is beside it: on skull-stripped BraTS "
                                 "volumes `flair` is far more reliable, so predict the case folder or that file")
        if hit:
            return Choice(*hit)
        if (scan := bids.describe(path.name)) is not None:
            return Choice(zoo.DEFAULT, f"{scan}, which no bundled model was trained on: the default model, trained on "
                                       "contrast-enhanced T1; the subject's FLAIR or ce-T1w scan fits better")
        what = "NIfTI" if nifti.is_nifti(path) else "volume"
        return Choice(zoo.DEFAULT, f"{what} file name names no modality (-t2f/_flair/Flair_ or -t1c/_t1ce/T1c_); "
                                   "the default model")
    if is_dicom_file(path):
        return _dicom_choice(path)
    if tiff_stack.is_stack(path):
        return _stack_choice(path.name)
    if path.suffix.lower() in (".tif", ".tiff") and (is_lgg_slice(path) or is_channel_stack(path)):
        return Choice("flair", LGG_REASON)
    if path.suffix.lower() == ".mat":
        return Choice("t1c", "figshare .mat slice: T1 contrast-enhanced, the data t1c was trained on")
    return Choice(zoo.DEFAULT, "2-D image with no FLAIR marker; the default model")


def _stack_choice(name: str) -> Choice:
    """A multi-page TIFF stack (one volume), by the modality its file ``name`` names, as a NIfTI file's."""
    hit = modality_in_name(name)
    return Choice(*hit) if hit else Choice(zoo.DEFAULT, "TIFF stack whose file name names no modality (-t2f/_flair/"
                                                        "Flair_ or -t1c/_t1ce/T1c_); the default model")


def is_lgg_slice(source, name: str | None = None) -> bool:
    """Whether ``source`` (a path, or a binary file object named ``name``: an upload) is an RGB TIFF slice of an LGG
    patient: named ``<patient>_<n>.tif`` after a TCGA-LGG case (``TCGA_CS_4941_19960909_12.tif``), or (a path) in
    its patient's folder with its ``_mask.tif`` beside it. Its channels are pre-contrast, FLAIR and post-contrast
    even when they are equal (kaggle_3m replaced missing sequences with FLAIR: 15 of its 110 patients), so such a
    slice, unlike a gray picture saved as RGB, is read by ``flair``; so are its patient's blank slices. Headers only."""
    from tumorseg.data.formats.lgg import slice_number

    path = source if isinstance(source, Path) else None
    named = _LGG_NAME.fullmatch((name or (path.name if path else "")).lower()) is not None
    beside = path is not None and slice_number(path) is not None and \
        path.with_name(f"{path.stem}_mask{path.suffix}").exists()
    if not (named or beside):
        return False
    try:
        with Image.open(source) as im:
            return im.format == "TIFF" and im.mode == "RGB"
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return False


def installed(choice: Choice) -> Choice:
    """``choice``, or ``t1c`` with a note when the chosen model is not in this build."""
    if zoo.get(choice.name).installed:
        return choice
    used = " on its post-contrast (T1c) channel" if choice.reason == LGG_REASON else ""
    return Choice(zoo.DEFAULT, f"{choice.reason} -> {choice.name}, which is not installed in this build; "
                               f"using {zoo.DEFAULT}{used}")


def choose_model(path: str | Path | DicomSeries) -> Choice:
    """The bundled model for one input (a file, a BraTS case folder, a DICOM series folder or one series of a
    study folder); see the module docstring. Never raises for unreadable files: the reader reports those."""
    return installed(_raw_choice(path if isinstance(path, DicomSeries) else Path(path)))


def choose_for_dataset(fmt: str, options: dict | None = None, data: str | Path | None = None) -> Choice:
    """The bundled model for evaluating a dataset of format ``fmt`` (see :mod:`tumorseg.data.formats`):
    LGG (FLAIR abnormality masks) → ``flair``; BraTS → ``flair`` unless ``--modality`` asks for t1c; nnU-Net / MSD
    → ``flair``, or ``t1c`` when ``--modality`` asks for it or the dataset names T1gd but no FLAIR; DICOM + SEG
    (``data`` given) → the model every labelled series' description calls for (:func:`dicom_modality`), else the
    default with a note; else ``t1c``."""
    options = options or {}
    if fmt == "dicom-seg" and data is not None:
        from tumorseg.data.formats import dataset_root

        return installed(_choose_for_labelled_dicom(dataset_root(data)))
    if fmt == "lgg":
        return installed(Choice("flair", "LGG dataset: FLAIR abnormality masks"))
    if fmt == "brats":
        wanted = str(options.get("modality") or "flair").lower()
        if wanted in ("t1c", "t1ce", "t1gd"):
            return installed(Choice("t1c", f"BraTS dataset, --modality {wanted}"))
        return installed(Choice("flair", "BraTS dataset: whole-tumour labels, FLAIR volumes"))
    if fmt == "nnunet":
        return installed(_choose_for_nnunet(options.get("modality"), data))
    return installed(Choice(zoo.DEFAULT, f"{fmt} dataset; the default model"))


def _choose_for_nnunet(modality: str | None, data: str | Path | None) -> Choice:
    """``--modality`` t1c → ``t1c``, flair → ``flair``; without it the dataset's FLAIR channel (``flair``), else its
    T1gd channel (``t1c``), as its ``dataset.json`` names them."""
    from tumorseg.data.formats import nnunet

    wanted = str(modality or "").lower()
    if wanted in ("t1c", "t1ce", "t1gd"):
        return Choice("t1c", f"nnU-Net/MSD dataset, --modality {wanted}")
    if not wanted and data is not None and nnunet.channel_modalities(Path(data)) & {"flair", "t1c"} == {"t1c"}:
        return Choice("t1c", "nnU-Net/MSD dataset whose dataset.json names a T1gd channel and no FLAIR")
    return Choice("flair", "nnU-Net/MSD dataset: its FLAIR channel" + (f" (--modality {wanted})" if wanted else ""))


def _choose_for_labelled_dicom(data: Path) -> Choice:
    from types import SimpleNamespace

    from tumorseg.data.formats.dicom_labelled import labelled_series

    series = labelled_series(data)
    kinds = {(dicom_modality(SimpleNamespace(SeriesDescription=s.description)) or (None,))[0] for s in series}
    if kinds == {"flair"}:
        return Choice("flair", f"DICOM with SEG/RTSTRUCT labels: its {len(series)} labelled series are described as "
                               "FLAIR")
    if kinds == {"t1c"}:
        return Choice("t1c", f"DICOM with SEG/RTSTRUCT labels: its {len(series)} labelled series are described as "
                             "contrast-enhanced T1")
    return Choice(zoo.DEFAULT, "DICOM with SEG/RTSTRUCT labels whose series are not all described as FLAIR or all as "
                               "contrast-enhanced T1; the default model (give --model flair or t1c)")


def reader_options_for(fmt: str, modality: str | None) -> dict:
    """Reader options that feed a model of ``modality`` from a dataset of format ``fmt``: the LGG channel
    (``flair`` → FLAIR, ``t1c`` → post-contrast) or the BraTS / nnU-Net modality; ``{}`` otherwise."""
    if modality not in ("flair", "t1c"):
        return {}
    if fmt == "lgg":
        return {"channels": "flair" if modality == "flair" else "post"}
    if fmt in ("brats", "nnunet"):
        return {"modality": modality}
    return {}


def stacked_choice(index: int, channel: str | None, named_by: str = "") -> Choice:
    """The model for volume ``index`` of a 4-D NIfTI: by its ``channel`` name (from ``named_by``: ``"dataset.json"``
    or ``"the MSD Task01 order"``, :func:`tumorseg.data.formats.decathlon.stacked_names`), else the default."""
    found = decathlon.modality_of(channel) if channel else None
    if found in ("flair", "t1c"):
        return Choice(found, f"volume {index} of a 4-D file: '{channel}' in {named_by}")
    what = f"volume {index} of a 4-D file" + (f" ('{channel}' in {named_by}, which no bundled model was trained on)"
                                               if channel else ", with no modality marker")
    return Choice(zoo.DEFAULT, f"{what}; the default model")


def choose_for_upload(kind: str | None, data: bytes, filename: str | None = None,
                      stacked: tuple[int, str | None] | None = None) -> Choice:
    """:func:`choose_model` for the web page's uploaded bytes, whose format ``kind`` was sniffed from the
    bytes (:func:`tumorseg.web.uploads.sniff`). The client's ``filename`` is used only to read a BraTS
    modality marker of a NIfTI, NRRD or MetaImage upload, or an LGG slice's name on an RGB TIFF
    (:func:`is_lgg_slice`): it picks a model, nothing else. ``stacked``: of a 4-D NIfTI, the volume segmented and
    its channel name when known (``(0, "FLAIR")``; :func:`tumorseg.web.uploads.pick_volume`): that name decides."""
    import io

    if stacked is not None:
        return installed(stacked_choice(*stacked, "the MSD Task01 order"))
    if kind in ("nifti", "nifti-gz", "nrrd", "metaimage") and filename:
        hit = modality_in_name(filename)
        if hit:
            return installed(Choice(*hit))
    if kind == "tiff" and tiff_stack.holds_stack(io.BytesIO(data)):  # a multi-page TIFF: one volume, by its name
        return installed(_stack_choice(Path((filename or "").replace("\\", "/")).name))
    if kind == "tiff" and (is_channel_stack(io.BytesIO(data), strict=True)  # a TIFF over the limits: 413 here
                           or is_lgg_slice(io.BytesIO(data), filename and Path(filename.replace("\\", "/")).name)):
        return installed(Choice("flair", LGG_REASON))
    return installed(Choice(zoo.DEFAULT, "no FLAIR marker in the upload; the default model"))


class BundledPredictors:
    """Predictors of the installed bundled models, each loaded once on first use (``tumorseg serve``
    without ``--model``: every upload gets the model that fits it). Thread-safe."""

    def __init__(self, device: str = "auto", backend: str = "auto", loaded: dict | None = None):
        import threading

        self.device, self.backend = device, backend
        self._loaded = dict(loaded or {})
        self._lock = threading.Lock()

    def get(self, name: str):
        """The :class:`~tumorseg.inference.predictor.Predictor` of bundled model ``name``."""
        from tumorseg.inference.predictor import Predictor

        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = Predictor.from_checkpoint(name, self.device, backend=self.backend,
                                                               export_if_missing=True)
            return self._loaded[name]

    def choose_for(self, path: Path) -> Choice:
        """:func:`choose_model` for an upload already written to disk: a DICOM file or series folder is decided by
        its header (FLAIR / post-contrast T1 descriptions), read within the limits in force."""
        return choose_model(path)

    def for_upload(self, kind: str | None, data: bytes, filename: str | None = None,
                   stacked: tuple[int, str | None] | None = None):
        """``(predictor, choice)`` for one upload (:func:`choose_for_upload`)."""
        choice = choose_for_upload(kind, data, filename, stacked)
        return self.get(choice.name), choice
