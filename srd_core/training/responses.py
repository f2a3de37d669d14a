"""Each step's KD responses (``train.responses``): the response source, student generation, their cost.

``StepFeed`` wraps the configured ``ResponseSource`` for the training loop: it gives the source a
``generate`` function (the student samples with the KV cache, in chunks of ``train.batch_size``;
every process generates its contiguous share of the global batch and the shares are gathered, so
every process sees the same generated batch and the same replay buffer), encodes the chosen
responses as training examples after their prompts, seeds the buffer from reflection.jsonl,
measures the dev loss the adaptive threshold may follow, and counts what generation cost.
Generation draws from a seed derived from (run.seed, arm, step, process, chunk) inside a forked
RNG, so the training RNG streams (and a resumed run) are not disturbed by it.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from srd_core.components import ResponseSource
from srd_core.config import SRDConfig
from srd_core.data.encoding import (
    IGNORE_INDEX,
    EncodedExample,
    collate_right_padded,
    encode_example,
    encode_prompt,
    encode_response,
)
from srd_core.io import read_jsonl
from srd_core.models.generation import GenerationSettings, generate_batch
from srd_core.plugins import get_component
from srd_core.rundir import REFLECTION_FILE
from srd_core.types import ReflectionRecord, Sample

SOURCES = ("ground_truth", "generated", "replay")
"""Where a step's KD responses came from (metrics.jsonl ``response_source``)."""


def build_source(config: SRDConfig) -> ResponseSource:
    """The configured response source."""
    spec = config.train.responses
    return get_component("response_source", spec.name, **spec.params)


def source_seed(seed: int, label: str) -> int:
    """The seed of an arm's response-source stream (the arms draw independently)."""
    return (seed * 1_000_003 + zlib.crc32(label.encode())) % 2**63


@dataclass
class Chosen:
    """The responses of one step: where from, and the KD examples (None: the ground-truth batch)."""

    source: str
    examples: list[EncodedExample] | None
    generation_seconds: float = 0.0
    generated_tokens: int = 0


