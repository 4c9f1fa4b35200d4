"""The grader's side: start a learner's process in the sandbox and call the learner's functions in it.

``LearnerProcess(cells, ...)`` starts ``dlcourse.autograde.worker`` in a sandbox, has it define the answer
cells, and serves the helpers an exercise hands to the learner. ``RemoteFunction`` stands for one of the
learner's functions in the grader: ``dlcourse.feedback.checks`` calls it exactly as it calls a local function, but
each call crosses to the sandbox as plain data and comes back as plain data, or as the learner's exception
rebuilt from its type name and message. A process that dies, hangs past its deadline or talks nonsense
fails the call that was under way, never the grader.
"""

from __future__ import annotations

import ast
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .protocol import ProtocolError, decode, encode, read_message, write_message
from .sandbox import Limits, worker_command

PACKAGE = Path(__file__).resolve().parents[1]  # the dlcourse folder
HARNESS_FILES = (
    "__init__.py",
    "autograde/__init__.py",
    "autograde/protocol.py",
    "autograde/worker.py",
    "feedback/__init__.py",
    "feedback/exercises/__init__.py",
    "feedback/exercises/runners.py",
)


START_SECONDS = 30.0  # a sandbox and an interpreter start in well under a second; a loaded machine may be slow


class LearnerProcessError(Exception):
    """The learner's process died, hung, or sent something that is not a well-formed answer."""

    plain = True  # feedback shows the message as it is


class SandboxFailure(RuntimeError):
    """The grader could not start a sandboxed process at all: its fault (bubblewrap, the interpreter, the
    machine), never the learner's. Raised, not turned into a failed check, so that the instructor sees it."""


class LearnerError(Exception):
    """An exception raised by the learner's code, rebuilt in the grader from its name and message."""

    def __init__(self, type_name: str, message: str, frames=()):
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name, self.message, self.frames = type_name, message, list(frames)


def _rebuild(reply: dict) -> BaseException:
    """The learner's exception as the checker expects to catch it: ValueError and NotImplementedError keep
    their meaning (an exercise may ask for the first, a blank answer raises the second)."""
    mro, message = [str(m) for m in reply.get("mro", [])], str(reply.get("message", ""))
    name = str(reply.get("type", "Exception"))
    if "NotImplementedError" in mro:
        return NotImplementedError(message)
    if "ValueError" in mro:
        err = ValueError(message)
        err.learner_type = name
        return err
    return LearnerError(name, message, [str(f) for f in reply.get("frames", [])])


