"""docs/config-reference.md is generated from the schema and must match the current code."""

from __future__ import annotations

from paths import REPO

from srd_core.config import SRDConfig
from srd_core.config_reference import render, type_name
from srd_core.plugins import get_registry

DOC = REPO / "docs" / "config-reference.md"


def test_committed_reference_is_current():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/config-reference.md is out of date: run `srd config reference > docs/config-reference.md`"
    )


def _leaf_paths(model, prefix=""):
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        nested = getattr(field.annotation, "model_fields", None)
        if nested is not None and field.annotation.__name__ != "ComponentSpec":
            yield from _leaf_paths(field.annotation, path)
        else:
            yield path


def test_every_field_and_builtin_param_is_listed():
    text = render()
    for path in _leaf_paths(SRDConfig):
        assert f"| `{path}` |" in text, path
    for entry in get_registry().entries():
        if entry.distribution == "srd":
            assert f"### `{entry.name}`" in text
            for param in entry.cls.Params.model_fields:
                assert f"| `{param}` |" in text, (entry.name, param)


def test_bounds_and_defaults_are_rendered():
    text = render()
    assert "| `train.lr` | float | `0.0001` | > 0, ≤ 1 |" in text
    assert '| `curriculum.fusion` | fusion (see below) | `{"name": "rrf"}` |' in text
    assert type_name(int | None) == "int | null"
