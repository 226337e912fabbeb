"""File-level prediction: image files or folders in, ``<stem>.png`` masks (and overlays) out.

Each mask is one 8-bit channel with values 0/255 and the input's own width and
height. Overlays (``<stem>_overlay.png``) draw the mask in red over the image
with its outline.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from tumorseg.data.imageio import IMAGE_SUFFIXES, write_mask_png
from tumorseg.errors import DataError
from tumorseg.inference.predictor import Predictor

log = logging.getLogger(__name__)

EXPORT_PAYS_OFF = 100  # images; see predict_files


def collect_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand files and folders (non-recursive) into image paths, in a stable order.

    Raises:
        DataError: a path does not exist, a file has an unsupported extension,
            or nothing at all was found.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found += sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            if item.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{item}: unsupported file type '{item.suffix}'. Supported: {', '.join(IMAGE_SUFFIXES)}.")
            found.append(item)
        else:
            raise DataError(f"{item}: no such file or folder.")
    if not found:
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


def _prefetch(files: Sequence[Path], batch_size: int, read) -> Iterator[tuple[list[Path], list[np.ndarray]]]:
    """Yield ``(paths, read(path) for each)`` batches, reading ahead in one background thread.

    The queue holds at most two batches, which bounds memory; an error while
    reading (e.g. a corrupt file) is re-raised here, in the caller's thread.
    """
    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def work() -> None:
        try:
            for start in range(0, len(files), batch_size):
                if stop.is_set():
                    return
                chunk = list(files[start : start + batch_size])
                q.put((chunk, [read(p) for p in chunk]))
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


def predict_files(
    inputs: Sequence[str | Path],
    checkpoint: str | Path | None,
    out: str | Path,
    with_overlay: bool = False,
    device: str = "auto",
    batch_size: int = 16,
    progress: bool = True,
    backend: str = "auto",
    tta: bool | None = None,
) -> list[Path]:
    """Predict every input image and write ``out/<stem>.png``; returns the mask paths.

    Streams: images are read in batches of ``batch_size`` by a background
    thread (at most two batches ahead) while the current batch is predicted
    and written, so memory stays flat however large the folder is.
    ``backend`` is ``auto``/``onnx``/``torch`` (see
    :meth:`Predictor.from_checkpoint`); ``tta`` overrides the checkpoint's setting.
    """
    from tumorseg.inference.volumes import predict_volumes, read_for_model, split_volume_inputs

    volumes, inputs = split_volume_inputs(inputs)  # NIfTI/DICOM: geometry-keeping outputs, see tumorseg.inference.volumes
    files = collect_inputs(inputs) if inputs or not volumes else []
    # auto backend: an ONNX export (a few seconds, cached) pays off from about a hundred slices on a CPU
    predictor = Predictor.from_checkpoint(checkpoint, device, backend=backend, tta=tta,
                                          export_if_missing=len(files) + 64 * len(volumes) >= EXPORT_PAYS_OFF)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = predict_volumes(volumes, predictor, out, batch_size, progress)
    bar = tqdm(total=len(files), desc="predicting", unit="img", disable=not progress)
    for chunk, images in _prefetch(files, batch_size, lambda p: read_for_model(p, predictor)):
        for path, image, prob in zip(chunk, images, predictor.probabilities(images, batch_size)):
            mask = predictor.binarize(prob)
            target = out / f"{path.stem}.png"
            write_mask_png(mask, target)
            if with_overlay:
                shown = image if image.ndim == 2 else image[image.shape[0] // 2]  # (C, H, W): middle channel
                Image.fromarray(overlay(shown, mask)).save(out / f"{path.stem}_overlay.png")
            written.append(target)
        bar.update(len(chunk))
    bar.close()
    log.debug("wrote %d masks to %s", len(written), out)
    return written
