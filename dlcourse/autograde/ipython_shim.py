"""Answer cells as Jupyter runs them: IPython syntax turned into Python, and a harmless IPython in the worker.

A learner's answer cell may hold ``%timeit relu(x)``, ``!pip list``, ``relu?`` or start with ``%%time``; it runs
in Jupyter, so it must grade. The grader (which has IPython) turns each cell into plain Python exactly as
IPython does (``as_python``): ``%timeit relu(x)`` becomes ``get_ipython().run_line_magic('timeit', 'relu(x)')``.
The worker (which has no IPython, and must not run one) gives that code a small stand-in ``get_ipython()``
(``Shell``) whose magics do something sensible and harmless:

=============================================  ==================================================================
IPython syntax                                 what the worker does
=============================================  ==================================================================
``%time``, ``%timeit`` (line or cell)          runs the statement or the cell body once, in the cell's names
``%%capture [name]``                           runs the body once; ``name`` gets an empty capture
``!cmd``, ``x = !cmd``, ``%pip``, ``%conda``   nothing (``x`` gets an empty list): no shell in grading
``%matplotlib``, ``%config``, ``x?``, others   nothing
``%%html``, ``%%bash``, other cell magics      nothing (the body is not Python)
``display(...)``                               nothing
=============================================  ==================================================================

This module runs on both sides: ``as_python`` in the grader, the rest in the worker, which imports only the
standard library here.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import types

RUN_ONCE = {"time", "timeit", "prun", "capture"}
_RUNS_ITS_BODY = re.compile(r"^%%(\w+)(.*)$")
_TIMEIT_OPTION = re.compile(r"^\s*-(?:[nrp]\s*\d+|[tcqo])(?=\s)")


# IPython transforms a cell once per line of its syntax, reading the whole cell each time: a cell with more
# such lines than this, or too long for their number, is not transformed (Python then reports the syntax).
SYNTAX_LINES_LIMIT = 50
TRANSFORM_BUDGET = 4_000_000  # characters IPython may read for one cell: lines of syntax x the cell's length
_SYNTAX_LINE = re.compile(r"^\s*[%!]|\?\s*$|=\s*!")


@functools.lru_cache(maxsize=32)  # every test cell of a submission runs the same answer cells
def as_python(source: str) -> str:
    """The answer cell ``source`` with IPython's syntax turned into Python, as IPython does before running it
    (unchanged where IPython is missing or cannot make sense of it: then Python reports the syntax error).
    Lines keep their numbers in the learner's cell: IPython drops leading blank lines, which come back here.
    A cell that starts with magics that run their body (``%%time``) becomes those magics' calls, one a line,
    and the body, itself turned into Python (IPython does the same when the magic runs), below them. Never
    raises, and its cost is bounded (SYNTAX_LINES_LIMIT, TRANSFORM_BUDGET): it runs in the grader."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - the grader installs IPython with nbgrader
        return source
    lines, heads = source.splitlines(True), []
    while True:  # a loop, not recursion: a cell may start with any number of %%time lines
        blank = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
        magic = _RUNS_ITS_BODY.match(lines[blank]) if blank < len(lines) else None
        if not (magic and magic.group(1) in RUN_ONCE):
            break
        heads.append(
            "\n" * blank + f"get_ipython().run_cell_magic({magic.group(1)!r}, {magic.group(2).strip()!r}, '')\n"
        )
        lines = lines[blank + 1 :]
    body = "".join(lines)
    syntax = sum(1 for line in lines if _SYNTAX_LINE.search(line))
    if syntax > SYNTAX_LINES_LIMIT or max(syntax, 1) * len(body) > TRANSFORM_BUDGET:
        return "".join(heads) + body  # too much syntax to transform: Python reports it
    try:
        python = TransformerManager().transform_cell(body)
    except Exception:  # noqa: BLE001 - leave it to Python's own syntax error
        return "".join(heads) + body
    python = "\n" * blank + python if blank and not python.startswith("\n") else python
    return "".join(heads) + python


# --- the worker's side -----------------------------------------------------------------------------------


def _statement(line: str) -> str:
    """A %timeit line without its options (-n 10 -r 3 -q ...)."""
    while True:
        match = _TIMEIT_OPTION.match(line + " ")
        if not match:
            return line.strip()
        line = line[match.end() :]


def _nothing(*args, **kwargs):
    return None


class _Events:
    """``get_ipython().events``: matplotlib registers its display hook here; nothing ever fires."""

    register = unregister = staticmethod(_nothing)


class _Captured:
    """What ``%%capture name`` leaves in ``name``: nothing was shown, so nothing was captured."""

    stdout = stderr = ""
    outputs: list = []
    show = staticmethod(_nothing)


class Shell:
    """``get_ipython()`` in the worker: the calls IPython's transformed syntax makes, each harmless."""

    def __init__(self, namespace: dict):
        self.user_ns = namespace
        self.events = _Events()

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1):
        if name in RUN_ONCE:
            return self._run(_statement(line), sys._getframe(1))
        return None

    def run_cell_magic(self, name: str, line: str, cell: str):
        if name not in RUN_ONCE:
            return None  # %%html, %%bash, %%writefile...: the body is not Python to run here
        if name == "capture" and line.split():
            self.user_ns[line.split()[-1]] = _Captured()
        elif name == "timeit" and line.strip():
            self._run(_statement(line), sys._getframe(1))  # the setup statement
        return self._run(cell, sys._getframe(1), first_line=2)

    def _run(self, code: str, caller, first_line: int = 0):
        """Run code in the learner's names; its lines are numbered as in the learner's cell (a cell magic's
        body starts on the cell's second line; a line magic's statement sits on the line that called it)."""
        filename = caller.f_code.co_filename
        tree = ast.parse(code, filename)
        ast.increment_lineno(tree, (first_line or caller.f_lineno) - 1)
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
            return eval(compile(ast.Expression(tree.body[0].value), filename, "eval"), self.user_ns)
        exec(compile(tree, filename, "exec"), self.user_ns)
        return None

    system = enable_gui = magic = staticmethod(_nothing)

    def getoutput(self, cmd: str, split: bool = True, depth: int = 0) -> list:
        return []


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


class _Shown:
    """HTML(...), Markdown(...), Image(...): made, and shown nowhere."""

    def __init__(self, *args, **kwargs):
        pass


def _made(name: str):
    """Any other name of IPython.display: a class made and shown nowhere, or a function that does nothing."""
    if name.startswith("__"):
        raise AttributeError(name)
    return _Shown if name[:1].isupper() else _nothing


def install(namespace: dict, cells) -> None:
    """Give the learner's names ``get_ipython`` and ``display``, as Jupyter does; and, only where an answer cell
    names IPython (``from IPython.display import display``), a stand-in ``IPython`` module. Only then:
    libraries look for ``IPython`` among the loaded modules to decide how to behave."""
    shell = Shell(namespace)
    namespace["get_ipython"] = lambda: shell
    namespace["display"] = _nothing
    if not any("IPython" in cell for cell in cells):
        return
    display = _module(
        "IPython.display", display=_nothing, clear_output=_nothing, update_display=_nothing, __getattr__=_made
    )
    ipython = _module(
        "IPython", get_ipython=lambda: shell, display=display, version_info=(9, 0, 0, ""), __version__="9.0.0"
    )
    ipython.__path__ = []  # a package, whose other submodules do not exist
    sys.modules.update({"IPython": ipython, "IPython.display": display})
