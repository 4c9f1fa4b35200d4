"""The labs in a real JupyterLab, driven by headless Chromium, as a student meets them.

Needs Debian's chromium (``apt-get install chromium``) and the playwright Python package (in the ``[test]``
extra; it drives the system's chromium, no browser download). Without them these tests are skipped, except
where ``DLCOURSE_BROWSER_TESTS=1`` says they must run (CI sets it): then a missing browser fails them.

It starts JupyterLab on localhost, opens each lab's model answer (outputs cleared), runs every cell, checks
that the solved lab runs clean (every code cell executed, no error), that each explorer shows its controls
and a figure, moves a slider and checks that the figure changed. It also opens each lab as released, blank
(``raise NotImplementedError()`` in every exercise), and checks that Run All carries on past every failing
check cell (tagged ``raises-exception``) to the end, that a failing check shows one compact line
("✘ weighted_sum is not implemented yet ...") and that the explorers further down still render.
Screenshots go to $DLCOURSE_SCREENSHOTS (default: the test's temporary folder), so that a person can look
at what the browser showed after a failure.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import nbformat
import pytest
from course_helpers import LABS, ROOT, free_port, machine_to_myself, missing_browser

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def _browser_available():
    missing = missing_browser()
    if missing and os.environ.get("DLCOURSE_BROWSER_TESTS") == "1":
        pytest.fail(f"DLCOURSE_BROWSER_TESTS=1 but {missing}")
    if missing:
        pytest.skip(missing)


TOKEN = "dlcourse-test"
SERVER_LOGS: dict[str, Path] = {}  # base URL -> the server's log


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    work = tmp_path_factory.mktemp("lab-root")
    for lab in LABS:
        nb = nbformat.read(ROOT / "solutions" / f"{lab}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nb.metadata.pop("widgets", None)  # the executed solution's saved widget state: it has no outputs now
        nbformat.write(nb, work / f"{lab}.ipynb")
    (work / "blank").mkdir()
    for lab in LABS:  # the labs exactly as released to learners
        shutil.copyfile(ROOT / "labs" / f"{lab}.ipynb", work / "blank" / f"{lab}.ipynb")
    port = free_port()
    log = open(work / "jupyterlab.log", "wb")  # its tail goes into a failure's message
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={work}",
            "--allow-root",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    SERVER_LOGS[base] = work / "jupyterlab.log"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    yield base
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:  # a busy machine: do not leave the server behind
        server.kill()
        server.wait(timeout=30)
    log.close()


@pytest.mark.parametrize("lab", LABS)
def test_explorers_render_and_respond(lab, jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("DLCOURSE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    # The machine to itself: beside the other worker's torch and graders, lab 09's two minutes took over ten in
    # CI (and lab 08's 40 s six minutes).
    with machine_to_myself():
        try:
            _explore(lab, jupyterlab, shots, sync_playwright)
        finally:
            # The kernel would go on computing the settings the slider passed through (lab 09 trains networks for
            # each) while later tests run: end it with the test.
            _shut_down_kernel(jupyterlab, f"{lab}.ipynb")


def _explore(lab, jupyterlab, shots, sync_playwright):
    nb = nbformat.read(ROOT / "solutions" / f"{lab}.ipynb", as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    factory = re.compile(r"\b(?:" + "|".join(_explorer_factories()) + r")\(")
    explorer_cells = [i for i in code if factory.search(nb.cells[i].source)]
    assert explorer_cells, f"{lab} has an explorer"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text[:300]}"))
        cell_nodes = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
        for attempt in (1, 2):
            # A workspace of its own, so that JupyterLab does not reopen the notebooks of the previous test.
            page.goto(f"{jupyterlab}/lab/workspaces/{lab}-{attempt}/tree/{lab}.ipynb?reset&token={TOKEN}")
            page.wait_for_function(f"({_CELLS_JS})().length === {len(nb.cells)}", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            # First the whole run (labs 07 and 09 train networks), then the explorers, each scrolled into view:
            # JupyterLab leaves cells out of view unrendered (content-visibility), and waiting for a widget while
            # Run All scrolls past it is a race that a loaded machine loses.
            stopped = _run_all(page, code, lab)
            cells = page.evaluate(_CELLS_JS)
            # The solved lab runs clean: every code cell executed, none shows an error.
            unexecuted = [i for i in code if not _count(cells[i]["prompt"])]
            errors = [i for i in code if "Traceback" in cells[i]["output"]]
            if unexecuted or errors:
                page.screenshot(path=str(shots / f"{lab}-solved-not-clean.png"))
            assert not unexecuted, f"code cells {unexecuted} of the solved lab did not run: {stopped}"
            assert not errors, f"cells {errors} of the solved lab show an error: {cells[errors[0]]['output'][:600]!r}"
            missing = []
            for i in explorer_cells:
                cell_nodes.nth(i).scroll_into_view_if_needed(timeout=30_000)
                try:
                    cell_nodes.nth(i).locator(".widget-slider").first.wait_for(state="attached", timeout=60_000)
                except Exception:  # noqa: BLE001 - said below, with what the page showed instead
                    missing.append(i)
            if not missing:
                break
            shot = shots / f"{lab}-no-explorer-{attempt}.png"
            page.screenshot(path=str(shot))
            problems = [line for line in console if line.startswith(("error", "warning"))][-8:]
            seen = (
                f"no explorer in cells {missing} of {lab} (attempt {attempt}) after every cell ran: the first shows "
                f"{cells[missing[0]]['output'][:300]!r}; the browser's console: {problems}; the server's log ends "
                f"{_server_log_tail(jupyterlab)!r} (screenshot {shot})"
            )
            if attempt == 2:
                raise AssertionError(seen)
            # Seen in CI only, on the first labs a freshly started server opened on a loaded machine: say what it
            # was (the warnings summary shows it) and try once more on a fresh kernel.
            warnings.warn(seen, stacklevel=1)
            _shut_down_kernel(jupyterlab, f"{lab}.ipynb")
        for n, i in enumerate(explorer_cells):
            explorer = cell_nodes.nth(i).locator(".widget-vbox").first
            explorer.scroll_into_view_if_needed()
            explorer.locator("img").first.wait_for(timeout=60_000)
            explorer.screenshot(path=str(shots / f"{lab}-explorer{n}-before.png"))
            before = explorer.locator("img").first.get_attribute("src")
            handle = explorer.locator(".widget-slider .noUi-handle").first
            handle.click()
            for _ in range(8):
                handle.press("ArrowRight")
            # Some explorers compute for seconds per setting (lab 09's trains two networks): wait for the redraw.
            deadline = time.monotonic() + 90
            while explorer.locator("img").first.get_attribute("src") == before and time.monotonic() < deadline:
                page.wait_for_timeout(500)
            explorer.screenshot(path=str(shots / f"{lab}-explorer{n}-after.png"))
            assert explorer.locator("img").first.get_attribute("src") != before, "moving a slider redraws the figure"
        page.screenshot(path=str(shots / f"{lab}-page.png"), full_page=False)
        browser.close()


def _server_log_tail(base: str, chars: int = 1500) -> str:
    log = SERVER_LOGS.get(base)
    return log.read_text(errors="replace")[-chars:] if log and log.exists() else ""


# --- Run All on a blank lab ------------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN_ALL_TIMEOUT = 600  # seconds for the whole notebook on a busy two-core machine
STALLED_AFTER = 30  # seconds of an idle kernel with cells still unexecuted: Run All stopped


def _explorer_factories() -> list[str]:
    """The functions of dlcourse.explorers.widgets that build an explorer widget."""
    import dlcourse.explorers.widgets as widgets

    return sorted(
        name
        for name, fn in inspect.getmembers(widgets, inspect.isfunction)
        if fn.__module__ == widgets.__name__
        and fn.__annotations__.get("return") in ("ExplorerWidget", widgets.ExplorerWidget)
    )


def _first_exercise(src: str) -> str | None:
    """The exercise a check cell checks first: check_exercise("name", ...) or the first key of its loop."""
    match = re.search(r'check_exercise\("([A-Za-z0-9_]+)"|\{"([A-Za-z0-9_]+)": ', src)
    return match and (match.group(1) or match.group(2))


# Per cell of the open notebook, in order: code or not, the input prompt ("[7]:") and the output text.
_CELLS_JS = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')].map(c => ({
    code: c.classList.contains('jp-CodeCell'),
    prompt: (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
    output: (c.querySelector('.jp-OutputArea') || {}).textContent || '',
}))"""
_KERNEL_JS = """() => (document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator')
    || {dataset: {}}).dataset.status || ''"""


