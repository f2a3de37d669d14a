"""Training on student-generated responses: TRL's GKD loss, ground-truth identity, metrics, seeding,
the dev-loss update, kill -9 and resume, and the cache refusal."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from paths import TRAIN_WORKER
from safetensors.torch import load_file
from tiny_run import make_config, make_workspace, raw_config, read_rows, write_config, write_curation
from transformers import AutoModelForCausalLM, AutoTokenizer

from srd_core.config import config_from_dict, load_config
from srd_core.data.encoding import IGNORE_INDEX, encode_example
from srd_core.data.samples import load_samples
from srd_core.errors import ConfigError
from srd_core.io import write_jsonl_atomic
from srd_core.pipeline.validation import validate_config
from srd_core.training.checkpoint import latest_checkpoint, list_checkpoints, load_responses
from srd_core.training.loop import train
from srd_core.training.responses import StepFeed

CONSTANT = {"temperature": {"name": "constant", "value": 2.0}, "sft_weight": {"name": "constant", "value": 0.0}}
TIMING_FIELDS = {"wall_time", "tokens_per_s", "teacher_share", "generation_seconds"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("ws"))


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fixed_generations(monkeypatch) -> list[tuple[str, list[int]]]:
    """Replace the student's sampling by fixed responses of varied lengths (some without EOS); returns the log."""
    made: list[tuple[str, list[int]]] = []

    def generate(self, ids):
        eos = self.tokenizer.eos_token_id
        out = []
        for i in ids:
            n = int(i[1:])
            response = [(7 * n + 3 * k) % 250 + 10 for k in range(2 + n % 7)] + ([eos] if n % 3 else [])
            out.append(response)
            made.append((i, response))
        return out

    monkeypatch.setattr(StepFeed, "generate", generate)
    return made


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_on_policy_loss_equals_trl_generalized_jsd(ws, monkeypatch, beta):
    from trl.experimental.gkd import GKDTrainer

    made = fixed_generations(monkeypatch)
    cfg = make_config(
        ws,
        f"trl-{beta}",
        train={
            "responses": {"name": "on_policy", "lmbda": 1.0},
            "kd_loss": {"name": "jsd", "beta": beta},
            "max_steps": 1,
            **CONSTANT,
        },
    )
    train(cfg, cfg.run.dir, "srd")
    row = read_rows(cfg.run.dir / "srd" / "metrics.jsonl")[0]
    assert row["response_source"] == "generated" and len(made) == cfg.train.batch_size

    tokenizer = AutoTokenizer.from_pretrained(ws / "student")
    student = AutoModelForCausalLM.from_pretrained(ws / "student").eval()
    teacher = AutoModelForCausalLM.from_pretrained(ws / "teacher").eval()
    feed = StepFeed(cfg, "srd", cfg.run.dir, None, student, tokenizer, {s.id: s for s in load_samples(cfg, "train")})
    examples = [feed.example(i, r) for i, r in made]
    width = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), width), tokenizer.pad_token_id)
    labels = torch.full((len(examples), width), IGNORE_INDEX)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for k, e in enumerate(examples):
        input_ids[k, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[k, : len(e.labels)] = torch.tensor(e.labels)
        mask[k, : len(e.input_ids)] = 1
    with torch.no_grad():
        s_logits = student(input_ids=input_ids, attention_mask=mask).logits[:, :-1]
        t_logits = teacher(input_ids=input_ids, attention_mask=mask).logits[:, :-1]
    expected = GKDTrainer.generalized_jsd_loss(s_logits, t_logits, labels[:, 1:], beta=beta, temperature=2.0)
    assert row["loss"] == pytest.approx(float(expected), abs=1e-5, rel=1e-5)
    assert row["kd"] == pytest.approx(float(expected), abs=1e-5, rel=1e-5)
    assert float(expected) > 1e-4  # the models disagree: the comparison can fail


def _student_ce(ws, examples) -> float:
    """The initial student's token-mean CE on the response tokens of ``examples``."""
    tokenizer = AutoTokenizer.from_pretrained(ws / "student")
    student = AutoModelForCausalLM.from_pretrained(ws / "student").eval()
    width = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), width), tokenizer.pad_token_id)
    labels = torch.full((len(examples), width), IGNORE_INDEX)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for k, e in enumerate(examples):
        input_ids[k, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[k, : len(e.labels)] = torch.tensor(e.labels)
        mask[k, : len(e.input_ids)] = 1
    with torch.no_grad():
        logits = student(input_ids=input_ids, attention_mask=mask).logits[:, :-1]
    return float(
        torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
        )
    )


