"""Response sources: the registration hook, DistiLLM's adaptive rule step by step, replay, mixed, on-policy, state."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from srd_core import plugins
from srd_core.components import ResponseSource, StepResponses
from srd_core.errors import PluginError
from srd_core.hookspecs import hookimpl
from srd_core.plugins import get_component

BATCH = 4


class Generator:
    """A stand-in student: a distinct response per (call, sample), and a log of what it generated."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.made: list[tuple[str, list[int]]] = []

    def __call__(self, ids):
        call = len(self.calls)
        self.calls.append(list(ids))
        out = [[call, k, len(i)] for k, i in enumerate(ids)]
        self.made.extend((i, list(r)) for i, r in zip(ids, out, strict=True))
        return out


def batch_ids(step: int) -> list[str]:
    return [f"s{(step * BATCH + k) % 40}" for k in range(BATCH)]


def reference_adaptive(rs, total, capacity, init, replay_ratio="decreasing"):
    """The rule as issue 22 describes finetune.py: (decision, buffer size after, sampling threshold) per step."""
    buffer, out = 0, []
    for s, r in enumerate(rs):
        global_step = s + 1
        if replay_ratio == "constant":
            samp = init * 0.5
        elif replay_ratio == "increasing":
            samp = init * global_step / total
        else:
            samp = init * (1 - global_step / total)
        if r < samp or (r < init and buffer < capacity):
            decision = "generated"
            buffer = min(capacity, buffer + BATCH)
        elif r < init:
            decision = "replay"
        else:
            decision = "ground_truth"
        out.append((decision, buffer, samp))
    return out


@pytest.mark.parametrize("replay_ratio", ["decreasing", "constant", "increasing"])
@pytest.mark.parametrize(("capacity", "init"), [(12, 0.6), (1000, 0.2), (8, 1.0)])
def test_adaptive_follows_the_official_rule_step_by_step(replay_ratio, capacity, init):
    total, seed = 60, 123
    source = get_component(
        "response_source", "adaptive", capacity=capacity, init_threshold=init, replay_ratio=replay_ratio
    )
    source.start(seed)
    rs = np.random.default_rng(seed).random(total)  # the seeded r of each step, drawn in order
    expected = reference_adaptive(rs, total, capacity, init, replay_ratio)
    generate = Generator()
    for step in range(total):
        got = source.choose(step, total, batch_ids(step), generate)
        decision, size, samp = expected[step]
        assert got.source == decision, step
        assert source.metrics()["buffer_size"] == size
        assert source.metrics()["sampling_threshold"] == pytest.approx(samp)
        assert source.metrics()["threshold"] == init
    decisions = {d for d, _, _ in expected}
    if capacity == 12 and init == 0.6:  # the case meant to reach every branch
        assert decisions == {"generated", "replay", "ground_truth"}


def test_replayed_batches_are_exactly_stored_samples():
    source = get_component("response_source", "adaptive", capacity=8, init_threshold=1.0, replay_ratio="constant")
    source.start(7)
    generate = Generator()
    stored_at: dict[int, set[tuple[str, tuple[int, ...]]]] = {}
    replays = 0
    for step in range(40):
        got = source.choose(step, 40, batch_ids(step), generate)
        if got.source == "generated":
            assert got.items == generate.made[-BATCH:]  # the step trains on what the student just produced
        if got.source == "replay":
            replays += 1
            assert len(got.items) == BATCH and len({i for i, _ in got.items}) == BATCH  # no sample twice
            for i, r in got.items:  # token for token a sample the buffer held before this step
                assert (i, tuple(r)) in stored_at[step - 1]
        stored_at[step] = {(i, tuple(r)) for i, r in source.buffer.items}
        assert len(source.buffer) <= 8
    assert replays > 5


def test_replay_copies_are_not_the_stored_objects():
    source = get_component("response_source", "mixed", mixed_alpha=1.0, capacity=4)
    source.start(0)
    got = source.choose(0, 10, batch_ids(0), Generator())
    got.items[0][1].append(999)
    assert all(999 not in r for _, r in source.buffer.items)


