"""``dlcourse validate LAB.ipynb``: a student's check of a whole lab before handing it in, without nbgrader.

It runs the notebook top to bottom in a fresh kernel (as *Restart Kernel and Run All Cells* would, outputs not
saved) and lists every check by name: passed, failed with its one-line message, or not run because a check
before it in the same cell failed. Like ``nbgrader validate`` it runs only the visible checks, in the
learner's own kernel, so it decides nothing: grading re-runs them with the hidden ones, out of the learner's
reach.

A check cell may hold several checks (``for name, fn in {...}.items(): check_exercise(name, fn)``), and the
first one that fails stops the cell. So the checks a cell means to run are read from its code
(``planned_checks``), and the ones that did run announce themselves from the kernel (``announce_checks``, run
there before the notebook): the report names each, and its totals count exactly the lines it lists.

Needs nbclient, nbformat and ipykernel, which the ``[lab]`` extra installs with JupyterLab.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

CELL_TIMEOUT = 600  # seconds per cell: the labs' slowest cell trains for about a minute on two cores

# The course's checks (dlcourse.feedback.checks), with what a passing one is said to have shown when it
# printed no line of its own (check_gradient prints a table, not a line).
CHECKS = {
    "check_exercise": "matches the reference",
    "check_speed": "fast enough",
    "check_gradient": "gradients agree with finite differences",
}
EVENT_MIME = "application/vnd.dlcourse.check+json"  # what announce_checks displays; no front end renders it
PASS, FAIL = "\u2714", "\u2718"


@dataclass
class CheckResult:
    index: int  # the cell's position in the notebook
    passed: bool
    message: str  # the line to show, its mark included
    is_check: bool = True  # False: a cell that raised outside any check (an answer, a demo, a check cell's setup)


# --- in the kernel: the checks say when they start and how they end ----------------------------------------


def announce_checks() -> None:
    """Wrap the course's checks so that each call from the notebook displays an event (EVENT_MIME): started,
    then passed or failed with the first line of what it raised. Runs in the kernel, before the notebook.

    Calls from inside dlcourse (the explorers' ``working_functions`` tries the learner's functions quietly)
    are not the notebook's checks and pass through unannounced.
    """
    import dlcourse.feedback as feedback
    from dlcourse.feedback import checks

    for kind in CHECKS:
        wrapped = _announcing(kind, getattr(checks, kind))
        setattr(checks, kind, wrapped)
        setattr(feedback, kind, wrapped)


def _announcing(kind: str, check):
    import functools

    from IPython.display import display

    def announce(name, status, message=""):
        display({EVENT_MIME: {"kind": kind, "name": str(name), "status": status, "message": message}}, raw=True)

    @functools.wraps(check)
    def announced(*args, **kwargs):
        if sys._getframe(1).f_globals.get("__name__", "").startswith("dlcourse"):
            return check(*args, **kwargs)
        name = args[0] if args else kwargs.get("name", "?")
        announce(name, "started")
        try:
            result = check(*args, **kwargs)
        except BaseException as err:  # noqa: BLE001 - reported, then raised on unchanged
            announce(name, "failed", _first_line(err))
            raise
        announce(name, "passed")
        return result

    return announced


def _first_line(err: BaseException) -> str:
    """A check's failure says what is wrong in its first line; any other error says its type first."""
    from dlcourse.feedback.checks import CheckFailed

    text = str(err) if isinstance(err, CheckFailed) else f"{type(err).__name__}: {err}".rstrip(": ")
    return next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)


# --- in this process: what each check cell meant to run --------------------------------------------------


def planned_checks(source: str) -> list[tuple[str, str]] | None:
    """The (check function, exercise name) calls a cell's code makes, in the order it makes them, with loops
    over literal collections unrolled; None when that cannot be read from the code (a name computed at run
    time, code that does not parse): then the report lists what ran and nothing more."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)  # %magics and !commands into plain Python
    except ImportError:
        pass
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    try:
        return _calls(tree.body, {})
    except _Unreadable:
        return None


class _Unreadable(Exception):
    """A check whose exercise name the code does not spell out."""


def _calls(nodes, bound: dict[str, str]) -> list[tuple[str, str]]:
    found = []
    for node in nodes:
        if isinstance(node, ast.For):
            values = _literal_items(node.iter)
            if values is None:
                if _calls(node.body, {}) or _calls(node.orelse, {}):
                    raise _Unreadable  # checks in a loop over something only the run knows
                continue
            for value in values:
                found += _calls(node.body, {**bound, **_bind(node.target, value)})
            found += _calls(node.orelse, bound)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CHECKS:
            found += _calls(node.args + [k.value for k in node.keywords], bound)  # a check inside an argument
            first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.func.id, first.value))
            elif isinstance(first, ast.Name) and first.id in bound:
                found.append((node.func.id, bound[first.id]))
            else:
                raise _Unreadable
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue  # defined, not run here
        else:
            found += _calls(list(ast.iter_child_nodes(node)), bound)
    return found


def _literal_items(node) -> list | None:
    """What a for loop over a literal visits: a list, tuple or set display, a dict display or its .items()
    (as (key, value) pairs), .keys(); None for anything else."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args:
        if isinstance(node.func.value, ast.Dict) and node.func.attr == "items":
            return [ast.Tuple(elts=[k, v]) for k, v in zip(node.func.value.keys, node.func.value.values)]
        if isinstance(node.func.value, ast.Dict) and node.func.attr == "keys":
            return list(node.func.value.keys)
        return None
    if isinstance(node, ast.Dict):
        return list(node.keys)
    if isinstance(node, (ast.List, ast.Tuple)):
        return list(node.elts)
    return None


