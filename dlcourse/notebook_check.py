"""``dlcourse validate LAB.ipynb``: a student's check of a whole lab before handing it in, without nbgrader.

It runs the notebook top to bottom in a fresh kernel (as *Restart Kernel and Run All Cells* would, outputs not
saved) and reports each check cell: passed, failed with its one-line message, or not reached. Like
``nbgrader validate`` it runs only the visible checks, in the learner's own kernel, so it decides nothing:
grading re-runs them with the hidden ones, out of the learner's reach.

Needs nbclient, nbformat and ipykernel, which the ``[lab]`` extra installs with JupyterLab.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

CELL_TIMEOUT = 600  # seconds per cell: the labs' slowest cell trains for about a minute on two cores


@dataclass
class CheckResult:
    index: int  # the cell's position in the notebook
    passed: bool
    message: str  # the first line of what the cell printed or raised
    is_check: bool = True  # False: an answer or demo cell that raised


def _is_check(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _summary(cell) -> tuple[bool, str]:
    """(passed, first line of the output) of an executed cell."""
    error = next((o for o in cell.outputs if o.output_type == "error"), None)
    text = "".join(
        o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "")
        for o in cell.outputs
        if o.output_type in ("stream", "execute_result", "display_data") and o.get("name") != "stderr"
    )
    lines = [line for line in text.splitlines() if line.strip()]
    if error is not None:
        # The course's checks print their compact message before raising; a bare error says its type.
        return False, lines[0] if lines else f"{error.ename}: {error.evalue}".strip()
    return True, lines[0] if lines else "passed"


def validate(path: Path, timeout: int = CELL_TIMEOUT) -> list[CheckResult]:
    """Execute the notebook at ``path`` in a fresh kernel (in its own folder) and report every check cell."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"expected the path of a lab notebook (.ipynb), got {str(path)!r}")
    nb = nbformat.read(path, as_version=4)
    checks = {i for i, cell in enumerate(nb.cells) if _is_check(cell)}
    if not checks:
        raise ValueError(f"{path.name} has no check cells: is it one of the course's labs?")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(
        nb,
        timeout=timeout,
        allow_errors=True,  # every check runs, as with Run All past the raises-exception tags
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    results = []
    for i, cell in enumerate(nb.cells):
        if i in checks and cell.execution_count is None:
            results.append(CheckResult(i, False, "not reached (an earlier cell stopped the run)"))
        elif i in checks:
            results.append(CheckResult(i, *_summary(cell)))
        elif cell.cell_type == "code" and any(o.output_type == "error" for o in cell.outputs):
            # An answer or demo cell that raised: the checks may still pass on what it defined before the
            # error, but the grader's run would show the same error.
            error = next(o for o in cell.outputs if o.output_type == "error")
            results.append(CheckResult(i, False, f"(not a check) raised {error.ename}: {error.evalue}", False))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dlcourse validate",
        description="Run a lab top to bottom in a fresh kernel and report every check; exit 0 when all pass.",
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
        mark = "\u2714" if result.passed else "\u2718"
        # The course's checks start their line with the mark already.
        line = result.message if result.message[:1] in ("\u2714", "\u2718") else f"{mark} {result.message}"
        print(f"  cell {result.index + 1}: {line}")
    checks = [r for r in results if r.is_check]
    passed = sum(r.passed for r in checks)
    failed = len(results) - passed
    print(f"{passed} of {len(checks)} checks pass" + ("; fix the ones marked \u2718" if failed else ""))
    return 1 if failed else 0
