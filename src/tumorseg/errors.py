"""User-facing errors.

Everything the user can fix (bad data, bad arguments, bad checkpoint) raises a
subclass of :class:`TumorsegError`; the CLI prints its message without a
traceback and exits with status 2. Messages name the offending file and say
what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TumorsegError(ValueError):
    """Base class of errors caused by user input (data, arguments, files)."""


class DataError(TumorsegError):
    """A dataset or input image cannot be used as given."""


class CheckpointError(TumorsegError):
    """A checkpoint file is missing, truncated, foreign or incompatible."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def why(exc: BaseException, limit: int = 160) -> str:
    """``"OSError: Expected 72000 bytes, got 26861 bytes ..."``: an exception a library raised, as one line of at most
    ``limit`` characters for a user-facing message (libraries' messages may span lines: nibabel's "- could the
    file be damaged?")."""
    return f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:limit]}"
