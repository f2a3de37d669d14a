"""Run untrusted Python against its tests so that the verdict is decided where the code cannot reach.

Each job has two confined processes (see ``_launcher.py``): the **candidate runner** holds the
program; the **judge** runs the tests in a clean interpreter, with the real builtins and none of the
program's code, and calls the program's functions across a pipe, arguments and return values as
plain data (``_wire.py``). The judge alone writes the verdicts, to a file only it holds. Both run with
resource limits, no network, a read-only root that holds only the interpreter, its standard library
and the libraries it loads (``rootfs.py``; nothing of the host's /tmp, /home, /etc, run dirs or
datasets) but a size-limited tmpfs work dir, new IPC/UTS/PID/mount/user namespaces, under one
per-job memory cgroup where the machine has one, and every process of the job is killed when it
ends. As root each runs as an unprivileged uid of its own (Linux does not enforce RLIMIT_NPROC for
root). Bubblewrap does the confining where installed and working; the built-in launcher otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
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

from srd_code_exec import isolation, rootfs

log = logging.getLogger("srd.code_exec")

HERE = Path(__file__).parent
LAUNCHER = HERE / "_launcher.py"
ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
}
BANNER = "SRD-SANDBOX "
UID_SLOTS = 64
LAUNCHERS = ("auto", "bwrap", "builtin")
FALLBACKS = ("fail", "trust_candidate_process")  # the second is forgeable: opt-in only
LAUNCHER_EXIT_S = 2.0  # how long a launcher may take to reap its job and exit once the job is killed


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed job."""

    timeout_s: float = 10.0
    step_timeout_s: float = 3.0
    memory_mb: int = 1024
    max_procs: int = 16
    file_size_mb: int = 16
    max_files: int = 64
    disk_mb: int = 64
    max_reply_mb: int = 4


@dataclass(frozen=True)
class Step:
    """Test source run by the judge; ``case`` is the test-case index, or None for set-up code."""

    src: str
    case: int | None = None


@dataclass
class JobResult:
    """Outcome of one job: which cases passed, which were judged outside the sandbox, the confinement."""

    passed: list[bool]
    judged: list[bool] = field(default_factory=list)
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
    # A uid that still owns zombies after the reap (left by an earlier job to an init that reaps them
    # late) would start with fewer processes than its limit allows: one without any comes first.
    for clean_only in (True, False):
        for uid in range(base, base + UID_SLOTS):
            fh = open(lock_dir / str(uid), "a+")  # noqa: SIM115 - held open while the slot is in use
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            try:
                _reap(uid)  # leftovers of a job whose parent died
                if clean_only and _has_processes(uid):
                    continue
                yield uid
            finally:
                fh.close()
            return
    raise RuntimeError(f"all {UID_SLOTS} sandbox uids from {base} are busy")


def _reap(uid: int | None) -> None:
    """Kill every process of ``uid`` (the whole job, whatever it forked or detached)."""
    if uid is None or not _has_processes(uid):  # the common case: no reaper process to start
        return
    subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), "--reap", str(uid)], check=True, timeout=60)


def _has_processes(uid: int) -> bool:
    """Does ``uid`` own any process, zombies included (they still count against RLIMIT_NPROC)?"""
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{name}").st_uid == uid:
                    return True
    return False


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


def _end_job(procs: Sequence[subprocess.Popen], uids: Sequence[int | None], cgroup) -> None:
    """Kill every process of the job, then wait for the launchers.

    As root, the sandbox uids are killed first and the launchers (root) get a moment to reap what
    was orphaned under them and exit: SIGKILLed first, they would leave those processes to the
    machine's init, as zombies of the uid that count against the next job's RLIMIT_NPROC.
    """
    if all(uid is not None for uid in uids):
        for uid in uids:
            _reap(uid)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=LAUNCHER_EXIT_S)
    for proc in procs:
        _kill_group(proc)
    if cgroup is not None:
        cgroup.kill()
    for uid in uids:
        _reap(uid)
    for proc in procs:
        proc.wait()


def _source(*names: str) -> str:
    return "\n".join((HERE / name).read_text(encoding="utf-8") for name in names)


