"""Modules imported on their first use, so that commands which never touch them (``srd config validate``,
``srd plugins``) do not pay seconds for importing torch or transformers when plugins load."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for module ``name``; the first attribute read imports it (later reads find it in sys.modules)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def module(self) -> ModuleType:
        """The module itself, imported now if it was not yet."""
        return importlib.import_module(self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.module(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
