"""Execution-based difficulty metrics: ``code_exec`` (pass rate in a sandbox) and ``math_answer``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm.auto import tqdm

from srd_code_exec.doctor import missing_protections
from srd_code_exec.extract import BadTestsError, build_steps, extract_code
from srd_code_exec.numeric import final_answer, parse_number, same_number
from srd_code_exec.sandbox import JobResult, Limits, Sandbox, Step
from srd_core.components import DifficultyMetric
from srd_core.errors import DataError, PluginError
from srd_core.types import ReflectionRecord, Sample

log = logging.getLogger("srd.code_exec")
TRUST_WARNING = (
    "code_exec: unjudged: trust_candidate_process: cases the judge cannot run on plain data are "
    "decided by the candidate's own process, which can forge them (e.g. by replacing exec); "
    "their scores are not forgery-proof"
)
PROTECTIONS = ("network", "filesystem", "pid_namespace", "ipc_namespace", "proc", "disk_cap")


class CodeExec(DifficultyMetric):
    """Share of the sample's tests the student's code passes, run in a sandbox (higher = easier)."""

    higher_is_easier = True

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        timeout_s: float = Field(10.0, gt=0, description="Wall-clock limit of one sample's run, seconds.")
        step_timeout_s: float = Field(3.0, gt=0, description="Limit of the code itself and of each test case.")
        memory_mb: int = Field(1024, ge=64, description="Address-space limit of the sandboxed process (MiB).")
        max_procs: int = Field(16, ge=1, description="Processes the code may have at once (fork bombs).")
        file_size_mb: int = Field(16, ge=1, description="Largest file the code may write (MiB).")
        disk_mb: int = Field(64, ge=1, description="Size of the job's tmpfs work dir: all it may write (MiB).")
        memory_total_mb: int | None = Field(
            None,
            ge=64,
            description="Without a job cgroup: the memory all workers' jobs may use at worst (MiB); "
            "per-process limits are sized to fit. Default: half the machine's memory.",
        )
        launcher: Literal["auto", "bwrap", "builtin"] = Field(
            "auto", description="Confinement: bubblewrap, the built-in launcher, or auto (bwrap when it works here)."
        )
        unjudged: Literal["fail", "trust_candidate_process"] = Field(
            "fail",
            description="A case the judge cannot run on plain data (e.g. an argument that is an object of "
            "a class the test defines): count it failed (default), or run it in the candidate's own process and "
            "take its pass flag (trust_candidate_process: forgeable, a program that patches exec passes it).",
        )
        workers: int = Field(2, ge=1, description="Samples run in parallel.")
        code_from: Literal["output", "prompt+output"] = Field(
            "output", description="Program = the fenced code of the output, or prompt + output (HumanEval)."
        )
        python: str = Field("auto", description="Interpreter for the code; auto: the first the sandbox user can run.")
        sandbox_uid: int = Field(
            1_800_000_000,
            ge=1000,
            description="As root: first of 64 unprivileged uids the code runs as (one per concurrent sample).",
        )
        require_isolation: bool = Field(
            False,
            description="Refuse to score unless every essential protection is active (see `srd code-exec doctor`).",
        )

        @field_validator("unjudged", mode="before")
        @classmethod
        def _renamed(cls, value):
            if value == "sandbox":
                raise ValueError(
                    "'sandbox' is now named 'trust_candidate_process' (forgeable: the program's own "
                    "process decides those cases); the default 'fail' counts them failed"
                )
            return value

    params: Params

    def __init__(self, params: BaseModel | None = None) -> None:
        super().__init__(params)
        p = self.params
        limits = Limits(
            timeout_s=p.timeout_s,
            step_timeout_s=p.step_timeout_s,
            memory_mb=p.memory_mb,
            max_procs=p.max_procs,
            file_size_mb=p.file_size_mb,
            disk_mb=p.disk_mb,
        )
        try:
            self.sandbox = Sandbox(
                limits,
                python=p.python,
                uid_base=p.sandbox_uid,
                launcher=p.launcher,
                fallback=p.unjudged,
                workers=p.workers,
                memory_total_mb=p.memory_total_mb,
            )
        except ValueError as exc:
            raise PluginError(f"code_exec: {exc}") from None
        self._warned = False
        if p.unjudged == "trust_candidate_process":
            _warn_trust_once()

    def score(self, samples: Sequence[Sample], reflections: Sequence[ReflectionRecord], model=None) -> list[float]:
        """Pass rate (0..1) of each sample's extracted program on its tests."""
        jobs = [self._job(sample, reflection) for sample, reflection in zip(samples, reflections, strict=True)]
        try:
            self.sandbox.python  # noqa: B018 - finds (and checks) the interpreter once, before the pool starts
        except RuntimeError as exc:
            raise PluginError(f"code_exec: {exc}; set `python:` to an interpreter the sandbox can run") from None
        if self.params.require_isolation:
            missing = missing_protections(self.sandbox)
            if missing:
                raise PluginError(
                    "code_exec: require_isolation: missing " + "; ".join(missing) + " (run `srd code-exec doctor`)"
                )
        with ThreadPoolExecutor(max_workers=self.params.workers) as pool:
            results = list(
                tqdm(
                    pool.map(lambda job: self.sandbox.run(*job), jobs),
                    total=len(jobs),
                    desc="code_exec",
                    unit="sample",
                    disable=len(jobs) < 2,
                )
            )
        for result in results:
            self._check_protections(result)
        return [result.pass_rate for result in results]

    def _job(self, sample: Sample, reflection: ReflectionRecord) -> tuple[str, list[Step], str | None]:
        try:
            steps, entry_point = build_steps(sample.meta)
        except BadTestsError as exc:
            raise DataError(f"sample {sample.id!r}: meta.test: {exc}") from None
        code = extract_code(reflection.output)
        if self.params.code_from == "prompt+output":
            code = sample.prompt + code
        return code, steps, entry_point

    def _check_protections(self, result: JobResult) -> None:
        missing = [name for name in PROTECTIONS if not result.protections.get(name)]
        if not result.protections:
            missing = ["all (the sandbox launcher did not start)"]
        if not missing or self._warned:
            return
        message = (
            "code_exec: sandbox without " + ", ".join(missing) + " "
            "(needs root or unprivileged user namespaces; see `srd code-exec doctor`)"
        )
        if self.params.require_isolation:
            raise PluginError(message)
        self._warned = True
        log.warning(message)


