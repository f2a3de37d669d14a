"""Built-in KD losses: closed forms, identities, TRL's generalized JSD, numerical safety."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from srd_core.builtins import losses
from srd_core.errors import PluginError
from srd_core.plugins import get_component, get_registry

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

NAMES = ["fkl", "rkl", "skl", "srkl", "jsd", "tvd", "akl"]


# ---- closed-form references in float64 numpy, on probabilities ----------------------------------


def _kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * (np.log(a) - np.log(b)), axis=-1)


def _akl(p: np.ndarray, q: np.ndarray, mu: float) -> np.ndarray:
    out = []
    for p_row, q_row in zip(p, q, strict=True):
        order = np.argsort(-p_row, kind="stable")
        cumulative = np.cumsum(p_row[order])
        head = cumulative <= mu
        head[0] = True
        gaps = np.abs(p_row[order] - q_row[order])
        g_head, g_tail = gaps[head].sum(), gaps[~head].sum()
        fkl, rkl = _kl(p_row, q_row), _kl(q_row, p_row)
        out.append((g_head * fkl + g_tail * rkl) / (g_head + g_tail))
    return np.array(out)


def reference(name: str, p: np.ndarray, q: np.ndarray, **params) -> np.ndarray:
    """Per-token divergence from probability rows (p = teacher, q = student)."""
    if name == "fkl":
        return _kl(p, q)
    if name == "rkl":
        return _kl(q, p)
    if name == "skl":
        a = params.get("alpha", 0.1)
        return _kl(p, a * p + (1 - a) * q)
    if name == "srkl":
        a = params.get("alpha", 0.1)
        return _kl(q, (1 - a) * p + a * q)
    if name == "jsd":
        b = params.get("beta", 0.5)
        m = b * p + (1 - b) * q
        return b * _kl(p, m) + (1 - b) * _kl(q, m)
    if name == "tvd":
        return 0.5 * np.abs(p - q).sum(-1)
    if name == "akl":
        return _akl(p, q, params.get("mu", 0.5))
    raise KeyError(name)


def _logps(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0):
    return (
        F.log_softmax(student_logits.float() / temperature, -1),
        F.log_softmax(teacher_logits.float() / temperature, -1),
    )


# ---- registration and params ----------------------------------------------------------------------


def test_all_losses_registered_with_described_strict_params():
    registry = get_registry()
    assert set(NAMES) <= set(registry.names("kd_loss"))
    for name in NAMES:
        entry = registry.get("kd_loss", name)
        assert entry.cls.Params.model_config.get("extra") == "forbid"
        for field_name, field in entry.cls.Params.model_fields.items():
            assert field.description, f"{name}.{field_name} has no description"


def test_params_validated():
    assert get_component("kd_loss", "skl", alpha=0.2).params.alpha == 0.2
    assert get_component("kd_loss", "jsd").params.beta == 0.5
    assert get_component("kd_loss", "akl").params.mu == 0.5
    with pytest.raises(PluginError, match="unknown field"):
        get_component("kd_loss", "fkl", alpha=0.1)
    with pytest.raises(PluginError, match="beta"):
        get_component("kd_loss", "jsd", beta=1.5)
    with pytest.raises(ValidationError):
        losses.AKLParams(mu=0.0)


# ---- values against closed forms ------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    n=st.integers(1, 5),
    vocab=st.integers(2, 12),
    temperature=st.floats(0.5, 4.0),
    scale=st.floats(0.1, 5.0),
    seed=st.integers(0, 10_000),
)
def test_matches_closed_form(name, n, vocab, temperature, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    s_logits = torch.randn(n, vocab, generator=gen, dtype=torch.float64) * scale
    t_logits = torch.randn(n, vocab, generator=gen, dtype=torch.float64) * scale
    s_logp, t_logp = _logps(s_logits, t_logits, temperature)
    got = get_component("kd_loss", name).token_loss(s_logp, t_logp)
    assert got.shape == (n,) and got.dtype == torch.float32
    q = torch.softmax(s_logits / temperature, -1).numpy()
    p = torch.softmax(t_logits / temperature, -1).numpy()
    np.testing.assert_allclose(got.numpy(), reference(name, p, q), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "params"),
    [("skl", {"alpha": 0.3}), ("srkl", {"alpha": 0.7}), ("jsd", {"beta": 0.2}), ("akl", {"mu": 0.8})],
)
def test_matches_closed_form_with_params(name, params):
    gen = torch.Generator().manual_seed(3)
    s_logits, t_logits = torch.randn(6, 9, generator=gen), torch.randn(6, 9, generator=gen)
    s_logp, t_logp = _logps(s_logits, t_logits)
    got = get_component("kd_loss", name, **params).token_loss(s_logp, t_logp)
    p, q = t_logp.double().exp().numpy(), s_logp.double().exp().numpy()
    np.testing.assert_allclose(got.numpy(), reference(name, p, q, **params), rtol=1e-4, atol=1e-6)


def test_akl_head_split_by_hand():
    # Teacher sorted: 0.6 (head: the top token is always head), 0.3, 0.1 (tail); mu = 0.5.
    p = torch.tensor([[0.6, 0.3, 0.1]])
    q = torch.tensor([[0.4, 0.4, 0.2]])
    head, tail = get_component("kd_loss", "akl").gap_weights(p, q)
    assert head.item() == pytest.approx(0.2 / 0.4) and tail.item() == pytest.approx(0.2 / 0.4)
    # mu = 0.95 puts 0.6 and 0.3 in the head.
    head, tail = get_component("kd_loss", "akl", mu=0.95).gap_weights(p, q)
    assert head.item() == pytest.approx(0.3 / 0.4) and tail.item() == pytest.approx(0.1 / 0.4)


def test_akl_gap_weights_are_detached():
    s_logits = torch.randn(4, 7, requires_grad=True)
    t_logits = torch.randn(4, 7)
    s_logp, t_logp = _logps(s_logits, t_logits)
    akl = get_component("kd_loss", "akl")
    head, tail = akl.gap_weights(t_logp.exp(), s_logp.detach().exp())
    (grad,) = torch.autograd.grad(akl.token_loss(s_logp, t_logp).sum(), s_logits, retain_graph=True)
    # With the weights held constant, the gradient is that of the weighted FKL/RKL mix.
    fkl = get_component("kd_loss", "fkl").token_loss(s_logp, t_logp)
    rkl = get_component("kd_loss", "rkl").token_loss(s_logp, t_logp)
    (expected,) = torch.autograd.grad((head * fkl + tail * rkl).sum(), s_logits)
    torch.testing.assert_close(grad, expected)


# ---- identities -----------------------------------------------------------------------------------


def _random_logps(seed: int, n: int = 5, vocab: int = 10):
    gen = torch.Generator().manual_seed(seed)
    return _logps(torch.randn(n, vocab, generator=gen) * 2, torch.randn(n, vocab, generator=gen) * 2)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_identities(seed):
    s_logp, t_logp = _random_logps(seed)
    fkl = get_component("kd_loss", "fkl").token_loss(s_logp, t_logp)
    rkl = get_component("kd_loss", "rkl").token_loss(s_logp, t_logp)
    close = {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(get_component("kd_loss", "jsd", beta=0.0).token_loss(s_logp, t_logp), fkl)
    torch.testing.assert_close(get_component("kd_loss", "jsd", beta=1.0).token_loss(s_logp, t_logp), rkl)
    torch.testing.assert_close(get_component("kd_loss", "skl", alpha=0.0).token_loss(s_logp, t_logp), fkl)
    torch.testing.assert_close(get_component("kd_loss", "srkl", alpha=0.0).token_loss(s_logp, t_logp), rkl)
    # Mixing in the compared distribution entirely leaves nothing to diverge.
    torch.testing.assert_close(
        get_component("kd_loss", "skl", alpha=1.0).token_loss(s_logp, t_logp), torch.zeros_like(fkl), **close
    )
    # JSD is symmetric at beta = 0.5 with swapped roles.
    jsd = get_component("kd_loss", "jsd")
    torch.testing.assert_close(jsd.token_loss(s_logp, t_logp), jsd.token_loss(t_logp, s_logp), **close)
    for name in NAMES:
        loss = get_component("kd_loss", name)
        values = loss.token_loss(s_logp, t_logp)
        assert (values >= -1e-6).all(), name
        torch.testing.assert_close(loss.token_loss(t_logp, t_logp), torch.zeros_like(values), **close)
    assert (get_component("kd_loss", "tvd").token_loss(s_logp, t_logp) <= 1 + 1e-6).all()


# ---- TRL's generalized JSD ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trl_jsd():
    gkd = pytest.importorskip("trl.experimental.gkd")
    return gkd.GKDTrainer.generalized_jsd_loss


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_jsd_matches_trl(trl_jsd, beta, temperature):
    gen = torch.Generator().manual_seed(int(beta * 10) + int(temperature))
    batch, length, vocab = 3, 5, 17
    student = torch.randn(batch, length, vocab, generator=gen) * 2
    teacher = torch.randn(batch, length, vocab, generator=gen) * 2
    labels = torch.randint(0, vocab, (batch, length), generator=gen)
    labels[0, :2] = -100
    labels[2, 4] = -100
    mask = labels != -100
    s_logp, t_logp = _logps(student[mask], teacher[mask], temperature)
    ours = get_component("kd_loss", "jsd", beta=beta).token_loss(s_logp, t_logp)
    kwargs = {"labels": labels, "beta": beta, "temperature": temperature}
    close = {"rtol": 1e-5, "atol": 1e-6}
    # TRL: "batchmean" with labels = sum over valid tokens (and vocab) / number of valid tokens.
    torch.testing.assert_close(trl_jsd(student, teacher, reduction="batchmean", **kwargs), ours.mean(), **close)
    torch.testing.assert_close(trl_jsd(student, teacher, reduction="sum", **kwargs), ours.sum(), **close)
    # "mean" averages over every (token, vocab) element; "none" keeps them.
    torch.testing.assert_close(trl_jsd(student, teacher, reduction="mean", **kwargs), ours.mean() / vocab, **close)
    torch.testing.assert_close(trl_jsd(student, teacher, reduction="none", **kwargs).sum(-1), ours, **close)


# ---- numerical safety -----------------------------------------------------------------------------


def _masked_logits(seed: int, scale: float = 1.0):
    gen = torch.Generator().manual_seed(seed)
    s = (torch.randn(4, 12, generator=gen) * scale).requires_grad_()
    t = torch.randn(4, 12, generator=gen) * scale
    mask = torch.zeros(4, 12, dtype=torch.bool)
    mask[:, 8:] = True  # padded vocabulary
    mask[3, 1:] = True  # a row with a single allowed token
    return s, t, mask


@pytest.mark.parametrize("name", NAMES)
def test_minus_inf_logits_are_safe(name):
    s, t, mask = _masked_logits(0)
    s_logp, t_logp = _logps(s.masked_fill(mask, float("-inf")), t.masked_fill(mask, float("-inf")))
    assert torch.isinf(s_logp).any()
    values = get_component("kd_loss", name).token_loss(s_logp, t_logp)
    assert torch.isfinite(values).all()
    assert values[3].abs().item() < 1e-6  # both put all mass on the one allowed token
    (grad,) = torch.autograd.grad(values.sum(), s, retain_graph=True)
    assert torch.isfinite(grad).all()
    # Gradients with respect to the log-probs themselves: zero (not NaN) where they are -inf.
    leaves = [s_logp.detach().requires_grad_(), t_logp.detach().requires_grad_()]
    grads = torch.autograd.grad(get_component("kd_loss", name).token_loss(*leaves).sum(), leaves)
    for g in grads:
        assert torch.isfinite(g).all() and (g[mask] == 0).all()
    # The masked entries change nothing: same values as over the allowed vocabulary only.
    s_small, t_small = _logps(s[:3, :8], t[:3, :8])
    expected = get_component("kd_loss", name).token_loss(s_small, t_small)
    torch.testing.assert_close(values[:3], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_huge_logits_are_safe(name, sign):
    s, t, _ = _masked_logits(1)
    s_big = s * 1e4 * sign
    s_logp, t_logp = _logps(s_big, t * 1e4)
    values = get_component("kd_loss", name).token_loss(s_logp, t_logp)
    assert torch.isfinite(values).all() and (values >= -1e-3).all()
    (grad,) = torch.autograd.grad(values.sum(), s)
    assert torch.isfinite(grad).all()
