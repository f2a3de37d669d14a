"""The teacher signal cache: the frozen teacher runs once per sample, not once per epoch.

A phase after curation (``build_teacher_caches``) runs the teacher over every sample either arm
trains on and stores what its ``teacher_signal`` asks for (``TeacherSignal.encode``) at each
response position, as numpy ``.npy`` shards under ``run_dir/teacher_cache/<key>/``. The key covers
the teacher's identity, the tokenizer's vocabulary, the samples, the length limits, the signal's
settings and the temperatures it stores, so SRD and the baseline share one cache when they agree.

Shards are fixed groups of samples in data order; process ``r`` of ``n`` computes shards ``r, r+n,
…``, each written atomically (temp file + rename) with the SHA-256 of its files recorded last
(``cache_store``), so a build killed at any point and run again skips the finished shards and
recomputes the rest to the same bytes. ``meta.json`` is written after every shard: with every
shard matching its digest it marks a complete cache; a shard that does not (truncated, changed in
place) is rebuilt, saying so. ``TeacherCache`` reads shards memory-mapped, a chunk at a time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from srd_core.arms import arm_names, arm_of
from srd_core.code_digest import class_digest
from srd_core.components import TeacherSignal
from srd_core.config import ComponentSpec, SRDConfig
from srd_core.data.encoding import IGNORE_INDEX, EncodedExample, collate_right_padded, encode_example
from srd_core.errors import ConfigError, TrainingError
from srd_core.fingerprints import HashCache, data_fingerprint, model_identity
from srd_core.io import atomic_path, fingerprint, write_json_atomic
from srd_core.models.flops import forward_flops, parameter_count
from srd_core.models.loading import load_tokenizer
from srd_core.models.runtime import causal_lm_core, freeze, last_hidden_state, load_models
from srd_core.plugins import get_component
from srd_core.rundir import PROVENANCE_DIR, TEACHER_CACHE_DIR, TEACHER_CACHE_HASHES_FILE, resolve_model_path
from srd_core.training import cache_store
from srd_core.training.cache_store import NpyWriter
from srd_core.training.kd_loss import CachedTeacher
from srd_core.training.stages import (
    build_schedules,
    global_batch_size,
    label_settings,
    plan_label_stages,
    stage_lengths,
)
from srd_core.types import Sample

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
"""2: every shard carries the SHA-256 of its files (a cache of format 1 is rebuilt once)."""
META_FILE = "meta.json"
HEAD_CHUNK = 1024
"""Positions whose teacher logits are computed and encoded at once while building a shard."""


def signal_spec(config: SRDConfig, label: str) -> tuple[str, ComponentSpec]:
    """The config field and spec of arm ``label``'s teacher signal (srd: train, baseline: baseline, ...)."""
    arm = arm_of(config, label)
    return arm.teacher_signal_field, arm.teacher_signal


def build_signal(config: SRDConfig, label: str) -> TeacherSignal:
    """The teacher signal component of ``label``."""
    _, spec = signal_spec(config, label)
    return get_component("teacher_signal", spec.name, **spec.params)


def uses_cache(config: SRDConfig) -> bool:
    """True when an arm of the run trains from a cached teacher signal."""
    return any(build_signal(config, label).cached for label in arm_names(config))


@dataclass
class CacheRequest:
    """One cache to build: a signal, the samples it covers and the temperatures it must serve."""

    where: str
    spec: ComponentSpec
    signal: TeacherSignal
    ids: list[str]
    plan_temperatures: set[float] = field(default_factory=set)

    @property
    def temperatures(self) -> list[float]:
        """The temperatures the rows are stored for."""
        return self.signal.stored_temperatures(sorted(self.plan_temperatures)) if self.signal.uses_temperatures else []


