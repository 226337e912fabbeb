"""Evaluation: scoring predictions against ground truth, and showing the results.

* :mod:`.metrics`: Dice, IoU, HD95, sensitivity/precision per image, with their empty-mask rules.
* :mod:`.evaluate`: ``tumorseg evaluate``: per-case rows and a summary (``metrics.json``); :mod:`.per_case`: the
  per-case CSV, written and read there only.
* :mod:`.report`: the self-contained HTML report of a run; :mod:`.plots`: loss curves and prediction grids.
"""
