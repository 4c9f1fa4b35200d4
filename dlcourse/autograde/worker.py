"""The learner's side of grading: runs inside the sandbox, holds no reference answer, speaks plain data.

Started by ``dlcourse.autograde.remote.LearnerProcess`` with a view of the file system in which the course's
reference implementations do not exist (and neither does torch, unless an exercise is about torch). It
defines the learner's answer cells, then calls the learner's functions on the inputs the grader sends and
sends back what they returned, as plain data. Nothing it sends is trusted: the grader compares it with the
reference, which only the grader can compute.

This module imports nothing from dlcourse but the protocol and the exercises' runners, which hold no answers.
"""

from __future__ import annotations

import ast
import copy
import importlib
import os
import signal
import sys
import time
import traceback
import types
import warnings

import numpy as np

from dlcourse.autograde.protocol import decode, encode, read_message, write_message

KEPT_STATEMENTS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Import,
    ast.ImportFrom,
    ast.Assign,
    ast.AnnAssign,
    ast.AugAssign,
)
STATEMENT_SECONDS = 5  # a definition that takes longer is abandoned (the grader's deadline is the backstop)
CELL_FILE = "<answer cell {}>"


class _StatementTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _StatementTimeout()


def define_answers(cells: list[str], namespace: dict) -> list[str]:
    """Run the definitions in the learner's answer cells (functions, classes, imports, assignments); skip
    other top-level statements (prints, plots, experiments) so that they cannot hang or break grading.
    Returns what went wrong, one line per statement that failed."""
    problems = []
    signal.signal(signal.SIGALRM, _on_alarm)
    for number, source in enumerate(cells, 1):
        filename = CELL_FILE.format(number)
        try:
            tree = ast.parse(source, filename)
        except SyntaxError as err:
            problems.append(f"answer cell {number} has a syntax error on line {err.lineno}: {err.msg}")
            continue
        for statement in tree.body:
            if not isinstance(statement, KEPT_STATEMENTS):
                continue
            code = compile(ast.Module(body=[statement], type_ignores=[]), filename, "exec")
            signal.setitimer(signal.ITIMER_REAL, STATEMENT_SECONDS)
            try:
                exec(code, namespace)
            except BaseException as err:  # noqa: BLE001 - the learner's code may raise anything
                problems.append(f"answer cell {number}, line {statement.lineno}: {type(err).__name__}: {err}"[:300])
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    _remember_sources(cells)
    return problems


def _remember_sources(cells):
    import linecache

    for number, source in enumerate(cells, 1):
        filename = CELL_FILE.format(number)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def learner_frames(err: BaseException) -> list[str]:
    """The traceback lines that come from the learner's own cells (never the harness's)."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith("<answer cell")]
    return [f"{f.filename[1:-1]}, line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames][-5:]


class Channel:
    """The grader's end of the pipes, kept on private file descriptors so the learner's prints go elsewhere."""

    def __init__(self):
        self.reader = os.fdopen(os.dup(0), "rb", buffering=0)
        self.writer = os.fdopen(os.dup(1), "wb", buffering=0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the process's lifetime

    def send(self, **message):
        write_message(self.writer, message)

    def receive(self) -> dict:
        return read_message(self.reader)


def given_helpers(channel: Channel, names: list[str]) -> dict:
    """Functions the exercise hands to the learner (``F.conv2d`` in a backward pass), served by the grader:
    called here, computed there, so their code never enters this process."""
    spaces: dict[str, types.SimpleNamespace] = {}
    namespace = {}
    for dotted in names:
        space, _, attr = dotted.rpartition(".")

        def call(*args, _name=dotted, **kwargs):
            channel.send(op="given", name=_name, args=encode(list(args)), kwargs=encode(kwargs))
            reply = channel.receive()
            if reply.get("op") == "given_error":
                raise ValueError(str(reply.get("message", "")))
            return decode(reply["value"])

        call.__name__ = attr
        if space:
            spaces.setdefault(space, types.SimpleNamespace())
            setattr(spaces[space], attr, call)
        else:
            namespace[attr] = call
    return {**namespace, **spaces}


def _changed_inputs(before: dict, after: dict, mutates) -> list[str]:
    return [
        k
        for k, v in before.items()
        if isinstance(v, np.ndarray)
        and k not in mutates
        and isinstance(after.get(k), np.ndarray)
        and (after[k].shape != v.shape or not np.array_equal(v, after[k], equal_nan=True))
    ]


def _call(namespace, request, runners):
    name = request["function"]
    fn = namespace.get(name)
    if not callable(fn):
        raise NameError(
            f"your notebook defines no function called {name}"
            + ("" if name not in namespace else f" ({name} is a {type(fn).__name__})")
        )
    kwargs = decode(request["kwargs"])
    before = copy.deepcopy(kwargs)
    runner = getattr(runners, request["runner"]) if request.get("runner") else None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        outcome = runner(fn, kwargs) if runner else fn(**kwargs)
        seconds = time.perf_counter() - start
    return outcome, _changed_inputs(before, kwargs, request.get("mutates", ())), seconds


def _time(namespace, request):
    fn, kwargs = namespace[request["function"]], decode(request["kwargs"])
    times = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for _ in range(int(request.get("repeats", 5))):
            args = copy.deepcopy(kwargs)
            start = time.perf_counter()
            fn(**args)
            times.append(time.perf_counter() - start)
            if times[-1] > float(request.get("give_up_after", 10.0)):
                break
    return min(times)


def serve(channel: Channel) -> None:
    setup = channel.receive()
    runners = importlib.import_module(setup.get("runners", "dlcourse.feedback.exercises.runners"))
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "np": np}
    namespace.update(given_helpers(channel, list(setup.get("given", []))))
    problems = define_answers(list(setup["cells"]), namespace)
    channel.send(op="ready", problems=problems[:20])
    while True:
        try:
            request = channel.receive()
        except EOFError:
            return
        try:
            if request["op"] == "time":
                channel.send(op="timed", seconds=_time(namespace, request))
                continue
            outcome, changed, seconds = _call(namespace, request, runners)
            channel.send(op="result", outcome=encode(outcome), changed=changed, seconds=seconds)
        except BaseException as err:  # noqa: BLE001 - the learner's exception becomes data for the grader
            if isinstance(err, KeyboardInterrupt):
                raise
            channel.send(
                op="raised",
                type=type(err).__name__[:100],
                mro=[c.__name__ for c in type(err).__mro__][:20],
                message=str(err)[:1000] if not isinstance(err, RecursionError) else "maximum recursion depth",
                frames=learner_frames(err),
            )


def main() -> None:
    channel = Channel()
    # Before any learner code runs: tells the grader that the sandbox and the interpreter work, so that a
    # process that dies before this is the grader's fault, never the learner's.
    channel.send(op="alive")
    try:
        serve(channel)
    except EOFError:
        pass


if __name__ == "__main__":
    main()
