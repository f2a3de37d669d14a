"""What this machine offers the sandbox: bubblewrap, cgroups for a per-job memory cap, memory sizing.

A job's memory is capped as a whole where a writable cgroup with a memory controller exists (cgroup
v2 ``memory.max``/``pids.max``, else cgroup v1 ``memory.limit_in_bytes``/``pids.max``; root only):
every process of the job and its tmpfs pages count. Elsewhere only per-process limits exist, so they
are sized for the worst case: ``workers`` jobs × (candidate and judge processes × address space +
tmpfs) must fit in ``memory_total_mb``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

JUDGE_PROCS = 4  # processes (threads count too) the judge may have
SHM_MB = 1  # the job's /dev/shm


def _mountinfo() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fs type, super options) of every mount."""
    rows = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            left, right = line.split(" - ", 1)
            fields, tail = left.split(), right.split()
            rows.append((fields[3], fields[4], tail[0], tail[2] if len(tail) > 2 else ""))
    return rows


def _own_cgroups() -> dict[str, str]:
    """controller (or "" for v2) → this process's cgroup path."""
    out = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup", encoding="utf-8") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    return out


def _base(mount_root: str, mount_point: str, path: str) -> Path | None:
    if not path.startswith(mount_root):
        return None
    return Path(mount_point + "/" + path[len(mount_root) :].lstrip("/"))


def _writable_child(base: Path, needed: str) -> bool:
    probe = base / f"srd-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        return (probe / needed).exists()
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


@dataclass(frozen=True)
class CgroupSupport:
    """Where jobs get their cgroups: ``kind`` "v2" or "v1"; ``memory``/``pids`` are parent dirs."""

    kind: str
    memory: Path
    pids: Path | None


def detect_cgroups() -> CgroupSupport | None:
    """A cgroup hierarchy where this process may create job cgroups with a memory limit (root only)."""
    if os.geteuid() != 0:
        return None
    own = _own_cgroups()
    mounts = _mountinfo()
    for root, point, fstype, _ in mounts:
        if fstype == "cgroup2" and "" in own:
            base = _base(root, point, own[""])
            if base is not None and _writable_child(base, "memory.max"):
                pids = base if _writable_child(base, "pids.max") else None
                return CgroupSupport("v2", base, pids)
    found: dict[str, Path] = {}
    for root, point, fstype, options in mounts:
        if fstype != "cgroup":
            continue
        for controller in ("memory", "pids"):
            if controller in options.split(",") and controller in own:
                base = _base(root, point, own[controller])
                needed = "memory.limit_in_bytes" if controller == "memory" else "pids.max"
                if base is not None and controller not in found and _writable_child(base, needed):
                    found[controller] = base
    if "memory" in found:
        return CgroupSupport("v1", found["memory"], found.get("pids"))
    return None


class JobCgroup:
    """The cgroup(s) of one job: created with limits, emptied (SIGKILL) and removed at the end."""

    def __init__(self, support: CgroupSupport, memory_bytes: int, max_pids: int) -> None:
        self.support = support
        name = f"srd-code-exec-{uuid.uuid4().hex[:12]}"
        self.dirs = [support.memory / name]
        if support.pids is not None and support.pids != support.memory:
            self.dirs.append(support.pids / name)
        for d in self.dirs:
            d.mkdir()
        try:
            mem = self.dirs[0]
            if support.kind == "v2":
                (mem / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (mem / "memory.swap.max").write_text("0")
                if support.pids is not None:
                    (mem / "pids.max").write_text(str(max_pids))
            else:
                (mem / "memory.limit_in_bytes").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (mem / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
                if support.pids is not None:
                    (self.dirs[-1] / "pids.max").write_text(str(max_pids))
        except OSError:
            self.remove()
            raise

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return sorted(out)

    def kill(self) -> None:
        """SIGKILL every process of the job (cgroup.kill where the kernel has it)."""
        if self.support.kind == "v2":
            with contextlib.suppress(OSError):
                (self.dirs[0] / "cgroup.kill").write_text("1")
        for _ in range(2000):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)

    def remove(self) -> None:
        self.kill()
        for d in self.dirs:
            for _ in range(500):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.004)

    def peak_bytes(self) -> int | None:
        for name in ("memory.peak", "memory.max_usage_in_bytes"):
            with contextlib.suppress(OSError, ValueError):
                return int((self.dirs[0] / name).read_text())
        return None


def find_bwrap() -> str | None:
    """The bubblewrap binary, if installed."""
    return shutil.which("bwrap")


def bwrap_version(path: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    return "unknown"


def physical_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


def per_process_memory_mb(memory_mb: int, max_procs: int, disk_mb: int, workers: int, total_mb: int) -> int:
    """Without a job cgroup: the address-space limit that makes the worst case fit in ``total_mb``.

    Worst case = workers × ((max_procs + JUDGE_PROCS) × limit + disk_mb + SHM_MB).
    """
    per_job = total_mb // workers - disk_mb - SHM_MB
    return min(memory_mb, per_job // (max_procs + JUDGE_PROCS))
