"""Built-in data loaders: MiniLLM/DistiLLM jsonl, generic files (jsonl/json/csv/parquet), HF datasets.

Every loader reads raw records, maps fields to a ``Sample`` (prompt, references, meta) and leaves
validation policy to ``srd_core.data.samples`` (``data.on_bad_sample``). Sample ids are the ``id_field``
value when set, else ``<source>-<line>`` (``train-12``: line 12 of the ``train`` file), so they
stay stable when other lines change and do not collide between the train and eval sources.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from srd_core.data.samples import DEFAULT_MAX_RECORD_BYTES, LoaderTask, RawRecord, SampleProblem, check_references
from srd_core.errors import ConfigError, DataError
from srd_core.hookspecs import hookimpl
from srd_core.limits import MAX_RECORD_DEPTH, MAX_SAMPLES
from srd_core.models.hub import looks_like_path
from srd_core.types import Sample

ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the "
    "request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
)


def alpaca_prompt(instruction: str, input_text: str = "") -> str:
    """The Alpaca prompt MiniLLM/DistiLLM/SRD use (the no-input variant when ``input_text`` is empty)."""
    if input_text.strip():
        return ALPACA_WITH_INPUT.format(instruction=instruction, input=input_text)
    return ALPACA_NO_INPUT.format(instruction=instruction)


# ----------------------------------------------------------------------------------------------- params


class DevSplitParams(BaseModel):
    """Carving an eval split out of the train source."""

    model_config = ConfigDict(extra="forbid")

    dev_size: int | None = Field(
        None,
        ge=1,
        le=MAX_SAMPLES,
        description=f"Use the first N train records as the eval split (as MiniLLM does; ≤ {MAX_SAMPLES:,}).",
    )
    dev_ratio: float | None = Field(
        None, gt=0, lt=1, description="Use a random share of the train records (seeded) as the eval split."
    )
    seed: int = Field(0, description="Seed of the dev_ratio draw.")

    @model_validator(mode="after")
    def _one_carving(self):
        if self.dev_size is not None and self.dev_ratio is not None:
            raise ValueError("give dev_size or dev_ratio, not both")
        if (self.dev_size is not None or self.dev_ratio is not None) and getattr(self, "eval", None):
            raise ValueError("an `eval` source and dev_size/dev_ratio exclude each other")
        return self


class FieldMapping(BaseModel):
    """Which record fields make the prompt, the references, the id and the meta."""

    model_config = ConfigDict(extra="forbid")

    prompt_field: str | None = Field(
        None, description="Field holding a ready prompt; when set, instruction/input/template are not used."
    )
    instruction_field: str = Field("instruction", description="Field holding the instruction.")
    input_field: str | None = Field("input", description="Field holding the optional input (context).")
    output_field: str = Field("output", description="Field holding the reference: a string or a list of strings.")
    id_field: str | None = Field(None, description="Field holding a unique sample id (default: <source>-<line>).")
    meta_fields: list[str] = Field(
        default_factory=lambda: ["topic", "category"],
        description="Fields copied into the sample's meta when present (analysis only).",
    )
    template: str = Field(
        "alpaca",
        description="Prompt template: 'alpaca' (MiniLLM's, with and without input) or a format string "
        "using {instruction} and {input}.",
    )
    chat_template: bool = Field(
        False, description="Format the prompt with the tokenizer's chat template instead of `template`."
    )
    system: str | None = Field(None, description="System message for chat_template (none by default).")
    tokenizer: str | None = Field(
        None, description="Tokenizer (local dir or hub id) whose chat template is used; default: the student's."
    )

    @field_validator("template")
    @classmethod
    def _check_template(cls, value: str) -> str:
        if value == "alpaca":
            return value
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"not a valid format string ({exc})") from None
        unknown = names - {"instruction", "input"}
        if unknown:
            raise ValueError(f"unknown placeholders {sorted(unknown)} (use {{instruction}} and {{input}})")
        if "instruction" not in names:
            raise ValueError("the template must contain {instruction}")
        return value


class FileSources(BaseModel):
    """The files of the train and eval splits."""

    model_config = ConfigDict(extra="forbid")

    train: str | None = Field(None, description="File with the training samples.")
    eval: str | None = Field(None, description="File with the evaluation samples.")


class MiniLLMParams(DevSplitParams, FileSources):
    """MiniLLM/DistiLLM jsonl files (ready ``prompt``, ``output`` string or list)."""

    id_field: str | None = Field(None, description="Field holding a unique sample id (default: <source>-<line>).")


class FileParams(DevSplitParams, FieldMapping, FileSources):
    """jsonl / json / csv / parquet files with a field mapping and a prompt template."""

    format: Literal["auto", "jsonl", "json", "csv", "parquet"] = Field(
        "auto", description="File format; auto: from the extension (.jsonl .json .csv .parquet)."
    )


class HFSource(BaseModel):
    """Which Hugging Face dataset and which of its splits."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="HF dataset id (e.g. databricks/databricks-dolly-15k) or a local directory.")
    subset: str | None = Field(None, description="Dataset configuration name, if the dataset has several.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    train_split: str | None = Field("train", description="Dataset split used for training.")
    eval_split: str | None = Field(None, description="Dataset split used for evaluation.")


class HFParams(DevSplitParams, FieldMapping, HFSource):
    """A Hugging Face dataset with a field mapping and a prompt template."""

    @model_validator(mode="after")
    def _eval_or_carving(self):
        if (self.dev_size is not None or self.dev_ratio is not None) and self.eval_split:
            raise ValueError("eval_split and dev_size/dev_ratio exclude each other")
        return self


# ------------------------------------------------------------------------------------------- formatting


def _string_field(data: dict, field: str, required: bool = True) -> str:
    if field not in data or data[field] is None:
        if required:
            raise SampleProblem(field, "missing field")
        return ""
    value = data[field]
    if not isinstance(value, str):
        raise SampleProblem(field, f"expected a string, got {type(value).__name__}")
    return value


class PromptFormatter:
    """Maps a raw record to a ``Sample`` following a ``FieldMapping``."""

    def __init__(self, mapping: FieldMapping) -> None:
        self.mapping = mapping
        self._tokenizer = None

    def chat_tokenizer(self):
        """The tokenizer whose chat template formats prompts (loaded once)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer  # deferred: transformers

            name = self.mapping.tokenizer
            if not name:
                raise ConfigError("chat_template: true needs `tokenizer` (a model dir or hub id)")
            try:
                tokenizer = AutoTokenizer.from_pretrained(name)
            except OSError as exc:
                raise DataError(
                    f"tokenizer {name!r} not found locally and the hub is unreachable; "
                    f"pass a local path ({type(exc).__name__})"
                ) from None
            if not getattr(tokenizer, "chat_template", None):
                raise ConfigError(f"chat_template: true, but tokenizer {name!r} has no chat template")
            self._tokenizer = tokenizer
        return self._tokenizer

    def user_text(self, data: dict) -> str:
        """Instruction and input as one user message (chat templates)."""
        instruction = _string_field(data, self.mapping.instruction_field)
        input_text = _string_field(data, self.mapping.input_field, required=False) if self.mapping.input_field else ""
        return f"{instruction}\n\n{input_text}" if input_text.strip() else instruction

    def prompt(self, data: dict) -> str:
        """The formatted prompt of a record."""
        m = self.mapping
        if m.chat_template:
            content = _string_field(data, m.prompt_field) if m.prompt_field else self.user_text(data)
            messages = ([{"role": "system", "content": m.system}] if m.system else []) + [
                {"role": "user", "content": content}
            ]
            return self.chat_tokenizer().apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if m.prompt_field:
            return _string_field(data, m.prompt_field)
        instruction = _string_field(data, m.instruction_field)
        if not instruction.strip():
            raise SampleProblem(m.instruction_field, "empty instruction")
        input_text = _string_field(data, m.input_field, required=False) if m.input_field else ""
        if m.template == "alpaca":
            return alpaca_prompt(instruction, input_text)
        return m.template.format(instruction=instruction, input=input_text)

    def sample(self, record: RawRecord) -> Sample:
        """A ``Sample`` from ``record``; ``SampleProblem`` names the first invalid field."""
        data = record.data
        if not isinstance(data, dict):
            raise SampleProblem(None, f"expected a JSON object, got {type(data).__name__}")
        m = self.mapping
        if m.id_field:
            if data.get(m.id_field) is None:
                raise SampleProblem(m.id_field, "missing field")
            if not isinstance(data[m.id_field], str | int):
                got = type(data[m.id_field]).__name__
                raise SampleProblem(m.id_field, f"expected a string or an integer, got {got}")
            sample_id = str(data[m.id_field])
        else:
            sample_id = record.key
        if m.output_field not in data or data[m.output_field] is None:
            raise SampleProblem(m.output_field, "missing field")
        references = check_references(data[m.output_field], m.output_field)
        prompt = self.prompt(data)
        if not prompt.strip():
            raise SampleProblem(m.prompt_field or m.instruction_field, "empty prompt")
        meta = {k: data[k] for k in m.meta_fields if data.get(k) is not None}
        meta["source"] = f"{record.source}, {record.location}"
        return Sample(id=sample_id, prompt=prompt, references=references, meta=meta)


# -------------------------------------------------------------------------------------------- reading


class _InvalidJSON:
    """Placeholder for a jsonl line that is not UTF-8 or does not parse (reported through the bad-sample policy)."""

    def __init__(self, error: str) -> None:
        self.error = error


def _lines(fh: BinaryIO, max_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(line, its length in bytes without the newline) of a binary file; a line above ``max_bytes`` comes cut
    short (the rest is read in blocks and dropped, never held)."""
    while True:
        line = fh.readline(max_bytes + 2)  # the longest line allowed, its newline, one byte more
        if not line:
            return
        size = len(line) - line.endswith(b"\n")
        if size > max_bytes and not line.endswith(b"\n"):
            while True:
                block = fh.readline(2**20)
                size += len(block) - block.endswith(b"\n")
                if not block or block.endswith(b"\n"):
                    break
        yield line, size


def _depth(value: Any, limit: int) -> int:
    """How deep objects and lists nest in a parsed JSON value (a string: 0), counted up to ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if level > limit:
                break
            stack.extend((item, level + 1) for item in (node.values() if isinstance(node, dict) else node))
    return deepest


def _parse_line(raw: bytes, size: int, max_bytes: int) -> Any:
    """The JSON value of one jsonl line, or an ``_InvalidJSON`` saying what is wrong with it."""
    if size > max_bytes:
        return _InvalidJSON(f"record of {size:,} bytes is above data.max_record_bytes ({max_bytes:,})")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _InvalidJSON(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})")
    too_deep = _InvalidJSON(f"record nested deeper than {MAX_RECORD_DEPTH} levels")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return _InvalidJSON(f"invalid JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:  # nested beyond the parser's own recursion limit
        return too_deep
    return too_deep if _depth(data, MAX_RECORD_DEPTH) > MAX_RECORD_DEPTH else data


def read_jsonl_records(path: str, which: str, max_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> list[RawRecord]:
    """One record per non-blank line; ``key`` is ``<which>-<line number>``. A line that is not UTF-8, not JSON,
    longer than ``max_bytes`` or nested deeper than ``MAX_RECORD_DEPTH`` is one bad record, not a crash."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{which}: file not found: {path}")
    records = []
    with open(file, "rb") as fh:  # bytes: a line that is not UTF-8 is one bad record, not a crash
        for number, (raw, size) in enumerate(_lines(fh, max_bytes), start=1):
            if size <= max_bytes and not raw.strip():
                continue
            data = _parse_line(raw, size, max_bytes)
            records.append(RawRecord(str(path), f"line {number}", f"{which}-{number}", data))
    return records