class Sandbox:
    """Runs jobs (code + test steps) with ``limits``.

    ``python`` runs the code ("auto": the first interpreter the sandbox can run); ``launcher``:
    "bwrap", "builtin", or "auto" (bubblewrap when installed and working here, else built-in);
    ``fallback``: what happens to a case the judge cannot run on plain data ("fail", the default;
    "trust_candidate_process": run it in the candidate's process and take its pass flag, which the
    program can forge); ``workers`` and ``memory_total_mb`` size per-process memory limits where no
    job cgroup is available.
    """

    def __init__(
        self,
        limits: Limits,
        python: str = "auto",
        uid_base: int = 1_800_000_000,
        launcher: str = "auto",
        fallback: str = "fail",
        workers: int = 1,
        memory_total_mb: int | None = None,
        use_cgroups: bool = True,
    ) -> None:
        if launcher not in LAUNCHERS:
            raise ValueError(f"launcher must be one of {LAUNCHERS}, got {launcher!r}")
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
        self.limits = limits
        self.uid_base = uid_base
        self.fallback = fallback
        self.workers = workers
        self.memory_total_mb = memory_total_mb or isolation.physical_memory_mb() // 2
        self._launcher = launcher
        self._mode: str | None = None
        self._python = None if python == "auto" else os.path.realpath(python)
        self.cgroups = isolation.detect_cgroups() if use_cgroups else None
        self.bwrap = isolation.find_bwrap()
        self._runner = _source("_wire.py", "_runner.py")
        self._judge = _source("_wire.py", "_judge.py")
        if self.cgroups is not None:
            self.process_memory_mb = limits.memory_mb
        else:
            self.process_memory_mb = isolation.per_process_memory_mb(
                limits.memory_mb, limits.max_procs, limits.disk_mb, workers, self.memory_total_mb
            )
            if self.process_memory_mb < 64:
                raise ValueError(
                    f"memory_total_mb={self.memory_total_mb} leaves {self.process_memory_mb} MiB per process for "
                    f"{workers} workers × {limits.max_procs + isolation.JUDGE_PROCS} processes: raise it, or lower "
                    "workers / max_procs"
                )

    @property
    def launcher_choice(self) -> str:
        return self._launcher

    @property
    def memory_cap(self) -> str:
        """How a job's memory is capped: by a cgroup, or by per-process limits sized for the worst case."""
        if self.cgroups is not None:
            return f"cgroup {self.cgroups.kind}"
        return "rlimit"

    @property
    def python(self) -> str:
        """The interpreter that runs sandboxed code (probed once when set to "auto")."""
        self._resolve()
        assert self._python is not None
        return self._python

    @property
    def mode(self) -> str:
        """The launcher in use: "bwrap" or "builtin"."""
        self._resolve()
        assert self._mode is not None
        return self._mode

    def _resolve(self) -> None:
        if self._mode is not None and self._python is not None:
            return
        modes = {
            "auto": ["bwrap", "builtin"] if self.bwrap else ["builtin"],
            "bwrap": ["bwrap"],
            "builtin": ["builtin"],
        }[self._launcher]
        if self._launcher == "bwrap" and not self.bwrap:
            raise RuntimeError("launcher: bwrap, but bubblewrap (bwrap) is not installed")
        candidates = (
            [self._python]
            if self._python
            else [
                sys.executable,
                getattr(sys, "_base_executable", ""),
                os.path.realpath(sys.executable),
                "/usr/bin/python3",
                "/usr/local/bin/python3",
                shutil.which("python3") or "",
            ]
        )
        tried = []
        for mode in modes:
            for candidate in dict.fromkeys(os.path.realpath(c) for c in candidates if c and os.path.isfile(c)):
                tried.append(f"{candidate} ({mode})")
                try:
                    result = self._run(mode, candidate, "x = 1", [Step("assert x == 1", 0)], None)
                except rootfs.LayoutError:
                    continue
                if result.passed == [True]:
                    if mode != modes[0]:
                        log.warning("code_exec: bubblewrap does not work here; using the built-in launcher")
                    self._mode, self._python = mode, candidate
                    return
        raise RuntimeError("no Python interpreter runs inside the sandbox (tried: " + ", ".join(tried) + ")")

    def run(self, code: str, steps: Sequence[Step], entry_point: str | None = None) -> JobResult:
        """Run ``code`` and judge ``steps``; every case not reported passed by the judge counts as failed."""
        return self._run(self.mode, self.python, code, steps, entry_point)

    def _run(self, mode: str, python: str, code: str, steps: Sequence[Step], entry_point: str | None) -> JobResult:
        lim = self.limits
        with contextlib.ExitStack() as stack:
            uids: list[int | None] = [None, None]
            if is_root():
                uids = [stack.enter_context(_uid_slot(self.uid_base)) for _ in range(2)]
            cgroup = None
            if self.cgroups is not None:
                job_bytes = (lim.memory_mb + lim.disk_mb + isolation.SHM_MB) * 1024 * 1024
                cgroup = isolation.JobCgroup(self.cgroups, job_bytes, lim.max_procs + isolation.JUDGE_PROCS + 6)
                stack.callback(cgroup.remove)
            workdirs = []
            for uid in uids:
                workdir = _make_workdir(uid)
                stack.callback(_remove, workdir)
                workdirs.append(workdir)
            return self._run_in(mode, python, workdirs, uids, cgroup, code, steps, entry_point)

    def _spec(self, mode, python, workdir, uid, cgroup, source, max_procs):
        lim = self.limits
        return {
            "mode": mode,
            "bwrap": self.bwrap,
            "workdir": str(workdir),
            "uid": uid,
            "gid": uid,
            "python": python,
            "root": rootfs.layout(python, tuple(ENV.items())).to_spec(),
            "args": ["-I", "-c", source],
            "env": dict(ENV),
            "cpu_s": max(1, int(lim.timeout_s + 0.999)),
            "memory_mb": self.process_memory_mb,
            "max_procs": max_procs,
            "file_size_mb": lim.file_size_mb,
            "max_files": lim.max_files,
            "disk_mb": lim.disk_mb,
            "cgroup_procs": cgroup.procs_files if cgroup is not None else [],
        }

    def _run_in(self, mode, python, workdirs, uids, cgroup, code, steps, entry_point) -> JobResult:
        lim = self.limits
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        job = json.dumps(
            {
                "code": code,
                "entry_point": entry_point,
                "step_timeout_s": lim.step_timeout_s,
                "steps": [{"src": s.src, "case": s.case} for s in steps],
                "fallback": self.fallback,
                "req_fd": req_w,
                "resp_fd": resp_r,
                "max_reply_bytes": lim.max_reply_mb * 1024 * 1024,
            }
        )
        procs: list[subprocess.Popen] = []
        timed_out = False
        # Files, not pipes, for what the parent reads: processes left behind cannot stall it.
        with (
            tempfile.TemporaryFile() as job_in,
            tempfile.TemporaryFile() as verdicts,
            tempfile.TemporaryFile() as err_c,
            tempfile.TemporaryFile() as err_j,
        ):
            job_in.write(job.encode())
            job_in.seek(0)
            try:
                # (launcher spec, stdin, stdout, stderr, pass_fds): the stdio are fds or temp files
                specs: list[tuple[Any, Any, Any, Any, tuple[int, ...]]] = [
                    (
                        self._spec(mode, python, workdirs[0], uids[0], cgroup, self._runner, lim.max_procs),
                        req_r,
                        resp_w,
                        err_c,
                        (),
                    ),
                    (
                        self._spec(mode, python, workdirs[1], uids[1], cgroup, self._judge, isolation.JUDGE_PROCS),
                        job_in,
                        verdicts,
                        err_j,
                        (req_w, resp_r),
                    ),
                ]
                for spec, stdin, stdout, stderr, pass_fds in specs:
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(spec)],
                            stdin=stdin,
                            stdout=stdout,
                            stderr=stderr,
                            cwd=spec["workdir"],
                            env=dict(ENV),
                            start_new_session=True,
                            pass_fds=pass_fds,
                        )
                    )
            finally:
                for fd in (req_r, req_w, resp_r, resp_w):
                    os.close(fd)
            try:
                procs[1].wait(timeout=lim.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:  # whatever the code left behind dies with it
                _end_job(procs, uids, cgroup)
            verdicts.seek(0)
            err_c.seek(0)
            results, banner = verdicts.read(1 << 20), err_c.read(4096)
        n_cases = sum(1 for s in steps if s.case is not None)
        passed, judged = _parse_verdicts(results, n_cases)
        protections = _parse_banner(banner)
        if protections:
            protections["memory_cap"] = self.memory_cap
            protections["judge"] = True
        return JobResult(
            passed=passed, judged=judged, timed_out=timed_out, returncode=procs[0].returncode, protections=protections
        )


def _parse_verdicts(out: bytes, n_cases: int) -> tuple[list[bool], list[bool]]:
    """Per-case verdicts from the judge's lines ``{"case", "passed", "judged"}`` (first report wins)."""
    seen: dict[int, tuple[bool, bool]] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        with contextlib.suppress(ValueError):
            row = json.loads(line)
            if (
                type(row) is dict
                and type(row.get("case")) is int
                and type(row.get("passed")) is bool
                and type(row.get("judged")) is bool
                and 0 <= row["case"] < n_cases
            ):
                seen.setdefault(row["case"], (row["passed"], row["judged"]))
    return (
        [seen.get(i, (False, True))[0] for i in range(n_cases)],
        [seen.get(i, (False, True))[1] for i in range(n_cases)],
    )


def _parse_banner(err: bytes) -> dict[str, Any]:
    first = err.decode("utf-8", "replace").split("\n", 1)[0]
    if first.startswith(BANNER):
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(first[len(BANNER) :])
    return {}
