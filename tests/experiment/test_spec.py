"""The experiment file: validation errors in one line, the planned runs, and every shipped experiment."""

from __future__ import annotations

import pytest
import yaml
from micro import write_micro_experiment
from paths import EXAMPLES

from srd_core.errors import ConfigError
from srd_core.experiment.spec import load_experiment

SHIPPED = sorted((EXAMPLES / "experiments").glob("*.yaml"))


def test_plans_every_variant_and_seed_with_its_overrides(tmp_path):
    exp = load_experiment(write_micro_experiment(tmp_path, seeds=(3, 4)))
    assert [(r.variant, r.seed, r.name) for r in exp.runs] == [
        ("lambda-0.75", 3, "lambda-0.75-seed3"),
        ("lambda-0.75", 4, "lambda-0.75-seed4"),
        ("lambda-0.5", 3, "lambda-0.5-seed3"),
        ("lambda-0.5", 4, "lambda-0.5-seed4"),
    ]
    assert {r.config.curriculum.selector.params["ratio"] for r in exp.runs} == {0.75, 0.5}
    assert [r.config.run.seed for r in exp.runs] == [3, 4, 3, 4]
    assert all(r.config.run.dir == exp.runs_dir / r.name for r in exp.runs)
    assert exp.directory == tmp_path / "experiments" / "micro"


def test_inline_base_and_seed_fields(tmp_path):
    base = yaml.safe_load((EXAMPLES / "demo.yaml").read_text())
    path = tmp_path / "inline.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "base": base,
                "seeds": [7],
                "seed_fields": ["run.seed", "data.train.seed"],
                "variants": {"a": ["train.lr=0.5"]},
            }
        )
    )
    exp = load_experiment(path, jobs=3)
    (run,) = exp.runs
    assert (run.config.run.seed, run.config.data.train.params["seed"], run.config.train.lr) == (7, 7, 0.5)
    assert exp.spec.jobs == 3 and exp.directory.name == "inline"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"base": "missing.yaml"}, r"base: missing.yaml not found"),
        ({"base": "../demo.yaml", "seed": 1}, r"seed: unknown field"),
        ({"base": "../demo.yaml", "seeds": [1, 1]}, r"seeds must be unique"),
        ({"base": "../demo.yaml", "variants": {"a b": []}}, r"variant name 'a b'"),
        ({"base": "../demo.yaml", "reference": "nope"}, r"reference 'nope' is not a variant"),
        ({"base": "../demo.yaml", "variants": {"bad": ["train.lr=-1"]}}, r"variants\.bad \(seed 0\): train\.lr"),
        (
            {"base": "../demo.yaml", "variants": {"bad": ["curriculum.pacer.order=sideways"]}},
            r"variants\.bad \(seed 0\): curriculum\.pacer\.order",
        ),
        # what the experiment sets for each run would silently win over an override
        (
            {"base": "../demo.yaml", "variants": {"a": ["run.seed=3"]}},
            r"variants\.a: 'run\.seed' sets run\.seed, which seeds",
        ),
        ({"base": "../demo.yaml", "overrides": ["run.name=mine"]}, r"overrides: 'run\.name' sets run\.name"),
        (
            {"base": "../demo.yaml", "variants": {"a": ["run={parallel_arms: false}"]}},
            r"variants\.a: 'run' sets run\.name",
        ),
    ],
)
def test_bad_experiment_files_fail_in_one_line_naming_file_and_field(tmp_path, spec, message):
    (tmp_path / "sub").mkdir()
    (tmp_path / "demo.yaml").write_text((EXAMPLES / "demo.yaml").read_text())
    path = tmp_path / "sub" / "bad.yaml"
    path.write_text(yaml.safe_dump({"seeds": [0], **spec}))
    with pytest.raises(ConfigError, match=message) as info:
        load_experiment(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_experiment_plans_valid_runs(path):
    exp = load_experiment(path)
    assert len(exp.spec.seeds) >= 3 and exp.runs
    assert len({r.name for r in exp.runs}) == len(exp.runs)


def test_the_shipped_experiments_are_the_issue_s_ablations():
    names = {p.stem for p in SHIPPED}
    assert names == {
        "srd-vs-kd",
        "lambda",
        "curriculum-order",
        "schedules",
        "metrics",
        "noise",
        "student-generated",
        "stratify",
    }
    ratios = {
        r.config.curriculum.selector.params["ratio"]
        for r in load_experiment(EXAMPLES / "experiments" / "lambda.yaml").runs
    }
    assert ratios == {1.0, 0.75, 0.5}
    orders = {
        r.config.curriculum.pacer.params["order"]
        for r in load_experiment(EXAMPLES / "experiments" / "curriculum-order.yaml").runs
    }
    assert orders == {"easy_to_hard", "hard_to_easy", "random"}
    noise = {r.config.data.train.params["noise"] for r in load_experiment(EXAMPLES / "experiments" / "noise.yaml").runs}
    assert noise == {0.0, 0.1, 0.2}
    generated = load_experiment(EXAMPLES / "experiments" / "student-generated.yaml").runs
    sources = {(r.config.train.kd_loss.name, r.config.train.responses.name) for r in generated}
    assert sources == {("srkl", "ground_truth"), ("srkl", "adaptive"), ("jsd", "on_policy")}
    assert {r.variant for r in generated if r.config.train.responses.params.get("seed_from_reflection")} == {
        "distillm-seeded"
    }
    assert all(list(r.config.arms) == ["srd", "baseline"] for r in generated)  # with and without SRD, nothing else
    stratify = {
        (r.config.curriculum.stratify, r.config.curriculum.groups.name)
        for r in load_experiment(EXAMPLES / "experiments" / "stratify.yaml").runs
    }
    assert stratify == {(False, "none"), (True, "field"), (True, "kmeans")}
    # the ablations train only the arms they compare: the srd arm (noise: also plain KD, which the noise changes)
    for name in ("lambda", "curriculum-order", "schedules", "metrics", "stratify", "noise"):
        arms = {tuple(r.config.arms) for r in load_experiment(EXAMPLES / "experiments" / f"{name}.yaml").runs}
        assert arms == ({("srd", "baseline")} if name == "noise" else {("srd",)}), name
