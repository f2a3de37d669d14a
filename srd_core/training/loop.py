"""The distillation loop on HF Accelerate: pacing, schedules, checkpoints, resume, eval hooks.

One explicit loop (in the style of torchtune's KD recipe). For every optimizer step:

1. the step's global batch comes from the stage plan (``srd_core.training.batches``); each process takes
   its ``grad_accum`` micro-batches of it;
2. the frozen teacher and the student give their final hidden states; only the *response
   positions* are kept (hidden state at t whose next token t+1 is a response token);
3. ``loss = w_sft · CE + (1 − w_sft) · KD_T`` via ``distill_loss`` (LM heads applied to those
   positions only, the vocabulary processed in token chunks), token-weighted over all processes;
4. clip, AdamW step, LR-schedule step; metrics, ``step_end`` hook, evaluation, checkpoint.

Outputs go to ``run_dir/<label>/``: ``checkpoints/``, ``final/``, ``metrics.jsonl``, ``eval.jsonl``,
``summary.json``. Rerunning on the same run dir resumes from the newest checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from srd_core.arms import arm_of, uses_curation
from srd_core.components import StagePlan
from srd_core.config import SRDConfig, TrainConfig
from srd_core.context import TrainContext
from srd_core.data.dev_split import load_dev_samples
from srd_core.data.encoding import IGNORE_INDEX, EncodedExample, collate_right_padded, encode_example
from srd_core.data.samples import load_samples
from srd_core.errors import TrainingError
from srd_core.evaluation.evaluate import evaluate_model, load_eval_samples
from srd_core.io import append_jsonl, fingerprint, read_jsonl, write_json_atomic, write_jsonl_atomic
from srd_core.models.flops import forward_flops, kd_training_flops, parameter_count
from srd_core.models.lengths import with_generation_limits
from srd_core.models.loading import load_tokenizer, resolve_model_path
from srd_core.models.runtime import (
    HiddenStates,
    causal_lm_core,
    enable_activation_checkpointing,
    freeze,
    last_hidden_state,
    load_models,
    make_accelerator,
    shared_vocab,
)
from srd_core.plugins import get_component, pm
from srd_core.rundir import CHECKPOINTS_DIR, DEV_EVAL_FILE, EVAL_FILE, FINAL_DIR, METRICS_FILE, SUMMARY_FILE
from srd_core.training import trackers
from srd_core.training.batches import global_batch_ids, position, rank_micro_batches, steps_per_epoch
from srd_core.training.best_checkpoint import BestCheckpoint, dev_rouge_fn
from srd_core.training.cadence import CADENCE_FIELDS
from srd_core.training.checkpoint import (
    TrainState,
    check_finite_weights,
    latest_checkpoint,
    load_responses,
    load_training_state,
    load_weights,
    read_state,
    save_checkpoint,
)
from srd_core.training.interrupts import StopGuard, interrupted
from srd_core.training.kd_loss import distill_loss
from srd_core.training.optim import build_lr_scheduler, build_optimizer, reset_optimizer
from srd_core.training.responses import StepFeed
from srd_core.training.stages import (
    LabelSettings,
    build_schedules,
    global_batch_size,
    label_settings,
    plan_label_stages,
    stage_lengths,
)
from srd_core.training.t2_scaling import kd_t2_scaling
from srd_core.training.teacher_cache import TeacherCache, open_cache
from srd_core.types import Sample, TrainSummary  # TrainSummary: re-exported (it lived here)

logger = logging.getLogger(__name__)

EvalFn = Callable[[Any, int], dict[str, Any]]
"""``eval_fn(model, step) -> dict``: evaluates the (unwrapped) student, returns one row of results."""


@dataclass
class StepResult:
    """One optimizer step, all processes combined."""

    loss: float
    ce: float
    kd: float
    tokens: int
    """Non-padding tokens of the global batch."""
    response_tokens: int
    """Tokens the loss is computed on (global batch)."""
    teacher_seconds: float
    """Time this process spent in the teacher forward."""
    teacher_tokens: int = 0
    """Non-padding tokens of the global batch the online teacher ran on (0: cached signal or SFT only)."""
    grad_norm: float | None = None
    skipped: bool = False


class _Clock:
    """Wall-clock seconds that wait for queued GPU work first (so phases are timed correctly)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


