"""File-level prediction: image files or folders in, ``<stem>.png`` masks (and overlays) out.

Each mask is one 8-bit channel with values 0/255 and the input's own width and
height. Overlays (``<stem>_overlay.png``) draw the mask in red over the image
with its outline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from tumorseg.data.imageio import IMAGE_SUFFIXES, read_gray, write_mask_png
from tumorseg.errors import DataError
from tumorseg.inference import Predictor

log = logging.getLogger(__name__)


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


def predict_files(
    inputs: Sequence[str | Path],
    checkpoint: str | Path | None,
    out: str | Path,
    with_overlay: bool = False,
    device: str = "auto",
    batch_size: int = 16,
    progress: bool = True,
) -> list[Path]:
    """Predict every input image and write ``out/<stem>.png``; returns the mask paths."""
    files = collect_inputs(inputs)
    predictor = Predictor.from_checkpoint(checkpoint, device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    bar = tqdm(total=len(files), desc="predicting", unit="img", disable=not progress)
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        images = [read_gray(p) for p in chunk]
        for path, image, prob in zip(chunk, images, predictor.probabilities(images, batch_size)):
            mask = predictor.binarize(prob)
            target = out / f"{path.stem}.png"
            write_mask_png(mask, target)
            if with_overlay:
                Image.fromarray(overlay(image, mask)).save(out / f"{path.stem}_overlay.png")
            written.append(target)
        bar.update(len(chunk))
    bar.close()
    log.debug("wrote %d masks to %s", len(written), out)
    return written
