"""Where the real instruction data for tests lives: ``$SRD_TEST_DATA``, else ``../shared/data`` beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _find() -> Path:
    if os.environ.get("SRD_TEST_DATA"):
        return Path(os.environ["SRD_TEST_DATA"])
    for candidate in (REPO.parent / "shared" / "data", Path("/work/shared/data")):
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "data"


DATA = _find()
