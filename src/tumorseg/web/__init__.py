"""``tumorseg serve``: a FastAPI app (:mod:`tumorseg.web.app`) with a plain HTML/JS page (``static/``).

The web layer only decodes uploads and calls :class:`tumorseg.inference.predictor.Predictor`;
all model logic stays in the library. Needs the ``serve`` extra
(``pip install 'tumorseg[serve]'``: fastapi, uvicorn, python-multipart).
"""