def test_sft_on_batch_moves_the_sft_term_onto_the_generated_sequences(ws, monkeypatch):
    """sft_on: ground_truth (default) takes the CE on the step's dataset responses; batch takes it on the
    generated sequences the KD term sees (DistiLLM's finetune.py: one lm_loss on the chosen batch's labels)."""
    made = fixed_generations(monkeypatch)
    rows, weights = {}, {}
    for sft_on in ("ground_truth", "batch"):
        made.clear()
        cfg = make_config(
            ws,
            f"sft-{sft_on}",
            train={
                "responses": {"name": "on_policy", "lmbda": 1.0, "sft_on": sft_on},
                "max_steps": 1,
                "temperature": {"name": "constant", "value": 1.0},
                "sft_weight": {"name": "constant", "value": 0.5},
            },
        )
        train(cfg, cfg.run.dir, "srd")
        rows[sft_on] = read_rows(cfg.run.dir / "srd" / "metrics.jsonl")[0]
        weights[sft_on] = load_file(cfg.run.dir / "srd" / "final" / "model.safetensors")
        assert rows[sft_on]["response_source"] == "generated"
    tokenizer = AutoTokenizer.from_pretrained(ws / "student")
    samples = {s.id: s for s in load_samples(cfg, "train")}
    feed = StepFeed(cfg, "srd", cfg.run.dir, None, None, tokenizer, samples)
    generated = _student_ce(ws, [feed.example(i, r) for i, r in made])
    d = cfg.data
    truth = _student_ce(
        ws,
        [
            encode_example(tokenizer, samples[i].prompt, samples[i].target, d.max_prompt_tokens, d.max_length)
            for i, _ in made
        ],
    )
    assert abs(generated - truth) > 1e-2  # the two batches differ: the comparison can fail
    assert rows["ground_truth"]["ce"] == pytest.approx(truth, rel=1e-5)
    assert rows["batch"]["ce"] == pytest.approx(generated, rel=1e-5)
    assert rows["batch"]["kd"] == pytest.approx(rows["ground_truth"]["kd"], rel=1e-6)  # the KD term is the same
    for r in rows.values():
        assert r["loss"] == pytest.approx(0.5 * r["ce"] + 0.5 * r["kd"], rel=1e-5)
    a, b = weights["ground_truth"], weights["batch"]
    assert any(not torch.equal(a[k], b[k]) for k in a)  # and the gradient follows it


