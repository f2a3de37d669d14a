"""srd: Selective Reflection Distillation for causal language models, as a plugin ecosystem."""

from srd_core.hookspecs import hookimpl
from srd_core.plugins import get_component, get_registry

__all__ = ["__version__", "get_component", "get_registry", "hookimpl"]
__version__ = "0.1.0"
