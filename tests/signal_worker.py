"""Runs the ``srd`` command line in this process, sending itself a signal after an optimizer step.

usage: signal_worker.py SIGNAL AT SRD-ARGS...   (SIGNAL: INT, TERM or KILL; AT: an optimizer step, or
``curate`` for the moment curation scores the reflections)

The signal goes through the kernel to this very process (``os.kill``), so it reaches the real
handlers at a known step; the tests start this script with SIGINT at its default (see FACTS.md:
a child of a non-interactive shell would inherit SIGINT as ignored).
"""

from __future__ import annotations

import os
import signal
import sys

import torch

from srd_core import plugins
from srd_core.cli import main
from srd_core.hookspecs import hookimpl


class SignalAt:
    """Sends ``signum`` to this process when optimizer step ``step`` ends."""

    def __init__(self, signum: int, step: int | str) -> None:
        self.signum, self.step = signum, step

    @hookimpl
    def step_end(self, context, metrics):
        if metrics["step"] == self.step:
            os.kill(os.getpid(), self.signum)

    @hookimpl
    def reflection_scored(self, table, config):
        if self.step == "curate":
            os.kill(os.getpid(), self.signum)


if __name__ == "__main__":
    torch.set_num_threads(1)
    name, step, *args = sys.argv[1:]
    at = int(step) if step.isdigit() else step
    plugins.register(SignalAt(getattr(signal, f"SIG{name}"), at), name="test-signal-at")
    sys.argv = ["srd", *args]
    main()
