"""The console: library chatter off unless -v (inherited by subprocesses through the environment)."""

from __future__ import annotations

import logging

from click.testing import CliRunner

from srd_core.cli import QUIET_ENV, VERBOSE_ENV, cli


def test_library_chatter_is_silenced_unless_verbose(monkeypatch):
    for name in (*QUIET_ENV, VERBOSE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(logging.getLogger("absl"), "level", logging.NOTSET)
    assert CliRunner().invoke(cli, ["config", "presets"]).exit_code == 0
    import os

    assert {name: os.environ.get(name) for name in QUIET_ENV} == QUIET_ENV
    assert logging.getLogger("absl").level == logging.WARNING  # rouge-score's "Using default tokenizer."

    for name in (*QUIET_ENV, VERBOSE_ENV):
        monkeypatch.delenv(name, raising=False)
    assert CliRunner().invoke(cli, ["-v", "config", "presets"]).exit_code == 0
    assert os.environ.get(VERBOSE_ENV) == "1" and not any(name in os.environ for name in QUIET_ENV)