def plan_temperatures(
    config: SRDConfig, run_dir: Path, label: str, ids: Sequence[str], num_processes: int
) -> tuple[list[str], set[float]]:
    """The sample ids ``label`` trains on and every temperature its schedule takes over its steps."""
    global_batch = global_batch_size(config, num_processes)
    stages = plan_label_stages(config, run_dir, label, ids, global_batch)
    lengths = stage_lengths(stages, global_batch, config.train.max_steps)
    temperature, _ = build_schedules(label_settings(config, label), len(stages))
    total, step, temps = sum(lengths), 0, set()
    for stage, n in enumerate(lengths):
        for _ in range(n):
            temps.add(round(float(temperature.value(step, total, stage)), 6))
            step += 1
    used = {i for plan in stages for i in plan.ids}
    return [i for i in ids if i in used], temps


def cache_requests(
    config: SRDConfig, run_dir: Path, samples: Sequence[Sample], num_processes: int
) -> list[CacheRequest]:
    """The caches the run's arms need (one per distinct signal spec; SRD and baseline share when equal)."""
    labels = arm_names(config)
    all_ids = [s.id for s in samples]
    requests: dict[str, CacheRequest] = {}
    for label in labels:
        where, spec = signal_spec(config, label)
        signal = build_signal(config, label)
        if not signal.cached:
            continue
        ids, temps = plan_temperatures(config, run_dir, label, all_ids, num_processes)
        spec_key = fingerprint(spec.model_dump(mode="json"))
        request = requests.setdefault(spec_key, CacheRequest(where, spec, signal, []))
        wanted = set(request.ids) | set(ids)
        request.ids = [i for i in all_ids if i in wanted]
        request.plan_temperatures |= temps
    return list(requests.values())


def cache_key(
    config: SRDConfig, run_dir: Path, request: CacheRequest, samples: Sequence[Sample], tokenizer, vocab_size: int
) -> str:
    """Fingerprint of everything the cached rows depend on."""
    by_id = {s.id: s for s in samples}
    return fingerprint(
        {
            "version": FORMAT_VERSION,
            "teacher": model_identity(resolve_model_path(config.teacher, run_dir, "teacher"), config.teacher),
            "teacher_adapter": config.teacher.adapter,
            "tokenizer": fingerprint(sorted(tokenizer.get_vocab().items())),
            "data": data_fingerprint([by_id[i] for i in request.ids]),
            "limits": [config.data.max_prompt_tokens, config.data.max_length],
            "signal": request.spec.model_dump(mode="json"),
            "signal_code": class_digest(type(request.signal)),  # rows encoded by other code are other rows
            "temperatures": request.temperatures,
            "vocab_size": vocab_size,
        }
    )


def cache_dir(run_dir: Path, key: str) -> Path:
    """Where the cache of ``key`` lives."""
    return Path(run_dir) / TEACHER_CACHE_DIR / key


def shard_path(directory: Path, shard: int, name: str) -> Path:
    """The file of one field of one shard."""
    return directory / f"shard-{shard:05d}.{name}.npy"


@dataclass
class Layout:
    """Where every sample's rows are: shard, first row in the shard, number of rows."""

    shards: list[list[str]]
    rows: dict[str, tuple[int, int, int]]
    shard_rows: list[int]


def response_positions(example: EncodedExample) -> int:
    """Loss positions of an example: positions whose next token is a response token."""
    return sum(1 for t in example.labels[1:] if t != IGNORE_INDEX)


def make_layout(ids: Sequence[str], examples: Mapping[str, EncodedExample], shard_samples: int) -> Layout:
    """Consecutive groups of ``shard_samples`` samples in data order, and each sample's rows."""
    shards = [list(ids[i : i + shard_samples]) for i in range(0, len(ids), shard_samples)]
    rows, shard_rows = {}, []
    for s, group in enumerate(shards):
        offset = 0
        for i in group:
            n = response_positions(examples[i])
            rows[i] = (s, offset, n)
            offset += n
        shard_rows.append(offset)
    return Layout(shards, rows, shard_rows)


@dataclass
class BuildResult:
    """What building one cache did."""

    directory: Path
    built_shards: int
    reused_shards: int
    seconds: float
    bytes: int
    response_tokens: int

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / max(self.response_tokens, 1)


