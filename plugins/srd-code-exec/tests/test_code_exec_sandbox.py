"""The sandbox contains hostile code: every snippet scores 0 and leaves the machine as it was.

Each hostile snippet comes with a test case that would pass if the snippet got what it wanted (a
file written outside, a secret read, a connection made, many processes), so a leaky sandbox would
score 1 and fail the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from code_exec_support import fast_metric, fenced, live_sandbox_processes, reflection, sample
from srd_code_exec.sandbox import Step, is_root

ROOT = is_root()


LAUNCHERS = ["bwrap", "builtin"] if shutil.which("bwrap") else ["builtin"]


@pytest.fixture(scope="module", params=LAUNCHERS)
def metric(request):
    """Every test runs with each launcher this machine has (bubblewrap and the built-in one)."""
    return fast_metric(launcher=request.param)


@pytest.fixture(scope="module")
def protections(metric) -> dict:
    """What this machine's sandbox obtained (network/mount/pid namespaces need root or user namespaces)."""
    return metric.sandbox.run("x = 1", [Step("assert x == 1", 0)]).protections


def require(protections: dict, name: str) -> None:
    if not protections.get(name):
        pytest.skip(f"no {name} confinement here (needs root or unprivileged user namespaces)")


def score(metric, code: str, tests) -> float:
    return metric.score([sample(tests)], [reflection(fenced(code))])[0]


def workdirs() -> set[str]:
    names = os.listdir(tempfile.gettempdir())
    return {p for p in names if p.startswith("srd-code-exec-") and p != "srd-code-exec-uids"}


def test_sandbox_reports_full_confinement_as_root(protections):
    if not ROOT:
        pytest.skip("root only")
    assert protections == {
        "launcher": protections["launcher"],
        "network": True,
        "filesystem": True,
        "pid_namespace": True,
        "user_namespace": True,
        "ipc_namespace": True,
        "uts_namespace": True,
        "proc": True,
        "disk_cap": True,
        "uid": protections["uid"],
        "privileges_dropped": True,
        "memory_cap": protections["memory_cap"],
        "judge": True,
    }
    assert protections["uid"] >= 1_800_000_000


def test_correct_code_scores_one(metric):
    assert score(metric, "def add(a, b):\n    return a + b", ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]) == 1.0


def test_partial_pass_gives_share(metric):
    tests = ["assert inc(1) == 2", "assert inc(2) == 3", "assert inc(5) == 7", "assert inc(-1) == 5"]
    assert score(metric, "def inc(x):\n    return x + 1", tests) == 0.5


def test_humaneval_style_with_entry_point(metric):
    test = (
        "def check(candidate):\n"
        "    assert candidate(2) == 4\n    assert candidate(3) == 9\n    assert candidate(0) == 1\n"
    )
    out = fenced("def square(x):\n    return x * x")
    assert metric.score([sample(test, "square")], [reflection(out)]) == [pytest.approx(2 / 3)]


def test_samples_in_parallel_keep_their_order(metric):
    samples = [sample([f"assert f() == {i}"], sid=str(i)) for i in range(6)]
    outputs = [reflection(fenced(f"def f():\n    return {i if i % 2 else -1}"), sid=str(i)) for i in range(6)]
    assert metric.score(samples, outputs) == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]


def test_syntax_error_and_crash_score_zero(metric):
    assert score(metric, "def f(:\n", ["assert True"]) == 0.0
    assert score(metric, "raise SystemExit(0)", ["assert True"]) == 0.0
    assert score(metric, "import os\nos._exit(0)", ["assert True"]) == 0.0


def test_infinite_loops_are_stopped(metric):
    assert score(metric, "while True:\n    pass", ["assert True"]) == 0.0
    # A loop that swallows the per-step alarm is killed by the wall clock (and RLIMIT_CPU).
    swallow = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
    assert score(metric, swallow, ["assert True"]) == 0.0
    # One hanging case does not cost the others.
    code = "def f(x):\n    while x == 0:\n        pass\n    return x"
    assert score(metric, code, ["assert f(1) == 1", "assert f(0) == 0", "assert f(2) == 2"]) == pytest.approx(2 / 3)