class _MetricsLog:
    """Throughput and teacher share over a logging interval, and the metrics.jsonl rows."""

    def __init__(self, path: Path, main: bool) -> None:
        self.path, self.main = path, main
        self.tokens, self.seconds, self.teacher_seconds = 0, 0.0, 0.0

    def add(self, result: StepResult, seconds: float) -> None:
        self.tokens += result.tokens
        self.seconds += seconds
        self.teacher_seconds += result.teacher_seconds

    def write(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Append ``metrics`` plus the interval's tokens/s and teacher share; start a new interval."""
        seconds = max(self.seconds, 1e-9)
        row = {**metrics, "tokens_per_s": self.tokens / seconds, "teacher_share": self.teacher_seconds / seconds}
        if self.main:
            append_jsonl(self.path, [row])
        self.tokens, self.seconds, self.teacher_seconds = 0, 0.0, 0.0
        return row


class _Session:
    """One training run in progress: models, optimizer, state, and where results go."""

    def __init__(
        self,
        config: SRDConfig,
        label: str,
        out_dir: Path,
        accelerator,
        student,
        tokenizer,
        teacher,
        samples: dict[str, Sample],
        state: TrainState,
        eval_fn: EvalFn | None,
        cache: TeacherCache | None = None,
    ) -> None:
        cfg = config.train
        self.config, self.cfg, self.label, self.out_dir = config, cfg, label, out_dir
        self.accelerator, self.main = accelerator, accelerator.is_main_process
        self.lm, self.tokenizer, self.samples, self.state, self.eval_fn = student, tokenizer, samples, state, eval_fn
        self.cache = cache  # a cached teacher signal: the teacher model is not loaded
        self.teacher = freeze(teacher).to(accelerator.device) if cache is None else None
        if cfg.gradient_checkpointing:
            enable_activation_checkpointing(student)
        student.config.use_cache = False
        student.train()
        self.model, self.optimizer = accelerator.prepare(HiddenStates(student), build_optimizer(student, cfg))
        self.student_head = causal_lm_core(student).get_output_embeddings()
        if cache is None:
            assert self.teacher is not None  # loaded when there is no cache
            self.teacher_head = causal_lm_core(self.teacher).get_output_embeddings()
            self.vocab_size = shared_vocab(tokenizer, self.student_head, self.teacher_head)
        else:
            self.teacher_head = None
            self.vocab_size = None if cache.vocab_size == self.student_head.out_features else cache.vocab_size
        self.kd_loss = get_component("kd_loss", cfg.kd_loss.name, **cfg.kd_loss.params)
        self.scale_by_t2 = kd_t2_scaling(cfg.scale_kd_by_t2, self.kd_loss)
        self.global_batch = global_batch_size(config, accelerator.num_processes)
        self.lengths = stage_lengths(state.stages, self.global_batch, cfg.max_steps)
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None  # new_scheduler, at each stage start
        self.examples: dict[str, EncodedExample] = {}
        self.clock = _Clock(accelerator.device)
        self.log = _MetricsLog(out_dir / METRICS_FILE, self.main)
        self.started, self.wall_before = time.perf_counter(), state.wall_time
        self.last_loss: float | None = None
        self.guard = StopGuard(cfg.checkpoint_minutes)
        self.best: BestCheckpoint | None = None  # train.select_best
        self.feed = StepFeed(config, label, out_dir.parent, accelerator, student, tokenizer, samples)
        if self.feed.generates and cache is not None:
            raise TrainingError(
                f"{self.phase}: train.responses {self.feed.source.name!r} trains on generated "
                "responses, which a cached teacher signal cannot score; use teacher_signal: online"
            )
        self._dev_samples: list[Sample] | None = None
        self.student_params = parameter_count(student)
        if self.teacher is not None:
            self.teacher_params = parameter_count(self.teacher)
        else:
            assert cache is not None  # no teacher model: a cached signal
            self.teacher_params = cache.teacher_params or 0

    # -- data ----------------------------------------------------------------------------------

    def example(self, sample_id: str) -> EncodedExample:
        """The encoded training example of a sample (cached)."""
        if sample_id not in self.examples:
            if sample_id not in self.samples:
                raise TrainingError(
                    f"{self.phase}: the stage plan names sample {sample_id!r}, which is not in the training data"
                )
            s, d = self.samples[sample_id], self.config.data
            self.examples[sample_id] = encode_example(
                self.tokenizer, s.prompt, s.target, d.max_prompt_tokens, d.max_length
            )
        return self.examples[sample_id]

    def response_tokens(self, ids: Sequence[str]) -> int:
        """Loss positions of samples: labels of positions 1.. that are response tokens."""
        return sum(sum(1 for t in self.example(i).labels[1:] if t != IGNORE_INDEX) for i in ids)

    # -- optimisation --------------------------------------------------------------------------

    def new_scheduler(self, stage: int):
        """The LR schedule over the stage (optimizer reset per stage) or over the whole run."""
        length = self.lengths[stage] if self.cfg.reset_optimizer_per_stage else sum(self.lengths)
        self.scheduler = build_lr_scheduler(self.optimizer.optimizer, self.cfg, max(1, length))

    def train_step(
        self, batch_ids: list[str], temperature: float, sft_weight: float, responses: list[EncodedExample] | None = None
    ) -> StepResult:
        """Forward and backward this process's micro-batches of the global batch ``batch_ids``.

        With ``responses`` (a response source's choice) the KD term is computed on those sequences and
        the SFT term on the ground truth of ``batch_ids``, or on the same sequences when the source's
        ``sft_on`` is ``batch`` (``train_step_on_responses``).
        """
        if responses is not None:
            return self.train_step_on_responses(batch_ids, responses, temperature, sft_weight)
        acc = self.accelerator
        micro_batches = rank_micro_batches(batch_ids, acc.process_index, acc.num_processes, self.cfg.grad_accum)
        n_global = self.response_tokens(batch_ids)  # every process knows the whole global batch
        sums = torch.zeros(3, dtype=torch.float64, device=acc.device)  # token sums of loss, ce, kd
        teacher_seconds = 0.0
        for a, ids in enumerate(micro_batches):
            active = bool(ids)  # an empty slot (partial last batch) still joins the gradient sync
            batch = collate_right_padded([self.example(i) for i in (ids or batch_ids[:1])], self.tokenizer.pad_token_id)
            input_ids = batch["input_ids"].to(acc.device)
            attention_mask = batch["attention_mask"].to(acc.device)
            next_tokens = batch["labels"][:, 1:].to(acc.device)
            positions = next_tokens != IGNORE_INDEX  # hidden state at t predicts response token t+1
            labels = next_tokens[positions]

            start = self.clock.now()
            teacher_hidden = cached = None
            if self.cache is not None:
                cached = self.cache.teacher(ids or batch_ids[:1], acc.device)
            elif sft_weight < 1.0:  # with SFT only, the teacher is not needed
                assert self.teacher is not None  # loaded when there is no cache
                with torch.no_grad():
                    teacher_hidden = last_hidden_state(self.teacher, input_ids, attention_mask)[:, :-1][positions]
            teacher_seconds += self.clock.now() - start

            sync = acc.no_sync(self.model) if a < len(micro_batches) - 1 else nullcontext()
            with sync, acc.autocast():
                student_hidden = self.model(input_ids=input_ids, attention_mask=attention_mask)[:, :-1][positions]
                out = distill_loss(
                    student_hidden,
                    self.student_head,
                    teacher_hidden,
                    self.teacher_head if teacher_hidden is not None else None,
                    labels,
                    self.kd_loss,
                    temperature=temperature,
                    sft_weight=sft_weight,
                    vocab_size=self.vocab_size,
                    chunk_size=self.cfg.kd_chunk_size,
                    scale_by_t2=self.scale_by_t2,
                    cached=cached,
                    fp32_heads=self.cfg.kd_fp32_heads,
                )
                # out.loss = w_sft · CE + (1 − w_sft) · KD_T, the mean over this micro-batch's tokens.
                # Weighted by its share of the global batch's tokens (DDP averages over processes),
                # the gradient is that of the token mean over the whole global batch.
                share = out.n_tokens * acc.num_processes / max(n_global, 1) if active else 0.0
                acc.backward(out.loss * share)
            if active:
                sums += torch.stack([out.loss.detach(), out.ce, out.kd]).double() * out.n_tokens
        loss, ce, kd = (acc.reduce(sums, reduction="sum") / max(n_global, 1)).tolist()
        tokens = sum(len(self.example(i).input_ids) for i in batch_ids)
        online_teacher = self.cache is None and sft_weight < 1.0
        return StepResult(loss, ce, kd, tokens, n_global, teacher_seconds, tokens if online_teacher else 0)

    def train_step_on_responses(
        self, batch_ids: list[str], responses: list[EncodedExample], temperature: float, sft_weight: float
    ) -> StepResult:
        """``w_sft · CE(ground truth of batch_ids) + (1 − w_sft) · KD_T(responses)``, each the token mean over
        its own global batch; the teacher scores the response sequences (the student's tokens). With the
        source's ``sft_on: batch`` the CE is on the response sequences too (one forward, as DistiLLM)."""
        acc = self.accelerator
        on_batch = self.feed.sft_on == "batch"  # the SFT term on the chosen sequences, not the ground truth
        slots = rank_micro_batches(
            list(range(len(responses))), acc.process_index, acc.num_processes, self.cfg.grad_accum
        )
        truth = rank_micro_batches(batch_ids, acc.process_index, acc.num_processes, self.cfg.grad_accum)
        n_kd = sum(sum(1 for t in e.labels[1:] if t != IGNORE_INDEX) for e in responses)
        n_ce = self.response_tokens(batch_ids) if sft_weight > 0 and not on_batch else 0
        sums = torch.zeros(3, dtype=torch.float64, device=acc.device)  # token sums of ce (truth), kd, ce (kd seqs)
        teacher_seconds = 0.0

        def positions_of(examples: list[EncodedExample]):
            batch = collate_right_padded(examples, self.tokenizer.pad_token_id)
            next_tokens = batch["labels"][:, 1:].to(acc.device)
            return (
                batch["input_ids"].to(acc.device),
                batch["attention_mask"].to(acc.device),
                next_tokens != IGNORE_INDEX,
                next_tokens,
            )

        for a, (kd_slot, ce_slot) in enumerate(zip(slots, truth, strict=True)):
            kd_examples = [responses[j] for j in kd_slot] or responses[:1]  # an empty slot joins the sync
            input_ids, attention_mask, positions, next_tokens = positions_of(kd_examples)
            start = self.clock.now()
            assert self.teacher is not None  # generated responses need the online teacher (checked in __init__)
            with torch.no_grad():
                teacher_hidden = last_hidden_state(self.teacher, input_ids, attention_mask)[:, :-1][positions]
            teacher_seconds += self.clock.now() - start
            sync = acc.no_sync(self.model) if a < len(slots) - 1 else nullcontext()
            with sync, acc.autocast():
                student_hidden = self.model(input_ids=input_ids, attention_mask=attention_mask)[:, :-1][positions]
                kd = distill_loss(
                    student_hidden,
                    self.student_head,
                    teacher_hidden,
                    self.teacher_head,
                    next_tokens[positions],
                    self.kd_loss,
                    temperature=temperature,
                    sft_weight=sft_weight if on_batch else 0.0,
                    vocab_size=self.vocab_size,
                    chunk_size=self.cfg.kd_chunk_size,
                    scale_by_t2=self.scale_by_t2,
                    fp32_heads=self.cfg.kd_fp32_heads,
                )  # with on_batch: w_sft · CE + (1 − w_sft) · KD_T on the response sequences
                kd_share = kd.n_tokens * acc.num_processes / max(n_kd, 1) if kd_slot else 0.0
                loss = (kd.loss if on_batch else (1.0 - sft_weight) * kd.loss) * kd_share
                ce = None
                if sft_weight > 0 and not on_batch:
                    gt_ids, gt_mask, gt_positions, gt_next = positions_of(
                        [self.example(i) for i in (ce_slot or batch_ids[:1])]
                    )
                    gt_hidden = self.model(input_ids=gt_ids, attention_mask=gt_mask)[:, :-1][gt_positions]
                    ce = distill_loss(
                        gt_hidden,
                        self.student_head,
                        None,
                        None,
                        gt_next[gt_positions],
                        self.kd_loss,
                        temperature=temperature,
                        sft_weight=1.0,
                        vocab_size=self.vocab_size,
                        chunk_size=self.cfg.kd_chunk_size,
                        fp32_heads=self.cfg.kd_fp32_heads,
                    )
                    ce_share = ce.n_tokens * acc.num_processes / max(n_ce, 1) if ce_slot else 0.0
                    loss = loss + sft_weight * ce.loss * ce_share
                acc.backward(loss)
            if kd_slot:
                sums[1] += float(kd.kd) * kd.n_tokens
                sums[2] += float(kd.ce) * kd.n_tokens
            if ce is not None and ce_slot:
                sums[0] += float(ce.ce) * ce.n_tokens
        ce_sum, kd_sum, gen_ce_sum = acc.reduce(sums, reduction="sum").tolist()
        kd_mean = kd_sum / max(n_kd, 1)
        ce_mean = ce_sum / max(n_ce, 1) if n_ce else gen_ce_sum / max(n_kd, 1)
        loss = sft_weight * ce_mean + (1.0 - sft_weight) * kd_mean
        tokens = sum(len(e.input_ids) for e in responses)
        if n_ce:  # the ground truth's forward of the SFT term
            tokens += sum(len(self.example(i).input_ids) for i in batch_ids)
        return StepResult(
            loss, ce_mean, kd_mean, tokens, n_kd + n_ce, teacher_seconds, sum(len(e.input_ids) for e in responses)
        )  # the teacher scored every response sequence

    def apply_gradients(self, result: StepResult, stage: int) -> None:
        """Clip and apply the gradients; a non-finite loss or gradient stops training or skips the step."""
        acc, cfg, step = self.accelerator, self.cfg, self.state.step
        if math.isfinite(result.loss) and cfg.max_grad_norm is not None:
            result.grad_norm = float(acc.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm))
        # with fp16 loss scaling an overflowing gradient is expected: the grad scaler skips that step itself
        finite_grad = result.grad_norm is None or math.isfinite(result.grad_norm) or acc.scaler is not None
        if math.isfinite(result.loss) and finite_grad:
            self.optimizer.step()
            assert self.scheduler is not None  # set at the stage start
            self.scheduler.step()
        else:
            what = f"loss ({result.loss})" if not math.isfinite(result.loss) else f"gradient norm ({result.grad_norm})"
            where = f"step {step + 1}, stage {stage + 1} of {len(self.state.stages)}"
            if cfg.on_nonfinite == "stop":
                raise TrainingError(
                    f"{self.phase}: non-finite {what} at {where}; lower train.lr, check the data, "
                    "or set train.on_nonfinite=skip"
                )
            logger.warning("%s: skipped the batch of %s: non-finite %s", self.label, where, what)
            result.skipped = True
        self.optimizer.zero_grad(set_to_none=True)

    # -- the loop ------------------------------------------------------------------------------

    def wall(self) -> float:
        """Seconds trained, over every (resumed) attempt."""
        return self.wall_before + time.perf_counter() - self.started

    def progress(self, stage: int) -> dict[str, Any]:
        """Where training stands: the fields shared by metrics and eval rows."""
        s = self.state
        return {
            "step": s.step,
            "stage": stage,
            "wall_time": round(self.wall(), 3),
            "tokens": s.tokens,
            "response_tokens": s.response_tokens,
            "flops": self.flops(),
        }

    def flops(self) -> int:
        """Training compute so far: the student's forward + backward, the online teacher's forward, and with a
        generating ``train.responses`` the student's generation (2·N_s per generated token; the prompt's prefill
        is not counted)."""
        generated = self.feed.totals.generated_tokens if self.feed.generates else 0
        return kd_training_flops(
            self.student_params, self.state.tokens, self.teacher_params, self.state.teacher_tokens
        ) + forward_flops(self.student_params, generated)

    def run_stage(self, stage: int, schedules, context: TrainContext) -> None:
        """Train the remaining steps of ``stage``."""
        state, cfg = self.state, self.cfg
        temperature_schedule, sft_schedule = schedules
        plan, total = state.stages[stage], sum(self.lengths)
        # TQDM_DISABLE=1 (set for parallel arms, whose bars would interleave on one terminal) is honoured here
        # although ``disable`` is given: tqdm reads the variable only for arguments left out
        quiet = not self.main or os.environ.get("TQDM_DISABLE") == "1"
        bar = tqdm(
            total=self.lengths[stage],
            initial=state.step_in_stage,
            disable=quiet,
            desc=f"{self.label} stage {stage + 1}/{len(state.stages)}",
            dynamic_ncols=True,
        )
        while state.step_in_stage < self.lengths[stage]:
            temperature = temperature_schedule.value(state.step, total, stage)
            sft_weight = sft_schedule.value(state.step, total, stage)
            lr = self.optimizer.param_groups[0]["lr"]
            epoch = position(state.step_in_stage, plan, self.global_batch).epoch
            started = time.perf_counter()
            batch_ids = global_batch_ids(plan, stage, state.step_in_stage, self.config.run.seed, self.global_batch)
            chosen = self.feed.choose(state.step, total, batch_ids)  # the step's KD responses (train.responses)
            result = self.train_step(batch_ids, temperature, sft_weight, chosen.examples)
            self.apply_gradients(result, stage)
            self.log.add(result, time.perf_counter() - started)

            state.step += 1
            state.step_in_stage += 1
            state.tokens += result.tokens
            state.response_tokens += result.response_tokens
            state.teacher_tokens += result.teacher_tokens
            state.skipped_steps += int(result.skipped)
            self.last_loss = result.loss
            last_of_stage = state.step_in_stage == self.lengths[stage]
            metrics = {
                **self.progress(stage),
                "total_steps": sum(self.lengths),
                "epoch": epoch,
                "loss": result.loss,
                "ce": result.ce,
                "kd": result.kd,
                "T": temperature,
                "w_sft": sft_weight,
                "lr": lr,
                "grad_norm": result.grad_norm,
                "skipped": result.skipped,
                **(self.feed.metrics(chosen) if self.feed.generates else {}),
            }
            if state.step % cfg.log_every == 0 or last_of_stage:
                trackers.log_row(self.accelerator, self.config, self.log.write(metrics), trackers.TRAIN_SCALARS)
            if self.feed.source.dev_loss_due(state.step_in_stage, steps_per_epoch(len(plan.ids), self.global_batch)):
                self.feed.source.observe_dev_loss(state.step, self.dev_loss())
            bar.update(1)
            bar.set_postfix(loss=f"{result.loss:.4f}", T=temperature, w_sft=sft_weight)
            context.step = state.step
            pm.hook.step_end(context=context, metrics=metrics)
            if self.eval_fn is not None and cfg.eval_every and state.step % cfg.eval_every == 0:
                self.evaluate(stage)
            if self.best is not None and self.best.due(
                state.step_in_stage, self.lengths[stage], steps_per_epoch(len(plan.ids), self.global_batch)
            ):
                self.best.consider(self.lm, stage, state.step, self.wall())
            by_time, stop = self.guard.poll(self.accelerator)  # wall-time checkpoints; a stop signal checkpoints first
            by_steps = bool(cfg.checkpoint_every) and state.step % cfg.checkpoint_every == 0
            if stop or (not last_of_stage and (by_steps or by_time)):
                self.checkpoint()
            if stop:
                bar.close()
                raise interrupted(self.phase, stop, state.step, total, state.step)
        bar.close()

    @property
    def phase(self) -> str:
        """The phase name `srd run` uses for this arm (train_srd, train_baseline, train_<arm>)."""
        return f"train_{self.label}"

    def guarded_stage(self, stage: int, schedules, context: TrainContext) -> None:
        """``run_stage`` with a Ctrl-C that the guard could not catch (not the main thread) turned into a resume
        message."""
        try:
            self.run_stage(stage, schedules, context)
        except KeyboardInterrupt:
            latest = latest_checkpoint(self.out_dir / CHECKPOINTS_DIR)
            resume = read_state(latest).step if latest is not None else None
            raise interrupted(self.phase, signal.SIGINT, self.state.step, sum(self.lengths), resume) from None

    def dev_loss(self) -> float:
        """The student's CE on the dev split's ground truth (for a response source that follows it)."""
        if self._dev_samples is None:
            self._dev_samples = load_dev_samples(self.config)
        return self.feed.dev_loss(self._dev_samples, self.cfg.batch_size)

    # -- outputs -------------------------------------------------------------------------------

    def stop_if_signalled(self) -> None:
        """Between stages (the stage's checkpoint written): stop if a signal came while nothing polled it."""
        _, stop = self.guard.poll(self.accelerator)
        if stop:
            raise interrupted(self.phase, stop, self.state.step, sum(self.lengths), self.state.step)

    def checkpoint(self) -> None:
        """Save a checkpoint that resumes with the next step (every process calls this)."""
        state = self.state
        state.wall_time = self.wall()
        state.epoch = state.batch = 0
        if state.stage < len(state.stages) and state.stages[state.stage].ids:
            pos = position(state.step_in_stage, state.stages[state.stage], self.global_batch)
            state.epoch, state.batch = pos.epoch, pos.batch
        state.world_size = self.accelerator.num_processes
        check_finite_weights(self.lm, f"{self.phase}: after step {state.step}, {self.where()}")
        save_checkpoint(
            self.out_dir / CHECKPOINTS_DIR,
            state,
            self.accelerator,
            self.lm,
            self.optimizer,
            self.scheduler,
            self.cfg.keep_checkpoints,
            responses=self.feed.state_dict() if self.feed.generates else None,
        )
        self.guard.checkpointed()

    def where(self) -> str:
        """``stage 2 of 3``: the stage the last step trained in."""
        s = self.state
        stage = s.stage - 1 if s.step_in_stage == 0 and s.stage > 0 else s.stage  # 0: the stage has just ended
        return f"stage {min(stage, len(s.stages) - 1) + 1} of {len(s.stages)}"

    def evaluate(self, stage: int) -> None:
        """Run ``eval_fn(model, step)`` on the main process; append its row to eval.jsonl."""
        if self.main:
            self.lm.eval()
            assert self.eval_fn is not None  # evaluate runs only with an eval_fn
            with torch.no_grad():
                result = self.eval_fn(self.lm, self.state.step)
            self.lm.train()
            row = {**self.progress(stage), **(result or {})}
            append_jsonl(self.out_dir / EVAL_FILE, [row])
            trackers.log_row(self.accelerator, self.config, row, trackers.EVAL_SCALARS)
        self.accelerator.wait_for_everyone()

    def save_final(self, final_dir: Path) -> None:
        """Student weights (safetensors) and tokenizer, loadable with ``from_pretrained``; atomic."""
        check_finite_weights(self.lm, f"{self.phase}: after step {self.state.step}, {self.where()}")
        if self.main:
            tmp = final_dir.parent / f".tmp-{final_dir.name}"
            shutil.rmtree(tmp, ignore_errors=True)
            lm = self.lm.merge_and_unload() if hasattr(self.lm, "merge_and_unload") else self.lm
            lm.save_pretrained(tmp, safe_serialization=True)
            self.tokenizer.save_pretrained(tmp)
            shutil.rmtree(final_dir, ignore_errors=True)
            tmp.rename(final_dir)
        self.accelerator.wait_for_everyone()


