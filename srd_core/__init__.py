"""srd: Selective Reflection Distillation for causal language models, as a plugin ecosystem.

The public API: ``hookimpl`` (to write a plugin), ``get_component``/``get_registry`` (to build one by
name), the component base classes a plugin subclasses, and ``load_config`` (a YAML file, validated).
Plugins may also import ``srd_core.api`` (config models, arms, atomic writes, curation and reflection
helpers, built-ins to subclass), ``srd_core.components``, ``srd_core.context``, ``srd_core.errors`` and
``srd_core.types``; every other module may move (docs/writing-plugins.md).
"""

from srd_core.components import (
    Component,
    DifficultyMetric,
    Fusion,
    Grouping,
    KDLoss,
    Pacer,
    ResponseSource,
    Schedule,
    Selection,
    Selector,
    StagePlan,
    Task,
    TeacherSignal,
)
from srd_core.config import load_config
from srd_core.hookspecs import hookimpl
from srd_core.plugins import get_component, get_registry

__all__ = [
    "Component",
    "DifficultyMetric",
    "Fusion",
    "Grouping",
    "KDLoss",
    "Pacer",
    "ResponseSource",
    "Schedule",
    "Selection",
    "Selector",
    "StagePlan",
    "Task",
    "TeacherSignal",
    "__version__",
    "get_component",
    "get_registry",
    "hookimpl",
    "load_config",
]
__version__ = "0.1.0"
