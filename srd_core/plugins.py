"""The pluggy manager: built-ins and third-party plugins, all loaded from entry-point group ``srd``.

Environment switches:
- ``SRD_LOAD_PLUGINS=a,b`` loads only these third-party distributions (empty: none). The
  framework's own distribution (``srd``, the built-ins) always loads.
- ``SRD_TRACE_PLUGINS=1`` prints every hook call and its result to stderr.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import pluggy

from srd_core import hookspecs
from srd_core.errors import PluginError
from srd_core.registry import KINDS, Registry

ENTRY_POINT_GROUP = "srd"
BUILTIN_DISTRIBUTION = "srd"

KIND_HOOKS: dict[str, str] = {
    "difficulty_metric": "register_difficulty_metrics",
    "fusion": "register_fusions",
    "selector": "register_selectors",
    "pacer": "register_pacers",
    "schedule": "register_schedules",
    "kd_loss": "register_kd_losses",
    "teacher_signal": "register_teacher_signals",
    "task": "register_tasks",
    "grouping": "register_groupings",
    "response_source": "register_response_sources",
}
assert set(KIND_HOOKS) == set(KINDS)


@dataclass
class PluginInfo:
    """Where a loaded plugin object came from."""

    name: str
    distribution: str
    version: str
    builtin: bool
    hooks: list[str] = field(default_factory=list)


pm = pluggy.PluginManager("srd")
pm.add_hookspecs(hookspecs)
_info: dict[int, PluginInfo] = {}
_loaded = False
_registry_cache: tuple[tuple[int, ...], Registry] | None = None


def _allowed_distributions() -> set[str] | None:
    raw = os.environ.get("SRD_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _normalize(dist: str) -> str:
    return dist.lower().replace("_", "-")


def load_plugins() -> None:
    """Load every ``srd`` entry point once (respecting ``SRD_LOAD_PLUGINS``) and set up tracing."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    allowed = _allowed_distributions()
    allowed_norm = {_normalize(a) for a in allowed} if allowed is not None else None
    seen: set[tuple[str, str]] = set()
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.metadata["Name"] if ep.dist is not None else "unknown"
        version = ep.dist.version if ep.dist is not None else "?"
        builtin = _normalize(dist) == BUILTIN_DISTRIBUTION
        if not builtin and allowed_norm is not None and _normalize(dist) not in allowed_norm:
            continue
        if (dist, ep.name) in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add((dist, ep.name))
        try:
            module = ep.load()
        except Exception as exc:  # a broken third-party plugin must not hide the others' errors
            raise PluginError(f"plugin {ep.name!r} from distribution {dist} failed to load: {exc}") from exc
        register(module, name=f"{dist}:{ep.name}", distribution=dist, version=version, builtin=builtin)
    if os.environ.get("SRD_TRACE_PLUGINS") == "1":
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()


def register(
    plugin: Any, name: str | None = None, distribution: str = "local", version: str = "", builtin: bool = False
) -> None:
    """Register a plugin object or module by hand (tests, notebooks); entry points do this for you."""
    global _registry_cache
    name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    pm.register(plugin, name=name)
    _info[id(plugin)] = PluginInfo(name, distribution, version, builtin, hooks=_hooks_of(plugin))
    _registry_cache = None


def unregister(name: str) -> None:
    """Remove a plugin registered under ``name``."""
    global _registry_cache
    plugin = pm.unregister(name=name)
    if plugin is not None:
        _info.pop(id(plugin), None)
    _registry_cache = None


def _hooks_of(plugin: Any) -> list[str]:
    return sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))


def plugin_infos() -> list[PluginInfo]:
    """Every loaded plugin with its distribution, version and implemented hooks."""
    load_plugins()
    return [_info[id(p)] for _, p in sorted(pm.list_name_plugin()) if id(p) in _info]


def get_registry() -> Registry:
    """The registry built from every loaded plugin's registration hooks (cached until plugins change)."""
    global _registry_cache
    load_plugins()
    plugins = [p for _, p in sorted(pm.list_name_plugin(), key=lambda item: item[0])]
    key = tuple(id(p) for p in plugins)
    if _registry_cache is not None and _registry_cache[0] == key:
        return _registry_cache[1]
    registry = Registry()
    for plugin in plugins:
        info = _info.get(id(plugin)) or PluginInfo(pm.get_name(plugin) or "?", "local", "", False)
        others = [p for p in plugins if p is not plugin]
        for kind, hook_name in KIND_HOOKS.items():
            caller = pm.subset_hook_caller(hook_name, remove_plugins=others)

            def _register(name: str, cls: type, _kind: str = kind, _info_: PluginInfo = info) -> None:
                registry.add(_kind, name, cls, _info_.distribution, _info_.name)

            caller(register=_register)
    _registry_cache = (key, registry)
    return registry


def get_component(kind: str, name: str, **params: Any):
    """A ready component of ``kind`` called ``name``, its ``Params`` validated from ``params``."""
    return get_registry().build(kind, name, params)
