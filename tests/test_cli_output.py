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


def test_help_loads_every_plugin_without_importing_torch():
    """`srd --help` lists the plugins' commands, and stays fast: no plugin module imports torch, transformers or
    matplotlib at load time (tests/test_deferred_imports.py: the imports that keep them out say so)."""
    import subprocess
    import sys

    code = (
        "import sys\nHEAVY = ('torch', 'transformers', 'matplotlib')\n"
        "from srd_core.cli import main\nsys.argv = ['srd', '--help']\ntry:\n    main()\n"
        "except SystemExit:\n    pass\nfrom srd_core.plugins import plugin_infos\n"
        "print('plugins', len(plugin_infos()), 'heavy', any(m in sys.modules for m in HEAVY))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    last = out.stdout.strip().splitlines()[-1].split()
    assert "Commands:" in out.stdout and int(last[1]) >= 9, out.stdout  # the built-in plugin modules loaded
    assert last[-1] == "False", out.stdout
