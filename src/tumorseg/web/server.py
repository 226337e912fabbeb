"""Starting the app with uvicorn: load the model once, bind 127.0.0.1 unless told otherwise.

Security model (see :mod:`tumorseg.web.guards` and ``docs/inference.md``):
only ``Host`` names of the bound address are answered (``--allowed-host`` adds
more), cross-origin browser requests are refused, and a non-loopback bind
requires an access token (``--token``, else one is generated and printed, as
Jupyter does).
"""

from __future__ import annotations

import logging
from pathlib import Path

from tumorseg.errors import TumorsegError
from tumorseg.extras import missing_extra

log = logging.getLogger(__name__)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def build(model: str | Path | None = None, max_upload_mb: float = 50.0, device: str = "auto", backend: str = "auto",
          host: str = "127.0.0.1", allowed_host: tuple[str, ...] = (), token: str | None = None,
          max_active: int = 2, max_waiting: int = 64):
    """Load the predictor once (exporting to ONNX on first use for the auto backend) and create the app.

    Without ``model``, the default bundled model answers ``/api/model`` and uploads are routed to the
    installed bundled model that fits each (a LGG TIFF → ``flair``), loaded on first use.
    """
    try:
        from tumorseg.web.app import create_app
        from tumorseg.web.guards import allowed_hosts
    except ImportError as exc:
        raise missing_extra(exc, "'tumorseg serve'") from None
    from tumorseg.inference.predictor import Predictor

    if max_upload_mb <= 0:
        raise TumorsegError(f"--max-upload-mb must be positive, not {max_upload_mb}.")
    predictor = Predictor.from_checkpoint(model, device, backend=backend, export_if_missing=True)
    chooser = None
    if model is None:  # each upload gets the installed bundled model that fits it (tumorseg.inference.choose)
        from tumorseg.inference.choose import BundledPredictors

        chooser = BundledPredictors(device, backend, loaded={predictor.label: predictor})
    app = create_app(predictor, max_upload_mb=max_upload_mb, hosts=allowed_hosts(host, allowed_host), token=token,
                     max_active=max_active, max_waiting=max_waiting, chooser=chooser)
    return app, predictor


def serve(model: str | Path | None = None, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 50.0,
          device: str = "auto", backend: str = "auto", allowed_host: tuple[str, ...] = (), token: str | None = None,
          max_active: int = 2, max_waiting: int = 64) -> int:
    """Run the web page and API until interrupted; returns the exit status."""
    try:
        import uvicorn
    except ImportError as exc:
        raise missing_extra(exc, "'tumorseg serve'") from None
    from tumorseg.web.guards import is_loopback, new_token

    if token is None and not is_loopback(host):
        token = new_token()  # other machines can reach this server: require a secret, as Jupyter does
    app, predictor = build(model, max_upload_mb, device, backend, host, allowed_host, token, max_active, max_waiting)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/" + (f"?token={token}" if token else "")
    if not is_loopback(host):
        log.warning("serving on %s: other machines can reach this server; requests need the access token.", host)
    log.info("model %s (%s backend) from %s", predictor.name, predictor.backend, predictor.source)
    log.info("open %s", url)  # with the token, when there is one: the user needs it, as with Jupyter
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