def test_memory_bomb(metric):
    assert score(metric, "x = bytearray(8 * 1024 ** 3)", ["assert True"]) == 0.0
    assert score(metric, "x = []\nwhile True:\n    x.append(' ' * 10 ** 6)", ["assert True"]) == 0.0


def test_process_limit_is_enforced(metric):
    """The precondition of the fork bomb test: the code cannot have more than max_procs processes."""
    code = (
        "import os, time\n"
        "def forks():\n"
        "    n = 0\n"
        "    for _ in range(40):\n"
        "        try:\n"
        "            pid = os.fork()\n"
        "        except OSError:\n"
        "            break\n"
        "        if pid == 0:\n"
        "            time.sleep(20)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "    return n\n"
    )
    # max_procs=8 counts the runner itself: at most 7 children may exist (a few fewer where a user
    # namespace or the previous job's not yet released processes are counted too), and not one more.
    assert score(metric, code, ["assert 1 <= forks() <= 7"]) == 1.0
    assert live_sandbox_processes() == []  # the sleeping children were killed after the run


def test_fork_bomb(metric):
    test_process_limit_is_enforced(metric)  # never run the bomb where the limit would not hold
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    assert score(metric, bomb, ["assert True"]) == 0.0
    assert score(metric, "import os\nwhile True:\n    os.fork()", ["assert True"]) == 0.0
    assert live_sandbox_processes() == []
    assert subprocess.run(["true"], check=False).returncode == 0  # the machine still forks


def test_detached_processes_are_killed(metric):
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
    assert score(metric, code, ["assert False"]) == 0.0
    if ROOT:
        assert live_sandbox_processes() == []


def test_writes_outside_the_work_dir_fail(metric, protections, tmp_path):
    require(protections, "filesystem")
    targets = [
        Path(tempfile.gettempdir()) / f"srd-escape-{uuid.uuid4().hex}",
        tmp_path / "escape.txt",
        Path(__file__).with_name(f"escape-{uuid.uuid4().hex}.txt"),
        Path("/var/tmp") / f"srd-{uuid.uuid4().hex}",
    ]
    os.chmod(tmp_path, 0o777)  # even a world-writable directory is out of reach
    code = "def write(path):\n    with open(path, 'w') as fh:\n        fh.write('pwned')\n    return True\n"
    before = workdirs()
    for target in targets:
        got = score(metric, code, [f"assert write({str(target)!r})"])
        assert not target.exists()
        if not str(target).startswith("/tmp/"):  # with bwrap, /tmp is the job's own tmpfs
            assert got == 0.0
    # Writing inside its own work directory works, and that directory is gone afterwards.
    inside = ["assert write('inside.txt')", "assert exists('inside.txt')"]
    assert score(metric, code + "import os\ndef exists(path):\n    return os.path.exists(path)\n", inside) == 1.0
    assert workdirs() == before


def test_secrets_are_invisible(metric, monkeypatch, capfd):
    secret = "s3cr3t-" + uuid.uuid4().hex
    monkeypatch.setenv("SRD_TEST_API_KEY", secret)
    code = (
        "import os\n"
        "print(open('/etc/passwd').read())\n"
        "print(dict(os.environ))\n"
        "def leaked():\n"
        f"    return any({secret!r} in v for v in os.environ.values())\n"
    )
    assert score(metric, code, ["assert leaked()"]) == 0.0
    assert score(metric, "import os", ["assert 'SRD_TEST_API_KEY' in os.environ"]) == 0.0
    captured = capfd.readouterr()
    assert secret not in captured.out + captured.err
    assert "root:x:0:0" not in captured.out + captured.err  # the program's prints go nowhere
    if ROOT:  # files only root may read stay unreadable
        assert score(metric, "x = open('/etc/shadow').read()", ["assert True"]) == 0.0


def test_no_network(metric, protections):
    require(protections, "network")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    code = (
        "import socket\n"
        "def connect():\n"
        f"    with socket.create_connection(('127.0.0.1', {port}), timeout=1) as s:\n"
        "        s.sendall(b'hello')\n"
        "    return True\n"
    )
    try:
        assert score(metric, code, ["assert connect()"]) == 0.0
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()