def _write_shard(
    directory: Path,
    shard: int,
    group: Sequence[str],
    n_rows: int,
    teacher,
    head,
    vocab: int,
    signal: TeacherSignal,
    fields: Mapping[str, tuple[str, int]],
    temperatures: Sequence[float],
    examples: Mapping[str, EncodedExample],
    pad_id: int,
    device: torch.device,
) -> dict[str, str]:
    """Run the teacher on one shard's samples, write each field atomically; returns each file's SHA-256."""
    batch = collate_right_padded([examples[i] for i in group], pad_id)
    positions = batch["labels"][:, 1:] != IGNORE_INDEX
    directory.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), ExitStack() as files:
        hidden = last_hidden_state(teacher, batch["input_ids"].to(device), batch["attention_mask"].to(device))
        hidden = hidden[:, :-1][positions.to(device)]
        weight = head.weight[:vocab].float()
        bias = head.bias[:vocab].float() if head.bias is not None else None
        # each field streams into its temp file (plain writes: a full disk is an OSError, not a SIGBUS) and is
        # renamed when the block ends without error
        writers = {}
        for name, (dtype, width) in fields.items():
            tmp = files.enter_context(atomic_path(shard_path(directory, shard, name)))
            writers[name] = NpyWriter(files.enter_context(open(tmp, "wb")), np.dtype(dtype), (n_rows, width))
        for start in range(0, n_rows, HEAD_CHUNK):
            stop = min(start + HEAD_CHUNK, n_rows)
            with torch.autocast(device.type, enabled=False):
                logits = torch.nn.functional.linear(hidden[start:stop].float(), weight, bias)
            for name, rows in signal.encode(logits, temperatures).items():
                writers[name].write(rows.cpu().numpy())
        return {name: writer.finish() for name, writer in writers.items()}


def head_rows(config, run_dir: Path, role: str) -> int:
    """LM-head rows of the configured model, read from its config (no weights loaded)."""
    from transformers import AutoConfig  # deferred: transformers

    cfg = getattr(config, role)
    model_config = AutoConfig.from_pretrained(
        resolve_model_path(cfg, run_dir, role), revision=cfg.revision, trust_remote_code=cfg.trust_remote_code
    )
    return int(model_config.get_text_config().vocab_size)


def _shared_vocab(config: SRDConfig, run_dir: Path, tokenizer) -> int:
    """The vocabulary the cache covers: the teacher's head, cut to what both heads share (as the loop)."""
    teacher_rows, student_rows = head_rows(config, run_dir, "teacher"), head_rows(config, run_dir, "student")
    return teacher_rows if teacher_rows == student_rows else min(len(tokenizer), teacher_rows, student_rows)


def _shard_files(directory: Path, shard: int, fields: Mapping[str, tuple[str, int]]) -> dict[str, Path]:
    return {name: shard_path(directory, shard, name) for name in fields}


def _read_meta(directory: Path) -> dict | None:
    """``meta.json`` of a cache of this format, or None (missing, unreadable or of another format)."""
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("version") == FORMAT_VERSION else None


def _check_shards(
    directory: Path, n_shards: int, fields: Mapping[str, tuple[str, int]], hashes: HashCache
) -> list[int]:
    """The shards still to build; a shard whose files fail their digest is removed, saying so in one line."""
    todo = []
    complete = (directory / META_FILE).is_file()
    for shard in range(n_shards):
        files = _shard_files(directory, shard, fields)
        problem = cache_store.shard_problem(directory, shard, files, hashes)
        if problem is None:
            continue
        if problem == "missing" and complete:  # a finished cache lost a digest file
            problem = f"{cache_store.digest_path(directory, shard)} is missing"
        if problem != "missing":
            logger.warning("teacher cache: %s; rebuilding shard %d", problem, shard)
            (directory / META_FILE).unlink(missing_ok=True)
        cache_store.remove_shard(directory, shard, files.values())
        todo.append(shard)
    return todo


