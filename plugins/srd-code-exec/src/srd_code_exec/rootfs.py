"""What a sandboxed job's file system holds: the interpreter, its standard library and the shared
libraries it loads, nothing else of the host.

The interpreter is asked once (``python -I -S``, with the sandbox's environment) where its standard
library is; it then imports every extension module of its ``lib-dynload`` and reports the files its
process maps (``/proc/self/maps``): the interpreter, ``libpython``, libc, the dynamic loader, the
libraries of ``_ssl``, ``_sqlite3``, ``zlib`` ... and the locale data. Each launcher builds the job's
root from this layout on an empty tmpfs (read-only binds at the same paths, the symlinks through
which the loader finds them, a fresh ``/proc`` and ``/dev``, the work dir on ``/tmp``): no host
``/tmp``, ``/home``, ``/root``, ``/etc`` (but the loader's cache), run dir or dataset is in it.
Installed packages (``site-packages``, ``dist-packages``) are shown empty.
"""

from __future__ import annotations

import functools
import json
import os
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

QUERY = r"""
import importlib, json, os, sys, sysconfig
dirs = [sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")]
dynload = [p for p in sys.path if os.path.basename(p) == "lib-dynload" and os.path.isdir(p)]
for d in dynload:
    for name in sorted(os.listdir(d)):
        module = name.split(".")[0]
        if name.endswith(".so") and not module.startswith(("_test", "_xx", "xx", "_ctypes_test", "_tkinter")):
            try:
                importlib.import_module(module)
            except BaseException:
                pass
mapped = set()
with open("/proc/self/maps") as fh:
    for line in fh:
        parts = line.rstrip("\n").split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/") and not parts[5].endswith("(deleted)"):
            mapped.add(parts[5])
sys.stdout.write("\nSRD-LAYOUT " + json.dumps({"dirs": dirs + dynload, "mapped": sorted(mapped)}) + "\n")
"""
HIDDEN_NAMES = ("site-packages", "dist-packages")  # installed packages: not the interpreter's to bring
LOADER_CACHE = "/etc/ld.so.cache"  # where the dynamic loader looks libraries up (no data of the host)
PT_INTERP = 3


class LayoutError(RuntimeError):
    """The interpreter could not say what it needs."""


@dataclass(frozen=True)
class RootLayout:
    """Host paths bound read-only at the same place (``dirs``, ``files``), symlinks recreated
    (path → target, in creation order), and directories inside ``dirs`` shown empty (``hidden``)."""

    dirs: tuple[str, ...]
    files: tuple[str, ...]
    symlinks: tuple[tuple[str, str], ...] = field(default=())
    hidden: tuple[str, ...] = field(default=())

    def to_spec(self) -> dict:
        return {
            "dirs": list(self.dirs),
            "files": list(self.files),
            "symlinks": [list(s) for s in self.symlinks],
            "hidden": list(self.hidden),
        }


def _inside(path: str, dirs: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def elf_interpreter(path: str) -> str | None:
    """The dynamic loader an ELF executable names (PT_INTERP), or None (static, not ELF)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[:4] != b"\x7fELF" or head[4] not in (1, 2):
                return None
            is64, order = head[4] == 2, "<" if head[5] == 1 else ">"
            if is64:
                phoff, phentsize, phnum = (
                    struct.unpack_from(order + "Q", head, 32)[0],
                    *struct.unpack_from(order + "HH", head, 54),
                )
            else:
                phoff, phentsize, phnum = (
                    struct.unpack_from(order + "I", head, 28)[0],
                    *struct.unpack_from(order + "HH", head, 42),
                )
            for i in range(phnum):
                fh.seek(phoff + i * phentsize)
                entry = fh.read(phentsize)
                if struct.unpack_from(order + "I", entry, 0)[0] != PT_INTERP:
                    continue
                offset, size = (
                    struct.unpack_from(order + "QQQQ", entry, 8)[0:4:3]
                    if is64
                    else struct.unpack_from(order + "IIII", entry, 4)[0:4:3]
                )
                fh.seek(offset)
                return fh.read(size).rstrip(b"\0").decode()
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


def symlinks_on_the_way(path: str, out: dict[str, str], depth: int = 0) -> str:
    """Resolve ``path`` component by component, recording every symlink met (link → its text) in
    ``out``; returns the real path. Recreating those links makes ``path`` resolve the same way."""
    if depth > 40:
        return os.path.realpath(path)
    current = "/"
    for part in Path(os.path.normpath(path)).parts[1:]:
        step = os.path.join(current, part)
        if os.path.islink(step):
            target = os.readlink(step)
            out[step] = target
            current = symlinks_on_the_way(os.path.normpath(os.path.join(current, target)), out, depth + 1)
        else:
            current = step
    return current


def _soname_links(files: list[str], out: dict[str, str]) -> None:
    """Links next to each library that resolve to it (``libz.so.1 -> libz.so.1.2.13``): names the loader asks for."""
    wanted = set(files)
    for directory in sorted({os.path.dirname(f) for f in files}):
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink() and os.path.realpath(entry.path) in wanted:
                symlinks_on_the_way(entry.path, out)


def _top_level_aliases(bound: list[str], out: dict[str, str]) -> None:
    """Top-level links such as ``/lib -> usr/lib`` (merged /usr) through which bound paths are reached."""
    for entry in os.scandir("/"):
        if entry.is_symlink():
            real = os.path.realpath(entry.path)
            if any(_inside(b, [real]) for b in bound):
                symlinks_on_the_way(entry.path, out)


def _query(python: str, env: dict[str, str]) -> dict:
    try:
        proc = subprocess.run(
            [python, "-I", "-S", "-c", QUERY], capture_output=True, text=True, env=env, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise LayoutError(f"{python}: {exc}") from None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("SRD-LAYOUT "):
            return json.loads(line[len("SRD-LAYOUT ") :])
    raise LayoutError(f"{python} did not report its layout (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")


@functools.lru_cache(maxsize=8)
def layout(python: str, env_items: tuple[tuple[str, str], ...]) -> RootLayout:
    """The file system a job running ``python`` (a real path) needs, asked of that interpreter."""
    found = _query(python, dict(env_items))
    dirs = sorted({os.path.realpath(d) for d in found["dirs"] if d and os.path.isdir(d)})
    dirs = [d for d in dirs if not _inside(d, [o for o in dirs if o != d])]  # the outermost only
    mapped = {os.path.realpath(python)}
    mapped.update(os.path.realpath(f) for f in found["mapped"] if os.path.isfile(f))
    if os.path.isfile(LOADER_CACHE):
        mapped.add(LOADER_CACHE)
    files = sorted(f for f in mapped if not _inside(f, dirs))
    links: dict[str, str] = {}
    loader = elf_interpreter(python)
    if loader:
        files = sorted({*files, symlinks_on_the_way(loader, links)})
    _soname_links(files, links)
    _top_level_aliases(dirs + files, links)
    hidden = sorted(
        path for path in (os.path.join(d, name) for d in dirs for name in HIDDEN_NAMES) if os.path.isdir(path)
    )
    # Links the binds cover already (a link inside a bound dir) need not, and cannot, be made.
    symlinks = tuple((p, t) for p, t in sorted(links.items(), key=lambda kv: kv[0].count("/")) if not _inside(p, dirs))
    return RootLayout(tuple(dirs), tuple(files), symlinks, tuple(hidden))
