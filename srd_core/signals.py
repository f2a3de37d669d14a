"""How a command process stops on SIGINT (Ctrl-C) and SIGTERM: once, with one line, whatever follows.

``stop_on_signals`` (the CLI's entry point, each parallel arm's process) makes the first SIGINT raise
``KeyboardInterrupt`` and the first SIGTERM raise ``Terminated``, and ignores every later one of either:
a second signal would otherwise land in the unwinding (a traceback instead of the one line) or, once
Python has reset its handlers at exit, kill the process by the signal instead of exit 130 / 143.
Training replaces these handlers with its own (checkpoint, then stop) while it runs.
"""

from __future__ import annotations

import contextlib
import signal
from types import FrameType

from srd_core.errors import Terminated

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []  # the signal the process stops for: per process, as signal dispositions are


RETRY_SECONDS = 0.02
"""How soon a stop that landed in a finalizer is raised again (``_stop``)."""


def _stop(signum: int, frame: FrameType | None) -> None:
    ignore_stop_signals()
    _received.append(signum)
    _raise_stop(frame)


def _raise_stop(frame: FrameType | None) -> None:
    """Raise the stop for the first signal received, unless the signal landed inside a ``__del__``: Python prints
    an exception raised there as "Exception ignored in ..." with a traceback and swallows it, so the process
    would go on as if nothing happened. Then it is raised again a moment later, outside the finalizer."""
    if _in_finalizer(frame) and hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, lambda _, later: _raise_stop(later))
        signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
        return
    raise Terminated() if _received[0] == signal.SIGTERM else KeyboardInterrupt()


def _in_finalizer(frame: FrameType | None) -> bool:
    """Whether ``frame`` or a caller of it is a ``__del__`` (a finalizer the garbage collector runs anywhere)."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def stop_signal() -> int | None:
    """The signal this process is stopping for (``stop_on_signals``' first one), or None. A library that turns
    the ``KeyboardInterrupt`` / ``Terminated`` raised inside it into an error of its own (transformers does,
    in its lazy imports) then still ends in the interrupt's line and exit code."""
    return _received[0] if _received else None


def stop_on_signals() -> None:
    """The first SIGINT raises ``KeyboardInterrupt``, the first SIGTERM ``Terminated``; later ones are ignored.
    A SIGINT this process inherited as ignored (a background job) stays ignored. Main thread only."""
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_IGN and signum == signal.SIGINT:
            continue
        with contextlib.suppress(ValueError):  # not the main thread: signals stay as they are
            signal.signal(signum, _stop)


def stops_once(handler: object) -> bool:
    """Whether ``handler`` is the one ``stop_on_signals`` installs (the process stops at the first signal)."""
    return handler is _stop


def ignore_stop_signals() -> None:
    """Ignore SIGINT and SIGTERM from now on: the process is already stopping (its line is on the way)."""
    for signum in STOP_SIGNALS:
        with contextlib.suppress(ValueError):
            signal.signal(signum, signal.SIG_IGN)
