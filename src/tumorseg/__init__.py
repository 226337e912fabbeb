"""tumorseg: brain-tumour segmentation in MRI slices (train, evaluate, predict)."""

__version__ = "0.1.0"
