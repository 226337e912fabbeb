"""Command-line option types: every value is checked when the command line is parsed.

Each factory returns an ``argparse`` ``type=`` function that raises
``argparse.ArgumentTypeError`` with a message naming the fix; :class:`Parser`
prints that as one line (``tumorseg train: error: argument --batch-size: must
be a whole number >= 1, not '-1' (e.g. --batch-size 16)``) and exits with
status 2. Names (losses, schedulers, ...) answer a typo with "did you mean".
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from tumorseg.errors import did_you_mean


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"{self.prog}: error: {message.splitlines()[0]} (see '{self.prog} --help')\n")


def _bounds(lo, hi, lo_open: bool = False) -> str:
    first = f"> {lo:g}" if lo_open else f">= {lo:g}"
    return first if hi is None else f"{first} and <= {hi:g}"


def int_in(lo: int, hi: int | None = None, example: str = "") -> Callable[[str], int]:
    """A whole number in ``lo..hi`` (``hi=None``: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be a whole number {_bounds(lo, hi)}, not {text!r}"
                                             + (f" (e.g. {example})" if example else ""))
        return value

    parse.__name__ = "integer"
    return parse


def float_in(lo: float, hi: float | None = None, lo_open: bool = False, example: str = "") -> Callable[[str], float]:
    """A finite number ``>= lo`` (``> lo`` with ``lo_open``) and ``<= hi``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        bad = not math.isfinite(value) or value < lo or (lo_open and value == lo) or (hi is not None and value > hi)
        if bad:
            raise argparse.ArgumentTypeError(f"must be a number {_bounds(lo, hi, lo_open)}, not {text!r}"
                                             + (f" (e.g. {example})" if example else ""))
        return value

    parse.__name__ = "number"
    return parse


def name_in(names: Callable[[], Iterable[str]]) -> Callable[[str], str]:
    """One of ``names()`` (called lazily: the lists live in modules that import torch)."""

    def parse(text: str) -> str:
        known = list(names())
        if text not in known:
            raise argparse.ArgumentTypeError(f"unknown value {text!r}.{did_you_mean(text, known)} "
                                             f"Choose from: {', '.join(known)}")
        return text

    parse.__name__ = "name"
    return parse


def out_dir(text: str) -> str:
    """A folder to write into: may not exist yet, but must not be an existing file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is an existing file, not a folder; give a folder path "
                                         "(it is created if missing)")
    for parent in path.resolve().parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{text!r}: {parent} is a file, so no folder can be made there")
            break
    return text


def out_file(text: str) -> str:
    """A file to write: not an existing folder, in a folder that exists."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name")
    if not path.resolve().parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: folder {path.resolve().parent} does not exist; create it first")
    return text


def duration(text: str) -> float:
    """Seconds from ``300``, ``90s``, ``20m`` or ``1.5h`` (more than 0, at most a week); ``off`` → 0 (no budget)."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    t = text.strip().lower()
    if t == "off":
        return 0.0
    scale = units.get(t[-1:], None)
    try:
        value = float(t[:-1] if scale else t) * (scale or 1.0)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0 or value > 7 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be a time like 300, 90s, 20m or 1.5h (at most a week), or off, "
                                         f"not {text!r}")
    return value


def json_object(text: str) -> dict:
    """``--model-kwargs``: a JSON object such as ``{"width": 16}`` (keys are checked against the model later)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e.msg}): {text!r}. Example: '{{\"width\": 16}}'") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object like '{{\"width\": 16}}', not {text!r}")
    return value


def post_setting(text: str) -> tuple[str, object]:
    """``--set presence_px=300``: one post-processing setting, KEY=VALUE with a JSON value (``true``, ``0.7``),
    checked by :func:`tumorseg.inference.postprocess.check_settings`."""
    from tumorseg.inference.postprocess import check_settings

    key, sep, raw = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set {text}: give KEY=VALUE, e.g. presence_px=300")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"--set {text}: the value must be a number, true or false") from None
    try:
        check_settings({key.strip(): value})
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return key.strip(), value


def fractions(text: str) -> tuple[float, float, float]:
    """``--split 0.9,0.1,0``: three fractions summing to 1 with TRAIN and VAL > 0."""
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or not all(map(math.isfinite, parts)) or min(parts) < 0 or abs(sum(parts) - 1) > 1e-6 \
            or parts[0] <= 0 or parts[1] <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give TRAIN,VAL,TEST fractions summing to 1 with TRAIN and VAL "
                                         "> 0, e.g. 0.7,0.2,0.1 (the default) or 0.9,0.1,0 (all but a val part)")
    return parts  # type: ignore[return-value]


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (whether that GPU exists is checked when it is used)."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d{1,2})?", text):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}.{did_you_mean(text, ('auto', 'cpu', 'cuda'))} "
                                         "Use auto, cpu, cuda or cuda:N")
    return text


def _losses() -> Iterable[str]:
    from tumorseg.training.losses import LOSSES

    return LOSSES


def _schedulers() -> Iterable[str]:
    from tumorseg.training.state import SCHEDULERS

    return SCHEDULERS


def _select_metrics() -> Iterable[str]:
    from tumorseg.training.state import SELECT_METRICS

    return SELECT_METRICS


def _augments() -> Iterable[str]:
    from tumorseg.data.transforms import PRESETS

    return ["none", *PRESETS]


def _models() -> Iterable[str]:
    from tumorseg.models import MODELS

    return MODELS


def _presets() -> Iterable[str]:
    from tumorseg.training.presets import PRESETS

    return PRESETS


LOSS, SCHEDULER, SELECT_METRIC = name_in(_losses), name_in(_schedulers), name_in(_select_metrics)
AUGMENT, MODEL, PRESET = name_in(_augments), name_in(_models), name_in(_presets)
OPTIMIZER = name_in(lambda: ("adam", "adamw"))

# numeric options shared by several subcommands
BATCH_SIZE = int_in(1, 4096, "--batch-size 16")
IMAGE_SIZE = int_in(16, 4096, "--image-size 256")
EPOCHS = int_in(1, 100_000, "--epochs 10")
DURATION = duration
LR = float_in(0.0, 10.0, lo_open=True, example="--lr 1e-3")
NON_NEGATIVE = float_in(0.0)
COUNT = int_in(0)
POSITIVE = int_in(1)
WORKERS = int_in(0, 256, "--workers 4")
SEED = int_in(0, 2**32 - 1, "--seed 42")
FRACTION = float_in(0.0, 1.0, example="0.1")
EMA_DECAY = float_in(0.0, 0.99999, example="--ema 0.99")
PORT = int_in(1, 65535, "--port 8000")
MEGABYTES = float_in(0.0, 4096.0, lo_open=True, example="--max-upload-mb 50")
CHANNELS = int_in(1, 64, "--in-channels 1")
VOLUME = int_in(0, 100_000, "--volume 0")


__all__ = ["Parser", "device", "float_in", "fractions", "int_in", "json_object", "name_in", "post_setting", "out_dir", "out_file"]
