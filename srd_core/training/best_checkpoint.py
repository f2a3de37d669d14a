"""The best checkpoint of each stage by dev ROUGE-L; the next stage (and ``final/``) starts from it.

As the official SRD runs select checkpoints by dev ROUGE-L (``train.select_best``). Within a stage
the student is scored on the dev split at the points of ``dev_points`` (every epoch end, or every
N steps, and the stage's last step); a strictly better score saves the weights to
``<label>/best/stage-<k>/`` (atomically, with ``best.json``: step and score). At the stage's end
every process loads those weights, so the next stage and the final model start from the best point.
Dev scores go to ``<label>/dev_eval.jsonl``, the selections to ``<label>/best_checkpoints.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from srd_core.config import EvalConfig
from srd_core.data.dev_split import load_dev_samples
from srd_core.io import append_jsonl, write_json_atomic
from srd_core.models.lengths import with_generation_limits
from srd_core.rundir import BEST_DIR, BEST_FILE, DEV_EVAL_FILE

DevFn = Callable[[torch.nn.Module], float]
"""Scores the (unwrapped) student on the dev split: ROUGE-L ×100."""

MODEL_FILE = "model.safetensors"
RECORD_FILE = "best.json"


def dev_points(stage_steps: int, steps_per_epoch: int, every: int = 0) -> list[int]:
    """Steps done within a stage after which the dev set is scored: each ``every`` steps (0: each epoch
    end), always including the stage's last step."""
    if stage_steps <= 0:
        return []
    interval = every if every > 0 else max(1, steps_per_epoch)
    return sorted(set(range(interval, stage_steps + 1, interval)) | {stage_steps})


def is_better(score: float, best: dict[str, Any] | None) -> bool:
    """A strictly higher score wins; a tie keeps the earlier checkpoint."""
    return best is None or score > float(best["score"])


class BestCheckpoint:
    """Tracks, saves and restores the best weights of each stage (every process holds one)."""

    def __init__(
        self,
        out_dir: Path,
        dev_fn: DevFn,
        accelerator,
        every: int = 0,
        on_row: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """``on_row`` gets every dev_eval.jsonl row as it is written (the experiment trackers)."""
        self.out_dir, self.dev_fn, self.accelerator, self.every = Path(out_dir), dev_fn, accelerator, every
        self.on_row = on_row
        self.root = self.out_dir / BEST_DIR

    def reset(self) -> None:
        """Forget the selections of an earlier attempt (a run that starts from step 0; main process)."""
        if self.accelerator.is_main_process:
            shutil.rmtree(self.root, ignore_errors=True)
            (self.out_dir / BEST_FILE).unlink(missing_ok=True)
        self.accelerator.wait_for_everyone()

    def stage_dir(self, stage: int) -> Path:
        return self.root / f"stage-{stage}"

    def record(self, stage: int) -> dict[str, Any] | None:
        """The stage's best so far (``step``, ``score``), or None."""
        path = self.stage_dir(stage) / RECORD_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def due(self, step_in_stage: int, stage_steps: int, steps_per_epoch: int) -> bool:
        """Whether the dev set is scored after ``step_in_stage`` steps of the stage."""
        return step_in_stage in dev_points(stage_steps, steps_per_epoch, self.every)

    def consider(self, model: torch.nn.Module, stage: int, step: int, wall_time: float) -> None:
        """Score ``model`` on the dev set (main process); keep its weights if they beat the stage's best."""
        if self.accelerator.is_main_process:
            score = float(self.dev_fn(model))
            best = self.record(stage)
            if best is not None and int(best["step"]) >= step:  # written by an attempt that died later on
                best = None
            improved = is_better(score, best)
            if improved:
                self._save(model, stage, {"stage": stage, "step": step, "score": score})
            row = {"stage": stage, "step": step, "wall_time": round(wall_time, 3), "rouge_l": score, "best": improved}
            append_jsonl(self.out_dir / DEV_EVAL_FILE, [row])
            if self.on_row is not None:
                self.on_row(row)
        self.accelerator.wait_for_everyone()

    def _save(self, model: torch.nn.Module, stage: int, record: dict[str, Any]) -> None:
        final = self.stage_dir(stage)
        tmp = final.parent / f".tmp-{final.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / MODEL_FILE))
        write_json_atomic(tmp / RECORD_FILE, record)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)

    def restore(self, model: torch.nn.Module, stage: int, step: int) -> dict[str, Any] | None:
        """At the end of ``stage`` (after ``step`` steps): load its best weights into ``model`` unless the
        last step is the best; returns the selection (also added to best_checkpoints.json)."""
        self.accelerator.wait_for_everyone()
        best = self.record(stage)
        if best is None:
            return None
        if int(best["step"]) != step:
            load_model(model, str(self.stage_dir(stage) / MODEL_FILE))
        selection = {**best, "last_step": step}
        if self.accelerator.is_main_process:
            path = self.out_dir / BEST_FILE
            chosen = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            chosen[str(stage)] = selection
            write_json_atomic(path, chosen)
        self.accelerator.wait_for_everyone()
        return selection


def dev_rouge_fn(config, run_dir: Path, tokenizer) -> DevFn:
    """ROUGE-L ×100 on the dev split as ``train.select_best`` says (greedy, or sampled at T = 1)."""
    from srd_core.evaluation.evaluate import evaluate_model  # deferred: tqdm

    config = with_generation_limits(config, Path(run_dir))
    select = config.train.select_best
    samples = load_dev_samples(config, select.max_samples)
    eval_cfg = EvalConfig(
        protocol="distillm" if select.sample else "greedy",
        seeds=[config.run.seed],
        max_new_tokens=config.eval.max_new_tokens,
        batch_size=config.eval.batch_size,
        no_repeat_ngram_size=select.no_repeat_ngram_size,
    )

    def score(model: torch.nn.Module) -> float:
        return evaluate_model(model, tokenizer, samples, eval_cfg, config.data.max_prompt_tokens).score

    return score