def cache_compute(teacher_params: int, examples: Sequence[EncodedExample]) -> dict[str, int]:
    """The build's compute: one teacher forward over every cached sample's tokens (``srd_core.models.flops``)."""
    tokens = sum(len(e.input_ids) for e in examples)
    return {"teacher_params": teacher_params, "teacher_tokens": tokens, "flops": forward_flops(teacher_params, tokens)}


def build_cache(
    config: SRDConfig,
    run_dir: Path,
    request: CacheRequest,
    samples: Sequence[Sample],
    accelerator=None,
    on_shard: Callable[[int], None] | None = None,
) -> BuildResult:
    """Build (or finish, or repair) one cache; every process computes its shards, the main one writes meta.json.

    Free space is checked before anything is written; a disk that fills up during the build, like the
    check, is a ``TrainingError`` naming the cache (exit 2), the finished shards are kept.
    """
    started = time.perf_counter()
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    device = accelerator.device if accelerator is not None else torch.device("cpu")
    tokenizer = load_tokenizer(config.student, resolve_model_path(config.student, run_dir, "student"), "student")
    vocab = _shared_vocab(config, run_dir, tokenizer)
    temperatures = request.temperatures
    try:
        fields = request.signal.fields(vocab, temperatures)
    except ValueError as exc:
        raise ConfigError(f"{request.where}.{exc}") from None
    key = cache_key(config, run_dir, request, samples, tokenizer, vocab)
    directory = cache_dir(run_dir, key)
    by_id = {s.id: s for s in samples}
    d = config.data
    examples = {
        i: encode_example(tokenizer, by_id[i].prompt, by_id[i].target, d.max_prompt_tokens, d.max_length)
        for i in request.ids
    }
    layout = make_layout(request.ids, examples, config.train.batch_size)
    total_rows = sum(layout.shard_rows)
    n_shards = len(layout.shards)
    hashes = HashCache(Path(run_dir) / PROVENANCE_DIR / TEACHER_CACHE_HASHES_FILE)

    def barrier() -> None:
        if accelerator is not None and world > 1:
            accelerator.wait_for_everyone()

    try:
        if rank == 0 and directory.is_dir():
            if _read_meta(directory) is None:
                (directory / META_FILE).unlink(missing_ok=True)
            _check_shards(directory, n_shards, fields, hashes)
            hashes.save()
        barrier()
        todo = [s for s in range(n_shards) if not cache_store.digest_path(directory, s).is_file()]
        built = reused = 0
        if todo or not (directory / META_FILE).is_file():
            built, reused, teacher_params = _build_shards(
                config,
                run_dir,
                request,
                directory,
                layout,
                todo,
                fields,
                vocab,
                examples,
                tokenizer.pad_token_id,
                hashes,
                rank,
                world,
                device,
                on_shard,
            )
            barrier()
            if rank == 0:
                if teacher_params is None:  # this process built no shard: count the teacher's parameters anyway
                    teacher_params = _teacher_parameter_count(config, run_dir)
                compute = cache_compute(teacher_params, [examples[i] for i in request.ids])
                _write_meta(directory, key, request, fields, temperatures, vocab, layout, total_rows, hashes, compute)
            barrier()
    except OSError as exc:
        if cache_store.is_disk_full(exc):
            raise cache_store.disk_full_error(directory, exc) from None
        raise
    meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    result = BuildResult(
        directory,
        built,
        reused if built or reused else n_shards,
        time.perf_counter() - started,
        meta["bytes"],
        meta["response_tokens"],
    )
    if built:
        logger.info(
            "teacher cache %s (%s): %d shards built, %d reused, %.1f MB, %.1f bytes per response token",
            directory.name,
            request.spec.name,
            built,
            reused,
            result.bytes / 1e6,
            result.bytes_per_token,
        )
    return result


