"""Starting the app with uvicorn: load the model once, bind 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import logging
from pathlib import Path

from tumorseg.errors import TumorsegError

log = logging.getLogger(__name__)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def build(model: str | Path | None = None, max_upload_mb: float = 50.0, device: str = "auto", backend: str = "auto"):
    """Load the predictor once (exporting to ONNX on first use for the auto backend) and create the app.

    Without ``model``, the default bundled model answers ``/api/model`` and uploads are routed to the
    installed bundled model that fits each (a LGG TIFF → ``flair``), loaded on first use.
    """
    try:
        from tumorseg.web.app import create_app
    except ImportError as exc:
        raise TumorsegError(f"'tumorseg serve' needs the serve extra ({exc.name} is missing): "
                            "pip install 'tumorseg[serve]'.") from None
    from tumorseg.inference.predictor import Predictor

    if max_upload_mb <= 0:
        raise TumorsegError(f"--max-upload-mb must be positive, not {max_upload_mb}.")
    predictor = Predictor.from_checkpoint(model, device, backend=backend, export_if_missing=True)
    chooser = None
    if model is None:  # each upload gets the installed bundled model that fits it (tumorseg.inference.choose)
        from tumorseg.inference.choose import BundledPredictors

        chooser = BundledPredictors(device, backend, loaded={predictor.label: predictor})
    return create_app(predictor, max_upload_mb=max_upload_mb, chooser=chooser), predictor


def serve(model: str | Path | None = None, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 50.0,
          device: str = "auto", backend: str = "auto") -> int:
    """Run the web page and API until interrupted; returns the exit status."""
    import uvicorn

    app, predictor = build(model, max_upload_mb, device, backend)
    if host not in LOCAL_HOSTS:
        log.warning("serving on %s: other machines can reach this server and upload files. "
                    "There is no authentication; use --host 127.0.0.1 unless you mean it.", host)
    log.info("model %s (%s backend) from %s; open http://%s:%d/", predictor.name, predictor.backend,
             predictor.source, "127.0.0.1" if host in ("0.0.0.0", "::") else host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
