"""The sandbox's file system holds the interpreter and its stdlib only: nothing of the host is readable.

A candidate that knows where the answers live (the dataset's jsonl in the host's temp dir or under a
run dir) must not find them: it scores 0, where a view of the host's file system gives it 1.0. Nor
can it read /etc/passwd, another user's temp dir, model weights under a run dir or the source tree.
Every test runs with each launcher this machine has.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from code_exec_support import fast_metric, fenced, reflection, sample
from srd_code_exec import rootfs, sandbox
from srd_code_exec.doctor import checks
from srd_code_exec.sandbox import Step, is_root

LAUNCHERS = ["bwrap", "builtin"] if shutil.which("bwrap") else ["builtin"]


@pytest.fixture(scope="module", params=LAUNCHERS)
def metric(request):
    return fast_metric(launcher=request.param)


def _host_dirs() -> list[Path]:
    """Where a user's data may lie, readable by anyone: the host's temp dir and /var/tmp."""
    return list(dict.fromkeys(Path(d).resolve() for d in (tempfile.gettempdir(), "/var/tmp") if os.path.isdir(d)))


@pytest.fixture
def planted():
    """In each host dir, a world-readable dir with the dataset (tests and answers) and a run dir with weights."""
    expected = {x: random.randrange(10**9, 10**10) for x in (1, 2)}
    tests = [f"assert answer({x}) == {value}" for x, value in expected.items()]
    made, files = [], {}
    for parent in _host_dirs():
        top = Path(tempfile.mkdtemp(prefix="srd-planted-", dir=parent))
        made.append(top)
        (top / "run" / "models" / "student").mkdir(parents=True)
        (top / "answers.jsonl").write_text(json.dumps({"task_id": 1, "test_list": tests}) + "\n")
        (top / "run" / "data.jsonl").write_text(json.dumps({"task_id": 1, "test_list": tests}) + "\n")
        weights = top / "run" / "models" / "student" / "model.safetensors"
        weights.write_bytes(b"\x00" * 64)
        files.setdefault("weights", []).append(weights)
        files.setdefault("answers", []).append(top / "answers.jsonl")
        for path in [top, *top.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    yield tests, files
    for top in made:
        shutil.rmtree(top)


GLOB_FOR_ANSWERS = (
    "import glob, os, re\n"
    "ROOTS = {roots!r}\n"
    "def answer(x):\n"
    "    for root in ROOTS:\n"
    "        paths = glob.glob(os.path.join(root, '*.jsonl')) + glob.glob(os.path.join(root, '*', '*.jsonl'))\n"
    "        paths += glob.glob(os.path.join(root, '*', '*', '*.jsonl'))\n"
    "        for path in paths:\n"
    "            try:\n"
    "                with open(path) as fh:\n"
    "                    text = fh.read()\n"
    "            except OSError:\n"
    "                continue\n"
    "            m = re.search(r'answer\\(%d\\) == (\\d+)' % x, text)\n"
    "            if m:\n"
    "                return int(m.group(1))\n"
    "    return -1\n"
)


def test_planted_answer_files_are_not_found(metric, planted):
    tests, _ = planted
    code = GLOB_FOR_ANSWERS.format(roots=[str(d) for d in _host_dirs()])
    got = metric.score([sample(tests)], [reflection(fenced(code))])[0]
    assert got == 0.0


def test_host_files_are_invisible(metric, planted):
    _, files = planted
    other_user = Path(tempfile.mkdtemp(prefix="srd-other-user-"))
    try:
        (other_user / "notes.txt").write_text("private")
        os.chmod(other_user / "notes.txt", 0o644)
        os.chmod(other_user, 0o755)
        if is_root():
            os.chown(other_user, 65534, 65534)
        paths = [
            "/etc/passwd",
            "/etc/hostname",
            "/home",
            "/root",
            str(other_user / "notes.txt"),
            str(Path(__file__).resolve()),
            *(str(p) for p in files["weights"] + files["answers"]),
        ]
        site_packages = Path(shutil.__file__).parent / "site-packages"
        if site_packages.is_dir():  # the host's installed packages (torch, models shipped as packages)
            paths.append(str(site_packages / next(iter(os.listdir(site_packages)), "")))
        if os.path.isdir("/work"):
            paths.append("/work")
        # A directory the interpreter's own path goes through (e.g. /root/.pyenv/...) is there, holding that only.
        paths = [p for p in paths if not metric.sandbox.python.startswith(p + "/")]
        code = "import os\ndef seen(path):\n    return os.path.exists(path) or os.path.islink(path)\n"
        steps = [Step(f"assert not seen({p!r})", i) for i, p in enumerate(paths)]
        result = metric.sandbox.run(code, steps)
        assert dict(zip(paths, result.passed, strict=True)) == dict.fromkeys(paths, True)
    finally:
        shutil.rmtree(other_user)


def test_root_holds_only_what_the_interpreter_needs(metric):
    code = (
        "import os\ndef top():\n    return sorted(os.listdir('/'))\ndef etc():\n"
        "    return sorted(os.listdir('/etc')) if os.path.isdir('/etc') else []\n"
    )
    # A top-level name the interpreter's own path goes through (e.g. /root/.pyenv/...) is there, empty but for it.
    forbidden = {"home", "work", "srv", "root", "opt", "mnt", "media", "var", "boot", "sys", "run"}
    forbidden -= {Path(metric.sandbox.python).parts[1]}
    steps = [
        Step(f"assert not set(top()) & set({sorted(forbidden)!r})", 0),
        Step("assert {'proc', 'dev', 'tmp'} <= set(top())", 1),
        Step("assert set(etc()) <= {'ld.so.cache'}", 2),
    ]
    assert metric.sandbox.run(code, steps).passed == [True, True, True]


def test_stdlib_and_its_extension_modules_work(metric):
    code = (
        "import collections, ctypes, datetime, decimal, fractions, hashlib, heapq, itertools, json, math\n"
        "import multiprocessing, random, re, sqlite3, statistics, string, zlib, bz2, lzma\n"
        "def run():\n"
        "    db = sqlite3.connect(':memory:')\n"
        "    db.execute('create table t (x)')\n"
        "    db.execute('insert into t values (3)')\n"
        "    with open('scratch.txt', 'w') as fh:\n"
        "        fh.write('ok')\n"
        "    return [db.execute('select x from t').fetchone()[0], hashlib.sha256(b'').hexdigest()[:4],\n"
        "            len(zlib.compress(b'a' * 100)) < 100, open('scratch.txt').read(), ctypes.sizeof(ctypes.c_int)]\n"
    )
    assert metric.score([sample(["assert run() == [3, 'e3b0', True, 'ok', 4]"])], [reflection(fenced(code))]) == [1.0]


def test_doctor_plants_files_and_reports_them_hidden(metric, tmp_path):
    run_dir = tmp_path / "runs"
    run_dir.mkdir()
    row = next(c for c in checks(metric.sandbox, run_dir) if c.name == "host files hidden")
    assert row.active and row.essential and str(run_dir) in row.detail, row
    assert os.listdir(run_dir) == []  # the planted files are gone


def test_doctor_sees_a_leak(metric, monkeypatch):
    """The probe can fail: with the run dir bound into the job's root, doctor reports it visible."""
    run_dir = Path(tempfile.mkdtemp(prefix="srd-doctor-test-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    os.chmod(run_dir, 0o755)
    real = rootfs.layout

    def leaky(python, env):
        base = real(python, env)
        return rootfs.RootLayout((*base.dirs, str(run_dir)), base.files, base.symlinks, base.hidden)

    monkeypatch.setattr(sandbox.rootfs, "layout", leaky)
    try:
        row = next(c for c in checks(metric.sandbox, run_dir) if c.name == "host files hidden")
    finally:
        shutil.rmtree(run_dir)
    assert not row.active and str(run_dir) in row.detail, row


ESCAPES = (
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def _read(path):\n"
    "    try:\n"
    "        with open(path) as fh:\n"
    "            return fh.read()\n"
    "    except OSError:\n"
    "        return None\n"
    "def through_proc(path):\n"
    "    tries = ['/proc/self/root' + path, '/proc/self/cwd/../../..' + path]\n"
    "    for pid in os.listdir('/proc'):\n"
    "        if pid.isdigit():\n"
    "            tries += [f'/proc/{pid}/root{path}', f'/proc/{pid}/cwd/../../..{path}']\n"
    "    return next((t for t in map(_read, tries) if t), '')\n"
    "def through_chroot(path):\n"
    "    if libc.unshare(0x10000000 | 0x00020000) != 0:  # a user and mount namespace of its own\n"
    "        return ''\n"
    "    os.makedirs('jail', exist_ok=True)\n"
    "    libc.chroot(b'jail')\n"
    "    for _ in range(64):\n"
    "        os.chdir('..')\n"
    "    libc.chroot(b'.')\n"
    "    return _read(path) or ''\n"
    "def through_mounts(path):\n"
    "    if libc.unshare(0x10000000 | 0x00020000) != 0:\n"
    "        return ''\n"
    "    for source in (b'/', b'/proc/1/root', b'/dev/vda', b'/dev/sda'):\n"
    "        os.makedirs('m', exist_ok=True)\n"
    "        libc.mount(source, b'm', None, 4096 | 16384, None)  # MS_BIND | MS_REC\n"
    "        found = _read('m' + path)\n"
    "        if found:\n"
    "            return found\n"
    "    return ''\n"
)


def test_escapes_to_the_host_tree_find_nothing(metric, planted):
    """/proc/<pid>/root and cwd, a chroot break-out in a user namespace of its own, bind mounts: no host file."""
    _, files = planted
    target = str(files["answers"][-1])  # /var/tmp where it exists: outside bubblewrap's /tmp too
    content = Path(target).read_text()
    steps = [
        Step(f"assert {name}({target!r}) == {content!r}", i)
        for i, name in enumerate(("through_proc", "through_chroot", "through_mounts"))
    ]
    assert metric.sandbox.run(ESCAPES, steps).passed == [False, False, False]


def test_a_root_that_cannot_be_built_is_reported_not_hidden(monkeypatch, caplog):
    """Built-in launcher: where the job's root cannot be made, the job still runs (own /proc, sized
    tmpfs work dir) but reports no file-system confinement, and the metric says so."""
    real = rootfs.layout

    def broken(python, env):
        base = real(python, env)
        return rootfs.RootLayout(base.dirs, (*base.files, "/nonexistent/srd-test-lib.so"), base.symlinks, base.hidden)

    # On the host's tree the interpreter must be reachable by the job's uid (as root, not one under /root).
    reachable = [
        p
        for p in (os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3")
        if os.path.isfile(p) and (not is_root() or all(os.stat(d).st_mode & stat.S_IXOTH for d in Path(p).parents))
    ]
    metric = fast_metric(launcher="builtin", **({"python": reachable[0]} if reachable else {}))
    metric.sandbox.python  # noqa: B018 - picks the interpreter with the real layout first
    monkeypatch.setattr(sandbox.rootfs, "layout", broken)
    result = metric.sandbox.run("def add(a, b):\n    return a + b\n", [Step("assert add(1, 2) == 3", 0)])
    assert result.protections["filesystem"] is False and result.protections["disk_cap"] is True
    if reachable:
        assert result.passed == [True]
    with caplog.at_level("WARNING", logger="srd.code_exec"):
        metric._check_protections(result)
    assert "filesystem" in caplog.text