def rows_to_records(rows: list[dict], source: str, which: str, label: str = "row") -> list[RawRecord]:
    """Records from table rows; ``key`` is ``<which>-<row number>`` (1-based)."""
    return [RawRecord(source, f"{label} {i}", f"{which}-{i}", row) for i, row in enumerate(rows, start=1)]


def read_table_records(path: str, fmt: str, which: str) -> list[RawRecord]:
    """json / csv / parquet rows through ``datasets.load_dataset``."""
    from datasets import load_dataset  # deferred: datasets

    if not Path(path).is_file():
        raise DataError(f"{which}: file not found: {path}")
    try:
        dataset = load_dataset(fmt, data_files=str(path), split="train")
    except Exception as exc:  # datasets raises many types for unreadable files
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise DataError(f"{path}: cannot be read as {fmt} ({type(exc).__name__}: {detail})") from None
    return rows_to_records(dataset.to_list(), str(path), which)


def file_format(path: str, fmt: str) -> str:
    """The file format: ``fmt`` unless ``auto``, else from the extension."""
    if fmt != "auto":
        return fmt
    suffix = Path(path).suffix.lower()
    formats = {
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "json",
        ".csv": "csv",
        ".parquet": "parquet",
        ".pq": "parquet",
    }
    if suffix not in formats:
        raise ConfigError(f"{path}: cannot tell the format from {suffix or 'no extension'!r}; set `format`")
    return formats[suffix]


