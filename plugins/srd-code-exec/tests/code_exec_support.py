"""Shared helpers of the srd-code-exec tests: samples, reflections, sandbox process checks."""

from __future__ import annotations

import os

from srd_code_exec.metrics import CodeExec

from srd_core.types import ReflectionRecord, Sample

SANDBOX_UID_BASE = 1_800_000_000


def sample(test, entry_point=None, sid="s", **meta) -> Sample:
    return Sample(
        id=sid,
        prompt="Write the function.\n",
        references=["pass"],
        meta={"test": test, "entry_point": entry_point, **meta},
    )


def reflection(output: str, sid="s") -> ReflectionRecord:
    return ReflectionRecord(
        id=sid, prompt_hash="h", output=output, ce=1.0, prompt_tokens=1, response_tokens=1, output_tokens=1
    )


def fenced(code: str) -> str:
    return f"Here is my solution:\n```python\n{code}\n```\nDone."


def fast_metric(**overrides) -> CodeExec:
    params = {"timeout_s": 3, "step_timeout_s": 1.0, "max_procs": 8, "memory_mb": 512, "workers": 2, **overrides}
    return CodeExec(CodeExec.Params(**params))


def score_one(metric: CodeExec, code: str, tests) -> float:
    return metric.score([sample(tests)], [reflection(fenced(code))])[0]


def live_sandbox_processes() -> list[int]:
    """Non-zombie processes owned by one of the sandbox uids (root runs only)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if not SANDBOX_UID_BASE <= os.stat(f"/proc/{name}").st_uid < SANDBOX_UID_BASE + 64:
                continue
            with open(f"/proc/{name}/stat", "rb") as fh:
                if fh.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue
        except OSError:
            continue
        pids.append(int(name))
    return pids
