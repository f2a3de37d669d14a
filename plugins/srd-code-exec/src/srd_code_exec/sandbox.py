"""Run untrusted Python with its tests in a confined subprocess and report which tests passed.

Containment (see ``_launcher.py``): resource limits (CPU seconds, address space, processes, file
size, open files), a wall-clock timeout after which every process of the job is killed, no network,
a read-only file system except an empty temporary work directory (removed afterwards), a scrubbed
environment, and — when running as root — an unprivileged uid of its own per concurrent job, since
Linux does not enforce RLIMIT_NPROC for root. Without root the limits still apply; network and
file-system confinement then need unprivileged user namespaces, and what was obtained is reported.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("srd.code_exec")

LAUNCHER = Path(__file__).with_name("_launcher.py")
HARNESS = Path(__file__).with_name("_harness.py")
ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
}
BANNER = "SRD-SANDBOX "
UID_SLOTS = 64


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed job."""

    timeout_s: float = 10.0
    step_timeout_s: float = 3.0
    memory_mb: int = 1024
    max_procs: int = 16
    file_size_mb: int = 16
    max_files: int = 64


@dataclass(frozen=True)
class Step:
    """Test source run after the code; ``case`` is the test-case index, or None for set-up code."""

    src: str
    case: int | None = None


@dataclass
class JobResult:
    """Outcome of one job: which cases passed, and how the sandbox was confined."""

    passed: list[bool]
    timed_out: bool = False
    returncode: int | None = None
    protections: dict[str, Any] = field(default_factory=dict)

    @property
    def pass_rate(self) -> float:
        return sum(self.passed) / len(self.passed) if self.passed else 0.0


def is_root() -> bool:
    return os.geteuid() == 0


@contextlib.contextmanager
def _uid_slot(base: int) -> Iterator[int]:
    """A sandbox uid that no other job (in any process of this machine) is using meanwhile."""
    lock_dir = Path(tempfile.gettempdir()) / "srd-code-exec-uids"
    lock_dir.mkdir(mode=0o700, exist_ok=True)
    for uid in range(base, base + UID_SLOTS):
        fh = open(lock_dir / str(uid), "a+")  # noqa: SIM115 - held open while the slot is in use
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        try:
            _reap(uid)  # leftovers of a job whose parent died
            yield uid
        finally:
            fh.close()
        return
    raise RuntimeError(f"all {UID_SLOTS} sandbox uids from {base} are busy")


def _reap(uid: int | None) -> None:
    """Kill every process of ``uid`` (the whole job, whatever it forked or detached)."""
    if uid is None:
        return
    subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), "--reap", str(uid)], check=True, timeout=60)


def _workdir_parent(uid: int | None) -> str:
    """The temp directory, unless the sandbox uid could not reach it (e.g. TMPDIR under /root): then /tmp."""
    parent = Path(tempfile.gettempdir()).resolve()
    if uid is None or all(os.stat(p).st_mode & stat.S_IXOTH for p in [parent, *parent.parents]):
        return str(parent)
    return "/tmp"


def _make_workdir(uid: int | None) -> Path:
    path = Path(tempfile.mkdtemp(prefix="srd-code-exec-", dir=_workdir_parent(uid))).resolve()
    if uid is not None:
        os.chown(path, uid, uid)
    return path