def test_on_policy_without_student_samples_trains_exactly_as_ground_truth(ws):
    weights = {}
    for name, responses in (("gt", {"name": "ground_truth"}), ("lmbda0", {"name": "on_policy", "lmbda": 0.0})):
        cfg = make_config(ws, name, train={"responses": responses, "max_steps": 6})
        train(cfg, cfg.run.dir, "srd")
        weights[name] = load_file(cfg.run.dir / "srd" / "final" / "model.safetensors")
    a, b = weights["gt"], weights["lmbda0"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_generated_steps_metrics_and_summary(ws):
    cfg = make_config(
        ws,
        "metrics",
        curriculum={"pacer": {"name": "all", "epochs": 2}},
        train={
            "responses": {
                "name": "adaptive",
                "init_threshold": 0.8,
                "capacity": 8,
                "max_new_tokens": 6,
                "temperature": 1.3,
            }
        },
    )
    summary = train(cfg, cfg.run.dir, "srd")
    rows = read_rows(cfg.run.dir / "srd" / "metrics.jsonl")
    sources = [r["response_source"] for r in rows]
    assert set(sources) == {"generated", "replay", "ground_truth"}
    assert summary.responses["steps"] == {s: sources.count(s) for s in ("ground_truth", "generated", "replay")}
    assert summary.responses["generated_tokens"] == sum(r["generated_tokens"] for r in rows) > 0
    for r in rows:
        assert (r["generated_tokens"] > 0) == (r["response_source"] == "generated")
        assert 0 < r["buffer_size"] <= 8 and r["threshold"] == 0.8
        assert r["generation_seconds"] >= 0 and (r["generation_seconds"] > 0) == (r["response_source"] == "generated")
        assert r["loss"] == pytest.approx(r["w_sft"] * r["ce"] + (1 - r["w_sft"]) * r["kd"], rel=1e-5)
        assert r["generated_tokens"] <= 6 * cfg.train.batch_size


def test_reflection_outputs_seed_the_buffer_per_stage(ws, monkeypatch):
    fixed_generations(monkeypatch)
    ids = [f"s{i}" for i in range(24)]
    run_dir = ws / "seeded"
    write_curation(run_dir, ids)  # bins of 6: s0-s5, s6-s11, s12-s17
    write_jsonl_atomic(
        run_dir / "reflection.jsonl",
        [
            {
                "id": i,
                "prompt_hash": "",
                "output": f"out {i}",
                "ce": 1.0,
                "prompt_tokens": 1,
                "response_tokens": 1,
                "output_tokens": 1,
            }
            for i in ids
        ],
    )
    cfg = make_config(
        ws,
        "seeded",
        curriculum={"pacer": {"name": "baby_step", "num_bins": 3, "epochs_per_stage": 1}},
        train={"responses": {"name": "adaptive", "seed_from_reflection": True, "init_threshold": 0.0}},
    )
    seeded = []
    original = StepFeed.stage_start

    def spy(self, stage_ids):
        before = len(self.totals.seeded)
        original(self, stage_ids)
        seeded.append(list(self.totals.seeded[before:]))
        tokenizer = self.tokenizer
        for i, response in list(self.source.buffer.items)[-len(seeded[-1]) :]:
            assert tokenizer.decode(response, skip_special_tokens=True).strip() == f"out {i}"

    monkeypatch.setattr(StepFeed, "stage_start", spy)
    summary = train(cfg, run_dir, "srd")
    assert [set(s) for s in seeded] == [set(ids[:6]), set(ids[6:12]), set(ids[12:18])]  # each stage its new samples
    assert summary.responses["steps"]["ground_truth"] == summary.steps  # θ = 0: seeding alone trains nothing


def test_dev_loss_update_runs_in_the_loop(ws):
    data = raw_config(ws)["data"]
    dev = {**data["train"], "eval": str(ws / "train.jsonl")}
    cfg = make_config(
        ws,
        "devloss",
        data={**data, "dev": dev},
        curriculum={"pacer": {"name": "all", "epochs": 3}},
        train={
            "responses": {
                "name": "adaptive",
                "threshold_update": "dev_loss",
                "loss_eps": 0.0,
                "update_every": 3,
                "init_threshold": 0.2,
                "max_new_tokens": 4,
            },
            "lr": 0.5,
            "max_grad_norm": None,
        },
    )  # a large LR: the dev loss rises
    train(cfg, cfg.run.dir, "srd")
    rows = read_rows(cfg.run.dir / "srd" / "metrics.jsonl")
    thresholds = [r["threshold"] for r in rows]
    assert thresholds[0] == 0.2 and max(thresholds) > 0.2
    changes = [r["step"] for a, r in itertools.pairwise(rows) if r["threshold"] != a["threshold"]]
    assert all(step % 3 == 1 for step in changes)  # raised after steps 3, 6, ... so seen from the next step


def test_cached_teacher_signal_with_generated_responses_is_refused(ws):
    for section, field in (("train", "train.teacher_signal"), ("baseline", "baseline.teacher_signal")):
        raw = raw_config(ws, "cache", train={"responses": {"name": "on_policy"}})
        raw.setdefault(section, {})["teacher_signal"] = {"name": "topk", "k": 8}
        with pytest.raises(ConfigError) as err:
            validate_config(config_from_dict(raw), "cfg.yaml", files=False)
        message = str(err.value)
        assert "\n" not in message and "train.responses" in message and field in message
    ok = raw_config(ws, "cache", train={"teacher_signal": {"name": "topk", "k": 8}})
    validate_config(config_from_dict(ok), "cfg.yaml", files=False, evaluates=False)  # the ground truth: a cache is fine


def test_the_refusal_reads_the_arms_the_run_trains(ws):
    """With an `arms` section the check reads each listed arm's signal: an arm's own cache is refused by its
    field, and an unused template's cache (no arm built like it) does not matter."""
    raw = raw_config(ws, "cache", train={"responses": {"name": "on_policy"}})
    raw["arms"] = {"srd": {}, "kd_top": {"like": "baseline", "teacher_signal": {"name": "topk", "k": 8}}}
    with pytest.raises(ConfigError) as err:
        validate_config(config_from_dict(raw), "cfg.yaml", files=False, evaluates=False)
    assert "\n" not in str(err.value) and "arms.kd_top.teacher_signal 'topk'" in str(err.value)
    raw = raw_config(
        ws, "cache", train={"responses": {"name": "on_policy"}}, baseline={"teacher_signal": {"name": "topk", "k": 8}}
    )
    raw["arms"] = {"srd": {}, "kd": {"pacer": "all"}}  # no arm reads the baseline section
    validate_config(config_from_dict(raw), "cfg.yaml", files=False, evaluates=False)
    raw["arms"]["kd"]["like"] = "baseline"
    with pytest.raises(ConfigError, match=r"cached baseline\.teacher_signal 'topk'"):
        validate_config(config_from_dict(raw), "cfg.yaml", files=False, evaluates=False)


def test_cache_refusal_exits_2_from_the_cli(ws):
    path = write_config(ws, "cli-cache", train={"responses": "adaptive", "teacher_signal": {"name": "full"}})
    srd = str(Path(sys.executable).parent / "srd")
    result = subprocess.run([srd, "config", "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "train.responses" in lines[0] and "train.teacher_signal" in lines[0]


def test_dev_loss_update_needs_a_dev_split(ws):
    raw = raw_config(ws, "nodev", train={"responses": {"name": "adaptive", "threshold_update": "dev_loss"}})
    with pytest.raises(ConfigError, match=r"train\.responses\.threshold_update"):
        validate_config(config_from_dict(raw), None, files=False, evaluates=False)


def _run_worker(config: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "SRD_LOAD_PLUGINS": ""}
    return subprocess.Popen(
        [sys.executable, str(TRAIN_WORKER), str(config), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_resume_after_kill_9_gives_the_same_weights(tmp_path):
    """The buffer, both streams and the dev-loss threshold update (θ and its reference loss) go through the
    checkpoint: θ rises before and after the resumed step, and every row and weight is the uninterrupted run's."""
    ws = make_workspace(tmp_path)
    responses = {
        "name": "adaptive",
        "init_threshold": 0.9,
        "capacity": 8,
        "max_new_tokens": 6,
        "temperature": 1.5,
        "replay_ratio": "constant",
        "threshold_update": "dev_loss",
        "loss_eps": 0.0,
        "threshold_step": 0.01,
        "update_every": 1,
    }
    train_section = {
        "checkpoint_every": 1,
        "keep_checkpoints": 2,
        "responses": responses,
        "lr": 0.5,
        "max_grad_norm": None,
    }  # a large LR: the dev loss rises, so θ moves
    curriculum = {"pacer": {"name": "baby_step", "num_bins": 3, "epochs_per_stage": 2}}
    data = raw_config(ws)["data"]
    data = {**data, "dev": {**data["train"], "eval": str(ws / "train.jsonl")}}
    configs = {}
    for name in ("full", "killed"):
        write_curation(ws / name, [f"s{i}" for i in range(24)])
        configs[name] = write_config(ws, name, data=data, curriculum=curriculum, train=train_section)

    marker = tmp_path / "paused"
    killed = _run_worker(configs["killed"], "--pause-at", "12", str(marker))
    train(load_config(configs["full"]), ws / "full", "srd")  # the uninterrupted run, meanwhile, here
    deadline = time.time() + 180
    while not marker.exists():
        assert killed.poll() is None, killed.communicate()[0]
        assert time.time() < deadline, "the run never reached the pause"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    checkpoints = ws / "killed" / "srd" / "checkpoints"
    assert [p.name for p in list_checkpoints(checkpoints)] == ["step-0000010", "step-0000011"]
    saved = load_responses(latest_checkpoint(checkpoints))
    assert saved["source"]["buffer"] and "rng" in saved["source"]  # the buffer and the stream are in it
    assert saved["source"]["reference_loss"] is not None and saved["source"]["threshold"] > 0.9  # and the update

    resumed = _run_worker(configs["killed"])
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert "resumed_from_step=11 steps=20" in out
    full = read_rows(ws / "full" / "srd" / "metrics.jsonl")
    again = read_rows(ws / "killed" / "srd" / "metrics.jsonl")
    strip = [[{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows] for rows in (full, again)]
    assert strip[0] == strip[1]
    assert {"generated", "replay"} <= {r["response_source"] for r in full[11:]}  # resumed steps used both
    raised = [a["step"] for a, b in itertools.pairwise(full) if b["threshold"] > a["threshold"]]  # after step a
    assert min(raised) <= 11 and 12 in raised  # θ rose before the checkpoint the rerun resumed from (step 11), and
    # at its first dev-loss check: a resumed run that lost the reference loss would only record it there
    a = load_file(ws / "full" / "srd" / "final" / "model.safetensors")
    b = load_file(ws / "killed" / "srd" / "final" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_shipped_examples_validate_and_say_what_they_are():
    from paths import EXAMPLES

    distillm = validate_config(load_config(EXAMPLES / "distillm.yaml"), files=False)
    assert distillm.train.kd_loss.name == "srkl" and distillm.train.kd_loss.params["alpha"] == 0.1
    assert distillm.train.responses.name == "adaptive"
    assert {k: distillm.train.responses.params[k] for k in ("init_threshold", "capacity", "replay_ratio")} == {
        "init_threshold": 0.2,
        "capacity": 1000,
        "replay_ratio": "decreasing",
    }
    gkd = validate_config(load_config(EXAMPLES / "gkd-on-policy.yaml"), files=False)
    assert gkd.train.kd_loss.name == "jsd" and gkd.train.responses.name == "on_policy"
    assert gkd.train.responses.params["lmbda"] == 1.0


def test_seeding_from_the_reflection_makes_training_read_it(ws):
    from srd_core.pipeline.phases import phases_for

    for label in ("srd", "baseline"):
        plain = make_config(ws, "phases", train={"responses": {"name": "adaptive"}})
        phase = {p.name: p for p in phases_for(plain)}[f"train_{label}"]
        seeded = make_config(ws, "phases", train={"responses": {"name": "adaptive", "seed_from_reflection": True}})
        assert "reflection.jsonl" not in phase.files(plain, ws) and "reflect" not in phase.after(plain)
        assert phase.files(seeded, ws)["reflection.jsonl"] == ws / "reflection.jsonl"
        assert "reflect" in phase.after(seeded) and "train.responses" in phase.fields(seeded)
