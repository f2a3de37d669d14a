"""No checkpoint and no final/ ever holds a non-finite weight, whatever train.on_nonfinite says."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_run import make_config, make_workspace

from srd_core import plugins
from srd_core.errors import TrainingError
from srd_core.hookspecs import hookimpl
from srd_core.training.checkpoint import check_finite_weights
from srd_core.training.loop import train


class PoisonAt:
    """Writes inf into one student weight after optimizer step ``step`` (a finite loss, as after lr 10)."""

    def __init__(self, step: int) -> None:
        self.step = step

    @hookimpl
    def step_end(self, context, metrics):
        if metrics["step"] == self.step:
            with torch.no_grad():
                next(context.model.parameters()).view(-1)[0] = math.inf


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("nonfinite"))


@pytest.fixture
def poison():
    plugins.register(PoisonAt(3), name="test-poison")
    yield
    plugins.unregister("test-poison")


@pytest.mark.parametrize("policy", ["stop", "skip"])
@pytest.mark.parametrize("checkpoint_every", [0, 4], ids=["final", "checkpoint"])
def test_nonfinite_weights_stop_before_anything_is_saved(ws, poison, policy, checkpoint_every):
    name = f"poison-{policy}-{checkpoint_every}"
    cfg = make_config(ws, name, train={"on_nonfinite": policy, "checkpoint_every": checkpoint_every, "max_steps": 5})
    with pytest.raises(TrainingError) as info:
        train(cfg, cfg.run.dir, "srd")
    step = 4 if checkpoint_every else 5
    assert str(info.value).startswith(f"train_srd: after step {step}, stage 1 of 1: 1 weight tensors are not finite")
    assert "nothing was saved" in str(info.value)
    out = cfg.run.dir / "srd"
    assert not (out / "final").exists()
    assert not (out / "checkpoints").exists() or not any((out / "checkpoints").iterdir())


def test_check_finite_weights_names_the_tensor():
    model = torch.nn.Linear(2, 2)
    check_finite_weights(model, "here")  # finite: no error
    with torch.no_grad():
        model.bias[1] = math.nan
    with pytest.raises(TrainingError, match=r"^here: 1 weight tensors are not finite \(first: bias\)"):
        check_finite_weights(model, "here")
