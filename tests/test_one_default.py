"""One default per setting: a function in srd_core whose parameter stands for a config field must not keep its own
copy of that field's default (``kd_loss.distill_loss(chunk_size=128)`` beside ``train.kd_chunk_size: 128`` could
drift apart, and a caller that leaves the argument out would silently train with another value).

Read with ``ast``: a parameter matches a field when its name is the field's name or the field name's last
``_``-separated part(s) (``chunk_size`` ~ ``kd_chunk_size``), and its default is a literal, or a module-level name
bound to a literal, equal to the field's default.
"""

from __future__ import annotations

import ast
from pathlib import Path

from paths import REPO
from pydantic import BaseModel

from srd_core.config import SRDConfig

ALLOWED = {
    # neutral values that mean "no seed given" / "never", not a copy of a setting
    ("seed", 0),
    ("every", 0),
    # generate() is a generic batched-generation helper: the reflection pass and the evaluation pass their own
    # section's batch_size and data.max_prompt_tokens (not yet made required: see the issue-21 report)
    ("batch_size", 16),
    ("max_prompt_tokens", 256),
}


def config_defaults(model: type[BaseModel] = SRDConfig, prefix: str = "") -> dict[str, list[tuple[str, object]]]:
    """Field name → [(dotted path, default)] over every section of the config."""
    found: dict[str, list[tuple[str, object]]] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        inner = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        sections = [a for a in inner if issubclass(a, BaseModel)]
        if sections:
            for section in sections:
                for key, rows in config_defaults(section, f"{prefix}{name}.").items():
                    found.setdefault(key, []).extend(rows)
        else:
            found.setdefault(name, []).append((f"{prefix}{name}", field.default))
    return found


def literal_defaults(path: Path) -> list[tuple[int, str, str, object]]:
    """(line, function, parameter, default) of parameters whose default is a literal or a module constant."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant)
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        positional = args.posonlyargs + args.args
        pairs = [
            *zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True),
            *((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None),
        ]
        for arg, default in pairs:
            if isinstance(default, ast.Constant):
                value = default.value
            elif isinstance(default, ast.Name) and default.id in constants:
                value = constants[default.id]
            else:
                continue
            if value is not None and not isinstance(value, bool):
                found.append((node.lineno, node.name, arg.arg, value))
    return found


def duplicates(path: Path, fields: dict[str, list[tuple[str, object]]]) -> list[str]:
    """``line function(param=default) copies dotted.field`` for each copied default in ``path``."""
    out = []
    for line, function, param, value in literal_defaults(path):
        if (param, value) in ALLOWED:
            continue
        for name, rows in fields.items():
            if name == param or name.endswith(f"_{param}"):
                out += [
                    f"{line} {function}({param}={value!r}) copies {dotted}"
                    for dotted, default in rows
                    if default == value and type(default) is type(value)
                ]
    return out


def test_no_function_keeps_its_own_copy_of_a_config_default():
    fields = config_defaults()
    found = [
        f"{path.relative_to(REPO)}:{d}"
        for path in sorted((REPO / "srd_core").rglob("*.py"))
        for d in duplicates(path, fields)
    ]
    assert not found, "\n".join(found)


def test_the_check_finds_a_copied_default(tmp_path):
    source = tmp_path / "copy.py"
    source.write_text(
        "CHUNK = 128\n\n\ndef loss(x, chunk_size=CHUNK):\n    return x\n\n\n"
        "def rank(x, *, tie_break='data_order', n=3):\n    return x\n"
    )
    assert duplicates(source, config_defaults()) == [
        "4 loss(chunk_size=128) copies train.kd_chunk_size",
        "8 rank(tie_break='data_order') copies curriculum.tie_break",
    ]