EVAL_ONLY_DATA = frozenset({"limit_eval"})
"""Data fields training never reads (only the final evaluation does): not part of a checkpoint's key."""


def accepted_keys(config: SRDConfig, settings: LabelSettings) -> set[str]:
    """The keys a checkpoint or finished arm may carry to count as this config's: ``config_key``, and the key of
    srd versions that held every data field (their checkpoints stay resumable)."""
    return {config_key(config, settings), config_key(config, settings, legacy=True)}


def config_key(config: SRDConfig, settings: LabelSettings, *, legacy: bool = False) -> str:
    """Fingerprint of what a checkpoint depends on (logging, eval and checkpoint cadence and eval-only data
    excluded; ``legacy``: the key of earlier versions, with every data field)."""
    loose = {*CADENCE_FIELDS, "max_steps"}  # max_steps: a longer run resumes from a shorter one's checkpoints
    if not config.train.select_best.enabled:  # off: keys of runs made before the option stay valid
        loose.add("select_best")
    default = TrainConfig.model_fields["responses"].get_default(call_default_factory=True)
    if config.train.responses.name == default.name:  # the default: keys of earlier runs stay valid
        loose.add("responses")
    return fingerprint(
        {
            "train": config.train.model_dump(mode="json", exclude=loose),
            "data": config.data.model_dump(mode="json", exclude=None if legacy else set(EVAL_ONLY_DATA)),
            "seed": config.run.seed,
            "settings": {k: v.model_dump(mode="json") for k, v in settings.specs().items()},
        }
    )


