"""``srd code-exec doctor``: which protections the sandbox really has on this machine.

Each namespace, mount and limit is checked from *inside* a sandboxed job (the probe's answers come
back as plain data and are judged outside, like any test), not taken from the launcher's word.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from srd_code_exec import isolation
from srd_code_exec.sandbox import Sandbox, Step, is_root

NAMESPACES = ("user", "ipc", "uts", "pid", "mnt", "net")


@dataclass(frozen=True)
class Check:
    name: str
    active: bool
    detail: str
    essential: bool = True


PROBE = """
import os, socket
def ns(name):
    return os.stat('/proc/self/ns/' + name).st_ino
def pids():
    return len([d for d in os.listdir('/proc') if d.isdigit()])
def nics():
    return sorted(name for _, name in socket.if_nameindex())
def writes(path):
    try:
        with open(path, 'w') as fh:
            fh.write('x')
        return True
    except OSError:
        return False
def disk():
    st = os.statvfs('.')
    return st.f_blocks * st.f_frsize
def fds():
    return sorted(int(fd) for fd in os.listdir('/proc/self/fd'))
def uid():
    return os.getuid()
def visible(path):
    return os.path.exists(path) or os.path.islink(path)
"""


def _host_ns(name: str) -> int:
    return os.stat(f"/proc/self/ns/{name}").st_ino


@contextlib.contextmanager
def planted_files(run_dir: Path) -> Iterator[dict[str, str | None]]:
    """World-readable marker files, like a dataset's jsonl, in the host's temp dir and in ``run_dir``
    (None where that dir is not writable); removed afterwards."""
    made: list[Path] = []
    planted: dict[str, str | None] = {}
    for where, parent in (("temp dir", Path(tempfile.gettempdir())), ("run dir", run_dir)):
        try:
            top = Path(tempfile.mkdtemp(prefix=".srd-doctor-", dir=parent))
        except OSError:
            planted[where] = None
            continue
        made.append(top)
        marker = top / "answers.jsonl"
        marker.write_text('{"test_list": ["assert answer() == 42"]}\n')
        os.chmod(marker, 0o644)
        os.chmod(top, 0o755)
        planted[where] = str(marker)
    try:
        yield planted
    finally:
        for top in made:
            shutil.rmtree(top, ignore_errors=True)


def _host_files_check(planted: dict[str, str | None], seen: dict[str, bool]) -> Check:
    """One line: did the job see any planted file or /etc/passwd?"""
    leaked = [path for path, was_seen in seen.items() if was_seen]
    unchecked = [where for where, path in planted.items() if path is None]
    if leaked:
        return Check("host files hidden", False, "the job sees " + ", ".join(leaked))
    where = " and in ".join(f"the {w} ({os.path.dirname(os.path.dirname(p))})" for w, p in planted.items() if p)
    detail = (
        f"files planted in {where} are invisible, and so is /etc/passwd: the job's root holds the "
        "interpreter, its stdlib and libraries only"
    )
    if unchecked:
        detail += f" ({', '.join(unchecked)} not writable: not checked there)"
    return Check("host files hidden", True, detail)


def checks(sandbox: Sandbox, run_dir: Path | None = None) -> list[Check]:
    """Run the probe job and turn its answers into checks (the first run also picks the launcher).

    ``run_dir`` (default: the current directory) is where a file is planted that stands for a run
    dir's content; another goes to the host's temp dir. The job must see neither.
    """
    with planted_files(Path(run_dir) if run_dir is not None else Path.cwd()) as planted:
        return _checks(sandbox, planted)


def _checks(sandbox: Sandbox, planted: dict[str, str | None]) -> list[Check]:
    out: list[Check] = []
    try:
        mode, python = sandbox.mode, sandbox.python
    except RuntimeError as exc:
        return [Check("sandbox", False, str(exc))]
    bwrap = sandbox.bwrap
    launcher = (
        f"bubblewrap ({isolation.bwrap_version(bwrap)}, {bwrap})"
        if mode == "bwrap" and bwrap is not None
        else "built-in launcher"
        + (
            " (chosen)"
            if sandbox.launcher_choice == "builtin"
            else " (bubblewrap installed but not working here)"
            if bwrap
            else " (bubblewrap not installed)"
        )
    )
    out.append(Check("launcher", True, f"{launcher}; interpreter {python}", essential=False))
    marker = os.path.join(tempfile.gettempdir(), f"srd-doctor-{uuid.uuid4().hex}")
    host_pids = len([d for d in os.listdir("/proc") if d.isdigit()])
    cases = [(f"{name} namespace", f"assert ns({name!r}) != {_host_ns(name)}") for name in NAMESPACES]
    disk_bytes = sandbox.limits.disk_mb * 1024 * 1024
    cases += [
        ("own /proc", "assert pids() <= 8"),
        ("no network", "assert nics() in ([], ['lo'])"),
        ("read-only file system", f"assert writes({marker!r}) in (True, False)"),
        ("disk cap (tmpfs work dir)", f"assert 0 < disk() <= {disk_bytes}"),
        ("no inherited descriptors", "assert set(fds()) <= {0, 1, 2, 3, 10, 11}"),
        ("unprivileged uid", "assert uid() != 0"),
    ]
    hidden = [p for p in planted.values() if p] + ["/etc/passwd"]
    cases += [(f"hidden {path}", f"assert not visible({path!r})") for path in hidden]
    result = sandbox.run(PROBE, [Step(src, i) for i, (_, src) in enumerate(cases)])
    details = {
        "own /proc": f"the job sees its own processes only (the host has {host_pids})",
        "no network": "only a loopback interface, down",
        "read-only file system": "writes outside the work dir fail",
        "disk cap (tmpfs work dir)": f"work dir on a {sandbox.limits.disk_mb} MiB tmpfs, gone after the job",
        "no inherited descriptors": "only stdin/stdout/stderr and the two channel pipes",
        "unprivileged uid": "the code never runs as root",
    }
    escaped = os.path.exists(marker)
    result.passed[[n for n, _ in cases].index("read-only file system")] = not escaped
    seen = {}
    for (name, _), passed in zip(cases, result.passed, strict=True):
        if name.startswith("hidden "):
            seen[name[len("hidden ") :]] = not passed
            continue
        out.append(Check(name, passed, details.get(name, "new namespace" if passed else "shared with the host")))
    out.append(_host_files_check(planted, seen))
    if escaped:
        os.unlink(marker)
    lim = sandbox.limits
    if sandbox.cgroups is not None:
        memory = Check(
            "memory cap",
            True,
            f"{sandbox.memory_cap}: {lim.memory_mb} MiB (+ {lim.disk_mb} MiB tmpfs) "
            f"per job, all its processes together",
        )
    else:
        worst = sandbox.workers * (
            (lim.max_procs + isolation.JUDGE_PROCS) * sandbox.process_memory_mb + lim.disk_mb + isolation.SHM_MB
        )
        memory = Check(
            "memory cap",
            True,
            f"no writable cgroup: per-process limits, {sandbox.process_memory_mb} MiB × "
            f"{lim.max_procs + isolation.JUDGE_PROCS} processes + {lim.disk_mb} MiB tmpfs per job; worst "
            f"case of {sandbox.workers} workers {worst} MiB ≤ memory_total_mb {sandbox.memory_total_mb}",
        )
    out.append(memory)
    out.append(
        Check(
            "cpu and wall limits",
            True,
            f"RLIMIT_CPU {max(1, int(lim.timeout_s + 0.999))} s per process, "
            f"wall {lim.timeout_s} s per job, {lim.step_timeout_s} s per case",
            essential=False,
        )
    )
    separate = result.protections.get("pid_namespace") and (is_root() or result.protections.get("user_namespace"))
    out.append(
        Check(
            "verdicts out of reach",
            bool(separate),
            "tests run in a separate judge process; the code's values cross as plain data"
            if separate
            else "the judge and the code share a uid without pid namespaces",
        )
    )
    out.append(
        Check(
            "cleanup",
            bool(result.protections.get("pid_namespace")) or is_root(),
            "processes die with the job's pid namespace"
            + (", its uid and cgroup" if is_root() else "")
            + "; IPC objects with its IPC namespace",
        )
    )
    hard = resource.getrlimit(resource.RLIMIT_NPROC)
    out.append(
        Check(
            "running as",
            True,
            (
                "root: each job's two processes run as uids of their own"
                if is_root()
                else f"uid {os.getuid()} (RLIMIT_NPROC hard {hard[1]})"
            ),
            essential=False,
        )
    )
    return out


def missing_protections(sandbox: Sandbox) -> list[str]:
    """Names of essential protections that are not active here (for ``require_isolation``)."""
    return [c.name for c in checks(sandbox) if c.essential and not c.active]


def render(rows: list[Check]) -> str:
    width = max(len(c.name) for c in rows)
    lines = []
    for c in rows:
        mark = "ok" if c.active else ("MISSING" if c.essential else "off")
        lines.append(f"{mark:>7}  {c.name:<{width}}  {c.detail}")
    missing = [c.name for c in rows if c.essential and not c.active]
    lines.append("")
    lines.append(
        "all essential protections are active"
        if not missing
        else "missing: " + ", ".join(missing) + " (require_isolation: true refuses to score)"
    )
    return "\n".join(lines) + "\n"
