"""Judge, run in a sandbox of its own after ``_wire.py`` (``python -I -c SOURCE``; never imported).

It reads one job as JSON from stdin (``code``, ``entry_point``, ``steps``, ``step_timeout_s``,
``fallback``, ``req_fd``, ``resp_fd``, ``max_reply_bytes``) and runs the test steps itself, in a clean
namespace with the real builtins: the candidate's program is never loaded here. Each name the tests
take from the program (a free name of the tests that is no builtin) is bound to a proxy: calling
it sends the arguments, as plain data, to the candidate runner in the other sandbox, which calls the
real function and sends back its value as plain data (``_wire``). A module the tests take from the
program (``math`` imported by the solution) is imported here, the judge's own copy, when the
program's name for it is the module's name. So every comparison, ``assert`` and builtin of a test
runs here, on built-in types only, and a case's verdict is written by this process alone to its
stdout, a file the candidate has no handle on: ``{"case", "passed", "judged"}``.

A case the judge cannot run on plain data (an argument with no plain-data form, such as an object
of a class defined by the test, or an attribute of the program's own objects) fails, reported with
``judged: false``; only with ``fallback: trust_candidate_process`` (opt-in) is it run inside the
candidate's process after all judged cases, and its pass flag, which the program can forge, taken.
"""

import ast

# ruff: noqa: F821 - encode, decode and Unencodable come from _wire.py, prepended at run time
import builtins
import contextlib
import importlib
import json
import os
import signal
import sys


class CaseTimeout(BaseException):
    """Raised by the alarm when one step runs too long."""


class NeedsSandbox(BaseException):
    """The case needs something of the program that has no plain-data form."""


class CandidateError(Exception):
    """The candidate raised an exception of a type that is not a builtin one."""


class TooLarge(Exception):
    """A reply over the size a reply may hold (the case fails, the channel stays usable)."""


class Broken(Exception):
    """The candidate's channel is closed or sent more than a reply may hold."""


def _alarm(signum, frame):
    raise CaseTimeout()


class Client:
    """Requests to the candidate runner; replies are matched by id (stale ones are dropped)."""

    def __init__(self, wfd, rfd, max_bytes):
        self.wfd, self.rfd, self.max_bytes = wfd, rfd, max_bytes
        self.buf = b""
        self.next_id = 0
        self.broken = False

    def _line(self):
        """The next reply line; one over ``max_bytes`` is skipped whole and raises TooLarge."""
        skipping = False
        parts, size = [self.buf], len(self.buf)
        while b"\n" not in parts[-1]:
            if size > self.max_bytes:
                skipping, parts, size = True, [b""], 0
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise Broken("closed")
            parts.append(chunk)
            size += len(chunk)
        line, self.buf = b"".join(parts).split(b"\n", 1)
        if skipping or len(line) > self.max_bytes:
            raise TooLarge()
        return line

    def request(self, msg):
        if self.broken:
            raise Broken("closed")
        self.next_id += 1
        msg["id"] = self.next_id
        data = json.dumps(msg, separators=(",", ":")).encode() + b"\n"
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.wfd, view) :]
            while True:
                try:
                    reply = json.loads(self._line())
                except (ValueError, RecursionError):
                    continue
                if type(reply) is dict and reply.get("id") == self.next_id:
                    return reply
        except (Broken, OSError):
            self.broken = True
            raise Broken("closed") from None


def _exception_type(name):
    exc = getattr(builtins, name, None) if type(name) is str else None
    if isinstance(exc, type) and issubclass(exc, Exception):
        return exc
    return CandidateError


class Function:
    """Stands for a function of the program: a call crosses to the sandbox as plain data."""

    def __init__(self, client, name):
        self._client, self._name = client, name

    def __call__(self, *args, **kwargs):
        try:
            wire_args = [encode(a) for a in args]
            wire_kwargs = {str(k): encode(v) for k, v in kwargs.items()}
        except Unencodable:
            raise NeedsSandbox() from None
        reply = self._client.request({"op": "call", "name": self._name, "args": wire_args, "kwargs": wire_kwargs})
        if "value" in reply:
            return decode(reply["value"])  # raises on anything but plain data: the case fails
        raise _exception_type(reply.get("error"))("raised in the candidate")

    def __getattr__(self, name):
        raise NeedsSandbox()

    def __repr__(self):
        return f"<program function {self._name}>"


class Opaque:
    """A non-callable object of the program with no plain-data form (e.g. a module): best effort only."""

    def __getattr__(self, name):
        raise NeedsSandbox()

    def __call__(self, *args, **kwargs):
        raise NeedsSandbox()


def program_names(sources):
    """Free names of the tests that no test statement binds and that are not builtins."""
    loaded, bound = set(), set()
    for src in sources:
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Name):
                (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.alias):
                bound.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                bound.update(node.names)
    return sorted(loaded - bound - set(dir(builtins)) - {"candidate"})


def main():
    job = json.loads(sys.stdin.read())
    verdicts = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    step_timeout = float(job["step_timeout_s"])
    signal.signal(signal.SIGALRM, _alarm)
    client = Client(int(job["req_fd"]), int(job["resp_fd"]), int(job["max_reply_bytes"]))
    steps = job["steps"]
    reported = set()

    def report(case, passed, judged):
        if case not in reported:
            reported.add(case)
            verdicts.write(json.dumps({"case": case, "passed": bool(passed), "judged": judged}) + "\n")

    def timed(func, *args):
        signal.setitimer(signal.ITIMER_REAL, step_timeout)
        try:
            return func(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    try:
        names = program_names([s["src"] for s in steps])
        loaded = timed(
            client.request,
            {"op": "load", "code": job["code"], "entry_point": job.get("entry_point"), "step_timeout_s": step_timeout},
        )
        if loaded.get("ok") is not True:
            return
        kinds = timed(client.request, {"op": "get", "names": names}).get("names") if names else {}
    except BaseException:
        return
    namespace = {"__name__": "__test__", "__builtins__": builtins}
    for name in names:
        kind = kinds.get(name) if type(kinds) is dict else None
        kind = kind.get("kind") if type(kind) is dict else None
        if kind == "callable":
            namespace[name] = Function(client, name)
        elif kind == "value":
            with contextlib.suppress(Exception):
                namespace[name] = decode(kinds[name]["value"])
        elif kind == "module" and kinds[name].get("name") == name:
            # A module the test takes from the program (``import math`` in the solution, ``math.isclose``
            # in the test): the judge imports its own copy, as the test's own import would.
            try:
                namespace[name] = importlib.import_module(name)
            except BaseException:
                namespace[name] = Opaque()
        elif kind in ("opaque", "module"):
            namespace[name] = Opaque()
    if job.get("entry_point"):
        namespace["candidate"] = Function(client, "candidate")

    deferred = []
    setup_so_far = []
    for index, step in enumerate(steps):
        try:
            timed(exec, compile(step["src"], "test.py", "exec"), namespace)
            ok = True
        except NeedsSandbox:
            ok = None
        except BaseException:
            ok = False
        if step["case"] is None:
            setup_so_far.append([index, step["src"]])
            if not ok:
                break  # a set-up step that fails ends the run: the cases not yet reported fail
        elif ok is None:
            deferred.append((step, list(setup_so_far)))
        else:
            report(step["case"], ok, True)
    for step, setup in deferred:
        passed = False
        if job.get("fallback") == "trust_candidate_process":
            try:
                reply = timed(client.request, {"op": "exec", "setup": setup, "src": step["src"]})
                passed = reply.get("passed") is True
            except BaseException:
                passed = False
        report(step["case"], passed, False)


main()
