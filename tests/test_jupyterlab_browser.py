"""Opt-in: the labs' explorers render and respond in a real JupyterLab, driven by headless Chromium.

Needs Debian's chromium and the playwright Python package, which the test extra does not install:

    apt-get install chromium && python -m pip install playwright
    DLCOURSE_BROWSER_TESTS=1 python -m pytest tests/test_jupyterlab_browser.py

It starts JupyterLab on localhost, opens each lab's model answer (outputs cleared), runs every cell, checks
that each explorer shows its controls and a figure, moves a slider and checks that the figure changed.
Screenshots go to $DLCOURSE_SCREENSHOTS (default: the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from course_helpers import LABS, ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("DLCOURSE_BROWSER_TESTS") != "1" or not shutil.which("chromium"),
        reason="browser tests are opt-in: set DLCOURSE_BROWSER_TESTS=1 with chromium and playwright installed",
    ),
]
TOKEN = "dlcourse-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    work = tmp_path_factory.mktemp("lab-root")
    for lab in LABS:
        nb = nbformat.read(ROOT / "solutions" / f"{lab}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, work / f"{lab}.ipynb")
    port = _free_port()
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    yield base
    server.terminate()
    server.wait(timeout=30)


@pytest.mark.parametrize("lab", LABS)
def test_explorers_render_and_respond(lab, jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("DLCOURSE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # A workspace of its own, so that JupyterLab does not reopen the notebooks of the previous test.
        page.goto(f"{jupyterlab}/lab/workspaces/{lab}/tree/{lab}.ipynb?reset&token={TOKEN}")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
        page.get_by_role("menuitem", name="Run").click()
        page.get_by_text("Run All Cells", exact=True).click()
        sliders = page.locator(".widget-slider")
        sliders.first.wait_for(timeout=120_000)
        page.wait_for_function(
            "document.querySelectorAll('.jp-Cell-inputArea .jp-InputPrompt').length > 0 && "
            "![...document.querySelectorAll('.jp-InputPrompt')].some(e => e.textContent.includes('*'))",
            timeout=180_000,
        )
        explorers = page.locator(".widget-vbox")
        assert explorers.count() >= 1
        for i in range(explorers.count()):
            explorer = explorers.nth(i)
            explorer.scroll_into_view_if_needed()
            assert explorer.locator("img").count() >= 1, "an explorer shows its figure"
            explorer.screenshot(path=str(shots / f"{lab}-explorer{i}-before.png"))
            before = explorer.locator("img").first.get_attribute("src")
            handle = explorer.locator(".widget-slider .noUi-handle").first
            handle.click()
            for _ in range(8):
                handle.press("ArrowRight")
            page.wait_for_timeout(1500)
            explorer.screenshot(path=str(shots / f"{lab}-explorer{i}-after.png"))
            assert explorer.locator("img").first.get_attribute("src") != before, "moving a slider redraws the figure"
        page.screenshot(path=str(shots / f"{lab}-page.png"), full_page=False)
        browser.close()
