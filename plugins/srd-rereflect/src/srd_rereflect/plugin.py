"""Entry point of srd-rereflect: the ``rereflect`` pacer and the ``stage_start`` hook that serves it.

Choose ``curriculum.pacer: {name: rereflect, ...}`` (Baby Step's params plus ``from_stage``): at the
start of every stage from ``from_stage`` on, the current student reflects again on the samples no
earlier stage trained on, they are re-ranked with the run's metrics and fusion, and the later stages
are rebuilt from the new ranking (a dynamic ranking instead of SRD's static one). Every arm whose
pacer is ``rereflect`` is re-ranked, with that arm's curriculum; arms with another pacer are untouched.
"""

from __future__ import annotations

import logging
from pathlib import Path

from srd_core import api, hookimpl
from srd_core.context import ModelAccess, TrainContext
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
    config, arm = context.config, context.arm
    if arm.pacer.name != PACER_NAME:  # an arm with another pacer (a reference arm, another curriculum)
        return
    params = ReReflect.Params.model_validate(arm.pacer.params)
    stage = context.stage
    if stage < params.from_stage or stage >= len(context.stages):
        return
    slots = unseen_slots(context.stages, stage)
    if len(slots) < 2:
        return
    import torch  # deferred: torch; here, not at module level: every plugin module is imported whenever srd starts

    samples = [context.samples[i] for i in slots]
    assert context.model is not None and context.tokenizer is not None  # the training loop gives both
    with torch.no_grad():
        reflections = api.reflect_samples(
            context.model,
            context.tokenizer,
            samples,
            config.reflection,
            config.data.max_prompt_tokens,
            config.data.max_length,
            accelerator=context.accelerator,
            progress=False,
            seed=config.run.seed,
        )
        access = ModelAccess(context.model, context.tokenizer, context.accelerator, config)
        new_order, values = rank_samples(samples, reflections, arm.curriculum, access)
    context.stages[:] = remap_stages(context.stages, stage, slots, new_order)
    moved = sum(a != b for a, b in zip(slots, new_order, strict=True))
    summary = {"stage": stage, "rescored": len(slots), "moved": moved}
    context.extra.setdefault("rereflect", []).append(summary)
    log.info("rereflect: stage %d: re-scored %d unseen samples, %d changed place", stage, len(slots), moved)
    if context.accelerator is None or context.accelerator.is_main_process:
        position = {sample_id: i for i, sample_id in enumerate(new_order)}
        rows = [
            {
                "id": r.id,
                "old_slot": i,
                "new_slot": position[r.id],
                "output": r.output,
                "ce": r.ce,
                "values": {name: column[i] for name, column in values.items()},
            }
            for i, r in enumerate(reflections)
        ]
        api.write_jsonl_atomic(Path(context.run_dir) / context.label / "rereflect" / f"stage-{stage}.jsonl", rows)
