"""Every size, count and epoch field is bounded by what a machine could ever run, and says its bound.

Walks the config's sections and the ``Params`` of every built-in component: each integer field (seeds
aside, which have their own range) and each float counting epochs or minutes has an upper bound, and its
description states it. Also: ``srd config validate`` stays quick because it imports no torch.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing
from types import UnionType

import pytest
from paths import REPO
from pydantic import BaseModel

from srd_core.config import SRDConfig, load_config
from srd_core.errors import ConfigError
from srd_core.plugins import get_registry

FLOAT_COUNTS = ("epochs", "epochs_per_stage", "checkpoint_minutes")


def _leaves(annotation) -> set:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _leaves(typing.get_args(annotation)[0])
    if origin in (typing.Union, UnionType, list, tuple, dict):
        return set().union(*(_leaves(a) for a in typing.get_args(annotation) if a is not Ellipsis))
    return {annotation}


def _upper(info) -> float | None:
    for meta in info.metadata:
        for attr in ("le", "lt"):
            if getattr(meta, attr, None) is not None:
                return getattr(meta, attr)
    return None


def _fields(model: type[BaseModel], prefix: str):
    """(dotted path, FieldInfo) of every field of ``model`` and of the sections nested in it."""
    for name, info in model.model_fields.items():
        nested = [t for t in _leaves(info.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
        for section in nested:
            if section.__name__ != "ComponentSpec":
                yield from _fields(section, f"{prefix}{name}.")
        yield f"{prefix}{name}", info


def _sized(path: str, info) -> bool:
    leaves, name = _leaves(info.annotation), re.split(r"[.: ]", path)[-1]
    if name in ("seed", "seeds"):
        return False
    return (int in leaves and bool not in leaves) or name in FLOAT_COUNTS


def _all_fields():
    yield from _fields(SRDConfig, "")
    for entry in get_registry().entries():
        if entry.distribution == "srd":
            yield from _fields(entry.cls.Params, f"{entry.kind} {entry.name!r}: ")


SIZED = [(path, info) for path, info in _all_fields() if _sized(path, info)]


def test_the_walk_finds_the_fields_named_in_the_issue():
    paths = {path for path, _ in SIZED}
    for expected in (
        "train.batch_size",
        "train.kd_chunk_size",
        "prepare.vocab_size",
        "pacer 'baby_step': epochs_per_stage",
        "task 'synthetic': n_train",
        "pacer 'all': epochs",
    ):
        assert expected in paths


@pytest.mark.parametrize("path,info", SIZED, ids=[path for path, _ in SIZED])
def test_every_size_count_and_epoch_field_has_a_stated_upper_bound(path, info):
    bound = _upper(info)
    assert bound is not None, f"{path} has no upper bound"
    assert bound <= 2**31 or path.endswith("seed"), f"{path}: {bound} is no bound a machine meets"
    assert f"≤ {bound:,}" in (info.description or "") or f"at most {bound}" in (info.description or ""), (
        f"{path}: the description does not state the bound"
    )


@pytest.mark.parametrize(
    "override,field",
    [
        ("train.batch_size=1e30", "train.batch_size"),
        ("train.kd_chunk_size=9223372036854775808", "train.kd_chunk_size"),
        ("curriculum.pacer.epochs_per_stage=1e12", "curriculum.pacer.epochs_per_stage"),
        ("data.train.n_train=1e9", "data.train.n_train"),
        ("prepare.vocab_size=1e12", "prepare.vocab_size"),
    ],
)
def test_values_no_machine_can_run_are_refused_naming_the_field(override, field):
    with pytest.raises(ConfigError, match=rf"demo\.yaml: {field.replace('.', '[.]')}: "):
        load_config(REPO / "examples" / "demo.yaml", [override])


def test_config_validate_imports_neither_torch_nor_transformers():
    """Plugins' modules, presets and trackers import torch / transformers / accelerate / matplotlib where they use
    them, so validating the demo config (which loads every plugin) costs well under a second of imports."""
    code = (
        "import sys\nfrom srd_core.cli import main\n"
        "sys.argv = ['srd', 'config', 'validate', 'examples/demo.yaml']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = ('torch', 'transformers', 'accelerate', 'datasets', 'matplotlib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["examples/demo.yaml: valid", "[]"]
