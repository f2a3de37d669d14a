"""What `srd plugins` shows: each plugin's distribution, hooks and components with their params."""

from __future__ import annotations

from typing import Any

from srd_core.components import Component
from srd_core.plugins import get_registry, plugin_infos


def _params_of(cls: type[Component]) -> list[dict[str, Any]]:
    params = []
    for name, field in cls.Params.model_fields.items():
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        params.append(
            {
                "name": name,
                "type": getattr(field.annotation, "__name__", str(field.annotation)),
                "default": default,
                "required": field.is_required(),
                "description": field.description or "",
            }
        )
    return params


def describe_plugins(include_builtins: bool = False) -> list[dict[str, Any]]:
    """One dict per loaded plugin; built-ins only with ``include_builtins``."""
    registry = get_registry()
    rows = []
    for info in plugin_infos():
        if info.builtin and not include_builtins:
            continue
        components: dict[str, list[dict[str, Any]]] = {}
        for entry in registry.entries():
            if entry.plugin == info.name:
                doc = (entry.cls.__doc__ or "").strip().splitlines()
                components.setdefault(entry.kind, []).append(
                    {
                        "name": entry.name,
                        "description": doc[0] if doc else "",
                        "params": _params_of(entry.cls),
                    }
                )
        rows.append(
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "builtin": info.builtin,
                "hooks": info.hooks,
                "components": components,
            }
        )
    return rows


def render_table(rows: list[dict[str, Any]]) -> None:
    """Print plugins as a rich table."""
    from rich.console import Console  # deferred: rich
    from rich.table import Table  # deferred: rich

    table = Table(title="srd plugins")
    for column in ("distribution", "version", "plugin", "hooks", "components"):
        table.add_column(column)
    for row in rows:
        comps = "\n".join(
            f"{kind}: "
            + ", ".join(
                c["name"]
                + ("(" + ", ".join(f"{p['name']}={p['default']!r}" for p in c["params"]) + ")" if c["params"] else "")
                for c in items
            )
            for kind, items in row["components"].items()
        )
        table.add_row(row["distribution"], row["version"], row["name"], ", ".join(row["hooks"]), comps or "-")
    if not rows:
        Console().print("No plugins installed (use --all to include the built-ins).")
        return
    Console(width=160).print(table)
