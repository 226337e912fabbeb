"""Data: format readers (``formats/``), one in-memory layout, splits, synthetic phantoms.

Every reader turns a dataset on disk into a list of :class:`SliceRecord`; the
rest of tumorseg (training, evaluation) only ever sees those records and the
arrays :func:`load_slices` makes of them.
"""

from tumorseg.data.dataset import SliceArrays, load_slices
from tumorseg.data.formats import read_dataset
from tumorseg.data.records import SliceRecord
from tumorseg.data.splits import split_records

__all__ = ["SliceArrays", "SliceRecord", "load_slices", "read_dataset", "split_records"]
