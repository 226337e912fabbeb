"""File-level prediction: image files or folders in, ``<stem>.png`` masks (and overlays) out.

Each mask is one 8-bit channel with values 0/255 and the input's own width and
height. Overlays (``<stem>_overlay.png``) draw the mask in red over the image
with its outline.

One bad input never stops a folder: :func:`predict_inputs` writes every
mask it can, and returns the inputs it could not read with the reason
(also written to ``OUT/failed.csv``); ``strict=True`` (and
:func:`predict_files`, the library form) raises at the first instead.
"""

from __future__ import annotations

import csv
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from tumorseg.data.imageio import IMAGE_SUFFIXES, write_mask_png
from tumorseg.errors import DataError, TumorsegError
from tumorseg.inference.predictor import Predictor

log = logging.getLogger(__name__)

EXPORT_PAYS_OFF = 100  # images; see predict_files


def collect_inputs(inputs: Sequence[str | Path], failed: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Expand files and folders (non-recursive) into image paths, in a stable order.

    With a ``failed`` list, a missing path or an unsupported file is appended
    to it as ``(path, reason)`` instead of raised.

    Raises:
        DataError: a path does not exist or a file has an unsupported extension (without ``failed``),
            two inputs share a stem, or nothing at all was found.
    """
    found: list[Path] = []

    def bad(item: Path, reason: str) -> None:
        if failed is None:
            raise DataError(f"{item}: {reason}")
        failed.append((item, reason))

    for item in map(Path, inputs):
        if item.is_dir():
            found += sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            if item.suffix.lower() not in IMAGE_SUFFIXES:
                bad(item, f"unsupported file type '{item.suffix}'. Supported: {', '.join(IMAGE_SUFFIXES)}.")
                continue
            found.append(item)
        else:
            bad(item, "no such file or folder.")
    if not found and not failed:
        raise DataError(f"no images found in {', '.join(map(str, inputs))} (supported: {', '.join(IMAGE_SUFFIXES)}).")
    stems = [p.stem for p in found]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise DataError(f"two inputs would both be written as '{dup}.png'; rename one or predict them separately.")
    return found


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """RGB ``(H, W, 3) uint8``: the grayscale image with the mask tinted red and outlined."""
    rgb = np.repeat(image[..., None], 3, axis=2).astype(np.float32)
    red = np.array([255, 40, 40], np.float32)
    rgb[mask] = (1 - alpha) * rgb[mask] + alpha * red
    edge = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1))
    rgb[edge] = red
    return rgb.astype(np.uint8)


Read = tuple[Path, "np.ndarray | None", "str | None"]  # (path, image or None, reason it failed or None)


def _prefetch(files: Sequence[Path], batch_size: int, read: Callable[[Path], np.ndarray],
              strict: bool = True) -> Iterator[list[Read]]:
    """Yield batches of ``(path, read(path), None)``, reading ahead in one background thread.

    The queue holds at most two batches, which bounds memory. A file that
    cannot be read (a :class:`TumorsegError`, or anything the decoders raise)
    is re-raised here, in the caller's thread, with ``strict``; otherwise it
    comes as ``(path, None, reason)`` and reading goes on.
    """
    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def one(p: Path) -> Read:
        try:
            return p, read(p), None
        except TumorsegError as exc:
            if strict:
                raise
            return p, None, str(exc).removeprefix(f"{p}: ")
        except Exception as exc:  # noqa: BLE001 - a decoder failure we did not foresee is still this file's
            if strict:
                raise DataError(f"{p}: cannot be read ({exc.__class__.__name__}: {exc}).") from None
            return p, None, f"cannot be read ({exc.__class__.__name__}: {str(exc)[:200]})."

    def work() -> None:
        try:
            for start in range(0, len(files), batch_size):
                if stop.is_set():
                    return
                q.put([one(p) for p in files[start : start + batch_size]])
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)
            return
        q.put(None)

    thread = threading.Thread(target=work, name="tumorseg-reader", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a pending put so the thread ends
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass


@dataclass
class PredictionReport:
    """What :func:`predict_inputs` did: the files written and the inputs that failed, with the reason."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    failed_csv: Path | None = None


def write_failures(failed: list[tuple[Path, str]], out: Path) -> Path | None:
    """``out/failed.csv`` (``input,reason``) when something failed; a stale one from an earlier run is removed."""
    target = out / "failed.csv"
    if not failed:
        target.unlink(missing_ok=True)
        return None
    with open(target, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["input", "reason"])
        w.writerows((str(p), reason) for p, reason in failed)
    return target


def predict_inputs(
    inputs: Sequence[str | Path],
    checkpoint: str | Path | None,
    out: str | Path,
    with_overlay: bool = False,
    device: str = "auto",
    batch_size: int = 16,
    progress: bool = True,
    backend: str = "auto",
    tta: bool | None = None,
    strict: bool = False,
) -> PredictionReport:
    """Predict every input image and volume into ``out``; returns a :class:`PredictionReport`.

    Streams: images are read in batches of ``batch_size`` by a background
    thread (at most two batches ahead) while the current batch is predicted
    and written, so memory stays flat however large the folder is.
    ``backend`` is ``auto``/``onnx``/``torch`` (see
    :meth:`Predictor.from_checkpoint`); ``tta`` overrides the checkpoint's setting.
    Without ``strict``, an input that cannot be read (corrupt, too large,
    wrong channels, missing) is skipped and listed in ``report.failed`` and
    ``out/failed.csv``; with ``strict`` the first one raises.

    Raises:
        TumorsegError: bad arguments, an unusable checkpoint, no inputs at all, or (``strict``) a bad input.
    """
    from tumorseg.inference.volumes import predict_volumes, read_for_model, split_volume_inputs

    if batch_size < 1:
        raise TumorsegError(f"batch_size must be at least 1, not {batch_size}.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TumorsegError(f"{out}: is a file, not a folder; give --out a folder (it is created if missing).")
    report = PredictionReport()
    volumes, inputs = split_volume_inputs(inputs)  # NIfTI/DICOM: geometry-keeping outputs, see tumorseg.inference.volumes
    files = collect_inputs(inputs, None if strict else report.failed) if inputs or not volumes else []
    # auto backend: an ONNX export (a few seconds, cached) pays off from about a hundred slices on a CPU
    predictor = Predictor.from_checkpoint(checkpoint, device, backend=backend, tta=tta,
                                          export_if_missing=len(files) + 64 * len(volumes) >= EXPORT_PAYS_OFF)
    out.mkdir(parents=True, exist_ok=True)
    for volume in volumes:
        try:
            report.written += predict_volumes([volume], predictor, out, batch_size, progress)
        except TumorsegError as exc:
            if strict:
                raise
            report.failed.append((volume, str(exc).removeprefix(f"{volume}: ")))
    bar = tqdm(total=len(files), desc="predicting", unit="img", disable=not progress)
    for batch in _prefetch(files, batch_size, lambda p: read_for_model(p, predictor), strict):
        good = [(path, image) for path, image, _ in batch if image is not None]
        report.failed += [(path, reason) for path, _, reason in batch if reason is not None]
        probs = predictor.probabilities([image for _, image in good], batch_size) if good else []
        for (path, image), prob in zip(good, probs):
            mask = predictor.binarize(prob)
            target = out / f"{path.stem}.png"
            write_mask_png(mask, target)
            if with_overlay:
                shown = image if image.ndim == 2 else image[image.shape[0] // 2]  # (C, H, W): middle channel
                Image.fromarray(overlay(shown, mask)).save(out / f"{path.stem}_overlay.png")
            report.written.append(target)
        bar.update(len(batch))
    bar.close()
    report.failed_csv = write_failures(report.failed, out)
    log.debug("wrote %d masks to %s; %d inputs failed", len(report.written), out, len(report.failed))
    return report


def predict_files(inputs: Sequence[str | Path], checkpoint: str | Path | None, out: str | Path,
                  with_overlay: bool = False, device: str = "auto", batch_size: int = 16, progress: bool = True,
                  backend: str = "auto", tta: bool | None = None) -> list[Path]:
    """:func:`predict_inputs` with ``strict=True``: returns the files written; the first bad input raises."""
    return predict_inputs(inputs, checkpoint, out, with_overlay, device, batch_size, progress, backend, tta,
                          strict=True).written