def _module_closure(modules) -> set[str]:
    """Files (relative to the package) of the named dlcourse modules and every dlcourse module they import."""
    files, todo = set(), list(modules)
    while todo:
        name = todo.pop()
        rel = name.split(".", 1)[1].replace(".", "/") if "." in name else ""
        path = PACKAGE / (rel + ".py")
        if (PACKAGE / rel).is_dir():
            path = PACKAGE / rel / "__init__.py"
        if not path.is_file():
            raise ValueError(f"no module {name} in {PACKAGE}")
        key = str(path.relative_to(PACKAGE))
        if key in files:
            continue
        files.add(key)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                if node.module:
                    todo.append(f"{base}.{node.module}")
                else:  # from . import functional: the submodules named, not the package's own __init__
                    todo += [f"{base}.{a.name}" for a in node.names if _exists(f"{base}.{a.name}")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dlcourse"):
                todo.append(node.module)
    return files


def _exists(name: str) -> bool:
    rel = name.split(".", 1)[1].replace(".", "/")
    return (PACKAGE / (rel + ".py")).is_file() or (PACKAGE / rel / "__init__.py").is_file()


def build_view(folder: Path, modules=()) -> Path:
    """A folder holding a minimal ``dlcourse`` package: the harness, plus ``modules`` (an exercise's allowed
    framework, such as dlcourse.nn) and what they import. Package __init__ files are empty, so importing
    one part pulls in nothing else."""
    view = folder / "view"
    closure = _module_closure(modules)
    files = set(HARNESS_FILES) | closure
    for rel in sorted(files):
        target = view / "dlcourse" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in HARNESS_FILES and rel.endswith("__init__.py") and rel not in closure:
            target.write_text("")  # a package level the harness needs, without what its __init__ imports
        else:
            shutil.copyfile(PACKAGE / rel, target)
    for directory in (view / "dlcourse").rglob("*"):
        if directory.is_dir() and not (directory / "__init__.py").exists():
            (directory / "__init__.py").write_text("")
    return view


class LearnerProcess:
    """The learner's answer cells, defined in a sandboxed process, ready to be called."""

    def __init__(
        self,
        cells: list[str],
        *,
        given: dict | None = None,
        modules=(),
        packages=("numpy",),
        deadline: float = 60.0,
        limits: Limits | None = None,
    ):
        """cells: the sources of the learner's answer cells, in notebook order
        given: {"F.conv2d": callable}: helpers the exercise hands to the learner, served from here
        modules: dlcourse modules the learner's code may use (the framework a training exercise builds on)
        packages: installed distributions the learner's process may import (NumPy alone, by default)
        deadline: seconds, from the start, after which the process is killed and every later call fails
        """
        self.given = dict(given or {})
        self.started = time.monotonic()
        self.deadline = self.started + deadline
        self._tmp = tempfile.TemporaryDirectory(prefix="dlcourse-grade-")
        view = build_view(Path(self._tmp.name), modules)
        # What bubblewrap and the interpreter say before the worker takes its pipes (the learner's code never
        # writes here: the worker points its stderr at /dev/null first); read only if the start fails.
        self._stderr_path = Path(self._tmp.name) / "start.err"
        with open(self._stderr_path, "wb") as err:
            self._proc = subprocess.Popen(
                worker_command(view, packages, limits or Limits()),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        self.problems: list[str] = []
        self.failure: str | None = None
        self._await_start()
        try:
            self._send(op="setup", cells=list(cells), given=sorted(self.given))
            reply = self._receive()
            self.problems = [str(p) for p in reply.get("problems", [])][:20]
        except LearnerProcessError as err:
            self.failure = str(err)

    # -- talking to the process ------------------------------------------------------------------------
    def _await_start(self, seconds: float = START_SECONDS) -> None:
        """Wait for the worker's first message, sent before any learner code runs; SandboxFailure, with what
        bubblewrap or the interpreter said, if it never comes."""
        try:
            ready = self._wait_readable(seconds)
            message = read_message(self._proc.stdout) if ready else None
        except (EOFError, ProtocolError, ValueError, OSError):
            message = None
        if isinstance(message, dict) and message.get("op") == "alive":
            return
        hung = self._proc.poll() is None
        self.close(keep_tmp=True)
        said = self._start_error()
        self._tmp.cleanup()
        how = f"it did not answer within {seconds:.0f} s" if hung else f"exit status {self._proc.returncode}"
        raise SandboxFailure(f"the grader could not start its sandboxed process ({how}): {said or 'it said nothing'}")

    def _start_error(self) -> str:
        try:
            with open(self._stderr_path, "rb") as err:
                return err.read(4000).decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def _send(self, **message):
        try:
            write_message(self._proc.stdin, message)
        except (BrokenPipeError, OSError, ValueError):
            raise LearnerProcessError(self._death()) from None

    def _receive(self) -> dict:
        """The next message, serving the learner's calls of given helpers on the way."""
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0 or not self._wait_readable(left):
                self.close()
                self.failure = (
                    f"your code did not finish within the time limit of {self.deadline - self.started:.0f} s "
                    "(an endless loop, or far too slow)"
                )
                raise LearnerProcessError(self.failure)
            try:
                message = read_message(self._proc.stdout)
            except EOFError:
                raise LearnerProcessError(self._death()) from None
            except (ProtocolError, ValueError) as err:
                self.close()
                raise LearnerProcessError(f"your code's process sent something that is not an answer ({err})") from None
            if message.get("op") != "given":
                return message
            self._serve_given(message)

    def _wait_readable(self, seconds: float) -> bool:
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            return bool(sel.select(seconds))

    def _serve_given(self, message: dict) -> None:
        helper = self.given.get(str(message.get("name")))
        try:
            if helper is None:
                raise ValueError(f"{message.get('name')} is not given in this exercise")
            args, kwargs = decode(message.get("args", [])), decode(message.get("kwargs", {"~": "dict", "v": {}}))
            value = helper(*list(args), **dict(kwargs))
            self._send(op="given_result", value=encode(value))
        except LearnerProcessError:
            raise
        except Exception as err:  # noqa: BLE001 - the learner called a helper with wrong arguments
            self._send(op="given_error", message=f"{type(err).__name__}: {err}"[:500])

    def _death(self) -> str:
        self.close()
        code = self._proc.returncode
        if self.failure:
            return self.failure
        self.failure = "your code's process ended unexpectedly" + (
            f" (killed by signal {-code}: a crash, or over the memory or CPU limit)"
            if code and code < 0
            else f" (exit status {code}: os._exit or sys.exit in your code?)"
            if code
            else ""
        )
        return self.failure

    # -- what the checker uses -------------------------------------------------------------------------
    def call(self, function: str, kwargs: dict, *, runner: str | None = None, mutates=()):
        """(outcome, names of inputs changed in place, seconds); raises the learner's exception, rebuilt."""
        if self.failure:
            raise LearnerProcessError(self.failure)
        self._send(op="call", function=function, kwargs=encode(kwargs), runner=runner, mutates=list(mutates))
        reply = self._receive()
        if reply.get("op") == "raised":
            raise _rebuild(reply)
        if reply.get("op") != "result":
            raise LearnerProcessError("your code's process sent something that is not an answer")
        try:
            outcome = decode(reply.get("outcome"))
        except ProtocolError as err:
            raise LearnerProcessError(f"your function returned something that cannot be graded ({err})") from None
        return outcome, [str(c) for c in reply.get("changed", [])][:20], float(reply.get("seconds", 0.0))

    def time(self, function: str, kwargs: dict, *, repeats: int = 5, give_up_after: float = 10.0) -> float:
        if self.failure:
            raise LearnerProcessError(self.failure)
        self._send(op="time", function=function, kwargs=encode(kwargs), repeats=repeats, give_up_after=give_up_after)
        reply = self._receive()
        if reply.get("op") == "raised":
            raise _rebuild(reply)
        return float(reply.get("seconds", float("inf")))

    def close(self, keep_tmp: bool = False) -> None:
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                self._proc.kill()
        self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if not keep_tmp:
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def function(self, name: str) -> RemoteFunction:
        return RemoteFunction(self, name)


class RemoteFunction:
    """One of the learner's functions, living in a LearnerProcess; what dlcourse.feedback.checks is handed."""

    def __init__(self, process: LearnerProcess, name: str):
        self.process, self.__name__ = process, name

    def __repr__(self) -> str:
        return f"<your function {self.__name__}>"

    def remote_call(self, kwargs, runner=None, mutates=()):
        """(outcome, inputs changed in place) of the learner's function on kwargs, through the exercise's runner."""
        outcome, changed, _ = self.process.call(self.__name__, kwargs, runner=runner, mutates=mutates)
        return outcome, changed

    def remote_time(self, kwargs, repeats=5, give_up_after=10.0) -> float:
        return self.process.time(self.__name__, kwargs, repeats=repeats, give_up_after=give_up_after)

    def __call__(self, **kwargs):
        return self.remote_call(kwargs)[0]