def _bind(target, value) -> dict[str, str]:
    """The loop variables that a literal item gives a string: `name` in `for name, fn in {...}.items()`."""
    if isinstance(target, ast.Name):
        return {target.id: value.value} if isinstance(value, ast.Constant) and isinstance(value.value, str) else {}
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
        if len(target.elts) == len(value.elts):
            return {k: v for t, e in zip(target.elts, value.elts) for k, v in _bind(t, e).items()}
    return {}


# --- reading the run back --------------------------------------------------------------------------------


def _label(kind: str, name: str) -> str:
    return {"check_speed": f"{name} (speed)", "check_gradient": f"{name} (gradient check)"}.get(kind, name)


def _ran(cell) -> tuple[list[dict], str | None]:
    """The checks a cell ran, as they announced themselves, in order ({kind, name, passed, line}), and the
    first line of the error the cell ended with (None when it finished)."""
    ran, current, printed = [], None, []
    error = None
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            # A check's failure says what is wrong in its first line; any other error says its type first.
            text = output.evalue if output.ename == "CheckFailed" else f"{output.ename}: {output.evalue}"
            error = next((line.strip() for line in text.splitlines() if line.strip()), "").rstrip(": ") or output.ename
        elif output.output_type == "stream" and output.get("name") == "stdout" and current is not None:
            printed += [line.strip() for line in output.text.splitlines() if line.strip()]
        elif output.output_type == "display_data" and EVENT_MIME in output.get("data", {}):
            event = output.data[EVENT_MIME]
            kind, name = event["kind"], event["name"]
            if event["status"] == "started":
                current, printed = (kind, name), []
                continue
            own = [line for line in printed if line.startswith(f"{PASS} {name}")]
            if event["status"] == "passed":
                ran.append(_passed(kind, name, own[-1] if own else None))
            else:
                ran.append(_failed(kind, name, event["message"]))
            current = None
    if current is not None:  # started, never ended: the kernel was interrupted or died in it
        ran.append(_failed(*current, error or "did not finish"))
    return ran, error


def _passed(kind: str, name: str, line: str | None = None) -> dict:
    line = line or f"{PASS} {_label(kind, name)}: {CHECKS.get(kind, 'passed')}"
    return {"kind": kind, "name": name, "passed": True, "line": line}


def _failed(kind: str, name: str, message: str) -> dict:
    """'✘ tanh does not match ...' when the message starts with the name, else '✘ tanh: message'."""
    if message.startswith(name):
        line = f"{FAIL} {_label(kind, name)}{message[len(name) :]}"
    else:
        line = f"{FAIL} {_label(kind, name)}: {message}"
    return {"kind": kind, "name": name, "passed": False, "line": line}


def _inferred(cell, plan: list[tuple[str, str]], error: str | None) -> list[dict]:
    """What ran when no check announced itself (announce_checks could not be installed): a cell that finished
    ran and passed all its checks; one that raised passed those that printed their ✔ line, then failed at the
    next one."""
    printed = [line.strip() for o in cell.outputs if o.output_type == "stream" for line in o.text.splitlines()]
    ran = []
    for kind, name in plan:
        own = next((line for line in printed if line.startswith(f"{PASS} {name}")), None)
        if error is None or own is not None:
            ran.append(_passed(kind, name, own))
            if own is not None:
                printed.remove(own)
        else:
            ran.append(_failed(kind, name, error))
            break
    return ran


