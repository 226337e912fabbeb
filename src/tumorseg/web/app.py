"""The FastAPI app of ``tumorseg serve``: a JSON API over one :class:`~tumorseg.inference.predictor.Predictor`.

Endpoints (documented at ``/docs``):

* ``POST /api/segment`` (multipart form, field ``file``; repeated for the files of one DICOM series) →
  :class:`SegmentResponse`
* ``GET /api/health`` → ``{"status": "ok", ...}``
* ``GET /api/model`` → name, backend, training data, metrics of the checkpoint
* ``GET /`` → the page in ``static/`` (plain HTML/JS/CSS)

Bad uploads get 4xx answers with a message, never a 500: larger than the
upload limit, or declaring more pixels/voxels than :data:`tumorseg.limits.UPLOADS`
→ 413, not a supported format → 415, a supported format that cannot be read
→ 400. Requests from other web pages are refused (400/403/401, see
:mod:`tumorseg.web.guards`); when ``max_active`` uploads are being processed
and ``max_waiting`` wait, → 503 with ``Retry-After``. The model is loaded
once, when the app is created.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel

from tumorseg import __version__, limits
from tumorseg.data.archive import is_zip_bytes
from tumorseg.data.formats.orientation import to_display
from tumorseg.errors import TumorsegError
from tumorseg.inference.summary import draw_lines, summarise
from tumorseg.inference.volumes import far_off_note, predict_stack
from tumorseg.io import write_mask, write_probabilities
from tumorseg.models import zoo
from tumorseg.web.guards import Admission, RequestGuard, allowed_hosts
from tumorseg.web.uploads import (IMAGE_KINDS, MAX_SERIES_FILES, MAX_VOLUMES, SUPPORTED, VOLUME_KINDS, Decoded,
                                  SeveralSeries, SeveralVolumes, UnsupportedUpload, decode, decode_dicom,
                                  decode_image_stack, pick_dicom, pick_volume, private_workdir, sniff, unzip_upload,
                                  write_dicom_upload)

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
# slices per model call for volumes. ONNX Runtime keeps an arena as large as its largest batch: measured with the
# bundled model at 256², batch 16 holds ~400 MB for the server's lifetime, batch 4 ~100 MB; per slice, batch 1 costs
# only ~12 % more than batch 16 (7.6 vs 6.8 ms, docs/inference.md)
SERVE_BATCH = 4


class SliceResult(BaseModel):
    index: int
    image_png: str  # base64 PNG of the slice as shown (8-bit grayscale)
    mask_png: str  # base64 PNG, 0/255, same size as image_png
    area_px: int
    area_mm2: float | None = None
    prob_png: str | None = None  # asked for (probabilities): the model's probability x 255, as image_png is shown
    measure_png: str | None = None  # on the largest cross-section's slice: its two diameters (0/255), as shown


class VolumeSummaryOut(BaseModel):
    """Per-volume summary (NIfTI and DICOM uploads): see :class:`tumorseg.inference.summary.VolumeSummary`."""

    n_slices: int
    slices_with_tumour: int
    tumour_voxels: int
    tumour_found: bool
    volume_ml: float | None = None
    max_diameter_mm: float | None = None
    largest_slice: int | None = None
    cross_section_mm: list[float] | None = None  # RANO's: [longest, perpendicular] of the largest cross-section
    cross_section_mm2: float | None = None
    cross_section_slice: int | None = None
    cross_section_px: list[list[int]] | None = None  # its diameters' end pixels (row, column of the mask's slice)
    rano_measurable: int | None = None  # lesions measurable by RANO, and their sum of products (at most 5 lesions)
    rano_sum_mm2: float | None = None
    lesions_left_out: int | None = None  # what the one-lesion rule dropped; the runner-up among them:
    runner_up_ml: float | None = None
    runner_up_slice: int | None = None
    runner_up_share: float | None = None  # its score over the kept lesion's; >= 0.25: "close call" in text
    # "tumour in 12/155 slices, 23.40 mL, longest axial diameter 41.0 mm, largest cross-section 41.0 × 30.2 mm
    # (slice 80)" or "no tumour found (155 slices)"
    text: str


class SegmentResponse(BaseModel):
    kind: str  # "image", "images" (the slices of one scan as image files), "dicom", "nifti", "nrrd", "metaimage",
    # or "tiff-stack" (a multi-page TIFF: one volume)
    model: str  # the model as users name it: "t1c", "flair", or the checkpoint's file name ("best.pt")
    network: str  # its architecture: "unet", "effunet", "ensemble" (a cascade or an average of networks)...
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
    mask_nifti: str | None = None  # NIfTI volumes and DICOM series: base64 .nii.gz with the input's geometry
    # NRRD / MetaImage / TIFF stack uploads: base64 mask file in the upload's format and geometry (calibration)
    mask_volume: str | None = None
    mask_volume_name: str | None = None  # its file name: "mask.nrrd", "mask.mha" or "mask.tif"
    mask_seg: str | None = None  # DICOM series: base64 DICOM SEG referencing the uploaded images (highdicom)
    mask_rtstruct: str | None = None  # DICOM series: base64 RTSTRUCT, the mask's outlines over the uploaded images
    # asked for (probabilities), volumes and DICOM series: the probability map with the mask file's geometry
    # (uint8; NIfTI scaled 1/255 by its header, so viewers read 0-1), and its file name
    prob_volume: str | None = None
    prob_volume_name: str | None = None  # "probability.nii.gz", ".nrrd", ".mha" or ".tif"
    summary: VolumeSummaryOut | None = None  # NIfTI and DICOM uploads
    tumour_found: bool = True  # False: every slice's mask is empty ("No tumour found")
    n_tumour_slices: int = 0  # slices with a predicted tumour
    model_choice: str | None = None  # without --model: "model: NAME (why it fits this upload)"
    volume: int | None = None  # a 4-D NIfTI: the volume segmented (0-based) ...
    volumes: list[dict] | None = None  # ... of these: [{"index": 0, "label": "volume 0: FLAIR"}, ...]
    note: str | None = None  # warnings in words: a blank or unusual upload; a single slice marked by t1c


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


def _for_display(a: np.ndarray, dec: Decoded) -> np.ndarray:
    # only the pictures are turned (radiological view); masks and areas keep the array layout read (the
    # file's own, or axial slices of a near-isotropic sagittal/coronal volume); mask_nifti is in the file's own
    return to_display(a, dec.display)


KEEP_EVERY_ON_PAGE = "'Keep every lesion' shows it"


def _summary(masks: list[np.ndarray], dec: Decoded, left_out=None) -> dict[str, Any] | None:
    if dec.kind not in (*VOLUME_KINDS, "dicom", "images"):
        return None
    spacing = (dec.slice_mm, *dec.spacing_mm) if dec.spacing_mm else None
    s = summarise(np.stack(masks), spacing, left_out=left_out)
    # the text names slices as the page shows them (1 / n); the fields stay indices from 0, as predict writes them
    shown = dataclasses.replace(s, **{k: getattr(s, k) + 1 for k in ("runner_up_slice", "cross_section_slice")
                                      if getattr(s, k) is not None})
    return {**{k: v for k, v in s.row().items() if k in VolumeSummaryOut.model_fields},
            "text": shown.line(KEEP_EVERY_ON_PAGE)}


def model_info(predictor) -> dict[str, Any]:
    """What ``GET /api/model`` reports: from the checkpoint only, no server paths."""
    ck = predictor.checkpoint
    cfg = ck.get("config") or {}
    return {
        "model": predictor.label,  # "t1c", "flair" or the checkpoint's file name
        "name": predictor.name,  # the architecture
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


def segment_decoded(predictor, dec: Decoded, lock: threading.Lock, batch_size: int = SERVE_BATCH,
                    name: str | None = None, probabilities: bool = False,
                    every_lesion: bool = False) -> dict[str, Any]:
    """Predict every slice of an upload and build the :class:`SegmentResponse` fields (without time). ``name``: the
    upload's file name as the client sent it, for the notes (its last path part, at most 100 characters).
    ``probabilities``: also the model's probability maps (``predict --probabilities``): a PNG per slice as shown,
    and for volumes and DICOM series the map as a file with the mask file's geometry. ``every_lesion``: the
    model's one-lesion rule off for this upload (``predict --no-one-lesion``)."""
    # a volume's slices share a shape: the model's volume rules (one lesion, ...), as predict applies them; one model
    # call at a time (the lock: on a few cores, parallel calls only thrash); a volume file's empty slices skipped
    maps = np.zeros((len(dec.slices), *dec.slices[0].shape[-2:]), np.uint8) if probabilities else None
    lesions: dict[str, Any] = {}
    masks = list(predict_stack(dec.slices, predictor, batch_size, keep=maps, lock=lock,
                               skip_empty=dec.kind in VOLUME_KINDS, adjacent=dec.kind != "image",
                               pixel_mm=dec.spacing_mm, name=name or "upload",  # a small field of view: padded
                               display=dec.display, report=lesions,  # display: the radiological view
                               post={**predictor.post, "largest_component_3d": False} if every_lesion else None))
    n_run = sum(1 for s in dec.slices if dec.kind not in VOLUME_KINDS or s.any())
    px_mm2 = dec.spacing_mm[0] * dec.spacing_mm[1] if dec.spacing_mm else None
    summary = _summary(masks, dec, lesions.get("left_out"))
    measured = (summary or {}).get("cross_section_slice")  # its diameters drawn over that slice
    slices = []
    for i, (image, mask) in enumerate(zip(dec.slices, masks)):
        area = int(mask.sum())
        slices.append(SliceResult(
            index=i, image_png=_png_b64(_for_display(_shown(image), dec)),
            mask_png=_png_b64(_for_display(mask.astype(np.uint8) * 255, dec)), area_px=area,
            area_mm2=round(area * px_mm2, 3) if px_mm2 else None,
            prob_png=_png_b64(_for_display(maps[i], dec)) if maps is not None else None,
            measure_png=_png_b64(_for_display(draw_lines(mask.shape, summary["cross_section_px"]), dec))
            if i == measured and summary.get("cross_section_px") else None))
    shown = max(range(len(slices)), key=lambda i: (slices[i].area_px, -abs(i - len(slices) // 2)))
    total = sum(s.area_px for s in slices)
    h, w = _for_display(masks[shown], dec).shape
    out: dict[str, Any] = dict(
        kind=dec.kind, model=predictor.label, network=predictor.name,
        backend=predictor.backend_for(min(max(n_run, 1), batch_size)), width=w, height=h,
        n_slices=len(slices), shown_slice=shown, mask_png=slices[shown].mask_png, area_px=slices[shown].area_px,
        area_mm2=slices[shown].area_mm2, total_area_px=total,
        volume_mm3=round(total * px_mm2 * dec.slice_mm, 3) if px_mm2 and dec.slice_mm else None,
        pixel_spacing_mm=list(dec.spacing_mm) if dec.spacing_mm else None, unit="mm2" if px_mm2 else "px",
        threshold=predictor.threshold, slices=slices, summary=summary, tumour_found=total > 0,
        n_tumour_slices=sum(s.area_px > 0 for s in slices))
    # a blank upload, or one far from the model's training brightness (predict's warning, the upload's name), and
    # e.g. t1c on one slice: a mark is not evidence of a tumour
    shown_name = Path((name or "").replace("\\", "/")).name[:100] or dec.properties.source.name
    notes = [far_off_note(Path(shown_name), dec.slices, predictor)]
    if len(slices) == 1 and total:
        notes.append(zoo.single_slice_note(predictor.label))
    out["note"] = " ".join(n for n in notes if n) or None
    if dec.kind in VOLUME_KINDS or dec.properties.affine is not None:  # mask files with the upload's geometry,
        # written beside it in the private workdir: a volume file's; a DICOM series (or a multi-frame file holding one
        # stack of slices) also gives a DICOM SEG (a series also an RTSTRUCT) referencing its images
        written = write_mask(np.stack(masks), dec.properties, dec.properties.source.parent, predictor.name)
        for target in written:
            if target.name.endswith("_mask.nii.gz"):
                out["mask_nifti"] = base64.b64encode(target.read_bytes()).decode("ascii")
            elif target.name.endswith(("_mask.nrrd", "_mask.mha", "_mask.tif")):
                out["mask_volume"] = base64.b64encode(target.read_bytes()).decode("ascii")
                out["mask_volume_name"] = "mask" + target.suffix
            elif target.name.endswith("_seg.dcm"):
                out["mask_seg"] = base64.b64encode(target.read_bytes()).decode("ascii")
            elif target.name.endswith("_rtstruct.dcm"):
                out["mask_rtstruct"] = base64.b64encode(target.read_bytes()).decode("ascii")
        if maps is not None:
            target = write_probabilities(maps, dec.properties, dec.properties.source.parent)[0]
            out["prob_volume"] = base64.b64encode(target.read_bytes()).decode("ascii")
            out["prob_volume_name"] = "probability" + "".join(target.suffixes[-2:] if target.name.endswith(".gz")
                                                              else target.suffixes[-1:])
    return out


def create_app(predictor, max_upload_mb: float = 50.0, chooser=None, *, hosts: frozenset[str] | None = None,
               token: str | None = None, max_active: int = 2, max_waiting: int = 64,
               wait_s: float = 120.0) -> FastAPI:
    """The app around a loaded ``predictor``.

    Uploads over ``max_upload_mb`` get 413; with ``chooser`` (a
    :class:`tumorseg.inference.choose.BundledPredictors`), each upload gets the
    model that fits it; ``hosts`` are the accepted ``Host`` names (default:
    loopback only, see :func:`tumorseg.web.guards.allowed_hosts`);
    ``token``, when given, is required on every request but ``/static/*``;
    ``max_active``/``max_waiting``/``wait_s`` bound concurrent uploads
    (:class:`tumorseg.web.guards.Admission`).
    """
    app = FastAPI(
        title="tumorseg", version=__version__,
        description="Brain-tumour segmentation of MRI slices. Research use only, not for diagnosis. "
                    f"Upload {SUPPORTED} to `POST /api/segment` (multipart form field `file`).",
    )
    max_bytes = int(max_upload_mb * (1 << 20))
    app.add_middleware(BodyLimit, max_bytes=max_bytes)
    app.add_middleware(RequestGuard, allowed=hosts if hosts is not None else allowed_hosts("127.0.0.1"), token=token)
    lock = threading.Lock()
    admission = Admission(max_active, max_waiting, wait_s)
    _big_arrays_from_mmap()
    info = {**model_info(predictor), "per_upload": chooser is not None}  # without --model: chosen per upload

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": predictor.name, "backend": predictor.backend, "version": __version__,
                "active": admission.active, "waiting": admission.waiting}

    @app.get("/api/model")
    async def model() -> dict[str, Any]:
        return info

    def read_bodies(files: list[UploadFile]) -> list[bytes]:
        """Every uploaded file's bytes, together at most ``max_bytes`` (413 beyond)."""
        datas, left = [], max_bytes
        for f in files:
            data = f.file.read(left + 1)
            if len(data) > left:
                raise BodyLimit(None, max_bytes)._error()
            left -= len(data)
            datas.append(data)
        if not all(datas):
            raise HTTPException(400, f"an uploaded file is empty. Supported: {SUPPORTED}.")
        return datas

    def work(files: list[UploadFile], t0: float, series: int | None = None, probabilities: bool = False,
             every_lesion: bool = False, volume: int | None = None) -> Response:
        """Read, decode, predict and serialise one upload (in a worker thread, under the UPLOADS limits): one file,
        or the files of DICOM series (``series``: which of several, 0-based); ``probabilities``: the maps too;
        ``every_lesion``: the one-lesion rule off; ``volume``: which volume of a 4-D NIfTI (0-based)."""
        datas = read_bodies(files)
        names, name = [f.filename for f in files], files[0].filename
        model, choice, stacked = predictor, None, None
        with limits.using(limits.UPLOADS), private_workdir() as tmp:  # tmp removed whatever happens
            try:
                if len(datas) == 1 and is_zip_bytes(datas[0]):  # a .zip: read as its files uploaded together
                    names, datas = unzip_upload(datas[0])
                    name = names[0] if len(datas) == 1 else name  # a series or stack is named after the archive
                kind = sniff(datas[0])
                if len(datas) > 1 and kind in IMAGE_KINDS:  # the slices of one scan saved as images
                    if chooser is not None:
                        model, choice = chooser.for_upload(kind, datas[0], names[0])
                    decoded = decode_image_stack(datas, names, model, Path(tmp))
                    del datas
                elif kind == "dicom" or len(datas) > 1:  # the model is chosen from the written file's header
                    source = pick_dicom(write_dicom_upload(datas, Path(tmp)), series)
                    del datas
                    if chooser is not None:
                        choice = chooser.choose_for(source)
                        model = chooser.get(choice.name)
                    decoded = decode_dicom(source, model)
                else:
                    stacked = pick_volume(datas[0], kind, names[0], volume)  # of a 4-D NIfTI: which volume
                    if chooser is not None:
                        model, choice = chooser.for_upload(kind, datas[0], names[0],
                                                           (stacked.index, stacked.channel) if stacked else None)
                    decoded = decode(datas[0], model, Path(tmp), stacked.index if stacked else None)
                    del datas  # the decoded slices are all that is needed now
            except UnsupportedUpload as exc:
                raise HTTPException(415, str(exc)) from None
            except SeveralSeries as exc:  # the page offers the choice and sends the files again with 'series'
                return JSONResponse({"detail": str(exc), "series": exc.series}, status_code=400)
            except SeveralVolumes as exc:  # the same for the volumes of a 4-D NIfTI, sent again with 'volume'
                return JSONResponse({"detail": str(exc), "volumes": exc.volumes}, status_code=400)
            except limits.LimitExceeded as exc:
                raise HTTPException(413, _client_message(exc, tmp)) from None
            except TumorsegError as exc:
                raise HTTPException(400, _client_message(exc, tmp)) from None
            except Exception as exc:  # a reader failed in a way we did not foresee: still the file's fault
                log.warning("unreadable upload: %s: %s", exc.__class__.__name__, exc)
                raise HTTPException(400, f"could not read the file ({exc.__class__.__name__}). "
                                         f"Supported: {SUPPORTED}.") from None
            result = segment_decoded(model, decoded, lock, name=name, probabilities=probabilities,
                                     every_lesion=every_lesion)
        result["time_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        result["model_choice"] = choice.line() if choice else None
        if stacked is not None:  # the page offers the file's other volumes
            result["volume"], result["volumes"] = stacked.index, stacked.choices()
        # serialised here, in the worker thread: a volume's JSON would otherwise block the event loop
        return Response(SegmentResponse(**result).model_dump_json(), media_type="application/json")

    @app.post("/api/segment", response_model=SegmentResponse, responses={
        400: {"description": "unreadable file or no 'file' field"},
        413: {"description": "upload too large, or declares more pixels/voxels than accepted"},
        415: {"description": "not a supported format"}, 503: {"description": "busy: retry after Retry-After s"}})
    async def segment(file: list[UploadFile] | None = File(
            None, description=f"the image or volume: {SUPPORTED}; repeat the field for the files of a DICOM series"),
            series: int | None = Form(None, ge=0, le=MAX_SERIES_FILES, description=(
                "files holding several DICOM series: which one to segment (0-based, by SeriesNumber); without it "
                "the answer is a 400 whose 'series' lists them")),
            probabilities: bool = Form(False, description=(
                "also return the model's probability maps (before threshold and clean-up; 0-255): a PNG per slice "
                "(prob_png) and, for volumes and DICOM series, a file with the mask's geometry (prob_volume)")),
            every_lesion: bool = Form(False, description=(
                "volumes: keep every lesion, not only the one the model's one-lesion rule keeps (predict "
                "--no-one-lesion; e.g. multifocal tumours, or a close call)")),
            volume: int | None = Form(None, ge=0, lt=MAX_VOLUMES, description=(
                "a 4-D NIfTI (several modalities or time points in one file): which volume to segment (0-based); "
                "without it an MSD Task01 file (BRATS_001.nii.gz) gives its FLAIR, and any other 4-D file a 400 "
                "whose 'volumes' lists them"))):
        """Segment one uploaded image (PNG/JPEG/TIFF/BMP/DICOM), NIfTI volume (every axial slice) or DICOM series
        (its files as repeated ``file`` fields)."""
        if not file:
            raise HTTPException(400, "send the image as the multipart form field 'file'.")
        t0 = time.perf_counter()
        async with admission.slot():  # bounded: at most max_active decodes in memory at once
            try:
                return await run_in_threadpool(work, file, t0, series, probabilities, every_lesion, volume)
            finally:
                await run_in_threadpool(_return_freed_memory)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _return_freed_memory() -> None:
    """Give freed heap memory back to the OS (glibc only; elsewhere a no-op).

    A request's arrays are freed when it ends, but glibc keeps the pages of
    its heaps unless trimmed, so without this the RSS after one large volume
    stays near its peak and the next request's peak adds to it.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _libc():
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only
        return libc
    except (OSError, AttributeError):
        return None


def _big_arrays_from_mmap(threshold: int = 1 << 20) -> None:
    """Serve allocations of ``threshold`` bytes or more from ``mmap`` (returned to the OS when freed);
    glibc's default raises this threshold after each large free, to up to 32 MiB."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(-3, threshold)  # M_MMAP_THRESHOLD; setting it turns the dynamic threshold off


def _client_message(exc: Exception, tmp: str) -> str:
    """The error text without server paths (readers name the file they were given)."""
    return str(exc).replace(str(tmp) + "/", "").replace(str(tmp), "")