def _trim_jsonl(path: Path, max_step: int) -> None:
    """Drop rows after ``max_step``: written by an attempt that died after its last checkpoint."""
    if path.is_file():
        rows = read_jsonl(path, tolerate_torn_tail=True)
        write_jsonl_atomic(path, [r for r in rows if r.get("step", 0) <= max_step])


def _start_state(
    config: SRDConfig,
    run_dir: Path,
    label: str,
    checkpoint: Path | None,
    key: str,
    samples: Sequence[Sample],
    stages: Sequence[StagePlan] | None,
    num_processes: int,
    accepted: set[str] | None = None,
) -> TrainState:
    """The checkpoint's state (its key one of ``accepted``, default ``{key}``), or a fresh one with the label's
    stage plans."""
    if checkpoint is not None:
        state = read_state(checkpoint)
        if state.extra.get("config_key") not in (accepted or {key}):
            raise TrainingError(
                f"{checkpoint}: saved with different train/data/{label} settings; delete "
                f"{checkpoint.parent.parent} to start over, or use another run name"
            )
        return state
    if stages is None:
        stages = plan_label_stages(
            config, run_dir, label, [s.id for s in samples], global_batch_size(config, num_processes)
        )
    return TrainState(
        step=0,
        stage=0,
        step_in_stage=0,
        epoch=0,
        batch=0,
        tokens=0,
        response_tokens=0,
        wall_time=0.0,
        skipped_steps=0,
        stages=[StagePlan(list(p.ids), float(p.epochs)) for p in stages],
        world_size=num_processes,
        extra={"config_key": key},
    )