def cell_results(index: int, cell, grade_id: str, announced: bool = True) -> list[CheckResult]:
    """One line per check the check cell means to run, and one for an error it raised outside its checks.

    announced: whether announce_checks ran in the kernel before the notebook (then the cell's outputs say
    which checks ran; else they are inferred from the lines the checks print).
    """
    plan = planned_checks(cell.source) or []
    if cell.get("execution_count") is None:
        reason = "not run (an earlier cell stopped the run)"
        return [CheckResult(index, False, f"{FAIL} {_label(k, n)}: {reason}") for k, n in plan] or [
            CheckResult(index, False, f"{FAIL} {grade_id}: {reason}")
        ]
    ran, error = _ran(cell)
    if not announced:
        ran = _inferred(cell, plan, error)
    results = [CheckResult(index, r["passed"], r["line"]) for r in ran]
    failed = next((r for r in ran if not r["passed"]), None)
    remaining = list(plan)
    for r in ran:  # what ran is crossed off the plan; what is left did not run
        if (r["kind"], r["name"]) in remaining:
            remaining.remove((r["kind"], r["name"]))
    if error is not None:  # (a cell that finished called what it called: a check left in the plan sits in a branch)
        stopped = f"{_label(failed['kind'], failed['name'])} failed before it" if failed else "the cell raised first"
        results += [CheckResult(index, False, f"{FAIL} {_label(k, n)}: not run ({stopped})") for k, n in remaining]
    if error is not None and failed is None:
        # Raised outside any check: before the first (a name the cell uses is not defined), between or after.
        if not results:  # nothing to name: the cell itself is the check
            return [CheckResult(index, False, f"{FAIL} {grade_id}: {error}")]
        results.append(CheckResult(index, False, f"{FAIL} the cell raised {error}", is_check=False))
    if not results:  # a check cell without the course's checks (plain asserts) that finished: it passed
        printed = [line.strip() for o in cell.outputs if o.output_type == "stream" for line in o.text.splitlines()]
        first = next((line for line in printed if line), "passed")
        results.append(CheckResult(index, True, first if first[:1] in (PASS, FAIL) else f"{PASS} {grade_id}: {first}"))
    return results


def _is_check(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def validate(path: Path, timeout: int = CELL_TIMEOUT) -> list[CheckResult]:
    """Execute the notebook at ``path`` in a fresh kernel (in its own folder) and report every check."""
    import nbformat
    from nbclient import NotebookClient

    from .kernel_transport import kernel_config

    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"expected the path of a lab notebook (.ipynb), got {str(path)!r}")
    nb = nbformat.read(path, as_version=4)
    if not any(_is_check(cell) for cell in nb.cells):
        raise ValueError(f"{path.name} has no check cells: is it one of the course's labs?")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    # Run first, in the same kernel: the checks announce themselves. Removed again before reading the run.
    announce = "from dlcourse.notebook_check import announce_checks\nannounce_checks()"
    nb.cells.insert(0, nbformat.v4.new_code_cell(announce))
    client = NotebookClient(
        nb,
        config=kernel_config(),  # encrypted: no "running over TCP without encryption" warning from the kernel
        timeout=timeout,
        allow_errors=True,  # every check runs, as with Run All past the raises-exception tags
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    # A kernel without dlcourse (another interpreter's python3): the report infers what ran from what printed.
    announced = not any(o.output_type == "error" for o in nb.cells.pop(0).outputs)
    results = []
    for i, cell in enumerate(nb.cells):
        if _is_check(cell):
            grade_id = cell.metadata["nbgrader"].get("grade_id", f"cell {i + 1}")
            results += cell_results(i, cell, grade_id, announced)
        elif cell.cell_type == "code" and any(o.output_type == "error" for o in cell.outputs):
            # An answer or demo cell that raised: the checks may still pass on what it defined before the
            # error, but the grader's run would show the same error.
            error = next(o for o in cell.outputs if o.output_type == "error")
            results.append(CheckResult(i, False, f"{FAIL} (not a check) raised {error.ename}: {error.evalue}", False))
    return results


def summary(results: list[CheckResult]) -> str:
    """'3 of 12 checks pass; fix the ones marked ✘': counts of the check lines listed, nothing else."""
    checks = [r for r in results if r.is_check]
    passed = sum(r.passed for r in checks)
    line = f"{passed} of {len(checks)} checks pass"
    others = sum(not r.is_check for r in results)
    if others:
        line += f", and {others} other {'error' if others == 1 else 'errors'}"
    return line + (f"; fix the ones marked {FAIL}" if any(not r.passed for r in results) else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dlcourse validate",
        description="Run a lab top to bottom in a fresh kernel and list every check; exit 0 when all pass.",
    )
    parser.add_argument("notebook", type=Path, help="the lab, e.g. labs/01-neuron.ipynb")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        import ipykernel  # noqa: F401
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ModuleNotFoundError as err:
        print(f'dlcourse validate needs {err.name}: python -m pip install -e ".[lab]"', file=sys.stderr)
        return 2
    print(f"running {args.notebook} top to bottom in a fresh kernel ...", flush=True)
    try:
        results = validate(args.notebook, args.timeout)
    except ValueError as err:
        parser.error(str(err))
    for result in results:
        print(f"  cell {result.index + 1}: {result.message}")
    print(summary(results))
    return 0 if all(r.passed for r in results) else 1
