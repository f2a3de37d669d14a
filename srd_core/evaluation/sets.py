"""Evaluation on several named sets (``eval.sets``: Dolly, S-NI, UnNI, SelfInst, Vicuna): one table per run.

Each model of the run (teacher, initial student, SRD and baseline students) is loaded once and
scored with ``srd_core.evaluation.evaluate.evaluate_model`` (ROUGE-L ×100 under ``eval.protocol``; the
DistiLLM protocol samples at T = 1 with seeds 10–50 and reports mean and sd) on every set. Rows go
to ``run_dir/eval_sets.jsonl`` (one per model and set, rewritten atomically) and render as a table
of models × sets with the average over sets, as in the DistiLLM/SRD papers.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srd_core.arms import arm_names
from srd_core.config import ComponentSpec, SRDConfig
from srd_core.data.samples import LoaderTask, make_task
from srd_core.errors import ConfigError, DataError, SRDError
from srd_core.io import read_jsonl, write_jsonl_atomic
from srd_core.models.lengths import with_generation_limits
from srd_core.rundir import EVAL_SETS_FILE, FINAL_DIR
from srd_core.types import Sample

MODEL_ORDER = ("teacher", "student", "srd", "baseline")
"""``--model`` names in table order; ``student`` is reported as ``student_init``."""


def load_eval_set(config: SRDConfig, name: str, spec: ComponentSpec) -> list[Sample]:
    """The eval split of set ``name`` (a task spec), cut to ``eval.max_samples``."""
    task = make_task(config, spec)
    try:
        if isinstance(task, LoaderTask):
            samples = task.load_split("eval", config.data.on_bad_sample, config.eval.max_samples).samples
        else:
            samples = task.load("eval")[: config.eval.max_samples]
    except SRDError as exc:
        raise DataError(f"eval.sets.{name}: {exc}") from None
    if not samples:
        raise DataError(f"eval.sets.{name}: the eval split has no samples")
    return samples


def available_models(config: SRDConfig, run_dir: Path, requested: Sequence[str] | None) -> list[str]:
    """The models to evaluate: ``requested``, or every model of the run that exists (trained ones only)."""
    from srd_core.models.loading import is_model_dir  # deferred: torch

    if requested:
        return list(requested)

    models = ["teacher", "student"]
    for label in arm_names(config):
        if is_model_dir(Path(run_dir) / label / FINAL_DIR):
            models.append(label)
    return models


def _load(config: SRDConfig, run_dir: Path, which: str):
    """(label, model, tokenizer) of ``which`` (see ``srd_core.evaluation.evaluate.model_location``)."""
    import torch  # deferred: torch

    from srd_core.evaluation.evaluate import model_location  # deferred: torch
    from srd_core.models.loading import load_causal_lm, load_tokenizer  # deferred: torch

    label, path, role = model_location(config, run_dir, which)
    model_cfg = config.teacher if role == "teacher" else config.student
    tokenizer = load_tokenizer(model_cfg, path, role)
    model = load_causal_lm(model_cfg, path, role)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    model.eval()
    return label, model, tokenizer


def run_eval_sets(
    config: SRDConfig, run_dir: str | Path, models: Sequence[str] | None = None, progress: bool = True
) -> list[dict[str, Any]]:
    """Evaluate every model on every ``eval.sets`` entry; returns (and stores) the rows of this call."""
    from srd_core.evaluation.evaluate import evaluate_model  # deferred: torch

    config = with_generation_limits(config, Path(run_dir))
    if not config.eval.sets:
        raise ConfigError(
            "eval.sets: no evaluation sets configured (e.g. eval.sets.dolly: {name: minillm, "
            "eval: data/dolly/valid.jsonl})"
        )
    run_dir = Path(run_dir)
    sets = {name: load_eval_set(config, name, spec) for name, spec in config.eval.sets.items()}
    rows = []
    for which in available_models(config, run_dir, models):
        label, model, tokenizer = _load(config, run_dir, which)
        for set_name, samples in sets.items():
            result = evaluate_model(
                model,
                tokenizer,
                samples,
                config.eval,
                config.data.max_prompt_tokens,
                progress=f"{label} on {set_name}" if progress else None,
            )
            rows.append(result.to_row(label, set=set_name))
        del model
    store_rows(run_dir / EVAL_SETS_FILE, rows)
    return rows


def store_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Merge ``rows`` into eval_sets.jsonl, replacing earlier rows of the same (model, set)."""
    old = read_jsonl(path, tolerate_torn_tail=True) if path.is_file() else []
    new_keys = {(r["model"], r["set"]) for r in rows}
    write_jsonl_atomic(path, [r for r in old if (r.get("model"), r.get("set")) not in new_keys] + list(rows))


def render_table(rows: Sequence[dict[str, Any]], set_order: Sequence[str] | None = None) -> str:
    """Models × sets of ROUGE-L ×100 (mean, ± sd over seeds when sampled) with the average over sets."""
    sets = list(set_order or dict.fromkeys(r["set"] for r in rows))
    order = {"teacher": 0, "student_init": 1, "srd": 2, "baseline": 3}
    models = sorted(dict.fromkeys(r["model"] for r in rows), key=lambda m: (order.get(m, 9), m))
    cell = {(r["model"], r["set"]): r for r in rows}
    width = max([12, *(len(s) + 2 for s in sets)])
    name_width = max([12, *(len(m) for m in models)])
    lines = [f"{'model':<{name_width}}" + "".join(f"{s:>{width}}" for s in sets) + f"{'avg':>{width}}"]
    for model in models:
        parts, scores = [], []
        for s in sets:
            row = cell.get((model, s))
            if row is None:
                parts.append(f"{'-':>{width}}")
                continue
            scores.append(row["score"])
            text = f"{row['score']:.2f}" + (f" ±{row['sd']:.2f}" if row.get("protocol") == "distillm" else "")
            parts.append(f"{text:>{width}}")
        avg = f"{statistics.fmean(scores):.2f}" if len(scores) == len(sets) else "-"
        lines.append(f"{model:<{name_width}}" + "".join(parts) + f"{avg:>{width}}")
    return "\n".join(lines) + "\n"