def _count(prompt: str) -> int | None:
    match = re.search(r"\[(\d+)\]", prompt)
    return int(match.group(1)) if match else None


def _shut_down_kernel(base: str, path: str) -> None:
    """End the notebook's kernel, so the kernels of earlier tests do not pile up on a small machine."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={TOKEN}", timeout=10) as reply:
        sessions = json.load(reply)
    for session in sessions:
        if session.get("path") == path:
            request = urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={TOKEN}", method="DELETE")
            urllib.request.urlopen(request, timeout=30).close()


def _run_all(page, code: list[int], lab: str) -> list[str]:
    """Run -> Run All Cells on the open notebook and wait until it is done; what stopped it, or nothing.

    Done when the kernel is idle and the last code cell has its count. Run All sends every cell to the kernel at
    once and, after the first error reply, JupyterLab stops showing [*] on the cells still queued, so "no [*]
    left" says nothing; an idle kernel with cells left unexecuted for STALLED_AFTER seconds means that the kernel
    dropped them: Run All stopped."""
    page.get_by_role("menuitem", name="Run").click()
    page.get_by_text("Run All Cells", exact=True).click()
    started = time.monotonic()
    idle_since = None
    problems = []
    while True:
        cells, status = page.evaluate(_CELLS_JS), page.evaluate(_KERNEL_JS)
        now = time.monotonic()
        if status == "idle" and _count(cells[code[-1]]["prompt"]):
            break
        idle_since = (idle_since or now) if status == "idle" else None
        if idle_since and now - idle_since > STALLED_AFTER:
            problems.append(f"Run All stopped: the kernel has been idle for {STALLED_AFTER}s with cells unexecuted")
            break
        if now - started > RUN_ALL_TIMEOUT:
            problems.append(f"Run All did not finish in {RUN_ALL_TIMEOUT}s (kernel {status!r})")
            break
        page.wait_for_timeout(1000)
    print(f"{lab}: Run All took {time.monotonic() - started:.0f}s")
    return problems


@pytest.mark.parametrize("lab", LABS)
def test_run_all_on_a_blank_lab_reaches_the_end(lab, jupyterlab, tmp_path):
    """Run -> Run All Cells on the lab as released: failing checks do not stop it, and say so in one line."""
    from playwright.sync_api import sync_playwright

    nb = nbformat.read(ROOT / "labs" / f"{lab}.ipynb", as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    checks = [
        i
        for i in code
        if nb.cells[i].metadata.get("nbgrader", {}).get("grade")
        and not nb.cells[i].metadata.get("nbgrader", {}).get("solution")
    ]
    factory = re.compile(r"\b(?:" + "|".join(_explorer_factories()) + r")\(")
    explorers = [i for i in code if factory.search(nb.cells[i].source)]
    assert checks and explorers, "a lab has check cells and at least one explorer"
    untagged = [i for i in checks if "raises-exception" not in nb.cells[i].metadata.get("tags", [])]
    assert not untagged, f"check cells {untagged} lack the raises-exception tag, so Run All would stop there"

    shots = Path(os.environ.get("DLCOURSE_SCREENSHOTS", tmp_path)) / "run-all-blank"
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of {lab}: {shots}")
    path = f"blank/{lab}.ipynb"
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # A workspace of its own, so that JupyterLab opens this notebook alone.
            page.goto(f"{jupyterlab}/lab/workspaces/blank-{lab}/tree/{path}?reset&token={TOKEN}")
            try:  # cells are attached a few at a time
                page.wait_for_function(f"({_CELLS_JS})().length === {len(nb.cells)}", timeout=60_000)
            except Exception:  # noqa: BLE001 - the assertion below says what is shown
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            cells = page.evaluate(_CELLS_JS)
            assert len(cells) == len(nb.cells), f"JupyterLab shows {len(cells)} cells, the notebook has {len(nb.cells)}"
            assert not any(_count(c["prompt"]) for c in cells), "a blank lab opens with no cell executed"

            with machine_to_myself():  # as in the explorer test: lab 09 took 500 s beside the other worker
                problems += _run_all(page, code, lab)
            finished = not problems

            # (c) every explorer shows its controls and its figure (widget views render after the kernel replies)
            cell_nodes = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
            for i in explorers:
                widget = cell_nodes.nth(i).locator(".jp-OutputArea .widget-vbox").first
                try:  # into view first: JupyterLab does not render cells out of view (content-visibility)
                    widget.wait_for(state="attached", timeout=60_000 if finished else 1_000)
                    widget.scroll_into_view_if_needed(timeout=10_000)
                    widget.locator("img").first.wait_for(timeout=60_000 if finished else 1_000)
                except Exception:  # noqa: BLE001 - reported below with the cell's output
                    pass
                controls = widget.locator(
                    ".widget-slider, .widget-dropdown, .widget-select-multiple, .widget-text, "
                    ".widget-toggle-buttons, .widget-button, .widget-checkbox"
                )
                if not (widget.count() and controls.count() and widget.locator("img").count()):
                    text = cell_nodes.nth(i).locator(".jp-OutputArea").inner_text()[:600]
                    problems.append(
                        f"cell {i} ({nb.cells[i].source.splitlines()[-1]!r}) shows no explorer with "
                        f"controls and a figure; its output: {text!r}"
                    )
                else:
                    widget.screenshot(path=str(shots / f"{lab}-explorer-cell{i}.png"))

            cells = page.evaluate(_CELLS_JS)
            first = cell_nodes.nth(checks[0])
            first.scroll_into_view_if_needed()
            first.screenshot(path=str(shots / f"{lab}-first-check.png"))
            # The last code cell's output at the bottom of the window, with as much of the cell as fits above.
            cell_nodes.nth(code[-1]).evaluate("node => node.scrollIntoView({block: 'end'})")
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / f"{lab}-end.png"))
        finally:
            browser.close()
            _shut_down_kernel(jupyterlab, path)

    # (a) every code cell ran
    missing = [i for i in code if not _count(cells[i]["prompt"])]
    if missing:
        problems.append(f"code cells {missing} were not executed (first: {nb.cells[missing[0]].source[:80]!r})")
    # (b) every check fails with one compact line naming its exercise, no traceback through dlcourse
    for i in checks:
        out = cells[i]["output"].strip()
        name = _first_exercise(nb.cells[i].source)
        head = out.splitlines()[0] if out else ""
        if (
            not (head.startswith("\u2718") and f"{name} is not implemented yet" in head)
            or "checks.py" in out
            or "Traceback" in out
            or len(out.splitlines()) > 2
        ):
            problems.append(f"check cell {i} ({name}) shows {out[:400]!r}")
    assert not problems, f"{lab} (screenshots in {shots}):\n" + "\n".join(problems)
