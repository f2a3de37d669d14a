"""Hostile code written against this harness: each snippet scores 0 or is contained, and nothing is left.

Every test names the outcome it expects (a score, and where the attack aims at the host, that its
effect did not happen). A module fixture compares processes, SysV IPC objects, /dev/shm, work dirs
and job cgroups before and after the whole module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from code_exec_support import fast_metric, fenced, live_sandbox_processes, reflection, sample
from srd_code_exec.sandbox import is_root

LAUNCHERS = ["bwrap", "builtin"] if shutil.which("bwrap") else ["builtin"]


def _sysv() -> dict[str, int]:
    out = {}
    for kind in ("shm", "msg", "sem"):
        with open(f"/proc/sysvipc/{kind}") as fh:
            out[kind] = len(fh.readlines()) - 1
    return out


def _state() -> dict:
    tmp = tempfile.gettempdir()
    cgroups = []
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified"):
        for dirpath, dirnames, _ in os.walk(base):
            cgroups += [d for d in dirnames if d.startswith("srd-code-exec-")]
            if dirpath.count("/") > 6:
                dirnames[:] = []
    return {
        "processes": live_sandbox_processes(),
        "sysv": _sysv(),
        "dev_shm": sorted(os.listdir("/dev/shm")),
        "workdirs": sorted(p for p in os.listdir(tmp) if p.startswith("srd-code-exec-") and p != "srd-code-exec-uids"),
        "cgroups": sorted(cgroups),
    }


@pytest.fixture(scope="module", autouse=True)
def nothing_left():
    before = _state()
    yield
    time.sleep(0.2)
    assert _state() == before


@pytest.fixture(scope="module", params=LAUNCHERS)
def metric(request):
    return fast_metric(launcher=request.param)


def score(metric, code, tests, entry_point=None) -> float:
    return metric.score([sample(tests, entry_point)], [reflection(fenced(code))])[0]


FORGE_LINES = (
    'LINES = [b\'{"case": %d, "passed": true, "judged": true}\\n\' % i for i in range(8)]\n'
    'LINES += [b\'{"id": %d, "value": 4, "passed": true, "ok": true}\\n\' % i for i in range(1, 50)]\n'
)
# Forged replies can only carry values; 4 (what they carry) is no expected value here.
TESTS = ["assert False", "assert f(2) == 5", "assert f(3) == 10", "assert 1 == 2"]


# --- reaching the harness: frames, gc, descriptors, patched functions ---------------------------


def test_frame_walking_writes_forged_reports(metric):
    code = FORGE_LINES + (
        "import sys\n"
        "def f(x):\n"
        "    frame = sys._getframe()\n"
        "    while frame is not None:\n"
        "        for value in list(frame.f_globals.values()) + list(frame.f_locals.values()):\n"
        "            for line in LINES:\n"
        "                try:\n"
        "                    value.write(line)\n"
        "                except Exception:\n"
        "                    pass\n"
        "        frame = frame.f_back\n"
        "    return 0\n"
    )
    assert score(metric, code, TESTS) == 0.0


def test_gc_scan_writes_forged_reports_and_rewrites_jobs(metric):
    code = FORGE_LINES + (
        "import gc\n"
        "def f(x):\n"
        "    for obj in gc.get_objects():\n"
        "        if hasattr(obj, 'write'):\n"
        "            for line in LINES:\n"
        "                try:\n"
        "                    obj.write(line)\n"
        "                except Exception:\n"
        "                    pass\n"
        "        if isinstance(obj, dict) and 'steps' in obj:\n"
        "            obj['steps'] = []\n"
        "    return 0\n"
    )
    assert score(metric, code, TESTS) == 0.0


def test_writes_to_every_inherited_descriptor(metric):
    code = FORGE_LINES + (
        "import os\n"
        "for fd in range(256):\n"
        "    for line in LINES:\n"
        "        try:\n"
        "            os.write(fd, line)\n"
        "        except OSError:\n"
        "            pass\n"
        "def f(x):\n"
        "    return 0\n"
    )
    assert score(metric, code, TESTS) == 0.0


def test_only_the_channel_descriptors_are_inherited(metric):
    code = (
        "import os, stat\n"
        "def extra():\n"
        "    fds = [int(fd) for fd in os.listdir('/proc/self/fd')]\n"
        "    out = []\n"
        "    for fd in fds:\n"
        "        try:\n"
        "            mode = os.fstat(fd).st_mode\n"
        "        except OSError:\n"
        "            continue\n"
        "        if fd > 2 and not stat.S_ISFIFO(mode):\n"
        "            out.append(fd)\n"
        "    return out\n"
    )
    # Only the two pipes of the channel besides 0/1/2; the directory listing's own fd is closed by then.
    assert score(metric, code, ["assert extra() == []"]) == 1.0


def test_patched_runner_functions_forge_nothing(metric):
    code = (
        "import sys, json\n"
        "g = sys._getframe(1).f_globals if sys._getframe(1) else {}\n"
        "def f(x):\n"
        "    return 0\n"
        "for frame_globals in [g]:\n"
        "    frame_globals['encode'] = lambda v, depth=0: {'t': 'eq', 'v': []}\n"
        "    real_dumps = json.dumps\n"
        "    json.dumps = lambda msg, **k: real_dumps({**msg, 'passed': True, 'ok': True}, **k)\n"
    )
    assert score(metric, code, TESTS) == 0.0


def test_reading_the_tests_gives_no_expected_values(metric):
    code = (
        "import gc, re\n"
        "def f(x):\n"
        "    for obj in gc.get_objects():\n"
        "        if isinstance(obj, str) and '==' in obj:\n"
        "            m = re.search(r'f\\(' + str(x) + r'\\) == (\\d+)', obj)\n"
        "            if m:\n"
        "                return int(m.group(1))\n"
        "    return -1\n"
    )
    assert score(metric, code, ["assert f(2) == 17", "assert f(3) == 23"]) == 0.0


# --- forged values: always-equal objects, subclasses, shadowed builtins -----------------------------


ALWAYS_EQUAL = (
    "class Eq:\n"
    "    def __eq__(self, other): return True\n"
    "    def __ne__(self, other): return False\n"
    "    def __bool__(self): return True\n"
    "    def __lt__(self, other): return True\n"
    "    def __hash__(self): return 0\n"
)


def test_always_equal_object_mbpp(metric):
    assert score(metric, ALWAYS_EQUAL + "def f(x):\n    return Eq()", TESTS[1:3]) == 0.0


def test_always_equal_object_humaneval(metric):
    check = "def check(candidate):\n    assert candidate(2) == 4\n    assert abs(candidate(3) - 9) < 1e-9\n"
    assert score(metric, ALWAYS_EQUAL + "def sq(x):\n    return Eq()", check, "sq") == 0.0


def test_always_true_object_for_bare_asserts(metric):
    assert (
        score(
            metric, ALWAYS_EQUAL + "def is_prime(x):\n    return Eq()", ["assert is_prime(7)", "assert not is_prime(8)"]
        )
        == 0.0
    )


def test_str_and_int_subclasses_lose_their_eq(metric):
    code = (
        "class S(str):\n    def __eq__(self, o): return True\n    __hash__ = str.__hash__\n"
        "class I(int):\n    def __eq__(self, o): return True\n    __hash__ = int.__hash__\n"
        "def s(x):\n    return S('nope')\n"
        "def i(x):\n    return I(-1)\n"
        "def l(x):\n    return [I(-1), S('nope')]\n"
    )
    assert score(metric, code, ["assert s(1) == 'abc'", "assert i(1) == 5", "assert l(1) == [5, 'abc']"]) == 0.0


def test_shadowed_builtins_used_by_the_tests(metric):
    code = (
        "def sorted(*a, **k):\n    return [1, 2, 3]\n"
        "def set(*a):\n    return {1, 2}\n"
        "def abs(x):\n    return 0\n"
        "import builtins\nbuiltins.len = lambda x: 3\nbuiltins.sorted = sorted\n"
        "def f(x):\n    return [9, 9]\n"
    )
    tests = [
        "assert sorted(f(1)) == [1, 2, 3]",
        "assert set(f(1)) == {1, 2}",
        "assert abs(f(1)[0] - 1) < 1e-9",
        "assert len(f(1)) == 3",
    ]
    assert score(metric, code, tests) == 0.0


def test_raised_exception_names_do_not_pass_asserts(metric):
    code = "class AssertionError(Exception):\n    pass\ndef f(x):\n    raise AssertionError()\n"
    assert score(metric, code, ["assert f(1) == 1", "assert f(2) is None"]) == 0.0


def test_deep_and_cyclic_values_fail_cleanly(metric):
    code = (
        "def deep(x):\n    v = []\n    for _ in range(10000):\n        v = [v]\n    return v\n"
        "def cyc(x):\n    v = []\n    v.append(v)\n    return v\n"
    )
    assert score(metric, code, ["assert deep(1) == 1", "assert cyc(1) == [[]]"]) == 0.0


# --- IPC kept across jobs ---------------------------------------------------------------------------

SYSV = (
    "import ctypes, ctypes.util\n"
    "libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)\n"
    "libc.shmat.restype = ctypes.c_void_p\n"
    "KEY = 0x5ED0C0DE\n"
    "def plant():\n"
    "    sid = libc.shmget(KEY, 64 * 1024 * 1024, 0o1666)\n"
    "    addr = libc.shmat(sid, None, 0)\n"
    "    ctypes.memmove(addr, b'secret', 6)\n"
    "    libc.msgget(KEY, 0o1666)\n"
    "    libc.semget(KEY, 1, 0o1666)\n"
    "    return sid >= 0\n"
    "def read():\n"
    "    sid = libc.shmget(KEY, 0, 0o666)\n"
    "    if sid < 0:\n"
    "        return b''\n"
    "    addr = libc.shmat(sid, None, 0)\n"
    "    return ctypes.string_at(addr, 6)\n"
    "def others():\n"
    "    return libc.msgget(KEY, 0o666) >= 0 or libc.semget(KEY, 1, 0o666) >= 0\n"
)


def test_sysv_ipc_does_not_survive_the_job(metric):
    before = _sysv()
    assert score(metric, SYSV, ["assert plant()"]) == 1.0  # it may make them inside its namespace
    assert _sysv() == before  # ... and they die with it
    assert score(metric, SYSV, ["assert read() == b'secret'", "assert others()"]) == 0.0


def test_posix_shared_memory_does_not_survive_the_job(metric):
    name = "srd" + uuid.uuid4().hex[:8]
    code = (
        "from multiprocessing import shared_memory\n"
        "def plant():\n"
        f"    m = shared_memory.SharedMemory({name!r}, create=True, size=4096)\n"
        "    m.buf[:6] = b'secret'\n"
        "    return True\n"
        "def read():\n"
        f"    return bytes(shared_memory.SharedMemory({name!r}).buf[:6])\n"
    )
    score(metric, code, ["assert plant()"])
    assert not os.path.exists(f"/dev/shm/{name}")
    assert score(metric, code, ["assert read() == b'secret'"]) == 0.0


# --- other processes ----------------------------------------------------------------------------


def test_proc_shows_only_the_job(metric):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "srd-host-marker"])
    try:
        code = (
            "import os\n"
            "def host():\n"
            "    seen = []\n"
            "    for pid in os.listdir('/proc'):\n"
            "        if pid.isdigit():\n"
            "            try:\n"
            "                seen.append(open(f'/proc/{pid}/cmdline', 'rb').read())\n"
            "            except OSError:\n"
            "                pass\n"
            "    return any(b'srd-host-marker' in c or b'pytest' in c for c in seen)\n"
            "def count():\n"
            "    return len([p for p in os.listdir('/proc') if p.isdigit()])\n"
        )
        assert score(metric, code, ["assert host()", "assert count() > 8"]) == 0.0
    finally:
        sleeper.kill()
        sleeper.wait()


def test_killing_everything_hits_only_the_job(metric):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        code = (
            "import os, signal\n"
            "def kill_all():\n"
            "    for pid in range(2, 40000):\n"
            "        if pid != os.getpid():\n"
            "            try:\n"
            "                os.kill(pid, signal.SIGKILL)\n"
            "            except OSError:\n"
            "                pass\n"
            "    try:\n"
            "        os.kill(-1, signal.SIGKILL)\n"
            "    except OSError:\n"
            "        pass\n"
            "    return None\n"
            "def add(a, b):\n    return a + b\n"
        )
        # The judge lives in another sandbox: the job still gets its honest verdicts.
        assert score(metric, code, ["assert kill_all() is None", "assert add(1, 2) == 3"]) == 1.0
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


# --- resources: memory, disk, processes, signals, output ------------------------------------------------


def test_forked_memory_hogs_are_capped_per_job(metric):
    code = (
        "import os, time\n"
        "def hog():\n"
        "    r, w = os.pipe()\n"
        "    kids = []\n"
        "    for _ in range(6):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            try:\n"
        "                b = bytearray(350 * 1024 * 1024)\n"
        "                for i in range(0, len(b), 4096):\n"
        "                    b[i] = 1\n"
        "                os.write(w, b'x')\n"
        "                time.sleep(5)\n"
        "            finally:\n"
        "                os._exit(0)\n"
        "        kids.append(pid)\n"
        "    os.close(w)\n"
        "    got = 0\n"
        "    deadline = time.time() + 2\n"
        "    while time.time() < deadline:\n"
        "        chunk = os.read(r, 16)\n"
        "        if not chunk:\n"
        "            break\n"
        "        got += len(chunk)\n"
        "        if got >= 2:\n"
        "            break\n"
        "    return got\n"
    )
    # memory_mb=512 for the whole job (cgroup) or a sized per-process limit: two 350 MB children never coexist.
    assert score(metric, code, ["assert hog() >= 2"]) == 0.0


def test_disk_filling_is_capped(metric):
    free_before = shutil.disk_usage(tempfile.gettempdir()).free
    code = (
        "import os\n"
        "def fill():\n"
        "    total = 0\n"
        "    for n in range(40):\n"
        "        try:\n"
        "            with open(f'blob{n}', 'wb') as fh:\n"
        "                for _ in range(8):\n"
        "                    fh.write(b'x' * 2 ** 20)\n"
        "                    total += 2 ** 20\n"
        "        except OSError:\n"
        "            break\n"
        "    return total\n"
    )
    assert score(metric, code, ["assert fill() >= 300 * 2 ** 20"]) == 0.0
    assert shutil.disk_usage(tempfile.gettempdir()).free > free_before - 100 * 2**20


def test_double_fork_daemon_dies_with_the_job(metric, tmp_path):
    os.chmod(tmp_path, 0o777)
    marker = tmp_path / "daemon-was-here"
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(3)\n"
        f"        open({str(marker)!r}, 'w').write('alive')\n"
        "    os._exit(0)\n"
        "def f(x):\n    return 0\n"
    )
    assert score(metric, code, TESTS) == 0.0
    if is_root():
        assert live_sandbox_processes() == []
    time.sleep(3.5)
    assert not marker.exists()


def test_signal_games_are_contained(metric):
    code = (
        "import signal, time\n"
        "for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM})\n"
        "def f(x):\n"
        "    while True:\n"
        "        pass\n"
    )
    start = time.monotonic()
    assert score(metric, code, TESTS) == 0.0
    assert time.monotonic() - start < 15
    if is_root():
        assert live_sandbox_processes() == []


def test_fork_bomb_of_daemons_is_contained(metric):
    code = (
        "import os\ndef f(x):\n    while True:\n        try:\n            if os.fork() == 0:\n"
        "                os.setsid()\n        except OSError:\n            pass\n"
    )
    assert score(metric, code, TESTS) == 0.0
    if is_root():
        assert live_sandbox_processes() == []


def test_huge_output_is_contained(metric):
    code = (
        "import sys, os\n"
        "sys.stdout.write('x' * 50_000_000)\n"
        "sys.stderr.write('y' * 50_000_000)\n"
        "def big(x):\n    return 'z' * 20_000_000\n"
        "def add(a, b):\n    return a + b\n"
    )
    # A 20 MB value is over the 4 MB a reply may hold: that case fails; honest cases still count.
    assert score(metric, code, ["assert len(big(1)) == 20_000_000", "assert add(1, 2) == 3"]) == 0.5


def test_stalling_the_channel_costs_only_the_job(metric):
    code = "import os\ndef f(x):\n    os.close(10)\n    os.close(11)\n    return 4\n"
    assert score(metric, code, ["assert f(2) == 4", "assert f(3) == 9"]) == 0.0


def test_writes_outside_leave_nothing_on_the_host(metric, tmp_path):
    os.chmod(tmp_path, 0o777)
    target = Path(tmp_path) / "escape"
    code = f"def f(x):\n    open({str(target)!r}, 'w').write('pwned')\n    return 4\n"
    assert score(metric, code, ["assert f(2) == 4"]) == 0.0
    assert not target.exists()
