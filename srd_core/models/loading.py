"""Loading teacher and student: HF hub ids or local directories, dtype, adapters, LoRA, vocabularies.

* ``load_tokenizer`` / ``load_causal_lm`` load one model as configured: a local directory, the HF
  cache or the hub (``srd_core.models.hub`` decides first, so an unreachable id fails in one line), in the
  configured dtype, with ``trust_remote_code`` only when set. A ``ModelConfig.adapter`` (PEFT) is
  merged into the base (``PeftModel.from_pretrained`` + ``merge_and_unload``); a directory written by
  ``save_student`` that holds only a LoRA adapter is rebuilt on its recorded base.
* ``load_teacher`` / ``load_student`` return (model, tokenizer) ready for training: the teacher
  frozen, the student wrapped with trainable LoRA adapters when ``student.lora`` is set.
* ``check_vocabularies`` returns the vocabulary both LM heads are cut to, or fails when teacher and
  student tokenize differently (a cross-tokenizer plugin is needed then).
* ``save_student`` writes a trained student atomically in safetensors: the adapter (LoRA) and/or
  the full weights, plus ``srd_model.json`` saying what the directory holds.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from srd_core.config import LoraConfig, ModelConfig, SRDConfig
from srd_core.data.encoding import ensure_pad_token
from srd_core.errors import ConfigError, SRDError
from srd_core.io import write_json_atomic
from srd_core.models.hub import NotAvailableError, hub_reachable, locate, not_found_error
from srd_core.rundir import resolve_model_path

logger = logging.getLogger("srd.models")

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}
SRD_MODEL_FILE = "srd_model.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_SUBDIR = "adapter"


class ModelNotFoundError(NotAvailableError):
    """A model id that is neither a local directory nor reachable on the hub."""


class VocabularyMismatchError(SRDError):
    """Teacher and student do not share a tokenizer: white-box KD needs a cross-tokenizer plugin."""


# --------------------------------------------------------------------------------------- locations


def is_model_dir(path: str | Path) -> bool:
    """Whether ``path`` holds a loadable model: full weights (config.json) or an adapter saved by srd."""
    path = Path(path)
    return (path / "config.json").is_file() or (path / ADAPTER_CONFIG).is_file()


def saved_model_info(path: str | Path) -> dict[str, Any] | None:
    """The ``srd_model.json`` of a directory written by ``save_student`` (None for any other directory)."""
    file = Path(path) / SRD_MODEL_FILE
    if not file.is_file():
        return None
    return json.loads(file.read_text(encoding="utf-8"))


def _field(role: str, what: str = "path") -> str:
    return f"{role}.{what}"


def _pretrained(loader, name: str, field: str, revision: str | None, **kwargs):
    """``loader(name, ...)`` after locating ``name``; every failure becomes one ``ModelNotFoundError`` line."""
    try:
        location = locate(name, field, revision=revision)
    except NotAvailableError as exc:
        raise ModelNotFoundError(str(exc)) from None
    attempts = [location.local_files_only]
    if location.kind == "cache":
        attempts.append(False)  # an incomplete cache: fetch the rest if the hub is reachable
    failure: Exception | None = None
    for local_only in attempts:
        if not local_only and location.kind == "cache" and not hub_reachable():
            break
        try:
            return loader(location.name, revision=revision, local_files_only=local_only, **kwargs)
        except (OSError, ValueError) as exc:  # missing files; a config.json transformers cannot read
            failure = exc
    raise ModelNotFoundError(str(not_found_error(field, name, location, "model", failure))) from None


# ------------------------------------------------------------------------------------------- loading


def load_tokenizer(cfg: ModelConfig, name: str, role: str):
    """The tokenizer of a model (pad token set to EOS when missing)."""
    from transformers import AutoTokenizer  # deferred: transformers

    tokenizer = _pretrained(
        AutoTokenizer.from_pretrained, name, _field(role), cfg.revision, trust_remote_code=cfg.trust_remote_code
    )
    ensure_pad_token(tokenizer)
    return tokenizer


def _load_weights(cfg: ModelConfig, name: str, field: str):
    from transformers import AutoModelForCausalLM  # deferred: transformers

    return _pretrained(
        AutoModelForCausalLM.from_pretrained,
        name,
        field,
        cfg.revision,
        dtype=DTYPES[cfg.dtype],
        trust_remote_code=cfg.trust_remote_code,
    )


def import_peft(field: str):
    """The ``peft`` module, or a ``ConfigError`` naming ``field`` when it is not installed."""
    try:
        import peft  # deferred: peft
    except ImportError:
        raise ConfigError(f"{field}: needs the `peft` package (pip install 'srd[peft]')") from None
    return peft


def merge_adapter(model, adapter: str, field: str):
    """``model`` with the PEFT adapter at ``adapter`` (local dir or hub id) merged into its weights."""
    peft = import_peft(field)
    try:
        location = locate(adapter, field, probe_file=ADAPTER_CONFIG)
    except NotAvailableError as exc:
        raise ModelNotFoundError(str(exc)) from None
    try:
        peft_model = peft.PeftModel.from_pretrained(model, location.name, local_files_only=location.local_files_only)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(str(not_found_error(field, adapter, location, "model", exc))) from None
    return peft_model.merge_and_unload()


def load_causal_lm(cfg: ModelConfig, name: str, role: str):
    """The causal LM at ``name`` in the configured dtype, with ``cfg.adapter`` merged into it.

    A directory written by ``save_student`` is loaded as saved (its own base and adapters; the
    config's ``adapter`` is already part of it).
    """
    info = saved_model_info(name) if Path(name).is_dir() else None
    if info is not None and info.get("format") == "lora_adapter":
        base = load_causal_lm(cfg.model_copy(update={"adapter": info.get("base_adapter")}), info["base_path"], role)
        return merge_adapter(base, name, f"{role} adapter {name}")
    model = _load_weights(cfg, name, _field(role))
    if cfg.adapter and info is None:
        model = merge_adapter(model, cfg.adapter, _field(role, "adapter"))
    return model


def attach_lora(model, lora: LoraConfig, field: str = "student.lora"):
    """``model`` wrapped with fresh trainable LoRA adapters; every base weight frozen."""
    peft = import_peft(field)
    peft_cfg = peft.LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    try:
        wrapped = peft.get_peft_model(model, peft_cfg)
    except ValueError as exc:  # e.g. target modules that do not exist in this architecture
        raise ConfigError(f"{field}.target_modules: {str(exc).splitlines()[0]}") from None
    wrapped.enable_input_require_grads()  # gradient checkpointing reaches the adapters
    return wrapped


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def load_teacher(config: SRDConfig, run_dir: Path):
    """(teacher, tokenizer): the configured teacher (adapter merged) in eval mode, without gradients."""
    name = resolve_model_path(config.teacher, run_dir, "teacher")
    tokenizer = load_tokenizer(config.teacher, name, "teacher")
    model = load_causal_lm(config.teacher, name, "teacher")
    model.eval()
    model.requires_grad_(False)
    return model, tokenizer


def load_student(config: SRDConfig, run_dir: Path):
    """(student, tokenizer) ready for training: the initial student, LoRA-wrapped if ``student.lora``."""
    name = resolve_model_path(config.student, run_dir, "student")
    tokenizer = load_tokenizer(config.student, name, "student")
    model = load_causal_lm(config.student, name, "student")
    if config.student.lora is not None:
        model = attach_lora(model, config.student.lora)
        trainable, total = parameter_counts(model)
        logger.info(
            "student LoRA: %s of %s parameters trainable (%.2f%%)",
            f"{trainable:,}",
            f"{total:,}",
            100.0 * trainable / max(total, 1),
        )
    return model, tokenizer


# -------------------------------------------------------------------------------------- vocabularies


def _head_rows(model, role: str) -> int:
    head = model.get_output_embeddings()
    if head is None or not hasattr(head, "weight"):
        raise SRDError(f"{role}: the model has no LM head (expected a causal LM)")
    return int(head.weight.shape[0])


SPECIAL_ROLES = ("bos_token", "eos_token", "unk_token")


def check_vocabularies(teacher_tok, student_tok, teacher_model, student_model) -> int:
    """The vocabulary size both LM heads are cut to for KD; fails if the two tokenizers differ.

    Tokenizers agree when their vocabularies (token → id, added tokens included) are equal; LM heads
    may be padded beyond that (Qwen2.5: 151,936 vs 152,064 rows for a 151,665-token tokenizer).
    Special tokens that differ in role (e.g. an instruct teacher ending on another EOS) only warn.
    """
    if teacher_tok is not student_tok:
        t_vocab, s_vocab = teacher_tok.get_vocab(), student_tok.get_vocab()
        if t_vocab != s_vocab:
            differing = sum(1 for tok, i in s_vocab.items() if t_vocab.get(tok) != i)
            missing = len(set(t_vocab) ^ set(s_vocab))
            raise VocabularyMismatchError(
                f"teacher and student tokenizers differ ({len(t_vocab):,} vs {len(s_vocab):,} tokens, "
                f"{differing:,} student tokens mapped differently, {missing:,} not shared): white-box KD needs "
                "one vocabulary; use a teacher/student pair from the same family or a cross-tokenizer KD plugin"
            )
        for role in SPECIAL_ROLES:
            t_tok, s_tok = getattr(teacher_tok, role, None), getattr(student_tok, role, None)
            if t_tok != s_tok:
                logger.warning(
                    "teacher %s is %r, student %s is %r: training uses the student's", role, t_tok, role, s_tok
                )
    size = len(student_tok)
    for role, model in (("teacher", teacher_model), ("student", student_model)):
        rows = _head_rows(model, role)
        if rows < size:
            raise VocabularyMismatchError(
                f"{role}: the LM head has {rows:,} rows but the tokenizer {size:,} tokens; the model and its "
                "tokenizer do not belong together"
            )
    return size


# ---------------------------------------------------------------------------------------- saving


def _is_peft(model) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "merge_and_unload")


def _source(path: str) -> str:
    """A base path as recorded in srd_model.json: absolute for local directories, else the hub id."""
    return str(Path(path).resolve()) if Path(path).is_dir() else path


def save_student(
    model, tokenizer, directory: str | Path, config: SRDConfig, run_dir: Path, merge: bool | None = None
) -> Path:
    """Write a trained student to ``directory`` atomically, in safetensors; returns ``directory``.

    Full students: weights + config. LoRA students: the adapter (``adapter_model.safetensors``)
    on the recorded base; with ``merge`` (default ``student.lora.merge_at_end``) the directory holds
    the merged full model instead and the adapter goes to ``adapter/``. Merging works on a copy, so
    ``model`` keeps training. Either way ``load_causal_lm`` loads the directory back.
    """
    directory = Path(directory)
    student = config.student
    base = _source(resolve_model_path(student, run_dir, "student"))
    info: dict[str, Any] = {"base_path": base, "base_adapter": student.adapter}
    tmp = directory.parent / f".tmp-{directory.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if _is_peft(model):
        merge = student.lora.merge_at_end if merge is None and student.lora is not None else bool(merge)
        info["lora"] = student.lora.model_dump(mode="json") if student.lora is not None else None
        if merge:
            model.save_pretrained(tmp / ADAPTER_SUBDIR, safe_serialization=True)
            copy.deepcopy(model).merge_and_unload().save_pretrained(tmp, safe_serialization=True)
            info["format"] = "merged_lora"
        else:
            model.save_pretrained(tmp, safe_serialization=True)
            info["format"] = "lora_adapter"
    else:
        model.save_pretrained(tmp, safe_serialization=True)
        info["format"] = "full"
    tokenizer.save_pretrained(tmp)
    write_json_atomic(tmp / SRD_MODEL_FILE, info)
    old = directory.parent / f".old-{directory.name}"
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory
