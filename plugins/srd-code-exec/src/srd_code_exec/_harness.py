"""Test harness run inside the sandbox (passed to ``python -I -c``; never imported by srd).

Reads one job as JSON from stdin: ``nonce``, ``code``, ``entry_point`` and ``steps`` (each
``{"case": index or null, "src": ...}``). Runs the code, then the steps in order; a step with a case
index is a test case and reports ``<nonce> <index> <0|1>`` on the result channel (the original
stdout) as soon as it finished. The program's own stdout/stderr go to /dev/null. A setup step that
fails ends the run: every case not yet reported counts as failed.
"""

import json
import os
import signal
import sys


class CaseTimeout(BaseException):
    """Raised by the alarm when one step runs too long."""


def _alarm(signum, frame):
    raise CaseTimeout()


def main():
    job = json.loads(sys.stdin.read())
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    nonce = job["nonce"]
    step_timeout = float(job["step_timeout_s"])
    signal.signal(signal.SIGALRM, _alarm)
    namespace = {"__name__": "__solution__", "__builtins__": __builtins__}

    def run(src, name):
        signal.setitimer(signal.ITIMER_REAL, step_timeout)
        try:
            exec(compile(src, name, "exec"), namespace)
            return True
        except BaseException:
            return False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    if not run(job["code"], "solution.py"):
        return
    entry = job.get("entry_point")
    if entry:
        if entry not in namespace:
            return
        namespace["candidate"] = namespace[entry]
    for step in job["steps"]:
        ok = run(step["src"], "test.py")
        if step["case"] is None:
            if not ok:
                return
        else:
            channel.write(f"{nonce} {step['case']} {int(ok)}\n")
            channel.flush()


main()