# -------------------------------------------------------------------------------------------- loaders


class _FormatterTask(LoaderTask):
    """A loader whose records are mapped by a ``PromptFormatter``."""

    def formatter(self) -> PromptFormatter:
        if getattr(self, "_formatter", None) is None:
            self._formatter = PromptFormatter(self.mapping())
        return self._formatter

    def mapping(self) -> FieldMapping:
        raise NotImplementedError

    def to_sample(self, record: RawRecord) -> Sample:
        if isinstance(record.data, _InvalidJSON):
            raise SampleProblem(None, record.data.error)
        return self.formatter().sample(record)


class MiniLLMTask(_FormatterTask):
    """MiniLLM/DistiLLM jsonl: ``prompt`` (Alpaca, ends in "### Response:\\n"), ``output`` (string or
    list of references), ``instruction``, ``input``, optional ``topic``."""

    Params = MiniLLMParams
    params: MiniLLMParams

    def mapping(self) -> FieldMapping:
        return FieldMapping(
            prompt_field="prompt", output_field="output", id_field=self.params.id_field, meta_fields=["topic"]
        )

    def source_records(self, which: str) -> list[RawRecord] | None:
        path = getattr(self.params, which)
        return None if path is None else read_jsonl_records(path, which, self.max_record_bytes)


