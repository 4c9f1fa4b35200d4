"""The learner's side of grading: runs inside the sandbox, holds no reference answer, speaks plain data.

Started by ``dlcourse.autograde.remote.LearnerProcess`` with a view of the file system in which the course's
reference implementations do not exist (and neither does torch, unless an exercise is about torch). It runs
the learner's answer cells as Jupyter would, then calls the learner's functions on the inputs the grader sends
and sends back what they returned, as plain data (the operations are listed in ``protocol``). Nothing it
sends is trusted: the grader checks every message's shape, compares the outcomes with the reference, which
only the grader can compute, and times the calls with its own clock.

This module imports nothing from dlcourse but the protocol, the IPython stand-in, and the calling convention
and runners of the checks, which hold no answers.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
import types

import numpy as np

from dlcourse.autograde import ipython_shim
from dlcourse.autograde.protocol import LIST_LIMIT, TEXT_LIMIT, decode, encode, read_message, write_message
from dlcourse.feedback.executor import call_on_copy

CELL_FILE = "<answer cell {}>"


class _CellTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _CellTimeout()


def _said(err: BaseException) -> str:
    """'TypeError: message' of the learner's exception, whatever its __str__ does."""
    try:
        message = str(err) if not isinstance(err, RecursionError) else "maximum recursion depth exceeded"
    except BaseException:  # noqa: BLE001 - a learner's __str__ may raise anything
        message = "(its message could not be read)"
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def run_cell(number: int, source: str, namespace: dict, seconds: float) -> str | None:
    """Run one answer cell whole, as Jupyter does: top-level statements of every kind, in the learner's names;
    a cell that raises part way keeps what it defined before. Returns why it stopped early, or None."""
    filename = CELL_FILE.format(number)
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as err:
        return f"answer cell {number} has a syntax error on line {err.lineno}: {err.msg}"
    except ValueError as err:  # a null byte, say
        return f"answer cell {number} cannot be compiled: {err}"[:300]
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        exec(code, namespace)
    except _CellTimeout:
        return f"answer cell {number} did not finish within {seconds:.0f} s: what came after that point was not run"
    except BaseException as err:  # noqa: BLE001 - the learner's code may raise anything, SystemExit included
        lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == filename]
        where = f", line {lines[-1]}" if lines else ""
        return f"answer cell {number}{where}: {_said(err)}"[:300]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return None


def _remember_sources(cells):
    import linecache

    for number, source in enumerate(cells, 1):
        filename = CELL_FILE.format(number)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def learner_frames(err: BaseException) -> list[str]:
    """The traceback lines that come from the learner's own cells (never the harness's)."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith("<answer cell")]
    return [f"{f.filename[1:-1]}, line {f.lineno}, in {f.name}: {(f.line or '').strip()}"[:300] for f in frames][-5:]


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


def _call(namespace: dict, request: dict):
    name = request["function"]
    fn = namespace.get(name)
    if not callable(fn):
        raise NameError(
            f"your notebook defines no function called {name}"
            + ("" if name not in namespace else f" ({name} is a {type(fn).__name__})")
        )
    return call_on_copy(fn, decode(request["kwargs"]), request.get("runner"), request.get("mutates", ()))


def _calibrate(request: dict):
    """The round trip of a call, with a function of known speed in place of the learner's: it returns zeros of
    the shapes a correct answer returns, so the same bytes come back."""
    shapes = [(tuple(shape), np.dtype(dtype)) for shape, dtype in request["shapes"]]
    return call_on_copy(lambda **kwargs: [np.zeros(shape, dtype) for shape, dtype in shapes], decode(request["kwargs"]))


class _Unavailable(types.ModuleType):
    """What the learner's ``import torch`` (or any package grading does not have) gives: a module whose every
    attribute is another such module and whose use as a function raises. The cell goes on as it would in
    Jupyter, so that what it defines after the import exists; a function that uses the package fails when
    called, and costs its own test cell (the reference and torch are out of reach here, by design)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.__path__ = []  # a package: `import torch.nn.functional` comes here too

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _Unavailable(f"{self.__name__}.{attr}")

    def __call__(self, *args, **kwargs):
        root = self.__name__.partition(".")[0]
        raise ModuleNotFoundError(
            f"{root} is not available where answers are graded ({self.__name__} was called): "
            "your functions must work with NumPy alone"
        )


class _UnavailableFinder:
    """Last on sys.meta_path: a module no other finder has, imported by the learner's own cell (not by a
    library trying an optional dependency), becomes an _Unavailable module instead of an ImportError."""

    @staticmethod
    def _from_learner() -> bool:
        frame = sys._getframe(2)  # past this function and find_spec
        while frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
            frame = frame.f_back
        return frame is not None and frame.f_code.co_filename.startswith("<answer cell")

    def find_spec(self, name, path=None, target=None):
        import importlib.machinery

        if not self._from_learner():
            return None
        return importlib.machinery.ModuleSpec(name, self)

    def create_module(self, spec):
        return _Unavailable(spec.name)

    def exec_module(self, module):
        return None


# Packages whose first import takes seconds on a loaded machine: imported before the answer cells' time limits
# start, where this process has them at all (only an exercise that declares them does), so that an answer cell
# that begins with `import torch` is not cut short by the import.
HEAVY_PACKAGES = ("torch", "matplotlib.pyplot")


def _import_heavy_packages() -> None:
    import importlib
    import importlib.util

    for name in HEAVY_PACKAGES:
        try:
            if importlib.util.find_spec(name.partition(".")[0]) is not None:
                importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a package that fails to import fails the learner's own import too
            continue


def serve(channel: Channel) -> None:
    setup = channel.receive()
    cells, skip = list(setup["cells"]), set(setup.get("skip", []))
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "np": np}
    namespace.update(given_helpers(channel, list(setup.get("given", []))))
    ipython_shim.install(namespace, cells)
    os.environ["MPLBACKEND"] = "Agg"  # a cell that plots draws into memory, never to a screen
    _import_heavy_packages()
    sys.meta_path.append(_UnavailableFinder())
    _remember_sources(cells)
    problems = []
    for number, source in enumerate(cells, 1):
        if number in skip:
            continue
        problem = run_cell(number, source, namespace, float(setup["cell_seconds"]))
        problems += [problem] if problem else []
        channel.send(op="cell", number=number, problem=problem)
    channel.send(op="ready", problems=problems[:20])
    while True:
        try:
            request = channel.receive()
        except EOFError:
            return
        try:
            outcome, changed = _calibrate(request) if request["op"] == "calibrate" else _call(namespace, request)
            channel.send(op="result", outcome=encode(outcome), changed=changed[:LIST_LIMIT])
        except BaseException as err:  # noqa: BLE001 - the learner's exception becomes data for the grader
            if isinstance(err, KeyboardInterrupt):
                raise
            said = _said(err)
            channel.send(
                op="raised",
                type=type(err).__name__[:200],
                mro=[c.__name__[:200] for c in type(err).__mro__][:LIST_LIMIT],
                message=said.partition(": ")[2][:TEXT_LIMIT],
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
