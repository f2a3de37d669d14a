"""Really pip-install distributions into a directory of their own (never the shared venv: the suite runs in
parallel processes, and what the venv holds is what every one of them finds through entry points)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def pip_install_to(target: Path, *sources: Path) -> Path:
    """``pip install --target target`` of ``sources`` (no deps, no build isolation: offline and quick); ``target``,
    to put on a subprocess's PYTHONPATH."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(target),
            *map(str, sources),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return target
