"""The public API for plugins beyond the component contract: what a plugin may import besides ``srd_core``,
``srd_core.components``, ``.context``, ``.errors``, ``.hookspecs`` and ``.types``.

Everything else in srd_core may move between releases; these names stay (or are deprecated first).
Names are resolved on first use, so ``from srd_core import api`` costs nothing at start-up (every plugin
module is imported whenever srd starts): ``api.reflect_samples`` imports torch only when it is read.

- run config: ``SRDConfig``, ``CurriculumConfig``, ``ComponentSpec``, ``config_from_dict``, ``load_config``
- arms: ``Arm`` (what ``TrainContext.arm`` holds), ``arm_of``
- files: ``write_jsonl_atomic``, ``write_json_atomic``, ``read_jsonl`` (atomic writes: temp + rename)
- curation: ``build_metrics`` (a curriculum's metrics, built), ``rank_by`` (values → ranks, 1 = easiest)
- reflection: ``reflect_samples`` (a model's outputs and teacher-forced CE on samples; imports torch)
- built-ins meant to be subclassed: ``BabyStep``, ``BabyStepParams`` (the paper's cumulative pacer)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from srd_core.arms import Arm, arm_of
    from srd_core.builtins.pacers import BabyStep, BabyStepParams
    from srd_core.config import ComponentSpec, CurriculumConfig, SRDConfig, config_from_dict, load_config
    from srd_core.curation.curate import build_metrics, rank_by
    from srd_core.io import read_jsonl, write_json_atomic, write_jsonl_atomic
    from srd_core.reflection.reflect import reflect_samples

_WHERE = {
    "Arm": "srd_core.arms",
    "arm_of": "srd_core.arms",
    "BabyStep": "srd_core.builtins.pacers",
    "BabyStepParams": "srd_core.builtins.pacers",
    "ComponentSpec": "srd_core.config",
    "CurriculumConfig": "srd_core.config",
    "SRDConfig": "srd_core.config",
    "config_from_dict": "srd_core.config",
    "load_config": "srd_core.config",
    "build_metrics": "srd_core.curation.curate",
    "rank_by": "srd_core.curation.curate",
    "read_jsonl": "srd_core.io",
    "write_json_atomic": "srd_core.io",
    "write_jsonl_atomic": "srd_core.io",
    "reflect_samples": "srd_core.reflection.reflect",
}

__all__ = [
    "Arm",
    "BabyStep",
    "BabyStepParams",
    "ComponentSpec",
    "CurriculumConfig",
    "SRDConfig",
    "arm_of",
    "build_metrics",
    "config_from_dict",
    "load_config",
    "rank_by",
    "read_jsonl",
    "reflect_samples",
    "write_json_atomic",
    "write_jsonl_atomic",
]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'srd_core.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
