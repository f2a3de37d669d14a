"""Entry point of srd-rereflect: the ``rereflect`` pacer and the ``stage_start`` hook that serves it.

Choose ``curriculum.pacer: {name: rereflect, ...}`` (Baby Step's params plus ``from_stage``): at the
start of every stage from ``from_stage`` on, the current student reflects again on the samples no
earlier stage trained on, they are re-ranked with the run's metrics and fusion, and the later stages
are rebuilt from the new ranking (a dynamic ranking instead of SRD's static one). Runs using any
other pacer are untouched.
"""

from __future__ import annotations

import logging
from pathlib import Path

from srd_core import hookimpl
from srd_core.context import ModelAccess, TrainContext
from srd_core.io import write_jsonl_atomic
from srd_rereflect.pacer import ReReflect
from srd_rereflect.rerank import rank_samples, remap_stages, unseen_slots

log = logging.getLogger("srd.rereflect")
PACER_NAME = "rereflect"


@hookimpl
def register_pacers(register):
    register(PACER_NAME, ReReflect)


@hookimpl
def stage_start(context: TrainContext):
    """Re-score the not-yet-seen samples with the current student and rebuild the later stages."""
    config = context.config
    spec = config.curriculum.pacer
    if context.label != "srd" or spec.name != PACER_NAME:
        return
    params = ReReflect.Params.model_validate(spec.params)
    stage = context.stage
    if stage < params.from_stage or stage >= len(context.stages):
        return
    slots = unseen_slots(context.stages, stage)
    if len(slots) < 2:
        return
    import torch

    from srd_core.reflection.reflect import reflect_samples

    samples = [context.samples[i] for i in slots]
    with torch.no_grad():
        reflections = reflect_samples(context.model, context.tokenizer, samples, config.reflection,
                                      config.data.max_prompt_tokens, config.data.max_length,
                                      accelerator=context.accelerator, progress=False, seed=config.run.seed)
        access = ModelAccess(context.model, context.tokenizer, context.accelerator, config)
        new_order, values = rank_samples(samples, reflections, config.curriculum, access)
    context.stages[:] = remap_stages(context.stages, stage, slots, new_order)
    moved = sum(a != b for a, b in zip(slots, new_order, strict=True))
    summary = {"stage": stage, "rescored": len(slots), "moved": moved}
    context.extra.setdefault("rereflect", []).append(summary)
    log.info("rereflect: stage %d: re-scored %d unseen samples, %d changed place", stage, len(slots), moved)
    if context.accelerator is None or context.accelerator.is_main_process:
        position = {sample_id: i for i, sample_id in enumerate(new_order)}
        rows = [{"id": r.id, "old_slot": i, "new_slot": position[r.id], "output": r.output, "ce": r.ce,
                 "values": {name: column[i] for name, column in values.items()}}
                for i, r in enumerate(reflections)]
        write_jsonl_atomic(Path(context.run_dir) / context.label / "rereflect" / f"stage-{stage}.jsonl", rows)