@dataclass
class FeedTotals:
    """What the response source did over the run so far (kept in checkpoints, written to summary.json)."""

    steps: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    generation_seconds: float = 0.0
    generated_tokens: int = 0
    seeded: list[str] = field(default_factory=list)
    """Sample ids whose reflection output was put in the buffer (seed_from_reflection)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": dict(self.steps),
            "generation_seconds": round(self.generation_seconds, 3),
            "generated_tokens": self.generated_tokens,
        }


class StepFeed:
    """The response source of one training arm, with everything it needs from the loop."""

    def __init__(
        self, config: SRDConfig, label: str, run_dir: Path, accelerator, student, tokenizer, samples: dict[str, Sample]
    ) -> None:
        self.config, self.label, self.run_dir = config, label, Path(run_dir)
        self.accelerator, self.student, self.tokenizer, self.samples = accelerator, student, tokenizer, samples
        self.source = build_source(config)
        self.totals = FeedTotals()
        self.step = 0
        self._prompts: dict[str, list[int]] = {}

    @property
    def generates(self) -> bool:
        return self.source.generates

    @property
    def sft_on(self) -> str:
        """What the SFT term of a step with chosen responses trains on: ``ground_truth`` or ``batch`` (the
        chosen sequences); a source without the ``sft_on`` parameter keeps the ground truth."""
        return getattr(self.source.params, "sft_on", "ground_truth")

    # -- state --------------------------------------------------------------------------------

    def start(self) -> None:
        """A fresh run: seed the source's stream."""
        self.source.start(source_seed(self.config.run.seed, self.label))

    def state_dict(self) -> dict[str, Any]:
        return {"source": self.source.state_dict(), "totals": {**self.totals.to_dict(), "seeded": self.totals.seeded}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.source.load_state_dict(state["source"])
        totals = state["totals"]
        self.totals = FeedTotals(
            dict(totals["steps"]),
            float(totals["generation_seconds"]),
            int(totals["generated_tokens"]),
            list(totals["seeded"]),
        )

    # -- examples -----------------------------------------------------------------------------

    def prompt_ids(self, sample_id: str) -> list[int]:
        """The prompt's token ids, encoded as training encodes them."""
        if sample_id not in self._prompts:
            d = self.config.data
            limit = min(d.max_prompt_tokens, d.max_length - 1)
            self._prompts[sample_id] = encode_prompt(self.tokenizer, self.samples[sample_id].prompt, limit).input_ids
        return self._prompts[sample_id]

    def example(self, sample_id: str, response: Sequence[int]) -> EncodedExample:
        """Prompt + ``response`` with labels on the response, cut to ``data.max_length``."""
        prompt = self.prompt_ids(sample_id)
        response = list(response)[: self.config.data.max_length - len(prompt)]
        return EncodedExample(
            prompt + response, [IGNORE_INDEX] * len(prompt) + response, len(prompt), len(response), False
        )

    # -- generation ---------------------------------------------------------------------------

    def generate(self, ids: Sequence[str]) -> list[list[int]]:
        """The student's sampled response ids (EOS kept when it stopped) for ``ids``; all processes call it."""
        acc = self.accelerator
        world, rank = acc.num_processes, acc.process_index
        base, extra = divmod(len(ids), world)
        begin = rank * base + min(rank, extra)
        share = list(ids[begin : begin + base + (1 if rank < extra else 0)])
        mine: list[list[int]] = []
        size = self.config.train.batch_size
        for c in range(0, len(share), size):
            mine.extend(self._generate_chunk(share[c : c + size], c // size))
        if world > 1:
            from accelerate.utils import gather_object  # deferred: accelerate

            return list(gather_object(mine))
        return mine

    def _generate_chunk(self, ids: Sequence[str], chunk: int) -> list[list[int]]:
        prompts = [self.prompt_ids(i) for i in ids]
        room = self.config.data.max_length - max(len(p) for p in prompts)
        sampling = self.source.sampling()
        max_new = max(1, min(room, sampling["max_new_tokens"] or room))
        settings = GenerationSettings(
            max_new_tokens=max_new,
            do_sample=True,
            temperature=sampling["temperature"],
            top_p=sampling["top_p"],
            top_k=sampling["top_k"],
        )
        seed = zlib.crc32(
            f"{self.config.run.seed}/{self.label}/{self.step}/{self.accelerator.process_index}/{chunk}".encode()
        )
        device = next(self.student.parameters()).device
        was_training = self.student.training
        self.student.eval()
        try:
            with (
                torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
                self.accelerator.autocast(),
            ):  # as the training forward (train.mixed_precision)
                outputs = generate_batch(self.student, self.tokenizer, prompts, settings, generator_seed=seed)
        finally:
            self.student.train(was_training)
        eos = self.tokenizer.eos_token_id
        # generate_batch cuts at EOS: a response shorter than the limit stopped there, so EOS is a target
        return [[*out, eos] if eos is not None and len(out) < max_new else out for out in outputs]

    # -- the step -----------------------------------------------------------------------------

    def choose(self, step: int, total: int, ids: Sequence[str]) -> Chosen:
        """The KD responses of optimizer step ``step`` (0-based) of ``total`` whose ground truth is ``ids``."""
        self.step = step
        seconds, tokens = [0.0], [0]

        def generate(batch: Sequence[str]) -> list[list[int]]:
            start = time.perf_counter()
            out = self.generate(batch)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            seconds[0] += time.perf_counter() - start
            tokens[0] += sum(len(o) for o in out)
            return out

        picked = self.source.choose(step, total, list(ids), generate)
        if picked.source not in SOURCES:
            raise ValueError(
                f"response source {self.source.name!r} returned source {picked.source!r} "
                f"(expected one of {', '.join(SOURCES)})"
            )
        self.totals.steps[picked.source] += 1
        self.totals.generation_seconds += seconds[0]
        self.totals.generated_tokens += tokens[0]
        examples = None if picked.items is None else [self.example(i, r) for i, r in picked.items]
        return Chosen(picked.source, examples, seconds[0], tokens[0])

    def metrics(self, chosen: Chosen) -> dict[str, Any]:
        """The step's fields of metrics.jsonl."""
        return {
            "response_source": chosen.source,
            "generation_seconds": round(chosen.generation_seconds, 4),
            "generated_tokens": chosen.generated_tokens,
            **self.source.metrics(),
        }

    # -- buffer seeding and the dev loss -------------------------------------------------------

    def stage_start(self, stage_ids: Sequence[str]) -> None:
        """Give the source the reflection's outputs of the stage's samples not given before."""
        if not self.source.reads_reflection():
            return
        path = self.run_dir / REFLECTION_FILE
        records = {r.id: r for r in (ReflectionRecord.from_dict(row) for row in read_jsonl(path))}
        seen = set(self.totals.seeded)
        new = [i for i in stage_ids if i not in seen and i in records]
        items = [(i, encode_response(self.tokenizer, records[i].output)) for i in new]
        self.source.seed_buffer([(i, self.example(i, r).input_ids[len(self.prompt_ids(i)) :]) for i, r in items])
        self.totals.seeded.extend(new)

    def dev_loss(self, dev_samples: Sequence[Sample], batch_size: int) -> float:
        """The student's token-mean CE on the dev samples' ground truth (main process, broadcast)."""
        from accelerate.utils import broadcast_object_list  # deferred: accelerate

        value = [0.0]
        if self.accelerator.is_main_process:
            d = self.config.data
            examples = [
                encode_example(self.tokenizer, s.prompt, s.target, d.max_prompt_tokens, d.max_length)
                for s in dev_samples
            ]
            total, count = 0.0, 0
            device = next(self.student.parameters()).device
            was_training = self.student.training
            self.student.eval()
            with torch.no_grad():
                for b in range(0, len(examples), batch_size):
                    batch = collate_right_padded(examples[b : b + batch_size], self.tokenizer.pad_token_id)
                    logits = self.student(
                        input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
                    ).logits[:, :-1]
                    labels = batch["labels"][:, 1:].to(device)
                    total += float(
                        torch.nn.functional.cross_entropy(
                            logits.float().reshape(-1, logits.shape[-1]),
                            labels.reshape(-1),
                            ignore_index=IGNORE_INDEX,
                            reduction="sum",
                        )
                    )
                    count += int((labels != IGNORE_INDEX).sum())
            self.student.train(was_training)
            value = [total / max(count, 1)]
        if self.accelerator.num_processes > 1:
            broadcast_object_list(value)
        return float(value[0])