@functools.cache
def _warn_trust_once() -> None:
    """The forgeable mode is opt-in; say so once per process, however many metrics use it."""
    log.warning(TRUST_WARNING)


class MathAnswer(DifficultyMetric):
    """1 if the student's final number equals the reference's, else 0 (higher = easier)."""

    higher_is_easier = True

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        answer_field: str = Field(
            "answer",
            description="meta field holding the reference number; absent: the last number of the target.",
        )
        rel_tol: float = Field(1e-6, ge=0, description="Relative tolerance of the comparison.")

    params: Params

    def score(self, samples: Sequence[Sample], reflections: Sequence[ReflectionRecord], model=None) -> list[float]:
        """Per sample: does the output's final answer match the reference number."""
        scores = []
        for sample, reflection in zip(samples, reflections, strict=True):
            reference = self._reference(sample)
            answer = final_answer(reflection.output)
            scores.append(float(answer is not None and same_number(answer, reference, self.params.rel_tol)))
        return scores

    def _reference(self, sample: Sample):
        field = self.params.answer_field
        if field in sample.meta and sample.meta[field] is not None:
            try:
                return parse_number(str(sample.meta[field]))
            except (ValueError, ZeroDivisionError):
                raise DataError(
                    f"sample {sample.id!r}: meta.{field}: expected a number, got {sample.meta[field]!r}"
                ) from None
        reference = final_answer(sample.target)
        if reference is None:
            raise DataError(f"sample {sample.id!r}: no number in meta.{field} or in the reference answer")
        return reference
