"""kind → name → component class, with the distribution that registered it."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from srd_core.components import KIND_BASES, Component
from srd_core.errors import DuplicateComponentError, PluginError, UnknownComponentError

KINDS: tuple[str, ...] = tuple(KIND_BASES)

# Human words for error messages: "unknown fusion 'rrff'", "unknown KD loss 'fk'".
KIND_LABELS: dict[str, str] = {
    "difficulty_metric": "difficulty metric",
    "fusion": "fusion",
    "selector": "selector",
    "pacer": "pacer",
    "schedule": "schedule",
    "kd_loss": "KD loss",
    "teacher_signal": "teacher signal",
    "response_source": "response source",
    "task": "task",
    "grouping": "grouping",
}


@dataclass(frozen=True)
class Entry:
    """A registered component: its class and where it came from."""

    kind: str
    name: str
    cls: type[Component]
    distribution: str
    plugin: str


class Registry:
    """All components of all loaded plugins; a name is unique within its kind."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}

    def add(self, kind: str, name: str, cls: type[Component], distribution: str, plugin: str) -> None:
        """Register ``cls`` under ``kind``/``name``; a second distribution using the name is an error."""
        if kind not in self._entries:
            raise PluginError(f"plugin {plugin!r} registers unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
        base = KIND_BASES[kind]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(
                f"plugin {plugin!r} registers {kind} {name!r} as {cls!r}, which is not a {base.__name__} subclass"
            )
        params = getattr(cls, "Params", None)
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise PluginError(f"{kind} {name!r} from {distribution} has no pydantic Params class")
        existing = self._entries[kind].get(name)
        if existing is not None and existing.cls is not cls:
            raise DuplicateComponentError(
                f"{KIND_LABELS[kind]} {name!r} is registered by two distributions: "
                f"{existing.distribution} ({existing.plugin}) and {distribution} ({plugin})"
            )
        self._entries[kind][name] = Entry(kind, name, cls, distribution, plugin)

    def names(self, kind: str) -> list[str]:
        """Registered names of ``kind``, sorted."""
        return sorted(self._entries[kind])

    def entries(self, kind: str | None = None) -> list[Entry]:
        """Entries of one kind, or of all kinds."""
        kinds = [kind] if kind else list(KINDS)
        return [self._entries[k][n] for k in kinds for n in sorted(self._entries[k])]

    def get(self, kind: str, name: str) -> Entry:
        """The entry for ``name``, or an error that suggests close names and lists the available ones."""
        if kind not in self._entries:
            raise PluginError(f"unknown component kind {kind!r} (kinds: {', '.join(KINDS)})")
        try:
            return self._entries[kind][name]
        except KeyError:
            available = self.names(kind)
            close = difflib.get_close_matches(str(name), available, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            listed = ", ".join(available) if available else "none installed"
            raise UnknownComponentError(f"unknown {KIND_LABELS[kind]} {name!r} ({hint}available: {listed})") from None

    def validate_params(self, kind: str, name: str, params: dict) -> BaseModel:
        """Validate ``params`` against the component's ``Params``; errors name the offending field."""
        entry = self.get(kind, name)
        fields = getattr(entry.cls.Params, "model_fields", {})
        for key, value in params.items():
            problem = number_problem(value, fields[key].annotation) if key in fields else None
            if problem:
                raise PluginError(f"{kind} {name!r}: {key}: {problem} (got {value!r})")
            if isinstance(value, float) and not math.isfinite(value):  # before the bounds, which would name inf
                raise PluginError(f"{kind} {name!r}: {key}: must be a finite number (got {value})")
        try:
            validated = entry.cls.Params.model_validate(params)
        except ValidationError as exc:
            raise PluginError(format_validation_error(exc, prefix=f"{kind} {name!r}", model=entry.cls.Params)) from None
        for where, value in _floats(validated.model_dump()):
            if not math.isfinite(value):
                raise PluginError(f"{kind} {name!r}: {where}: must be a finite number (got {value})")
        return validated

    def build(self, kind: str, name: str, params: dict | None = None) -> Component:
        """Instantiate a component with validated params."""
        validated = self.validate_params(kind, name, params or {})
        component = self.get(kind, name).cls(validated)
        component.name = name
        return component


def _leaf_types(annotation: Any) -> set[Any]:
    """The plain types an annotation accepts (``int | None`` → {int, NoneType}; Annotated unwrapped)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _leaf_types(get_args(annotation)[0])
    if origin is Literal:
        return {type(v) for v in get_args(annotation)}
    if origin in (Union, UnionType):
        return set().union(*(_leaf_types(a) for a in get_args(annotation)))
    return {origin or annotation}


def _item_types(annotation: Any) -> set[Any]:
    """The plain types the items of a list / tuple field accept (empty for other fields)."""
    types: set[Any] = set()
    for option in get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,):
        if get_origin(option) in (list, tuple):
            types |= set().union(*(_leaf_types(a) for a in get_args(option) if a is not Ellipsis))
    return types


def _number_problem(value: Any, types: set[Any]) -> str | None:
    if bool in types or not types & {int, float}:
        return None
    if isinstance(value, bool):
        return "expected a number, not a boolean"
    if isinstance(value, str) and str not in types:
        return "expected a number, not a string" if float in types else "expected an integer, not a string"
    return None


def number_problem(value: Any, annotation: Any) -> str | None:
    """What is wrong with ``value`` for a numeric field, or None: a bool where a number goes, or a string
    where a number goes (pydantic's lax mode reads ``true`` as 1 and ``"0.6"`` as 0.6; the config loader
    reads an unquoted ``3e-4`` as the number YAML 1.2 says it is, so a string here was quoted). List / tuple
    items are checked too."""
    problem = _number_problem(value, _leaf_types(annotation))
    if problem is None and isinstance(value, (list, tuple)):
        problem = next((p for item in value if (p := _number_problem(item, _item_types(annotation)))), None)
    return problem


def _floats(value, where: str = ""):
    """(dotted path, value) of every float in a dumped params tree."""
    if isinstance(value, float):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _floats(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _floats(item, f"{where}.{i}" if where else str(i))


def format_validation_error(exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> str:
    """One line from a pydantic error: ``field.path: message`` for each problem, joined by '; '.

    With ``model`` (the class validated), an unknown field names the closest known field of its section:
    ``train.learning_rate: unknown field (did you mean 'lr'?)``.
    """
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field" + _field_hint(model, err["loc"])
        elif err["type"] == "missing":
            msg = "required field is missing"
        got = err.get("input")
        detail = f" (got {got!r})" if err["type"] not in {"missing", "extra_forbidden"} and _short(got) else ""
        parts.append(f"{loc}: {msg}{detail}" if loc else f"{msg}{detail}")
    text = "; ".join(parts)
    return f"{prefix}: {text}" if prefix else text


def known_fields(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model section at ``loc`` (a pydantic error location) inside ``model``; empty
    when the location does not lead to a model (a list index into a plain type, a component's params)."""
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (``X | None``, ``list[X]``, ``dict[str, X]``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _field_hint(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """`` (did you mean 'lr'?)`` for the known field closest to the unknown one at ``loc``, or ''."""
    if not loc:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), known_fields(model, tuple(loc[:-1])), n=1, cutoff=0.6)
    if not close:
        close = [f for f in known_fields(model, tuple(loc[:-1])) if _words_overlap(str(loc[-1]), f)][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _words_overlap(unknown: str, known: str) -> bool:
    """Whether a word of ``unknown`` (split at ``_``) is a whole word or the abbreviation of ``known``:
    ``learning_rate`` → ``lr``."""
    words = [w for w in unknown.lower().split("_") if w]
    return known.lower() in words or (len(words) > 1 and "".join(w[0] for w in words) == known.lower())


def _short(value: object) -> bool:
    return isinstance(value, (str, int, float, bool)) and len(repr(value)) <= 60
