"""Built-in response sources: the ground truth, on-policy samples (GKD), DistiLLM's adaptive replay, mixed.

Every source that draws random numbers draws them from its own numpy streams, seeded per run and arm
and saved in checkpoints with the replay buffer, so every process takes the same branch and a resumed
run continues the same sequence. ``r ~ U(0, 1)`` is drawn once per optimizer step from one stream;
which stored samples a replay takes comes from a second one (as the official code: numpy for r,
python's ``random.sample`` for the replay), so the sequence of r does not depend on the replays.

``adaptive`` follows the decision rule of DistiLLM's ``finetune.py`` (which the official SRD code
forks), at 0-based step ``s`` of ``T`` (the official ``global_step`` is ``s + 1``):

- sampling threshold ``θ_s = θ · (1 − (s+1)/T)`` (``replay_ratio: decreasing``, the default),
  ``θ · 0.5`` (``constant``) or ``θ · (s+1)/T`` (``increasing``), with ``θ`` = ``init_threshold``;
- if ``r < θ_s``, or ``r < θ`` while the buffer holds fewer than ``capacity`` samples: the student
  generates the batch, which is stored;
- else if ``r < θ``: ``batch`` stored samples are replayed (drawn without replacement);
- else the ground-truth batch.

With ``threshold_update: dev_loss`` (DistiLLM's paper; the official SRD fork has it commented out,
so ``none`` is the default) θ grows by ``threshold_step`` (at most 1) whenever the dev loss has risen
by at least ``loss_eps`` over the loss recorded at the last raise (the dev loss before training at
first). ``mixed`` generates with probability ``mixed_alpha``, stores the samples and trains on a
replayed draw; otherwise the ground truth. The buffer counts samples, as the official deque does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from srd_core.components import GenerateFn, ResponseSource, StepResponses
from srd_core.hookspecs import hookimpl
from srd_core.limits import MAX_SAMPLES, MAX_STEPS, MAX_TOKENS, MAX_VOCAB


class SamplingParams(BaseModel):
    """How the student samples its responses (shared by every generating source)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the student's generations.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling of the generations (1: off).")
    top_k: int = Field(
        0, ge=0, le=MAX_VOCAB, description=f"Top-k sampling of the generations (0: off; ≤ {MAX_VOCAB:,})."
    )
    max_new_tokens: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKENS,
        description="Longest generated response (null: "
        "up to data.max_length, as DistiLLM's max_length - max_prompt_length; "
        f"≤ {MAX_TOKENS:,}).",
    )
    sft_on: Literal["ground_truth", "batch"] = Field(
        "ground_truth",
        description="What the SFT (CE) term of a step trains on: ground_truth (the step's "
        "dataset responses, whatever the KD term sees) or batch (the sequences the KD term sees, generated or "
        "replayed, as DistiLLM's and the official SRD finetune.py compute the LM loss).",
    )


class _Sampling(ResponseSource):
    """A source that samples from the student: its random stream, sampling settings and state."""

    Params = SamplingParams
    params: SamplingParams

    def __init__(self, params: BaseModel | None = None) -> None:
        super().__init__(params)
        self.rng = np.random.default_rng(0)

    def start(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def sampling(self) -> dict[str, Any]:
        p = self.params
        return {"temperature": p.temperature, "top_p": p.top_p, "top_k": p.top_k, "max_new_tokens": p.max_new_tokens}

    def draw(self) -> float:
        """The step's ``r ~ U(0, 1)``."""
        return float(self.rng.random())

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = dict(state["rng"])


def _generated(ids: Sequence[str], generate: GenerateFn) -> list[tuple[str, list[int]]]:
    return [(i, list(r)) for i, r in zip(ids, generate(list(ids)), strict=True)]


class GroundTruth(ResponseSource):
    """The dataset's responses at every step (teacher-forced, off-policy): srd's default."""

    generates = False

    def choose(self, step, total, ids, generate):
        return StepResponses("ground_truth")


class OnPolicyParams(SamplingParams):
    """Parameters of ``on_policy``."""

    lmbda: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of steps trained on the student's own samples "
        "(GKD's λ; the rest use the ground truth). 1: fully on-policy.",
    )


