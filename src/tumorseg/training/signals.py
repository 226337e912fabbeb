"""SIGINT/SIGTERM during training: finish the current step, write ``last.pt``, exit non-zero.

The handler only sets a flag; the loop checks it after every optimizer step
(agreeing across ranks), saves and raises :class:`TrainingInterrupted`. A
second signal of the same kind falls back to the default action (stop now).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from tumorseg.errors import TumorsegError


class TrainingInterrupted(TumorsegError):
    """Training stopped on a signal after saving a checkpoint; ``exit_code`` is 128 + the signal number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class StopRequest:
    """Context manager that turns SIGINT/SIGTERM into ``self.signum`` (``None`` until one arrives)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # second signal: give up waiting for the step
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "?"

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():  # signal handlers only work there
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()
