"""Turning a config's data section into validated ``Sample`` lists, with one bad-sample policy for all.

Loaders (``LoaderTask`` subclasses) yield ``RawRecord``s (a source, a location such as "line 12",
a default id and the raw mapping) and convert each one with ``to_sample``, which raises
``SampleProblem(field, message)`` for invalid input. ``collect_samples`` applies
``data.on_bad_sample``: ``stop`` raises a one-line ``DataError`` naming file, line and field;
``skip`` drops the record and counts it. Any other task's samples go through ``check_sample``
with the same policy, so ids are unique and references non-empty whatever produced them.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from srd_core.components import Task
from srd_core.errors import ConfigError, DataError
from srd_core.plugins import get_component
from srd_core.rundir import resolve_model_path
from srd_core.types import Sample

logger = logging.getLogger("srd.samples")

Policy = Literal["stop", "skip"]
SPLITS = ("train", "eval")

JSONL_SUFFIXES = (".jsonl", ".ndjson")
"""Extensions a file loader with ``format: auto`` reads as jsonl."""

DEFAULT_MAX_RECORD_BYTES = 2**20
"""The longest jsonl line a loader reads when no config says otherwise (``data.max_record_bytes``'s default)."""


class SampleProblem(Exception):
    """One invalid field of one record (``field`` None: the record as a whole), e.g. an empty reference."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"field {field!r}: {message}" if field else message)
        self.field = field
        self.message = message


@dataclass
class RawRecord:
    """A record as read from its source, before validation."""

    source: str
    location: str
    key: str
    data: Any


@dataclass
class Skipped:
    """A record dropped under ``on_bad_sample: skip``: its report line and the offending field."""

    message: str
    field: str | None


@dataclass
class LoadedSplit:
    """The valid samples of a split and what was wrong with the rest."""

    split: str
    samples: list[Sample]
    skipped: list[Skipped] = field(default_factory=list)
    duplicate_prompts: int = 0

    @property
    def skipped_count(self) -> int:
        return len(self.skipped)

    @property
    def skipped_by_field(self) -> dict[str, int]:
        """How many skipped records each field accounts for (``"record"`` when not one field)."""
        return dict(Counter(s.field or "record" for s in self.skipped))


def describe(record: RawRecord, problem: SampleProblem) -> str:
    """The one-line report of a problem: ``file, line 3: field 'output': empty reference``."""
    return f"{record.source}, {record.location}: {problem}"


def check_references(value: Any, field_name: str) -> list[str]:
    """A string or a non-empty list of strings, each non-blank; otherwise ``SampleProblem``."""
    if isinstance(value, str):
        if not value.strip():
            raise SampleProblem(field_name, "empty reference")
        return [value]
    if isinstance(value, list):
        if not value:
            raise SampleProblem(field_name, "empty list of references")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise SampleProblem(field_name, f"reference {i} is not a string (got {type(item).__name__})")
            if not item.strip():
                raise SampleProblem(field_name, f"reference {i} is empty")
        return list(value)
    raise SampleProblem(field_name, f"expected a string or a list of strings, got {type(value).__name__}")


def check_sample(sample: Sample) -> None:
    """Raise ``SampleProblem`` if a ready ``Sample`` is unusable (any task's output goes through this)."""
    if not isinstance(sample.id, str) or not sample.id:
        raise SampleProblem("id", f"expected a non-empty string, got {sample.id!r}")
    if not isinstance(sample.prompt, str):
        raise SampleProblem("prompt", f"expected a string, got {type(sample.prompt).__name__}")
    if not sample.prompt.strip():
        raise SampleProblem("prompt", "empty prompt")
    check_references(sample.references, "references")
    check_text(sample.prompt, "prompt")
    for reference in sample.references:
        check_text(reference, "references")


def check_text(text: str, field_name: str) -> None:
    """Raise ``SampleProblem`` for text that cannot be encoded as UTF-8 (lone surrogates such as ``\\ud800``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SampleProblem(
            field_name,
            f"lone surrogate U+{ord(text[exc.start]):04X} at character {exc.start + 1} (not valid Unicode text)",
        ) from None


def collect_samples(
    records: Iterable[RawRecord],
    convert: Callable[[RawRecord], Sample],
    policy: Policy,
    split: str,
    limit: int | None = None,
) -> LoadedSplit:
    """Convert and validate records in order (stop after ``limit`` valid ones), applying ``policy``.

    Duplicate ids are problems of the later record; repeated prompts are only counted.
    """
    result = LoadedSplit(split, [])
    seen_ids: dict[str, str] = {}
    seen_prompts: set[str] = set()
    for record in records:
        if limit is not None and len(result.samples) >= limit:
            break
        try:
            sample = convert(record)
            check_sample(sample)
            if sample.id in seen_ids:
                raise SampleProblem("id", f"duplicate id {sample.id!r} (first at {seen_ids[sample.id]})")
        except SampleProblem as problem:
            line = describe(record, problem)
            if policy == "stop":
                raise DataError(line) from None
            result.skipped.append(Skipped(line, problem.field))
            continue
        seen_ids[sample.id] = record.location
        if sample.prompt in seen_prompts:
            result.duplicate_prompts += 1
        seen_prompts.add(sample.prompt)
        result.samples.append(sample)
    return result


def carve_dev(
    records: Sequence[RawRecord], dev_size: int | None, dev_ratio: float | None, seed: int
) -> tuple[list[RawRecord], list[RawRecord]]:
    """Split records into (train, dev): the first ``dev_size`` as MiniLLM does, or a seeded random share.

    Both parts keep the original order.
    """
    n = len(records)
    if dev_size is not None:
        if dev_size >= n:
            raise DataError(f"dev_size {dev_size} leaves no training samples ({n} records)")
        return list(records[dev_size:]), list(records[:dev_size])
    if dev_ratio is not None:
        n_dev = max(1, round(n * dev_ratio))
        if n_dev >= n:
            raise DataError(f"dev_ratio {dev_ratio} leaves no training samples ({n} records)")
        dev_idx = set(random.Random(seed).sample(range(n), n_dev))
        return (
            [r for i, r in enumerate(records) if i not in dev_idx],
            [r for i, r in enumerate(records) if i in dev_idx],
        )
    return list(records), []


class LoaderTask(Task):
    """Base of file/dataset loaders: ``train``/``eval`` sources, optional dev carving, shared validation.

    Subclasses implement ``source_records(which)`` (``which`` is ``"train"`` or ``"eval"``: the
    source named by that param; None when not configured) and ``to_sample(record)``. Their
    ``Params`` may define ``dev_size``, ``dev_ratio`` and ``seed`` to carve the eval split out of
    the train source. A line-based reader refuses records longer than ``max_record_bytes`` (set from
    ``data.max_record_bytes`` by ``make_task``) as bad records.
    """

    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES

    def source_records(self, which: str) -> list[RawRecord] | None:
        """Every raw record of the ``which`` source, in order, or None if that source is not set."""
        raise NotImplementedError

    def to_sample(self, record: RawRecord) -> Sample:
        """A ``Sample`` from a raw record; ``SampleProblem`` if the record is invalid."""
        raise NotImplementedError

    def _carving(self) -> tuple[int | None, float | None, int]:
        p = self.params
        return getattr(p, "dev_size", None), getattr(p, "dev_ratio", None), getattr(p, "seed", 0)

    def _file_sources(self) -> bool:
        """Whether the ``train`` / ``eval`` params name files (a file loader, not a dataset by name): the
        planner's answers below cover those loaders; other loaders answer for themselves."""
        fields = getattr(self.Params, "model_fields", {})
        return "train" in fields and "eval" in fields

    def _source(self, which: str) -> str | None:
        return getattr(self.params, which) if self._file_sources() else None

    def has_split(self, split: str) -> bool | None:
        """A file loader has its eval split when an ``eval`` file is given or one is carved from ``train``."""
        if not self._file_sources():
            return None
        dev_size, dev_ratio, _ = self._carving()
        if split == "eval":
            return any(v is not None for v in (self._source("eval"), dev_size, dev_ratio))
        return self._source("train") is not None

    def count(self, split: str) -> int | None:
        """A file loader's jsonl records (non-blank lines, before bad ones are dropped), the dev carving
        applied; None for other formats."""
        dev_size, dev_ratio, _ = self._carving()
        carving = dev_size is not None or dev_ratio is not None
        source = self._source("train" if carving else split)
        if source is None or Path(source).suffix.lower() not in JSONL_SUFFIXES:
            return None
        with open(source, "rb") as fh:
            n = sum(1 for line in fh if line.strip())
        if not carving:
            return n
        n_dev = dev_size if dev_size else max(1, round(n * dev_ratio)) if dev_ratio else 0
        return n - n_dev if split == "train" else n_dev

    def check_sources(self) -> None:
        """A file loader's ``train`` / ``eval`` files must exist, be regular files and be readable."""
        for which in ("train", "eval"):
            path = self._source(which)
            if path is None:
                continue
            if not Path(path).exists():
                raise ValueError(f"{which}: file not found: {path}")
            if Path(path).is_dir():
                raise ValueError(f"{which}: {path} is a directory; expected a data file")
            if not Path(path).is_file():
                raise ValueError(f"{which}: {path} is not a regular file; expected a data file")
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise ValueError(f"{which}: cannot read {path} ({exc.strerror})") from None

    def probe_bytes(self) -> int | None:
        """The size of a file loader's files when all of them are jsonl (its ``format``, else the extension)."""
        paths = [Path(p) for p in (self._source("train"), self._source("eval")) if p is not None]
        fmt = getattr(self.params, "format", "auto")
        if not paths or not all(
            fmt == "jsonl" or (fmt == "auto" and p.suffix.lower() in JSONL_SUFFIXES) for p in paths
        ):
            return None
        return sum(p.stat().st_size for p in paths)

    def records(self, split: str) -> Iterator[RawRecord]:
        """The raw records of ``split``, the dev carving applied."""
        if split not in SPLITS:
            raise ConfigError(f"task {self.name!r}: unknown split {split!r} (expected train or eval)")
        dev_size, dev_ratio, seed = self._carving()
        carving = dev_size is not None or dev_ratio is not None
        if carving:
            train = self.source_records("train")
            if train is None:
                raise ConfigError(f"task {self.name!r}: dev_size/dev_ratio need a `train` source to carve from")
            rest, dev = carve_dev(train, dev_size, dev_ratio, seed)
            return iter(rest if split == "train" else dev)
        rows = self.source_records(split)
        if rows is None:
            raise ConfigError(
                f"task {self.name!r} has no {split} split: set its `{split}` source"
                + (" or carve one with dev_size/dev_ratio" if split == "eval" else "")
            )
        return iter(rows)

    def load_split(self, split: str, policy: Policy = "stop", limit: int | None = None) -> LoadedSplit:
        """The validated samples of ``split`` under ``policy``, at most ``limit``."""
        return collect_samples(self.records(split), self.to_sample, policy, split, limit)

    def load(self, split: str) -> list[Sample]:
        """The samples of ``split``; any invalid record stops with a ``DataError``."""
        return self.load_split(split).samples


def _sample_records(samples: Sequence[Sample], task_name: str, split: str) -> list[RawRecord]:
    return [RawRecord(f"task {task_name!r} ({split})", f"sample {i}", str(s.id), s) for i, s in enumerate(samples)]


def split_spec(config, split: str):
    """The component spec that provides ``split``: ``data.eval`` if set, else ``data.train``."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} (expected train or eval)")
    if split == "eval" and config.data.eval is not None:
        return config.data.eval
    return config.data.train


def make_task(config, spec, **params) -> Task:
    """The task component of ``spec`` (``params`` over its own); a loader gets ``data.max_record_bytes``."""
    task = get_component("task", spec.name, **{**spec.params, **params})
    if isinstance(task, LoaderTask):
        task.max_record_bytes = config.data.max_record_bytes
    return task


def build_task(config, split: str) -> Task:
    """The task component for ``split``; a chat-template loader without ``tokenizer`` gets the student's."""
    spec = split_spec(config, split)
    params = spec.params
    if params.get("chat_template") and not params.get("tokenizer"):
        return make_task(config, spec, tokenizer=_student_tokenizer_path(config))
    return make_task(config, spec)


def _student_tokenizer_path(config) -> str:
    return resolve_model_path(config.student, config.run.dir, "student")


def needs_prepared_tokenizer(config, split: str) -> bool:
    """Whether loading ``split`` needs the student tokenizer that `prepare` trains: a chat-template loader
    without a ``tokenizer`` param, and a preset student."""
    params = split_spec(config, split).params
    return (
        config.student.preset is not None
        and config.student.path is None
        and bool(params.get("chat_template"))
        and not params.get("tokenizer")
    )


def tokenizer_is_local(config, spec) -> bool:
    """Whether formatting ``spec``'s samples needs no download and no prepare: no chat template, or its
    tokenizer (the ``tokenizer`` param, else the student's) is a local directory."""
    if not spec.params.get("chat_template"):
        return True
    source = spec.params.get("tokenizer") or config.student.path
    return source is not None and Path(source).expanduser().is_dir()


def probe_split(config, split: str, limit: int) -> None:
    """Load up to ``limit`` valid samples of a ``LoaderTask``'s ``split`` as the run loads its first ones
    (``on_bad_sample`` applied), raising the ``DataError`` the run would: a field missing from the records,
    a bad record under ``stop``, no valid record at all. Generated tasks are left to the run; which loaders
    are worth probing (local files, not hub datasets) is the caller's choice."""
    task = build_task(config, split)
    if not isinstance(task, LoaderTask):
        return
    loaded = task.load_split(split, config.data.on_bad_sample, limit)
    if not loaded.samples:
        first = f" (first: {loaded.skipped[0].message})" if loaded.skipped else ""
        raise DataError(f"{split_field(config, split)}: the {split} split has no valid samples{first}")


def split_field(config, split: str) -> str:
    """The config field that provides ``split`` (``data.eval`` or ``data.train``)."""
    return "data.eval" if split == "eval" and config.data.eval is not None else "data.train"


def load_split(config, split: str) -> LoadedSplit:
    """Load ``split`` ("train" or "eval") as the config says: task, limit and ``on_bad_sample`` applied."""
    task = build_task(config, split)
    limit = config.data.limit_train if split == "train" else config.data.limit_eval
    policy: Policy = config.data.on_bad_sample
    if isinstance(task, LoaderTask):
        loaded = task.load_split(split, policy, limit)
    else:
        samples = task.load(split)
        loaded = collect_samples(_sample_records(samples, task.name, split), lambda r: r.data, policy, split, limit)
    if not loaded.samples:
        raise DataError(f"{split_field(config, split)}: the {split} split has no valid samples")
    if loaded.skipped:
        logger.warning(
            "%s split: skipped %d bad samples (data.on_bad_sample=skip); first: %s",
            split,
            loaded.skipped_count,
            loaded.skipped[0].message,
        )
    if loaded.duplicate_prompts:
        logger.info("%s split: %d samples repeat an earlier prompt", split, loaded.duplicate_prompts)
    return loaded


def load_samples(config, split: str) -> list[Sample]:
    """The validated samples of ``split`` for ``config`` (see ``load_split``)."""
    return load_split(config, split).samples