class OnPolicy(_Sampling):
    """GKD: with probability ``lmbda`` the student samples the step's responses and the teacher scores them."""

    Params = OnPolicyParams
    params: OnPolicyParams

    def choose(self, step, total, ids, generate):
        if self.draw() < self.params.lmbda:
            return StepResponses("generated", _generated(ids, generate))
        return StepResponses("ground_truth")


class ReplayBuffer:
    """The last ``capacity`` student samples ``(sample id, response ids)``; the oldest drop out first."""

    def __init__(self, capacity: int) -> None:
        self.items: deque[tuple[str, list[int]]] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, items: Sequence[tuple[str, list[int]]]) -> None:
        self.items.extend((i, list(r)) for i, r in items)

    def sample(self, k: int, rng: np.random.Generator) -> list[tuple[str, list[int]]]:
        """``min(k, len)`` stored samples drawn without replacement (copies)."""
        picks = rng.choice(len(self.items), size=min(k, len(self.items)), replace=False)
        return [(self.items[j][0], list(self.items[j][1])) for j in picks.tolist()]

    def state(self) -> list[list[Any]]:
        return [[i, r] for i, r in self.items]

    def load(self, rows: Sequence[Sequence[Any]]) -> None:
        self.items.clear()
        self.items.extend((str(i), [int(t) for t in r]) for i, r in rows)


class _Buffered(_Sampling):
    """A sampling source with a replay buffer (optionally seeded with the reflection's outputs)."""

    params: BufferParams  # each subclass's Params extends it

    def __init__(self, params: BaseModel | None = None) -> None:
        super().__init__(params)
        self.buffer = ReplayBuffer(self.params.capacity)
        self.replay_rng = np.random.default_rng([0, 1])  # which stored samples a replay draws: apart from r

    def reads_reflection(self):
        return self.params.seed_from_reflection

    def seed_buffer(self, items):
        if self.params.seed_from_reflection:
            self.buffer.add(items)

    def start(self, seed: int) -> None:
        super().start(seed)
        self.replay_rng = np.random.default_rng([seed, 1])

    def replay(self, n: int) -> StepResponses:
        return StepResponses("replay", self.buffer.sample(n, self.replay_rng))

    def metrics(self) -> dict[str, Any]:
        return {"buffer_size": len(self.buffer)}

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "replay_rng": self.replay_rng.bit_generator.state,
            "buffer": self.buffer.state(),
        }

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.replay_rng.bit_generator.state = dict(state["replay_rng"])
        self.buffer.load(state["buffer"])


class BufferParams(SamplingParams):
    """The replay buffer's parameters."""

    capacity: int = Field(
        1000,
        ge=1,
        le=MAX_SAMPLES,
        description=f"Samples the replay buffer holds (official: 1000); the oldest drop out first (≤ {MAX_SAMPLES:,}).",
    )
    seed_from_reflection: bool = Field(
        False,
        description="Fill the buffer at each stage start with the "
        "reflection's outputs (the initial student's) of the stage's samples.",
    )


