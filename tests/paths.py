"""Where things are, for tests at any depth of ``tests/``."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
EXAMPLES = REPO / "examples"
TRAIN_WORKER = TESTS / "train_worker.py"