def test_dev_loss_update_raises_the_threshold_by_eps():
    source = get_component(
        "response_source", "adaptive", init_threshold=0.2, threshold_update="dev_loss", loss_eps=0.1, update_every=3
    )
    assert source.dev_loss_due(0, 10)  # the reference before training
    source.observe_dev_loss(-1, 2.0)
    assert [source.dev_loss_due(k, 10) for k in range(1, 7)] == [False, False, True, False, False, True]
    source.observe_dev_loss(3, 2.05)  # rose by less than eps: unchanged
    assert source.threshold == 0.2
    source.observe_dev_loss(6, 2.1)  # rose by eps over the reference: +0.1, new reference
    assert source.threshold == pytest.approx(0.3)
    source.observe_dev_loss(9, 2.15)
    assert source.threshold == pytest.approx(0.3)
    for k, loss in enumerate([5.0, 9.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0]):
        source.observe_dev_loss(12 + k, loss)
    assert source.threshold == 1.0  # capped
    off = get_component("response_source", "adaptive")
    assert not off.dev_loss_due(0, 10) and not off.dev_loss_due(10, 10)
    off.observe_dev_loss(-1, 1.0)
    off.observe_dev_loss(1, 100.0)
    assert off.threshold == 0.2  # the official SRD fork: no update
    epoch = get_component("response_source", "adaptive", threshold_update="dev_loss")
    epoch.observe_dev_loss(-1, 1.0)
    assert [k for k in range(1, 13) if epoch.dev_loss_due(k, 4)] == [4, 8, 12]  # update_every 0: each epoch


def test_mixed_generates_with_alpha_and_trains_on_a_replayed_draw():
    source = get_component("response_source", "mixed", mixed_alpha=0.5, capacity=6)
    source.start(3)
    rs = np.random.default_rng(3).random(30)
    generate = Generator()
    for step in range(30):
        got = source.choose(step, 30, batch_ids(step), generate)
        if rs[step] < 0.5:
            assert got.source == "replay" and generate.calls[-1] == batch_ids(step)
            stored = {(i, tuple(r)) for i, r in source.buffer.items}
            assert all((i, tuple(r)) in stored for i, r in got.items)
        else:
            assert got.source == "ground_truth" and got.items is None
    assert len(generate.calls) == int((rs < 0.5).sum())


@pytest.mark.parametrize("lmbda", [0.0, 0.3, 1.0])
def test_on_policy_uses_student_samples_on_a_lmbda_share(lmbda):
    source = get_component("response_source", "on_policy", lmbda=lmbda, temperature=0.7, max_new_tokens=9)
    assert source.sampling() == {"temperature": 0.7, "top_p": 1.0, "top_k": 0, "max_new_tokens": 9}
    source.start(11)
    rs = np.random.default_rng(11).random(50)
    got = [source.choose(s, 50, batch_ids(s), Generator()).source for s in range(50)]
    assert got == ["generated" if r < lmbda else "ground_truth" for r in rs]


def test_state_round_trip_continues_the_same_sequence():
    def make():
        return get_component("response_source", "adaptive", capacity=8, init_threshold=0.7, threshold_update="dev_loss")

    a, b = make(), make()
    a.start(5)
    a.observe_dev_loss(-1, 1.0)
    generate = Generator()
    for step in range(10):
        a.choose(step, 30, batch_ids(step), generate)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))  # through JSON, as checkpoints store it
    for step in range(10, 30):
        x = a.choose(step, 30, batch_ids(step), Generator())
        y = b.choose(step, 30, batch_ids(step), Generator())
        assert (x.source, x.items) == (y.source, y.items)
    assert a.state_dict() == b.state_dict()


def test_seeded_buffer_only_when_asked():
    items = [("s1", [1, 2]), ("s2", [3])]
    on = get_component("response_source", "adaptive", seed_from_reflection=True)
    on.seed_buffer(items)
    off = get_component("response_source", "adaptive")
    off.seed_buffer(items)
    assert list(on.buffer.items) == items and len(off.buffer) == 0


def test_ground_truth_is_the_default_and_never_generates():
    source = get_component("response_source", "ground_truth")
    assert source.generates is False
    assert source.choose(0, 1, ["a"], lambda ids: pytest.fail("generated")) == StepResponses("ground_truth")
    with pytest.raises(PluginError, match="lmbda"):
        get_component("response_source", "on_policy", lmbda=1.5)
    with pytest.raises(PluginError, match="replay_ratio"):
        get_component("response_source", "adaptive", replay_ratio="sometimes")


class EveryThird(ResponseSource):
    """Generates on every third step."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def choose(self, step, total, ids, generate):
        if step % 3 == 0:
            return StepResponses("generated", list(zip(ids, generate(ids), strict=True)))
        return StepResponses("ground_truth")


class Plugin:
    @hookimpl
    def register_response_sources(self, register):
        register("test_every_third", EveryThird)


def test_hook_register_response_sources():
    plugins.register(Plugin(), name="test-response-plugin", distribution="srd-tests")
    try:
        source = get_component("response_source", "test_every_third")
        assert source.name == "test_every_third" and source.generates
        got = [source.choose(s, 6, ["a", "b"], Generator()).source for s in range(6)]
        assert got == ["generated", "ground_truth", "ground_truth"] * 2
    finally:
        plugins.unregister("test-response-plugin")
