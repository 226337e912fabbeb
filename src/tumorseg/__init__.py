"""tumorseg: brain-tumour segmentation in MRI slices (train, evaluate, predict).

From Python (:mod:`tumorseg.api`; imported on first use, so ``import tumorseg`` stays light)::

    seg = tumorseg.load("flair")                   # bundled name, checkpoint or .onnx
    mask = seg.segment(slice_2d)                   # (H, W) bool
    result = seg.segment_volume(volume_zhw, spacing_mm=(5, 0.9, 0.9))
    tumorseg.predict(["scan.nii.gz"], out="masks") # as `tumorseg predict`
"""

__version__ = "0.1.0"

__all__ = ["load", "predict", "Segmenter", "VolumeResult", "__version__"]


def __getattr__(name: str):
    if name in ("load", "predict", "Segmenter", "VolumeResult"):
        from tumorseg import api

        return getattr(api, name)
    raise AttributeError(f"module 'tumorseg' has no attribute {name!r}")
