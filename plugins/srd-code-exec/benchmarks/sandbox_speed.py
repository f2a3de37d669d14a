"""Samples/s of the hardened sandbox (bwrap and built-in launchers) against the pre-hardening one.

    python plugins/srd-code-exec/benchmarks/sandbox_speed.py [--samples 24] [--workers 2]

The old sandbox (one process, pass flags on its stdout) is taken from git at LEGACY_COMMIT, so the
comparison runs in one go from a checkout. Each sample is a small MBPP-style job with 3 cases.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "plugins" / "srd-code-exec" / "src"))
LEGACY_COMMIT = "3a05644"
LEGACY_FILES = ("sandbox.py", "_launcher.py", "_harness.py")

CODE = "def add(a, b):\n    return a + b\n"
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(2, 2) == 5"]


def legacy_module(tmp: Path):
    pkg = tmp / "legacy_code_exec"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in LEGACY_FILES:
        path = f"{LEGACY_COMMIT}:plugins/srd-code-exec/src/srd_code_exec/{name}"
        src = subprocess.run(["git", "-C", str(ROOT), "show", path], capture_output=True, text=True, check=True).stdout
        (pkg / name).write_text(src)
    sys.path.insert(0, str(tmp))
    return importlib.import_module("legacy_code_exec.sandbox")


def rate(sandbox, step_cls, samples: int, workers: int) -> float:
    steps = [step_cls(t, i) for i, t in enumerate(TESTS)]
    sandbox.run(CODE, steps)  # warm-up (interpreter probe)
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda _: sandbox.run(CODE, steps), range(samples)))
    elapsed = time.perf_counter() - start
    assert all(r.passed == [True, True, False] for r in results), [r.passed for r in results][:3]
    return samples / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from srd_code_exec import sandbox as hardened

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        legacy = legacy_module(Path(tmp))
        rows.append(
            (
                "before (one process, pass flags)",
                rate(legacy.Sandbox(legacy.Limits()), legacy.Step, args.samples, args.workers),
            )
        )
    launchers = (["bwrap"] if shutil.which("bwrap") else []) + ["builtin"]
    for launcher in launchers:
        sb = hardened.Sandbox(hardened.Limits(), launcher=launcher, workers=args.workers)
        label = f"hardened, {launcher} ({sb.memory_cap})"
        rows.append((label, rate(sb, hardened.Step, args.samples, args.workers)))
    base = rows[0][1]
    print(f"{args.samples} samples × {len(TESTS)} cases, {args.workers} workers")
    for label, value in rows:
        print(f"  {label:<40} {value:6.2f} samples/s  ({value / base:.2f}× before)")


if __name__ == "__main__":
    main()
