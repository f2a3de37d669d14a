"""The CLI's stop on SIGINT / SIGTERM: one line, from one process.

Real signals in real processes are tested where they land: training (tests/training/test_interrupts.py,
also two SIGTERMs in `evaluate`) and parallel arms (tests/pipeline/test_arms.py). Here: under torchrun every
process stops alike, and only rank 0 prints the line, while every process exits with the signal's code.
"""

from __future__ import annotations

import signal

import click
import pytest
from click.testing import CliRunner
from terminal import as_in_a_terminal

from srd_core.cli import cli
from srd_core.errors import Interrupted, Terminated


@pytest.fixture
def stopping_command():
    @click.option("--how", type=click.Choice(["interrupted", "terminated", "ctrl-c"]))
    def stop(how: str) -> None:
        if how == "interrupted":
            raise Interrupted(
                "interrupted in train_srd at step 3/9; rerun the same command to resume from step 3", signal.SIGINT
            )
        raise Terminated() if how == "terminated" else KeyboardInterrupt()

    cli.add_command(click.command("test-stop")(stop))
    yield
    cli.commands.pop("test-stop")


@pytest.mark.parametrize(
    "how,code,line",
    [
        ("interrupted", 130, "srd: interrupted in train_srd at step 3/9; rerun the same command to resume from step 3"),
        ("terminated", 143, "srd: interrupted in test-stop; rerun the same command to resume"),
        ("ctrl-c", 130, "srd: interrupted in test-stop; rerun the same command to resume"),
    ],
)
@pytest.mark.parametrize("rank", [None, "0", "1"])
def test_one_line_from_rank_0_and_the_exit_code_everywhere(monkeypatch, stopping_command, how, code, line, rank):
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    result = CliRunner().invoke(cli, ["test-stop", "--how", how])
    assert result.exit_code == code
    assert result.stderr.splitlines() == ([] if rank == "1" else [line])


FINALIZER = """
import gc, os, signal, sys, time
from srd_core.signals import stop_on_signals

class Slow:
    def __del__(self):  # the signal lands while the garbage collector runs this
        os.kill(os.getpid(), signal.SIG{name})
        time.sleep(0.2)

stop_on_signals()
try:
    Slow()  # no reference kept: finalized at once
    time.sleep(5)
    print("went on")
except BaseException as exc:  # KeyboardInterrupt, or srd's Terminated
    print(f"stopped: {{type(exc).__name__}}")
"""


@pytest.mark.parametrize(("name", "raised"), [("INT", "KeyboardInterrupt"), ("TERM", "Terminated")])
def test_a_signal_that_lands_in_a_finalizer_still_stops_the_process(name, raised):
    """Raised inside a ``__del__``, the stop would be printed as "Exception ignored" and swallowed (srd trained
    on through a Ctrl-C); it is raised once the finalizer is over."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", FINALIZER.format(name=name)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=as_in_a_terminal,
    )
    assert done.stdout.strip() == f"stopped: {raised}", done.stdout + done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