class FileTask(_FormatterTask):
    """Generic jsonl / json / csv / parquet files with a field mapping and a prompt template."""

    Params = FileParams
    params: FileParams

    def mapping(self) -> FieldMapping:
        return FieldMapping(**{k: getattr(self.params, k) for k in FieldMapping.model_fields})

    def source_records(self, which: str) -> list[RawRecord] | None:
        path = getattr(self.params, which)
        if path is None:
            return None
        fmt = file_format(path, self.params.format)
        if fmt == "jsonl":
            return read_jsonl_records(path, which, self.max_record_bytes)
        return read_table_records(path, fmt, which)


def _is_saved_dataset(directory: Path) -> bool:
    return (directory / "dataset_dict.json").is_file() or (directory / "state.json").is_file()


class HFDatasetTask(_FormatterTask):
    """A Hugging Face dataset by hub id and split, or from a local directory (saved or raw files)."""

    Params = HFParams
    params: HFParams

    def mapping(self) -> FieldMapping:
        return FieldMapping(**{k: getattr(self.params, k) for k in FieldMapping.model_fields})

    def dataset(self):
        """The ``DatasetDict`` (or single ``Dataset``) behind this task, loaded once."""
        if getattr(self, "_dataset", None) is None:
            self._dataset = self._load()
        return self._dataset

    def _load(self):
        from datasets import load_dataset, load_from_disk  # deferred: datasets

        p = self.params
        local = Path(p.path)
        if local.is_dir():
            try:
                if _is_saved_dataset(local):
                    return load_from_disk(str(local))
                return load_dataset(str(local), p.subset)
            except Exception as exc:
                raise DataError(
                    f"{p.path}: cannot load the dataset directory "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
                ) from None
        try:
            return load_dataset(p.path, p.subset, revision=p.revision)
        except ConnectionError:
            raise DataError(f"{p.path} not found locally and the hub is unreachable; pass a local path") from None
        except Exception as exc:
            raise DataError(
                f"{p.path} not found locally or on the hub ({type(exc).__name__}); pass a local path"
            ) from None

    def has_split(self, split: str) -> bool:
        """The eval split is a dataset split (``eval_split``) or carved from the train split."""
        p = self.params
        if split == "eval":
            return any(v is not None for v in (p.eval_split, p.dev_size, p.dev_ratio))
        return p.train_split is not None

    def check_sources(self) -> None:
        """A ``path`` that looks local must be a directory (a hub id is left to loading, which knows the cache)."""
        if looks_like_path(self.params.path) and not Path(self.params.path).expanduser().is_dir():
            raise ValueError(f"path: local dataset directory {self.params.path!r} does not exist")

    def source_records(self, which: str) -> list[RawRecord] | None:
        split = self.params.train_split if which == "train" else self.params.eval_split
        if split is None:
            return None
        dataset = self.dataset()
        if hasattr(dataset, "keys"):  # DatasetDict
            if split not in dataset:
                raise ConfigError(f"{self.params.path}: no split {split!r} (available: {', '.join(dataset)})")
            part = dataset[split]
        elif which == "train":
            part = dataset
        else:
            raise ConfigError(f"{self.params.path} holds a single split; set eval_split: null or carve a dev split")
        return rows_to_records(part.to_list(), self.params.path, which, label=f"{split} row")


@hookimpl
def register_tasks(register):
    """Register the built-in loaders: minillm, file (alias jsonl) and hf."""
    register("minillm", MiniLLMTask)
    register("file", FileTask)
    register("jsonl", FileTask)
    register("hf", HFDatasetTask)
