"""The FastAPI app of ``tumorseg serve``: a JSON API over one :class:`~tumorseg.inference.predictor.Predictor`.

Endpoints (documented at ``/docs``):

* ``POST /api/segment`` (multipart form, field ``file``) → :class:`SegmentResponse`
* ``GET /api/health`` → ``{"status": "ok", ...}``
* ``GET /api/model`` → name, backend, training data, metrics of the checkpoint
* ``GET /`` → the page in ``static/`` (plain HTML/JS/CSS)

Bad uploads get 4xx answers with a message, never a 500: larger than the
limit → 413, not a supported format → 415, a supported format that cannot
be read → 400. The model is loaded once, when the app is created.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, HTTPException, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel

from tumorseg import __version__
from tumorseg.errors import TumorsegError
from tumorseg.web.uploads import SUPPORTED, Decoded, UnsupportedUpload, decode, private_workdir

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


class SliceResult(BaseModel):
    index: int
    image_png: str  # base64 PNG of the slice as shown (8-bit grayscale)
    mask_png: str  # base64 PNG, 0/255, same size as image_png
    area_px: int
    area_mm2: float | None = None


class SegmentResponse(BaseModel):
    kind: str  # "image", "dicom" or "nifti"
    model: str
    backend: str  # what ran this request: "torch" (single images) or "onnx" (batches, when an export is loaded)
    width: int
    height: int
    n_slices: int
    shown_slice: int  # the slice to show first: the one with the largest predicted area
    mask_png: str  # mask of shown_slice (base64 PNG, 0/255)
    area_px: int  # of shown_slice
    area_mm2: float | None = None
    total_area_px: int
    volume_mm3: float | None = None  # NIfTI with spacing: tumour volume
    pixel_spacing_mm: list[float] | None = None
    unit: str  # "mm2" when pixel spacing is known, else "px"
    threshold: float
    time_ms: float
    slices: list[SliceResult]
    mask_nifti: str | None = None  # volumes: base64 .nii.gz with the input's geometry


class _TooLarge(HTTPException):
    pass


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413, before or while they arrive."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def _error(self) -> _TooLarge:
        mb = self.max_bytes / (1 << 20)
        return _TooLarge(413, f"upload larger than the limit of {mb:g} MB (tumorseg serve --max-upload-mb).")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            err = self._error()
            return await JSONResponse({"detail": err.detail}, status_code=413)(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # chunked uploads without Content-Length
                raise self._error()  # an HTTPException: FastAPI answers it as it is (413)
            return message

        await self.app(scope, counted, send)


def _png_b64(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=False, compress_level=3)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _shown(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 to display: the image, or the middle channel of ``(C, H, W)``."""
    return image if image.ndim == 2 else image[image.shape[0] // 2]


def _for_display(a: np.ndarray, kind: str) -> np.ndarray:
    # NIfTI slices are (X, Y) arrays; rotating puts the first axis left-right, as viewers show axial slices
    return np.ascontiguousarray(np.rot90(a)) if kind == "nifti" else a


def model_info(predictor) -> dict[str, Any]:
    """What ``GET /api/model`` reports: from the checkpoint only, no server paths."""
    ck = predictor.checkpoint
    cfg = ck.get("config") or {}
    return {
        "name": predictor.name,
        "kwargs": ck["model"].get("kwargs", {}),
        "backend": predictor.backend,
        "file": Path(predictor.source).name,
        "image_size": predictor.image_size,
        "in_channels": predictor.in_channels,
        "postprocess": predictor.post,
        "training_data": {k: cfg[k] for k in ("data", "data_format", "epochs", "image_size", "preset")
                          if cfg.get(k) is not None},
        "metrics": {k: v for k, v in (ck.get("metrics") or {}).items() if isinstance(v, (int, float, str))},
        "tumorseg_version": ck.get("tumorseg_version", __version__),
    }


def segment_decoded(predictor, dec: Decoded, lock: threading.Lock, batch_size: int = 16) -> dict[str, Any]:
    """Predict every slice of an upload and build the :class:`SegmentResponse` fields (without time)."""
    masks = [np.zeros(s.shape[-2:], bool) for s in dec.slices]
    todo = [i for i, s in enumerate(dec.slices) if dec.kind != "nifti" or s.any()]  # skip empty volume slices
    for start in range(0, len(todo), batch_size):
        idx = todo[start : start + batch_size]
        with lock:  # one model call at a time: on a few cores, parallel calls only thrash
            probs = predictor.probabilities([dec.slices[i] for i in idx], batch_size)
        for i, p in zip(idx, probs):
            masks[i] = predictor.binarize(p)
    px_mm2 = dec.spacing_mm[0] * dec.spacing_mm[1] if dec.spacing_mm else None
    slices = []
    for i, (image, mask) in enumerate(zip(dec.slices, masks)):
        area = int(mask.sum())
        slices.append(SliceResult(
            index=i, image_png=_png_b64(_for_display(_shown(image), dec.kind)),
            mask_png=_png_b64(_for_display(mask.astype(np.uint8) * 255, dec.kind)), area_px=area,
            area_mm2=round(area * px_mm2, 3) if px_mm2 else None))
    shown = max(range(len(slices)), key=lambda i: (slices[i].area_px, -abs(i - len(slices) // 2)))
    total = sum(s.area_px for s in slices)
    h, w = _for_display(masks[shown], dec.kind).shape
    out: dict[str, Any] = dict(
        kind=dec.kind, model=predictor.name, backend=predictor.backend_for(min(max(len(todo), 1), batch_size)),
        width=w, height=h,
        n_slices=len(slices), shown_slice=shown, mask_png=slices[shown].mask_png, area_px=slices[shown].area_px,
        area_mm2=slices[shown].area_mm2, total_area_px=total,
        volume_mm3=round(total * px_mm2 * dec.slice_mm, 3) if px_mm2 and dec.slice_mm else None,
        pixel_spacing_mm=list(dec.spacing_mm) if dec.spacing_mm else None, unit="mm2" if px_mm2 else "px",
        threshold=predictor.threshold, slices=slices)
    if dec.nifti is not None:
        from tumorseg.data.formats.nifti import save_mask_like

        target = save_mask_like(np.stack(masks, axis=-1), dec.nifti, dec.nifti.parent / "mask.nii.gz")
        out["mask_nifti"] = base64.b64encode(target.read_bytes()).decode("ascii")
    return out


def create_app(predictor, max_upload_mb: float = 50.0) -> FastAPI:
    """The app around a loaded ``predictor``; uploads over ``max_upload_mb`` get 413."""
    app = FastAPI(
        title="tumorseg", version=__version__,
        description="Brain-tumour segmentation of MRI slices. Research use only, not for diagnosis. "
                    f"Upload {SUPPORTED} to `POST /api/segment` (multipart form field `file`).",
    )
    max_bytes = int(max_upload_mb * (1 << 20))
    app.add_middleware(BodyLimit, max_bytes=max_bytes)
    lock = threading.Lock()
    info = model_info(predictor)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": predictor.name, "backend": predictor.backend, "version": __version__}

    @app.get("/api/model")
    def model() -> dict[str, Any]:
        return info

    @app.post("/api/segment", response_model=SegmentResponse, responses={
        400: {"description": "unreadable file or no 'file' field"}, 413: {"description": "upload too large"},
        415: {"description": "not a supported format"}})
    def segment(file: UploadFile | None = File(None, description=f"the image or volume: {SUPPORTED}")):
        """Segment one uploaded image (PNG/JPEG/TIFF/BMP/DICOM) or NIfTI volume (every axial slice)."""
        if file is None:
            raise HTTPException(400, "send the image as the multipart form field 'file'.")
        t0 = time.perf_counter()
        data = file.file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise BodyLimit(None, max_bytes)._error()
        if not data:
            raise HTTPException(400, f"the uploaded file is empty. Supported: {SUPPORTED}.")
        with private_workdir() as tmp:  # removed when the request ends, whatever happens
            try:
                decoded = decode(data, predictor, Path(tmp))
            except UnsupportedUpload as exc:
                raise HTTPException(415, str(exc)) from None
            except TumorsegError as exc:
                raise HTTPException(400, _client_message(exc, tmp)) from None
            except Exception as exc:  # a reader failed in a way we did not foresee: still the file's fault
                log.warning("unreadable upload: %s: %s", exc.__class__.__name__, exc)
                raise HTTPException(400, f"could not read the file ({exc.__class__.__name__}). "
                                         f"Supported: {SUPPORTED}.") from None
            result = segment_decoded(predictor, decoded, lock)
        result["time_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        return result

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _client_message(exc: Exception, tmp: str) -> str:
    """The error text without server paths (readers name the file they were given)."""
    return str(exc).replace(str(tmp) + "/", "").replace(str(tmp), "")