def train(
    config: SRDConfig,
    run_dir: str | Path,
    label: str = "srd",
    *,
    samples: Sequence[Sample] | None = None,
    stages: Sequence[StagePlan] | None = None,
    teacher: torch.nn.Module | str | Path | None = None,
    student_path: str | Path | None = None,
    eval_fn: EvalFn | None = None,
) -> TrainSummary:
    """Distil the teacher into the student for arm ``label`` (srd, baseline, an arm of ``arms``); resumes if possible.

    ``samples`` default to the config's training split; ``stages`` to the label's pacer plan (from
    run_dir/curation.jsonl for curation-using pacers); ``teacher`` (a model or a path) and
    ``student_path`` to the configured models. ``eval_fn(model, step) -> dict`` runs on the main
    process every ``train.eval_every`` steps and at the end. A finished run returns its summary.
    """
    from accelerate.utils import set_seed  # deferred: accelerate

    run_dir = Path(run_dir)
    settings = label_settings(config, label)
    out_dir = run_dir / label
    final_dir, summary_path = out_dir / FINAL_DIR, out_dir / SUMMARY_FILE
    key, accepted = config_key(config, settings), accepted_keys(config, settings)
    if summary_path.is_file() and (final_dir / "config.json").is_file():
        done = TrainSummary(**json.loads(summary_path.read_text(encoding="utf-8")))
        if done.config_key not in accepted:
            raise TrainingError(
                f"{out_dir}: trained with different train/data/{label} settings; train again with "
                f"`srd train CONFIG --label {label} --force` (it is set aside), or use another run name"
            )
        logger.info("%s: already trained (%s); `srd train --label %s --force` trains again", label, summary_path, label)
        return done

    accelerator = make_accelerator(config.train.mixed_precision, **trackers.accelerator_kwargs(config, run_dir))
    if samples is None:
        samples = load_samples(config, "train")
    sample_map = {s.id: s for s in samples}
    if len(sample_map) != len(samples):
        raise TrainingError("training samples: ids are not unique")

    checkpoint = latest_checkpoint(out_dir / CHECKPOINTS_DIR)
    attempted = (out_dir / CHECKPOINTS_DIR).is_dir()  # made by every attempt, before it trains
    state = _start_state(config, run_dir, label, checkpoint, key, samples, stages, accelerator.num_processes, accepted)
    resumed_from = state.step if checkpoint is not None else None
    schedules = build_schedules(settings, len(state.stages))
    if accelerator.is_main_process:
        for name in (METRICS_FILE, EVAL_FILE, DEV_EVAL_FILE):
            if checkpoint is None:  # rows of an attempt that died before its first checkpoint
                (out_dir / name).unlink(missing_ok=True)
            else:
                _trim_jsonl(out_dir / name, state.step)
    if checkpoint is None:
        set_seed(config.run.seed)
        if attempted:
            logger.info("%s: restarting from step 0 (no checkpoint)", label)
    else:
        logger.info("%s: resuming from step %d (checkpoint %s)", label, state.step, checkpoint.name)
    if accelerator.is_main_process:
        (out_dir / CHECKPOINTS_DIR).mkdir(parents=True, exist_ok=True)

    cache = open_cache(config, run_dir, label, samples, accelerator)
    student, tokenizer, teacher_model = load_models(config, run_dir, teacher, student_path, cache is None)
    if checkpoint is not None:
        load_weights(checkpoint, student)
    session = _Session(
        config, label, out_dir, accelerator, student, tokenizer, teacher_model, sample_map, state, eval_fn, cache
    )
    if config.train.select_best.enabled:
        session.best = BestCheckpoint(
            out_dir,
            dev_rouge_fn(config, run_dir, tokenizer),
            accelerator,
            config.train.select_best.every,
            on_row=lambda row: trackers.log_row(accelerator, config, row, trackers.DEV_SCALARS),
        )
        if checkpoint is None:
            session.best.reset()
    if checkpoint is not None and session.lengths:
        session.new_scheduler(min(state.stage, len(session.lengths) - 1))
        load_training_state(checkpoint, accelerator, session.optimizer, session.scheduler)
    responses_state = load_responses(checkpoint) if checkpoint is not None else None
    if responses_state is not None:
        session.feed.load_state_dict(responses_state)
    elif session.feed.generates:
        session.feed.start()
        if session.feed.source.dev_loss_due(0, 0):  # the dev loss before training (the update's reference)
            session.feed.source.observe_dev_loss(-1, session.dev_loss())

    trackers.start(accelerator, config, label)
    context = TrainContext(
        run_dir=run_dir,
        config=config,
        label=label,
        stages=state.stages,
        samples=sample_map,
        model=student,
        tokenizer=tokenizer,
        accelerator=accelerator,
        arm=arm_of(config, label),
    )
    with session.guard.installed():  # SIGINT / SIGTERM: checkpoint at the next step's end, then stop
        while state.stage < len(state.stages):
            stage = state.stage
            if config.train.max_steps is not None and state.step >= config.train.max_steps:
                break
            if state.step_in_stage == 0:  # a new stage: hooks may edit the plans of later stages
                context.stage, context.step, context.total_steps = stage, state.step, sum(session.lengths)
                pm.hook.stage_start(context=context)
                state.stages = [StagePlan(list(p.ids), float(p.epochs)) for p in context.stages]
                context.stages = state.stages
                schedules = build_schedules(settings, len(state.stages))
                session.lengths = stage_lengths(state.stages, session.global_batch, config.train.max_steps)
                if config.train.reset_optimizer_per_stage and stage > 0:
                    reset_optimizer(session.optimizer, config.train)
                if config.train.reset_optimizer_per_stage or session.scheduler is None:
                    session.new_scheduler(stage)
                session.feed.stage_start(state.stages[stage].ids)
            session.guarded_stage(stage, schedules, context)
            if session.best is not None:  # the next stage (or final/) starts from the stage's best weights
                session.best.restore(student, stage, state.step)
            state.stage, state.step_in_stage = stage + 1, 0
            session.checkpoint()
            context.stage, context.step = stage, state.step
            pm.hook.stage_end(context=context)
            session.stop_if_signalled()  # a signal between the stage's last poll and here

    state.wall_time = session.wall()
    if eval_fn is not None and not (config.train.eval_every and state.step % config.train.eval_every == 0):
        session.evaluate(max(0, min(state.stage, len(state.stages)) - 1))
    session.save_final(final_dir)
    summary = TrainSummary(
        label=label,
        steps=state.step,
        stages=len(state.stages),
        tokens=state.tokens,
        response_tokens=state.response_tokens,
        wall_time=round(state.wall_time, 3),
        skipped_steps=state.skipped_steps,
        final_dir=str(final_dir),
        final_loss=session.last_loss,
        resumed_from_step=resumed_from,
        stage_steps=list(session.lengths),
        config_key=key,
        responses=session.feed.totals.to_dict() if session.feed.generates else None,
        flops=session.flops(),
        student_params=session.student_params,
        teacher_params=session.teacher_params,
        teacher_tokens=state.teacher_tokens,
        teacher_cache_flops=cache.flops if cache is not None else None,
        pacer=settings.pacer.name,
        curated=uses_curation(settings.pacer),
        match_steps_of=arm_of(config, label).match_steps_of,
    )
    if accelerator.is_main_process:
        write_json_atomic(summary_path, summary.to_dict())
    trackers.finish(accelerator, config)
    pm.hook.train_end(context=context, summary=summary)
    return summary


def rouge_eval_fn(config: SRDConfig, run_dir: str | Path, student_path: str | Path | None = None) -> EvalFn:
    """An ``eval_fn`` for ``train``: ROUGE-L ×100 on the held-out samples under ``config.eval``."""
    config = with_generation_limits(config, Path(run_dir))
    samples = load_eval_samples(config)
    path = (
        str(student_path) if student_path is not None else resolve_model_path(config.student, Path(run_dir), "student")
    )
    tokenizer = load_tokenizer(config.student, path, "student")

    def evaluate(model, step: int) -> dict[str, Any]:
        result = evaluate_model(model, tokenizer, samples, config.eval, config.data.max_prompt_tokens)
        return {"rouge_l": result.score, "sd": result.sd, "n": result.n, "protocol": result.protocol}

    return evaluate