def _build_shards(
    config: SRDConfig,
    run_dir: Path,
    request: CacheRequest,
    directory: Path,
    layout: Layout,
    todo: Sequence[int],
    fields: Mapping[str, tuple[str, int]],
    vocab: int,
    examples: Mapping[str, EncodedExample],
    pad_id: int,
    hashes: HashCache,
    rank: int,
    world: int,
    device: torch.device,
    on_shard: Callable[[int], None] | None,
) -> tuple[int, int, int | None]:
    """Check the space ``todo`` needs, then compute this process's shards of it; (built, reused, the teacher's
    parameter count, None when this process built nothing)."""
    need = sum(
        cache_store.npy_size(dtype, (layout.shard_rows[s], width)) for s in todo for dtype, width in fields.values()
    )
    need += 4096 * len(todo) + 64 * len(layout.rows)  # digest files, meta.json
    cache_store.check_free_space(directory, need)
    mine = [s for s in todo if s % world == rank]
    reused = sum(1 for s in range(len(layout.shards)) if s % world == rank) - len(mine)
    if not mine:
        return 0, reused, None
    _, _, teacher = load_models(config, run_dir, None, None)  # checks the vocabularies; freed on return
    teacher = freeze(teacher).to(device)
    teacher_params = parameter_count(teacher)
    teacher_head = causal_lm_core(teacher).get_output_embeddings()
    for shard in mine:
        files = _shard_files(directory, shard, fields)
        cache_store.remove_shard(directory, shard, files.values())
        try:
            digests = _write_shard(
                directory,
                shard,
                layout.shards[shard],
                layout.shard_rows[shard],
                teacher,
                teacher_head,
                vocab,
                request.signal,
                fields,
                request.temperatures,
                examples,
                pad_id,
                device,
            )
            cache_store.write_digests(directory, shard, digests, files, hashes)
        except OSError as exc:
            if cache_store.is_disk_full(exc):
                cache_store.remove_shard(directory, shard, files.values())
                raise cache_store.disk_full_error(directory, exc, shard) from None
            raise
        hashes.save()
        if on_shard is not None:
            on_shard(shard)
    return len(mine), reused, teacher_params


def _teacher_parameter_count(config: SRDConfig, run_dir: Path) -> int:
    """The teacher's parameter count, loading it (only when no shard was built in this process)."""
    _, _, teacher = load_models(config, run_dir, None, None)
    return parameter_count(teacher)


def _write_meta(
    directory: Path,
    key: str,
    request: CacheRequest,
    fields: Mapping[str, tuple[str, int]],
    temperatures: Sequence[float],
    vocab: int,
    layout: Layout,
    total_rows: int,
    hashes: HashCache,
    compute: Mapping[str, int],
) -> None:
    """Check every shard against its digest and write ``meta.json``, which marks the cache complete."""
    n_shards = len(layout.shards)
    missing = [
        s
        for s in range(n_shards)
        if cache_store.shard_problem(directory, s, _shard_files(directory, s, fields), hashes) is not None
    ]
    if missing:
        raise TrainingError(f"{directory}: shards {missing[:5]} are missing after the build")
    hashes.save()
    size = sum(shard_path(directory, s, n).stat().st_size for s in range(n_shards) for n in fields)
    write_json_atomic(
        directory / META_FILE,
        {
            "version": FORMAT_VERSION,
            "key": key,
            "signal": request.spec.model_dump(mode="json"),
            "fields": {n: list(v) for n, v in fields.items()},
            "temperatures": list(temperatures),
            "vocab_size": vocab,
            "shards": n_shards,
            "response_tokens": total_rows,
            "bytes": size,
            "bytes_per_token": round(size / max(total_rows, 1), 3),
            "payload_bytes_per_token": sum(np.dtype(t).itemsize * w for t, w in fields.values()),
            "rows": {i: list(v) for i, v in layout.rows.items()},
            **compute,
        },
    )


