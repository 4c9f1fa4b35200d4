"""Before the first submission is graded: prove that grading works on this machine, or stop and say why.

``nbgrader autograde`` (through ``CheckedAutograde`` in ``preprocessors.py``) calls ``preflight()`` once per run.
It scores a known-good answer to a real exercise through the whole out-of-reach path (a sandboxed worker, the
plain-data protocol, the grader's comparison with the reference), then starts a sandboxed notebook kernel and
runs one line in it. If either fails, grading stops before anything is recorded, with bubblewrap's or the
kernel's own words and what to do: a machine that cannot grade must never hand every student a 0.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .sandbox import INSTALL_HINT, UNSANDBOXED_VARIABLE

KNOWN_GOOD_ANSWER = "import numpy as np\n\ndef relu(x):\n    return np.maximum(x, 0.0)\n"
KNOWN_GOOD_TEST = 'check_exercise("relu", relu)'
KERNEL_LINE = "print(6 * 7)"
SECONDS = 90.0  # generous: a first start on a cold, busy machine imports NumPy from a cold disk cache

WHAT_TO_DO = (
    "Grading stopped before any submission was graded; nothing was recorded. Check that bubblewrap can create "
    "a sandbox here: `bwrap --ro-bind / / --unshare-all true` must exit 0 (in a container, user namespaces must "
    "be allowed; on Ubuntu 24.04 and later, AppArmor may need to allow bwrap). "
    + INSTALL_HINT.split(", or, on a machine")[0]
    + f". Only for submissions you trust: {UNSANDBOXED_VARIABLE}=1 grades without the sandbox."
)


class PreflightFailed(RuntimeError):
    """Grading cannot work on this machine; the message says what failed and what to do."""


def check_scoring() -> None:
    """Score a known-good ``relu`` through the sandboxed worker: it must pass."""
    from .remote import SandboxFailure
    from .score import score_test_cell

    try:
        verdict = score_test_cell(KNOWN_GOOD_TEST, [KNOWN_GOOD_ANSWER], deadline=SECONDS)
    except SandboxFailure as err:
        raise PreflightFailed(str(err)) from None
    if not verdict.passed:
        raise PreflightFailed(
            "the grader could not score a known-good answer (relu) in its sandbox: "
            + (verdict.message.splitlines() or ["no reason given"])[0]
        )


def check_kernel() -> None:
    """Run one line in a sandboxed notebook kernel, as the feedback run does."""
    import nbformat
    from nbclient import NotebookClient

    from .preprocessors import SandboxedKernelManager

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(KERNEL_LINE)])
    with tempfile.TemporaryDirectory(prefix="dlcourse-preflight-") as folder:
        client = NotebookClient(
            nb,
            timeout=int(SECONDS),
            startup_timeout=int(SECONDS),
            kernel_name="python3",
            kernel_manager_class=SandboxedKernelManager,
            resources={"metadata": {"path": str(Path(folder))}},
        )
        try:
            client.execute()
        except Exception as err:  # noqa: BLE001 - whatever stopped the kernel, the instructor must read it
            raise PreflightFailed(
                f"the grader could not run a notebook kernel in its sandbox ({type(err).__name__}: {err})"[:2000]
            ) from None
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("output_type") == "stream")
    if printed.strip() != "42":
        raise PreflightFailed(f"a sandboxed notebook kernel ran {KERNEL_LINE!r} and printed {printed.strip()!r}")


def preflight() -> None:
    """PreflightFailed, with what failed and what to do, unless this machine can grade."""
    for check in (check_scoring, check_kernel):
        try:
            check()
        except PreflightFailed as err:
            raise PreflightFailed(f"{err}\n{WHAT_TO_DO}") from None
