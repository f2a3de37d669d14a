"""One reading of WORLD_SIZE for the whole pipeline (the dry run, the phases' step counts, single-phase commands)."""

from __future__ import annotations

import pytest

from srd_core.launcher import world_size
from srd_core.pipeline import commands, dry_run


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 1), ("", 1), ("1", 1), ("2", 2), ("8", 8), ("0", 1), ("-3", 1), ("two", 1)]
)
def test_world_size(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", value)
    assert world_size() == expected
    assert dry_run.default_processes() == expected


@pytest.mark.parametrize("value", ["", "1", "0", "two"])
def test_a_single_process_command_sets_up_no_process_group(monkeypatch, value):
    monkeypatch.setenv("WORLD_SIZE", value)  # "two" raised ValueError here before there was one parser
    main, barrier = commands._processes()
    assert main is True and barrier() is None
