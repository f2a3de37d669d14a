"""Each artifact's own key agrees with its phase's declaration (issue 21).

The artifacts keep keys of their own beside the dependency rule (prepare.json, reflection.meta.json,
curation.meta.json, a checkpoint's ``config_key``). They are compared only while the phase runs, or
resumes, so a key that reads a config field its phase does not declare is a bug: the phase is
complete while its artifact says otherwise, or a resume is refused. For every config leaf this test
can change (to a value the config accepts), a changed key must come with a changed declared input of
the phase or of a phase it runs after (whose artifact it reads). The other direction is safe and not
required: a phase whose declaration changed sets its artifacts aside before their key is read.

Keys are kept as they are (their values are stored in users' run dirs), so the declarations are not
derived from them nor they from the declarations; ``training`` and ``reflection`` may not import
``pipeline`` (CONTRIBUTING's layers). This test ties the two together instead.
"""

from __future__ import annotations

import copy

import pytest
from rerun_helpers import base_config, write_data

from srd_core.config import config_from_dict
from srd_core.curation.curate import curation_fingerprint
from srd_core.data.samples import load_samples
from srd_core.fingerprints import flatten
from srd_core.io import fingerprint
from srd_core.models.prepare import prepare_key
from srd_core.pipeline.phases import phases_for
from srd_core.pipeline.planner import field_inputs
from srd_core.reflection.reflect import run_reflection_key
from srd_core.training.loop import config_key
from srd_core.training.stages import label_settings

ALLOWED = {
    # prepare_key holds the whole teacher and student sections; the presets it builds ignore these, and a model
    # given by path is a file input of the phase (its content hash), which is what it is read for
    **{
        ("prepare", f"{role}.{name}"): "read only for a model given by path, whose files are an input"
        for role in ("teacher", "student")
        for name in ("adapter", "revision", "trust_remote_code")
    },
}
MUST_COVER = (
    "data.limit_train",
    "data.max_length",
    "reflection.batch_size",
    "reflection.max_new_tokens",
    "train.lr",
    "train.batch_size",
    "run.seed",
    "curriculum.fusion.k",
    "curriculum.selector.ratio",
    "prepare.vocab_size",
)


def _candidates(value):
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value + 2, max(value - 1, 0)]
    if isinstance(value, float):
        return [value * 0.5 + 0.01, value + 0.1]
    if isinstance(value, str):
        return [value + "x", "cosine", "linear", "greedy", "float32", "bf16", "skip", "none"]
    if value is None:
        return [1, 0.5, True, "x", 16]
    return []


def _set(tree, path, value):
    *parents, last = path.split(".")
    for part in parents:
        tree = tree[part]
    tree[last] = value


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    write_data(root)
    return root


def _run_dir(workspace):
    run_dir = config_from_dict(base_config()).run.dir
    for role in ("teacher", "student"):  # stand-ins for the prepared models (the keys read their files' stats)
        (run_dir / "prepared" / role).mkdir(parents=True, exist_ok=True)
        (run_dir / "prepared" / role / "config.json").write_text("{}")
    (run_dir / "reflection.jsonl").write_text("{}\n")
    return run_dir


def artifact_keys(config, run_dir):
    """The key of each phase's artifact, as the code that writes it computes it."""
    samples = load_samples(config, "train")
    return {
        "prepare": prepare_key(config),
        "reflect": fingerprint(run_reflection_key(config, run_dir, samples)),
        "curate": curation_fingerprint(run_dir / "reflection.jsonl", config.curriculum, samples),
        **{f"train_{label}": config_key(config, label_settings(config, label)) for label in ("srd", "baseline")},
    }


def declared(config):
    """Each phase's declared config inputs with those of every phase it runs after."""
    phases = {p.name: p for p in phases_for(config)}

    def closure(name, seen):
        seen.add(name)
        for upstream in phases[name].after(config):
            if upstream not in seen:
                closure(upstream, seen)
        return seen

    return {
        name: fingerprint({n: field_inputs(phases[n], config) for n in sorted(closure(name, set()))}) for name in phases
    }


def undeclared(keys, run_dir) -> tuple[list[str], list[str]]:
    """(problems, covered leaves): every config leaf changed in turn, keys against declarations."""
    base = config_from_dict(base_config())
    dumped = base.model_dump(mode="json")
    keys0, declared0 = keys(base, run_dir), declared(base)
    covered, problems = [], []
    for path, value in flatten(dumped, "config").items():
        path = path[len("config.") :]
        if path.startswith("run.") and path != "run.seed":  # where the run lives, not what it computes
            continue
        for candidate in _candidates(value):
            changed = copy.deepcopy(dumped)
            _set(changed, path, candidate)
            try:
                config = config_from_dict(changed)
                keys1, declared1 = keys(config, run_dir), declared(config)
            except Exception:  # a value the config (or a component's Params, or the data loader) refuses
                continue
            covered.append(path)
            for phase in keys0:
                if (
                    keys0[phase] != keys1[phase]
                    and declared0[phase] == declared1[phase]
                    and (phase, path) not in ALLOWED
                ):
                    problems.append(f"{phase}: its artifact key reads {path}, which it does not declare")
            break
    return problems, covered


def test_every_artifact_key_reads_only_what_its_phase_declares(workspace, monkeypatch):
    monkeypatch.chdir(workspace)  # the config's data paths are relative to the workspace
    problems, covered = undeclared(artifact_keys, _run_dir(workspace))
    assert not problems, "\n".join(problems)
    assert set(MUST_COVER) <= set(covered), sorted(set(MUST_COVER) - set(covered))
    assert len(covered) >= 60, len(covered)


def test_a_key_that_reads_an_undeclared_field_is_caught(workspace, monkeypatch):
    """The check can fail: a reflection key that also read eval.max_new_tokens is reported."""
    monkeypatch.chdir(workspace)

    def wrong(config, run_dir):
        found = artifact_keys(config, run_dir)
        found["reflect"] = fingerprint([found["reflect"], config.eval.max_new_tokens])
        return found

    problems, _ = undeclared(wrong, _run_dir(workspace))
    assert problems == ["reflect: its artifact key reads eval.max_new_tokens, which it does not declare"]