def build_teacher_caches(
    config: SRDConfig, run_dir: Path, samples: Sequence[Sample], accelerator=None
) -> list[BuildResult]:
    """Build every cache the run's arms need; returns what each build did (none: nothing is cached).

    Caches of earlier configs (another T, another teacher) are moved to ``teacher_cache/.superseded/``
    first, which keeps those of one earlier config only.
    """
    world = accelerator.num_processes if accelerator is not None else 1
    requests = cache_requests(config, Path(run_dir), samples, world)
    if requests and (accelerator is None or accelerator.is_main_process):
        tokenizer = load_tokenizer(config.student, resolve_model_path(config.student, run_dir, "student"), "student")
        vocab = _shared_vocab(config, run_dir, tokenizer)
        keys = [cache_key(config, Path(run_dir), r, samples, tokenizer, vocab) for r in requests]
        cache_store.set_aside_superseded(Path(run_dir) / TEACHER_CACHE_DIR, keys)
    if accelerator is not None and world > 1:
        accelerator.wait_for_everyone()
    results = []
    for request in requests:
        result = build_cache(config, Path(run_dir), request, samples, accelerator)
        print(
            f"teacher cache {request.spec.name}: {result.bytes / 1e6:.1f} MB, "
            f"{result.bytes_per_token:.1f} bytes per response token ({result.response_tokens:,} tokens, "
            f"{result.built_shards} shards built in {result.seconds:.1f}s)",
            flush=True,
        )
        results.append(result)
    return results


class TeacherCache:
    """A finished cache, read memory-mapped: the stored rows of any samples, one token range at a time."""

    def __init__(self, directory: Path, signal: TeacherSignal) -> None:
        self.directory, self.signal = Path(directory), signal
        meta_path = self.directory / META_FILE
        if not meta_path.is_file():
            raise TrainingError(
                f"{self.directory}: the teacher cache is incomplete (no {META_FILE}); rerun the "
                "teacher_cache phase (`srd run`)"
            )
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        self.fields = list(self.meta["fields"])
        self.temperatures = [float(t) for t in self.meta["temperatures"]]
        self.vocab_size = int(self.meta["vocab_size"])
        self.teacher_params: int | None = self.meta.get("teacher_params")
        self.flops: int | None = self.meta.get("flops")
        """The build's compute (None for a cache built before srd recorded it)."""
        self._maps: dict[tuple[int, str], np.ndarray] = {}

    def _array(self, shard: int, name: str) -> np.ndarray:
        if (shard, name) not in self._maps:
            self._maps[(shard, name)] = np.load(shard_path(self.directory, shard, name), mmap_mode="r")
        return self._maps[(shard, name)]

    def teacher(self, ids: Sequence[str], device: torch.device) -> CachedTeacher:
        """The cached teacher side for the response positions of ``ids`` (in that order, as a batch flattens)."""
        segments, offset = [], 0
        for i in ids:
            if i not in self.meta["rows"]:
                raise TrainingError(
                    f"{self.directory}: sample {i!r} is not in the teacher cache; rerun the teacher_cache phase"
                )
            shard, first, n = self.meta["rows"][i]
            segments.append((offset, shard, first, n))
            offset += n

        def rows(start: int, stop: int) -> dict[str, torch.Tensor]:
            out = {}
            for name in self.fields:
                parts = [
                    self._array(shard, name)[first + max(start - at, 0) : first + min(stop - at, n)]
                    for at, shard, first, n in segments
                    if at < stop and at + n > start
                ]
                out[name] = torch.from_numpy(
                    np.concatenate(parts)
                    if parts
                    else np.zeros((0, self.meta["fields"][name][1]), dtype=self.meta["fields"][name][0])
                ).to(device)
            return out

        return CachedTeacher(self.signal, rows, self.temperatures, self.vocab_size)


def open_cache(
    config: SRDConfig, run_dir: Path, label: str, samples: Sequence[Sample], accelerator=None
) -> TeacherCache | None:
    """The cache ``label`` trains from (built now if missing), or None for an online teacher."""
    signal = build_signal(config, label)
    if not signal.cached:
        return None
    world = accelerator.num_processes if accelerator is not None else 1
    _, spec = signal_spec(config, label)
    for request in cache_requests(config, Path(run_dir), samples, world):
        if request.spec == spec:
            return TeacherCache(build_cache(config, Path(run_dir), request, samples, accelerator).directory, signal)
    raise TrainingError(f"{label}: no teacher cache request for {spec.name!r}")  # cache_requests covers every arm
