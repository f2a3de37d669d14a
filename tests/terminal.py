"""Start a test's subprocess with the stop signals a shell's foreground job has."""

from __future__ import annotations

import signal


def as_in_a_terminal() -> None:
    """``preexec_fn``: SIGINT at its default and no stop signal blocked, whatever the test process inherited (a
    child of a non-interactive shell inherits SIGINT as ignored, and srd keeps ignoring it then: srd_core.signals)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
