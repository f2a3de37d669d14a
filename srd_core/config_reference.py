"""`docs/config-reference.md`: every config field and every built-in component's params, from the schema.

Generated, never written by hand: ``srd config reference > docs/config-reference.md`` (a test checks the
committed file is current). Fields come from the pydantic models of ``srd_core.config``; component
params from each registered component's ``Params``; both with type, default, bounds and description.
"""

from __future__ import annotations

import json
import types
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from srd_core.config import COMPONENT_FIELDS, ComponentSpec, SRDConfig
from srd_core.plugins import get_registry
from srd_core.registry import KIND_LABELS, KINDS

_BOUNDS = (
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.MinLen, "min_length", "length ≥"),
    (annotated_types.MaxLen, "max_length", "length ≤"),
)


def type_name(annotation: Any) -> str:
    """A short, readable name for a type annotation (``int | None``, ``"greedy" | "distillm"``)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return type_name(get_args(annotation)[0])
    if origin is Literal:
        return " | ".join(json.dumps(v) for v in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join("null" if a is type(None) else type_name(a) for a in get_args(annotation))
    if origin in (list, tuple, dict):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    if annotation is ComponentSpec:
        return "component"
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def bounds(field: FieldInfo) -> str:
    """The numeric and length bounds of a field, e.g. ``≥ 1, < 1``."""
    found = []
    for meta in field.metadata:
        for cls, attribute, symbol in _BOUNDS:
            if isinstance(meta, cls):
                value = getattr(meta, attribute)
                found.append(f"{symbol} {value:g}" if isinstance(value, float) else f"{symbol} {value}")
    return ", ".join(found)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        if isinstance(value, ComponentSpec):
            return _inline(value.model_dump(mode="json"))
        return "(section)"
    if isinstance(value, list) and value and all(isinstance(v, ComponentSpec) for v in value):
        return _inline([v.model_dump(mode="json") for v in value])
    if isinstance(value, PurePath):
        return str(value)
    return _inline(value)


def _inline(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False).replace("|", "\\|")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _section_rows(model: type[BaseModel], prefix: str) -> list[tuple[str, FieldInfo]]:
    """(dotted path, field) for every field of ``model``, sections flattened depth first."""
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        inner = field.annotation
        nested = [
            a
            for a in (get_args(inner) or (inner,))
            if isinstance(a, type) and issubclass(a, BaseModel) and a is not ComponentSpec
        ]
        if nested and get_origin(inner) not in (list, dict):
            if field.description or not field.is_required():
                rows.append((path, field))
            rows.extend(_section_rows(nested[0], path))
        else:
            rows.append((path, field))
    return rows


def _entry_model(annotation: Any) -> type[BaseModel] | None:
    """The model of each entry of a section that maps names to entries (``arms: {name: ArmConfig}``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return None
    for arg in get_args(annotation):
        if get_origin(arg) is dict:
            value = get_args(arg)[1]
            if isinstance(value, type) and issubclass(value, BaseModel):
                return value
    return None


def _field_table(rows: list[tuple[str, FieldInfo]], kinds: dict[str, str]) -> list[str]:
    lines = ["| field | type | default | bounds | description |", "|---|---|---|---|---|"]
    for path, field in rows:
        kind = kinds.get(path)
        type_text = f"{KIND_LABELS.get(kind, kind)} (see below)" if kind else type_name(field.annotation)
        lines.append(
            f"| `{path}` | {_cell(type_text)} | `{_default(field)}` | {bounds(field)} | "
            f"{_cell(field.description or '')} |"
        )
    return lines


def render() -> str:
    """The whole reference as Markdown: config sections, then built-in components by kind."""
    kinds = {".".join(path): kind for path, kind in COMPONENT_FIELDS}
    kinds["curriculum.metrics"] = "difficulty_metric"
    kinds["eval.sets"] = "task"
    out = [
        "# Config reference",
        "",
        "Generated by `srd config reference` from the config schema and the built-in components' `Params`; "
        "do not edit by hand. Every field is optional unless its default says `required`. A component is "
        "written `{name: ..., **params}` (a bare name takes the defaults); its params are listed under its "
        "kind below. Installed plugins add their own: `srd plugins --all`.",
        "",
    ]
    for section, field in SRDConfig.model_fields.items():
        annotation = field.annotation
        out += [f"## `{section}`", ""]
        doc = (annotation.__doc__ or "").strip() if isinstance(annotation, type) else ""
        if field.description or doc:
            out += [_cell(field.description or doc.splitlines()[0]), ""]
        entry = _entry_model(annotation)
        rows = (
            _section_rows(cast("type[BaseModel]", annotation), section)
            if entry is None
            else [(section, field), *_section_rows(entry, f"{section}.<name>")]
        )  # a mapping of named entries (arms)
        out += [*_field_table(rows, kinds), ""]
    out += ["# Built-in components", ""]
    registry = get_registry()
    for kind in KINDS:
        entries = [e for e in registry.entries(kind) if e.distribution == "srd"]
        if not entries:
            continue
        out += [f"## {KIND_LABELS.get(kind, kind)} (`{kind}`)", ""]
        for component in entries:
            doc = (component.cls.__doc__ or "").strip()
            out += [f"### `{component.name}`", ""]
            if doc:
                out += [_cell(doc.split("\n\n")[0]), ""]
            fields = component.cls.Params.model_fields
            if not fields:
                out += ["No params.", ""]
                continue
            out += ["| param | type | default | bounds | description |", "|---|---|---|---|---|"]
            for name, field in fields.items():
                out.append(
                    f"| `{name}` | {_cell(type_name(field.annotation))} | `{_default(field)}` | "
                    f"{bounds(field)} | {_cell(field.description or '')} |"
                )
            out.append("")
    return "\n".join(out).rstrip() + "\n"
