"""``srd code-exec doctor``: which protections the sandbox really has on this machine.

Each namespace, mount and limit is checked from *inside* a sandboxed job (the probe's answers come
back as plain data and are judged outside, like any test), not taken from the launcher's word.
"""

from __future__ import annotations

import os
import resource
import tempfile
import uuid
from dataclasses import dataclass

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
"""


def _host_ns(name: str) -> int:
    return os.stat(f"/proc/self/ns/{name}").st_ino


def checks(sandbox: Sandbox) -> list[Check]:
    """Run the probe job and turn its answers into checks (the first run also picks the launcher)."""
    out: list[Check] = []
    try:
        mode, python = sandbox.mode, sandbox.python
    except RuntimeError as exc:
        return [Check("sandbox", False, str(exc))]
    bwrap = sandbox.bwrap
    launcher = (f"bubblewrap ({isolation.bwrap_version(bwrap)}, {bwrap})" if mode == "bwrap"
                else "built-in launcher" + (" (chosen)" if sandbox.launcher_choice == "builtin" else
                                            " (bubblewrap installed but not working here)" if bwrap else
                                            " (bubblewrap not installed)"))
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
    for (name, _), passed in zip(cases, result.passed, strict=True):
        out.append(Check(name, passed, details.get(name, "new namespace" if passed else "shared with the host")))
    if escaped:
        os.unlink(marker)
    lim = sandbox.limits
    if sandbox.cgroups is not None:
        memory = Check("memory cap", True, f"{sandbox.memory_cap}: {lim.memory_mb} MiB (+ {lim.disk_mb} MiB tmpfs) "
                       f"per job, all its processes together")
    else:
        worst = sandbox.workers * ((lim.max_procs + isolation.JUDGE_PROCS) * sandbox.process_memory_mb
                                   + lim.disk_mb + isolation.SHM_MB)
        memory = Check("memory cap", True, f"no writable cgroup: per-process limits, {sandbox.process_memory_mb} MiB × "
                       f"{lim.max_procs + isolation.JUDGE_PROCS} processes + {lim.disk_mb} MiB tmpfs per job; worst "
                       f"case of {sandbox.workers} workers {worst} MiB ≤ memory_total_mb {sandbox.memory_total_mb}")
    out.append(memory)
    out.append(Check("cpu and wall limits", True, f"RLIMIT_CPU {max(1, int(lim.timeout_s + 0.999))} s per process, "
                     f"wall {lim.timeout_s} s per job, {lim.step_timeout_s} s per case", essential=False))
    separate = (result.protections.get("pid_namespace") and (is_root() or result.protections.get("user_namespace")))
    out.append(Check("verdicts out of reach", bool(separate),
                     "tests run in a separate judge process; the code's values cross as plain data"
                     if separate else "the judge and the code share a uid without pid namespaces"))
    out.append(Check("cleanup", bool(result.protections.get("pid_namespace")) or is_root(),
                     "processes die with the job's pid namespace" + (", its uid and cgroup" if is_root() else "")
                     + "; IPC objects with its IPC namespace"))
    hard = resource.getrlimit(resource.RLIMIT_NPROC)
    out.append(Check("running as", True, ("root: each job's two processes run as uids of their own" if is_root()
                                          else f"uid {os.getuid()} (RLIMIT_NPROC hard {hard[1]})"), essential=False))
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
    lines.append("all essential protections are active" if not missing else
                 "missing: " + ", ".join(missing) + " (require_isolation: true refuses to score)")
    return "\n".join(lines) + "\n"


