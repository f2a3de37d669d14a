"""The built-in teacher signals and the register_teacher_signals hook."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from srd_core import get_component, hookimpl, plugins
from srd_core.builtins.teacher_signals import dense_log_probs, tail_at
from srd_core.components import TeacherSignal
from srd_core.errors import PluginError


class HalfLogits(TeacherSignal):
    """A third-party cache: dense logits in float16."""

    def fields(self, vocab_size, temperatures):
        return {"half": ("float16", vocab_size)}

    def encode(self, logits, temperatures):
        return {"half": logits.half()}

    def log_probs(self, student_logits, rows, temperature, temperatures):
        return dense_log_probs(student_logits, rows["half"], temperature)


class Plugin:
    @hookimpl
    def register_teacher_signals(self, register):
        register("test_half", HalfLogits)


def test_hook_register_teacher_signals():
    plugins.register(Plugin(), name="test-signal-plugin", distribution="srd-tests")
    try:
        signal = get_component("teacher_signal", "test_half")
        assert signal.cached and signal.name == "test_half"
        logits = torch.randn(3, 7)
        rows = signal.encode(logits, [])
        student_logp, teacher_logp = signal.log_probs(torch.randn(3, 7), rows, 2.0, [])
        torch.testing.assert_close(teacher_logp, F.log_softmax(logits / 2, -1), rtol=1e-3, atol=1e-3)
        assert student_logp.shape == (3, 7)
    finally:
        plugins.unregister("test-signal-plugin")


def test_builtins_and_their_params():
    assert get_component("teacher_signal", "online").cached is False
    assert get_component("teacher_signal", "full").fields(10, []) == {"logits": ("float32", 10)}
    assert get_component("teacher_signal", "full", dtype="bfloat16").fields(10, []) == {"logits": ("int16", 10)}
    fields = get_component("teacher_signal", "topk", k=4).fields(100, [1.0, 2.0])
    assert fields == {"values": ("float32", 4), "indices": ("int16", 4), "tail": ("float32", 2)}
    assert "tail_slope" in get_component("teacher_signal", "topk", k=4, tail_grid=2).fields(100, [1.0, 2.0])
    with pytest.raises(ValueError, match="k: 100 must be below"):
        get_component("teacher_signal", "topk", k=100).fields(100, [1.0])
    with pytest.raises(PluginError, match="k"):
        get_component("teacher_signal", "topk", k=0)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_full_roundtrip(dtype):
    signal = get_component("teacher_signal", "full", dtype=dtype)
    logits = torch.randn(5, 11) * 3
    _, teacher_logp = signal.log_probs(torch.zeros(5, 11), signal.encode(logits, []), 1.5, [])
    tol = 1e-6 if dtype == "float32" else 3e-2
    torch.testing.assert_close(teacher_logp, F.log_softmax(logits / 1.5, -1), rtol=tol, atol=tol)


def test_topk_is_the_exact_collapse_to_k_plus_one_categories():
    torch.manual_seed(0)
    signal = get_component("teacher_signal", "topk", k=5)
    temperatures = signal.stored_temperatures([1.0, 1.5, 2.0])
    assert temperatures == [1.0, 1.5, 2.0]
    teacher, student = torch.randn(6, 300) * 4, torch.randn(6, 300) * 4
    rows = signal.encode(teacher, temperatures)
    top = teacher.topk(5, -1).indices
    for t in temperatures:
        s_logp, t_logp = signal.log_probs(student, rows, t, temperatures)
        for logits, got in ((teacher, t_logp), (student, s_logp)):
            full = F.log_softmax(logits / t, -1)
            rest = torch.logsumexp(full.scatter(-1, top, float("-inf")), -1)
            torch.testing.assert_close(got, torch.cat([full.gather(-1, top), rest[:, None]], -1), rtol=1e-5, atol=1e-5)


def test_topk_indices_beyond_int16_range():
    signal = get_component("teacher_signal", "topk", k=3)
    teacher = torch.full((2, 50000), -5.0)
    teacher[0, 40000], teacher[1, 32768], teacher[1, 65535 - 50000 + 100] = 9.0, 8.0, 7.0
    rows = signal.encode(teacher, [1.0])
    _, t_logp = signal.log_probs(teacher, rows, 1.0, [1.0])
    student = torch.zeros(2, 50000)
    student[0, 40000] = 30.0
    s_logp, _ = signal.log_probs(student, rows, 1.0, [1.0])
    assert s_logp[0, 0].exp() > 0.99 and torch.isfinite(t_logp).all()


def test_tail_grid_for_per_step_schedules():
    signal = get_component("teacher_signal", "topk", k=4, tail_grid=4)
    plan = [1.0 + i / 99 for i in range(100)]  # a linear schedule 1 → 2 over 100 steps
    grid = signal.stored_temperatures(plan)
    assert len(grid) == 4 and math.isclose(grid[0], 1.0) and math.isclose(grid[-1], 2.0)
    betas = sorted(1 / t for t in grid)
    assert all(math.isclose(b - a, betas[1] - betas[0]) for a, b in itertools.pairwise(betas))
    logits = torch.randn(8, 200) * 3
    rows = signal.encode(logits, grid)
    rest = logits.scatter(-1, logits.topk(4, -1).indices, float("-inf"))
    for t in (1.0, 1.3, 1.77, 2.0):
        exact = torch.logsumexp(rest / t, -1)
        assert (tail_at(rows["tail"], grid, t, rows["tail_slope"]) - exact).abs().max() < 2e-4  # cubic Hermite
        linear = tail_at(rows["tail"], grid, t)
        assert (linear >= exact - 1e-5).all()  # convex in 1/T: the chord lies above
    with pytest.raises(ValueError, match="outside the cached range"):
        tail_at(rows["tail"], grid, 2.5)
