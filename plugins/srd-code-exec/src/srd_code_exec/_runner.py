"""Candidate runner, run inside the sandbox after ``_wire.py`` (``python -I -c SOURCE``; never imported).

It holds the candidate's program and answers the judge's requests, one JSON line each, on stdin;
replies go to stdout. Both are moved to descriptors 10 and 11 first, and 0/1/2 point to /dev/null,
so what the program prints goes nowhere. Requests:

- ``{"op": "load", "id", "code", "entry_point", "step_timeout_s"}``: run the program;
- ``{"op": "get", "id", "names"}``: what each name the tests take from the program is (a function,
  a plain value, a module and its name, missing);
- ``{"op": "call", "id", "name", "args", "kwargs"}``: call a function of the program, reply its
  value as plain data (``_wire.encode``) or the name of the exception it raised;
- ``{"op": "exec", "id", "setup", "src"}`` (only with ``unjudged: trust_candidate_process``): run
  set-up steps not yet run, then a test case here, reply whether it passed.

Everything here is in the candidate's reach: the program can read, patch or replace any of it.
That is by design. The judge trusts nothing from this process but plain values compared on its own
side (and, for ``exec`` cases in the opt-in trusting mode only, a pass flag, which the program can forge).
"""

# ruff: noqa: F821 - encode, decode and Unencodable come from _wire.py, prepended at run time
import builtins
import json
import os
import signal
import sys


class CaseTimeout(BaseException):
    """Raised by the alarm when one step runs too long."""


def _alarm(signum, frame):
    raise CaseTimeout()


def main():
    os.dup2(0, 10)
    os.dup2(1, 11)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    inbox = os.fdopen(10, "rb")
    outbox = os.fdopen(11, "wb", buffering=0)
    signal.signal(signal.SIGALRM, _alarm)
    namespace = {"__name__": "__solution__", "__builtins__": builtins}
    ran_setup = set()
    timeout = 3.0

    def timed(func, *args):
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return func(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def run(src, name):
        try:
            timed(exec, compile(src, name, "exec"), namespace)
            return True
        except BaseException:
            return False

    def reply(msg):
        outbox.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    for line in inbox:
        try:
            req = json.loads(line)
            rid = req["id"]
            op = req["op"]
        except BaseException:
            continue
        try:
            if op == "load":
                timeout = float(req["step_timeout_s"])
                ok = run(req["code"], "solution.py")
                entry = req.get("entry_point")
                if ok and entry:
                    ok = entry in namespace
                    if ok:
                        namespace["candidate"] = namespace[entry]
                reply({"id": rid, "ok": ok})
            elif op == "get":
                kinds = {}
                for name in req["names"]:
                    if name not in namespace:
                        kinds[name] = {"kind": "missing"}
                    elif type(namespace[name]).__name__ == "module":
                        kinds[name] = {"kind": "module", "name": getattr(namespace[name], "__name__", None)}
                    elif callable(namespace[name]):
                        kinds[name] = {"kind": "callable"}
                    else:
                        try:
                            kinds[name] = {"kind": "value", "value": encode(namespace[name])}
                        except BaseException:
                            kinds[name] = {"kind": "opaque"}
                reply({"id": rid, "names": kinds})
            elif op == "call":
                args = [decode(a) for a in req["args"]]
                kwargs = {k: decode(v) for k, v in req["kwargs"].items()}
                try:
                    value = timed(namespace[req["name"]], *args, **kwargs)
                except CaseTimeout:
                    reply({"id": rid, "error": "TimeoutError"})
                    continue
                except BaseException as exc:
                    reply({"id": rid, "error": type(exc).__name__})
                    continue
                try:
                    reply({"id": rid, "value": encode(value)})
                except BaseException:
                    reply({"id": rid, "error": "Unencodable"})
            elif op == "exec":
                ok = True
                for index, src in req["setup"]:
                    if index not in ran_setup:
                        ran_setup.add(index)
                        ok = ok and run(src, "test.py")
                reply({"id": rid, "passed": ok and run(req["src"], "test.py")})
        except CaseTimeout:
            reply({"id": rid, "error": "TimeoutError"})
        except BaseException:
            reply({"id": rid, "error": "RunnerError"})
    sys.exit(0)


main()
