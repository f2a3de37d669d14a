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


def _stop(signum: int, frame: FrameType | None) -> None:
    ignore_stop_signals()
    _received.append(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


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
