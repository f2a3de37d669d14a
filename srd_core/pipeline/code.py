"""Code is provenance: the digests of the code that computes a phase's artifact, and the versions that made it.

A phase's code is (1) the srd_core source files that compute its artifact, declared per phase
(``Phase.code``, globs under ``srd_core/``), less the modules that only decide when things are
written or shown (``NOT_COMPUTING``), and (2) the class source of every component the phase runs
(``code of kd_loss 'fkl'``: the module that defines the class, see ``srd_core.code_digest``). Both
enter the phase's inputs, so editing that code makes the artifact stale with a line naming it;
the versions of srd and of every plugin distribution whose component ran are recorded beside them.
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Iterable

from srd_core.code_digest import class_digest, package_files, source_digest
from srd_core.config import SRDConfig, _component_slots
from srd_core.plugins import BUILTIN_DISTRIBUTION, get_registry, plugin_infos

NOT_COMPUTING = frozenset(
    {
        "srd_core/training/trackers.py",  # sends rows to experiment trackers
        "srd_core/training/interrupts.py",  # when a SIGTERM or the wall clock asks for a checkpoint
        "srd_core/training/cadence.py",  # the list of cadence fields
    }
)
"""srd_core files inside the phases' globs that cannot change an artifact (tests/pipeline/test_code_provenance.py)."""
CODE_PREFIX = "code of "


def components(config: SRDConfig, paths: Iterable[str]) -> list[tuple[str, str]]:
    """(kind, name) of every component spec at or under the dotted config ``paths``, in config order."""
    paths = tuple(paths)
    found: list[tuple[str, str]] = []
    for path, kind, owner, key in _component_slots(config):
        if not any(path == p or path.startswith(f"{p}.") for p in paths):
            continue
        spec = owner[key] if isinstance(owner, (list, dict)) else getattr(owner, key)
        if (kind, spec.name) not in found:
            found.append((kind, spec.name))
    return found


def code_inputs(patterns: tuple[str, ...], used: list[tuple[str, str]]) -> dict[str, str]:
    """``{"code of kd_loss 'fkl'": digest, ..., "code of srd_core/training/loop.py": digest, ...}``."""
    registry = get_registry()
    inputs = {f"{CODE_PREFIX}{kind} {name!r}": class_digest(registry.get(kind, name).cls) for kind, name in used}
    for rel in package_files(patterns):
        if rel not in NOT_COMPUTING:
            inputs[f"{CODE_PREFIX}{rel}"] = source_digest(rel)
    return inputs


def versions(used: list[tuple[str, str]]) -> dict[str, str]:
    """srd's version and that of every distribution whose component is in ``used``."""
    loaded = {info.distribution: info.version for info in plugin_infos()}

    def version(distribution: str) -> str:
        if loaded.get(distribution):
            return loaded[distribution]
        try:
            return md.version(distribution)
        except md.PackageNotFoundError:
            return "unknown"

    registry = get_registry()
    out = {BUILTIN_DISTRIBUTION: version(BUILTIN_DISTRIBUTION)}
    for kind, name in used:
        distribution = registry.get(kind, name).distribution
        out.setdefault(distribution, version(distribution))
    return out