class AdaptiveParams(BufferParams):
    """Parameters of ``adaptive`` (DistiLLM's ``--student-gen`` with an ``adaptive`` type)."""

    init_threshold: float = Field(
        0.2,
        ge=0,
        le=1,
        description="θ: the share of steps trained on student "
        "samples, generated or replayed (official OpenLLaMA recipe: 0.2).",
    )
    replay_ratio: Literal["decreasing", "constant", "increasing"] = Field(
        "decreasing",
        description="Sampling threshold within θ: θ·(1 − step/total) (official default), θ·0.5, "
        "or θ·step/total; the rest of θ replays.",
    )
    threshold_update: Literal["none", "dev_loss"] = Field(
        "none",
        description="none (the official SRD fork), or dev_loss (DistiLLM's paper): raise θ by "
        "threshold_step when the dev loss rose by loss_eps.",
    )
    loss_eps: float = Field(0.1, ge=0, description="Rise of the dev loss that raises θ (dev_loss update).")
    threshold_step: float = Field(0.1, gt=0, le=1, description="How much θ grows per raise (capped at 1).")
    update_every: int = Field(
        0,
        ge=0,
        le=MAX_STEPS,
        description="Dev-loss check every N steps of a stage (0: "
        f"each epoch end, as the official --eval-interval; ≤ {MAX_STEPS:,}).",
    )


class Adaptive(_Buffered):
    """DistiLLM's adaptive off-policy source: generate into a replay buffer, replay it, or the ground truth."""

    Params = AdaptiveParams
    params: AdaptiveParams

    def __init__(self, params: BaseModel | None = None) -> None:
        super().__init__(params)
        self.threshold = float(self.params.init_threshold)
        self.last_sampling = self.threshold
        self.reference_loss: float | None = None

    def sampling_threshold(self, step: int, total: int) -> float:
        """θ_s at 0-based ``step`` of ``total``."""
        progress = (step + 1) / max(total, 1)
        rule = self.params.replay_ratio
        if rule == "constant":
            return self.threshold * 0.5
        if rule == "increasing":
            return self.threshold * progress
        return self.threshold * (1.0 - progress)

    def choose(self, step, total, ids, generate):
        r = self.draw()
        self.last_sampling = self.sampling_threshold(step, total)
        if r < self.last_sampling or (r < self.threshold and len(self.buffer) < self.params.capacity):
            items = _generated(ids, generate)
            self.buffer.add(items)
            return StepResponses("generated", items)
        if r < self.threshold:
            return self.replay(len(ids))
        return StepResponses("ground_truth")

    def needs_dev_split(self):
        if self.params.threshold_update == "dev_loss":
            return "threshold_update: dev_loss needs a dev split"
        return None

    def dev_loss_due(self, step_in_stage, steps_per_epoch):
        if self.params.threshold_update != "dev_loss":
            return False
        if self.reference_loss is None:  # the dev loss before training, the first reference
            return True
        every = self.params.update_every or max(1, steps_per_epoch)
        return step_in_stage > 0 and step_in_stage % every == 0

    def observe_dev_loss(self, step, loss):
        if self.params.threshold_update != "dev_loss":
            return
        if self.reference_loss is None:
            self.reference_loss = loss
        elif loss >= self.reference_loss + self.params.loss_eps:
            self.threshold = min(1.0, self.threshold + self.params.threshold_step)
            self.reference_loss = loss

    def metrics(self):
        return {**super().metrics(), "threshold": self.threshold, "sampling_threshold": self.last_sampling}

    def state_dict(self):
        return {**super().state_dict(), "threshold": self.threshold, "reference_loss": self.reference_loss}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.threshold = float(state["threshold"])
        self.reference_loss = state["reference_loss"]


class MixedParams(BufferParams):
    """Parameters of ``mixed``."""

    mixed_alpha: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Probability that a step generates (stored, then a "
        "replayed draw is trained on); otherwise the ground truth.",
    )


class Mixed(_Buffered):
    """DistiLLM's ``mixed`` types: generate with probability ``mixed_alpha``, store, train on a replayed draw."""

    Params = MixedParams
    params: MixedParams

    def choose(self, step, total, ids, generate):
        if self.draw() < self.params.mixed_alpha:
            self.buffer.add(_generated(ids, generate))
            return self.replay(len(ids))
        return StepResponses("ground_truth")


@hookimpl
def register_response_sources(register):
    """Register the built-in components of this family."""
    register("ground_truth", GroundTruth)
    register("on_policy", OnPolicy)
    register("adaptive", Adaptive)
    register("mixed", Mixed)
