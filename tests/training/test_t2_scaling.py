"""scale_kd_by_t2: official scales fkl, srkl, jsd by T² (not rkl, skl, tvd, akl); JSD β = 0.1 is tjsd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srd_core.plugins import get_component
from srd_core.training.kd_loss import distill_loss_reference
from srd_core.training.t2_scaling import kd_t2_scaling

OFFICIAL = {"fkl": True, "srkl": True, "jsd": True, "rkl": False, "skl": False, "tvd": False, "akl": False}


@pytest.mark.parametrize(("name", "scaled"), sorted(OFFICIAL.items()))
def test_official_mode_per_loss(name, scaled):
    loss = get_component("kd_loss", name)
    assert kd_t2_scaling("official", loss) is scaled
    assert kd_t2_scaling(True, loss) is True and kd_t2_scaling(False, loss) is False


# The official SRD/losses.py formulas, re-written on full logits (p = teacher, q = student, lam = 0.9 / 0.1).


def official_tem_js(student_logits, teacher_logits, t, lam=0.9):
    p, q = F.softmax(teacher_logits / t, -1), F.softmax(student_logits / t, -1)
    log_m = torch.log((1 - lam) * p + lam * q)
    kl_q = (q * (log_m - F.log_softmax(student_logits / t, -1))).sum(-1)
    kl_p = (p * (log_m - F.log_softmax(teacher_logits / t, -1))).sum(-1)
    return (lam * -kl_q + (1 - lam) * -kl_p).mean() * t**2


def official_tem_skewed_reverse_kl(student_logits, teacher_logits, t, lam=0.1):
    p, q = F.softmax(teacher_logits / t, -1), F.softmax(student_logits / t, -1)
    log_m = torch.log((1 - lam) * p + lam * q)
    return -(q * (log_m - F.log_softmax(student_logits / t, -1))).sum(-1).mean() * t**2


def official_tem_tv(student_logits, teacher_logits, t):
    p, q = F.softmax(teacher_logits / t, -1), F.softmax(student_logits / t, -1)
    return (0.5 * (p - q).abs()).sum(-1).mean()


def official_tem_skewed_forward_kl_as_kl(student_logits, teacher_logits, t, lam=0.1):
    p, q = F.softmax(teacher_logits / t, -1), F.softmax(student_logits / t, -1)
    log_m = torch.log(lam * p + (1 - lam) * q)
    cross = -(p * log_m).sum(-1)  # the official value: a cross-entropy, i.e. KL + H(p)
    return (cross - (-(p * F.log_softmax(teacher_logits / t, -1)).sum(-1))).mean()


def _kd(name, params, t):
    torch.manual_seed(0)
    hidden, vocab, n = 8, 11, 6
    student_head, teacher_head = torch.nn.Linear(hidden, vocab, bias=False), torch.nn.Linear(hidden, vocab, bias=False)
    sh, th = torch.randn(n, hidden), torch.randn(n, hidden)
    loss = get_component("kd_loss", name, **params)
    out = distill_loss_reference(
        sh,
        student_head,
        th,
        teacher_head,
        torch.zeros(n, dtype=torch.long),
        loss,
        temperature=t,
        sft_weight=0.0,
        scale_by_t2=kd_t2_scaling("official", loss),
    )
    with torch.no_grad():
        return float(out.kd), student_head(sh), teacher_head(th)


@pytest.mark.parametrize("t", [1.0, 1.5, 2.0])
def test_official_mode_matches_the_official_formulas(t):
    kd, s, te = _kd("jsd", {"beta": 0.1}, t)
    assert kd == pytest.approx(float(official_tem_js(s, te, t)), rel=1e-5)
    kd, s, te = _kd("srkl", {"alpha": 0.1}, t)
    assert kd == pytest.approx(float(official_tem_skewed_reverse_kl(s, te, t)), rel=1e-5)
    kd, s, te = _kd("tvd", {}, t)
    assert kd == pytest.approx(float(official_tem_tv(s, te, t)), rel=1e-5)
    kd, s, te = _kd("skl", {"alpha": 0.1}, t)
    assert kd == pytest.approx(float(official_tem_skewed_forward_kl_as_kl(s, te, t)), rel=1e-5)
    if t != 1.0:  # the JSD weight matters: TRL's default β = 0.5 is another loss
        assert _kd("jsd", {}, t)[0] != pytest.approx(float(official_tem_js(s, te, t)), rel=1e-3)
