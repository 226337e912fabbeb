"""Inference: running a trained model on new images and volumes.

* :mod:`.predictor`: :class:`Predictor` (a checkpoint or ONNX file, ready for images of any size) and batched
  probabilities at the model's size.
* :mod:`.files`: ``tumorseg predict``: folders and lists of image files, streamed; "no tumour found" per input.
* :mod:`.choose`: which bundled model (``t1c``, ``flair``) fits an input when ``--model`` is not given.
* :mod:`.volumes`: NIfTI volumes, BraTS case folders, DICOM files and series, with the input's geometry kept.
* :mod:`.onnx`: ONNX export and ONNX Runtime.
* :mod:`.postprocess`: threshold and small-component removal; :mod:`.calibrate` chooses them on validation data.
"""

from tumorseg.inference.predictor import Predictor

__all__ = ["Predictor"]