def _remove(path: Path) -> None:
    def _retry(func, target, _exc):  # the code may have made files or directories read-only
        os.chmod(os.path.dirname(target), stat.S_IRWXU)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(target, stat.S_IRWXU)
        func(target)

    shutil.rmtree(path, onerror=_retry)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class Sandbox:
    """Runs jobs (code + test steps) with ``limits``; ``python`` runs the code ("auto": find one)."""

    def __init__(self, limits: Limits, python: str = "auto", uid_base: int = 1_800_000_000) -> None:
        self.limits = limits
        self.uid_base = uid_base
        self._python = None if python == "auto" else python
        self._harness = HARNESS.read_text(encoding="utf-8")

    @property
    def python(self) -> str:
        """The interpreter that runs sandboxed code (probed once when set to "auto")."""
        if self._python is None:
            self._python = self._find_python()
        return self._python

    def _find_python(self) -> str:
        """The first interpreter the sandbox user can run (root's own may live under /root)."""
        candidates = [sys.executable, getattr(sys, "_base_executable", ""), os.path.realpath(sys.executable),
                      "/usr/bin/python3", "/usr/local/bin/python3", shutil.which("python3") or ""]
        tried = []
        for candidate in dict.fromkeys(c for c in candidates if c and os.path.isfile(c)):
            tried.append(candidate)
            result = self._run(candidate, "x = 1", [Step("assert x == 1", 0)], None)
            if result.passed == [True]:
                return candidate
        raise RuntimeError("no Python interpreter runs inside the sandbox (tried: " + ", ".join(tried) + ")")

    def run(self, code: str, steps: Sequence[Step], entry_point: str | None = None) -> JobResult:
        """Run ``code`` then ``steps``; every case that did not report success counts as failed."""
        return self._run(self.python, code, steps, entry_point)

    def _run(self, python: str, code: str, steps: Sequence[Step], entry_point: str | None) -> JobResult:
        slot = _uid_slot(self.uid_base) if is_root() else contextlib.nullcontext(None)
        with slot as uid:
            workdir = _make_workdir(uid)
            try:
                return self._run_in(python, workdir, uid, code, steps, entry_point)
            finally:
                _reap(uid)
                _remove(workdir)

    def _run_in(self, python: str, workdir: Path, uid: int | None, code: str, steps: Sequence[Step],
                entry_point: str | None) -> JobResult:
        lim = self.limits
        spec = {
            "workdir": str(workdir), "uid": uid, "gid": uid, "python": python,
            "args": ["-I", "-c", self._harness],
            "env": {**ENV, "HOME": str(workdir), "TMPDIR": str(workdir)},
            "cpu_s": max(1, int(lim.timeout_s + 0.999)), "memory_mb": lim.memory_mb, "max_procs": lim.max_procs,
            "file_size_mb": lim.file_size_mb, "max_files": lim.max_files,
        }
        nonce = secrets.token_hex(16)
        job = json.dumps({
            "nonce": nonce, "code": code, "entry_point": entry_point, "step_timeout_s": lim.step_timeout_s,
            "steps": [{"src": s.src, "case": s.case} for s in steps],
        })
        # Files, not pipes: processes the code forked cannot keep a pipe open and stall the parent.
        with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as out, \
                tempfile.TemporaryFile() as err:
            stdin.write(job.encode())
            stdin.seek(0)
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(spec)],
                stdin=stdin, stdout=out, stderr=err, cwd=workdir, env=dict(ENV), start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=lim.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:  # whatever the code left behind dies with it
                _kill_group(proc)
                _reap(uid)
                proc.wait()
            out.seek(0)
            err.seek(0)
            results, banner = out.read(), err.read(4096)
        n_cases = sum(1 for s in steps if s.case is not None)
        return JobResult(
            passed=_parse_results(results, nonce, n_cases), timed_out=timed_out,
            returncode=proc.returncode, protections=_parse_banner(banner),
        )


def _parse_results(out: bytes, nonce: str, n_cases: int) -> list[bool]:
    """Per-case results from the harness lines ``<nonce> <case> <0|1>`` (first report wins)."""
    passed: dict[int, bool] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == nonce and parts[1].isdigit() and parts[2] in {"0", "1"}:
            passed.setdefault(int(parts[1]), parts[2] == "1")
    return [passed.get(i, False) for i in range(n_cases)]


def _parse_banner(err: bytes) -> dict[str, Any]:
    first = err.decode("utf-8", "replace").split("\n", 1)[0]
    if first.startswith(BANNER):
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(first[len(BANNER):])
    return {}
