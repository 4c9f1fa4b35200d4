"""What surrounds the sandbox holds: files, links, the environment, the feedback run, HTML, disk, packages.

Unit-level tests of the perimeter around grading (issue 21, items 1, 2, 3, 9 and 10); the same attacks go
through real ``nbgrader autograde`` in tests/adversarial.py (PERIMETER). Here:

- a submission's files are read and copied only when they are regular files, within a size limit: a link is
  not followed, a FIFO is not opened for reading (it would block), a file over the limit is left out;
- the worker and the notebook kernel start from an environment the grader chose, with none of the
  instructor's variables, sandboxed or not;
- the worker sees no installed package but the declared ones, whatever it appends to ``sys.path``, and can
  write nothing but its capped /tmp (and /dev/shm);
- the kernel runs in a copy of the submission's files, on its own capped /tmp: what it writes, links or
  replaces never reaches the folder it was copied from;
- a kernel that dies, hangs past an interrupt, runs past the run's limit, floods its output or cannot start
  ends the feedback run with a note, never an exception;
- a learner's HTML is sanitised in feedback and formgrader.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from course_helpers import ROOT
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from traitlets.config import Config

from dlcourse.autograde import sandbox
from dlcourse.autograde.preprocessors import (
    LinkSafeCollect,
    SandboxedExecute,
    SandboxedKernelManager,
    _guard_timestamp_reads,
    clean_learner_html,
    copy_regular_files,
    read_regular_file,
)
from dlcourse.autograde.sandbox import Limits, learner_environment, worker_command

needs_sandbox = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap)"
)
CANARY = "instructor-canary-perimeter"
INSTRUCTOR = {"JUPYTERHUB_API_TOKEN": CANARY, "AWS_SECRET_ACCESS_KEY": CANARY}
# Set by ipykernel and IPython themselves when the kernel starts (pagers, colours, the inline backend).
KERNEL_OWN = {"CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "GIT_PAGER", "PAGER", "TERM", "MPLBACKEND"}
KERNEL_OWN |= {"PYDEVD_USE_FRAME_EVAL"}


class Recorded(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def log():
    logger = logging.getLogger("dlcourse-perimeter-test")
    handler = Recorded()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, handler.lines
    logger.removeHandler(handler)


# --- a submission's files ----------------------------------------------------------------------------------


def test_a_regular_file_is_read_and_nothing_else_is(tmp_path):
    (tmp_path / "answer.txt").write_bytes(b"mine")
    (tmp_path / "secret").write_bytes(b"the instructor's")
    (tmp_path / "link.txt").symlink_to(tmp_path / "secret")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "big").write_bytes(b"x" * 101)
    assert read_regular_file(tmp_path / "answer.txt", 100) == (b"mine", None)
    data, why = read_regular_file(tmp_path / "link.txt", 100)
    assert data is None and "symbolic link" in why
    start = time.monotonic()
    data, why = read_regular_file(tmp_path / "pipe", 100)  # opening a FIFO to read would wait for a writer
    assert data is None and "not a regular file" in why and time.monotonic() - start < 5
    data, why = read_regular_file(tmp_path / "big", 100)
    assert data is None and "101 bytes" in why
    assert read_regular_file(tmp_path / "missing", 100)[0] is None


def test_only_regular_files_are_copied_within_the_limit(tmp_path, log):
    logger, lines = log
    outside = tmp_path / "gradebook.db"
    outside.write_bytes(b"every student's grade")
    source = tmp_path / "submitted"
    (source / "deeper").mkdir(parents=True)
    (source / "notes.md").write_text("mine")
    (source / "deeper" / "data.csv").write_text("1,2")
    (source / "grades.txt").symlink_to(outside)
    (source / "deeper" / "hidden.txt").symlink_to("../../gradebook.db")
    (source / "linked_folder").symlink_to(tmp_path)
    os.mkfifo(source / "pipe.txt")
    (source / "huge.npy").write_bytes(b"0" * 5000)
    (source / "skipped.pyc").write_bytes(b"bytecode")
    dest = tmp_path / "autograded"
    copied = copy_regular_files(source, dest, max_bytes=1000, ignore=["*.pyc"], log=logger)
    found = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
    assert found == ["deeper", "deeper/data.csv", "notes.md"]
    assert copy_regular_files(source / "linked_folder", tmp_path / "nothing", max_bytes=1000) == 0
    assert not (tmp_path / "nothing").exists()
    assert copied == len("mine") + len("1,2")
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    for name in ("grades.txt", "hidden.txt", "linked_folder", "pipe.txt", "huge.npy"):
        assert any(name in line and "left out" in line for line in lines), name
    assert outside.read_bytes() == b"every student's grade"


def test_a_copy_stops_at_the_file_count(tmp_path, log):
    logger, lines = log
    for i in range(5):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"{i}.txt").write_text("x")
    copy_regular_files(tmp_path / "in", tmp_path / "out", max_bytes=10**6, max_files=3, log=logger)
    assert len(list((tmp_path / "out").iterdir())) == 3
    assert sum("more than 3 files and folders" in line for line in lines) == 2


def test_a_timestamp_that_is_not_a_small_regular_file_is_ignored(tmp_path, log):
    from nbgrader.coursedir import CourseDirectory

    logger, lines = log
    coursedir = CourseDirectory(root=str(tmp_path))
    _guard_timestamp_reads(coursedir, logger)
    for name, make in {
        "zero": lambda p: p.symlink_to("/dev/zero"),  # nbgrader would read it to the end of memory
        "fifo": lambda p: os.mkfifo(p),  # and wait on this one for ever
        "fine": lambda p: p.write_text("2024-01-02 03:04:05.000000 UTC"),
    }.items():
        (tmp_path / name).mkdir()
        make(tmp_path / name / "timestamp.txt")
    assert coursedir.get_existing_timestamp(str(tmp_path / "zero")) is None
    assert coursedir.get_existing_timestamp(str(tmp_path / "fifo")) is None
    assert coursedir.get_existing_timestamp(str(tmp_path / "fine")).year == 2024
    assert sum("timestamp.txt" in line for line in lines) == 2


# --- the worker's sandbox ----------------------------------------------------------------------------------

PROBE = r"""
import errno, json, os, sys
view = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
plan = json.load(open(os.path.join(view, "plan.json")))
found = {"environ": dict(os.environ), "listed": {}, "imported": {}, "written": {}}
for folder, module in plan["hidden"].items():
    try:
        found["listed"][folder] = os.listdir(folder)
    except OSError as err:
        found["listed"][folder] = err.strerror
    sys.path.insert(0, folder)
    try:
        __import__(module)
        found["imported"][module] = True
    except Exception:
        found["imported"][module] = False
for path in plan["write"]:
    try:
        with open(path, "wb") as f:
            f.write(b"x")
        found["written"][path] = "written"
    except OSError as err:
        found["written"][path] = errno.errorcode.get(err.errno, str(err.errno))
for folder, limit in plan["fill"].items():
    written = 0
    try:
        with open(os.path.join(folder, "filler"), "wb") as f:
            while written < 2 * limit:
                f.write(bytes(1 << 20))
                f.flush()
                written += 1 << 20
    except OSError:
        pass
    found["written"][folder] = written
import numpy
found["numpy"] = numpy.__version__
print(json.dumps(found))
"""


def _importable_module(folder: str) -> str | None:
    """A top-level module the host can import from ``folder`` (to try from inside the sandbox)."""
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.startswith(("_", ".")) or "-" in entry:
            continue
        if os.path.isfile(os.path.join(path, "__init__.py")):
            return entry
        if entry.endswith(".py"):
            return entry[:-3]
    return None


def _probe_worker(tmp_path: Path, plan: dict, limits: Limits) -> dict:
    view = tmp_path / "grade" / "view"
    (view / "dlcourse" / "autograde").mkdir(parents=True)
    (view / "dlcourse" / "__init__.py").write_text("")
    (view / "dlcourse" / "autograde" / "__init__.py").write_text("")
    (view / "dlcourse" / "autograde" / "worker.py").write_text(PROBE)
    (view / "plan.json").write_text(json.dumps(plan))
    env = dict(os.environ, **INSTRUCTOR)
    proc = subprocess_run(worker_command(view, ("numpy",), limits), env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def subprocess_run(argv, env):
    import subprocess

    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


@needs_sandbox
def test_the_worker_sees_only_its_own_environment_and_packages_and_writes_only_its_tmp(tmp_path, monkeypatch):
    monkeypatch.delenv(sandbox.UNSANDBOXED_VARIABLE, raising=False)
    hidden = {d: m for d in sandbox.hidden_package_folders() if (m := _importable_module(d))}
    assert hidden, "no system package folder with a module in it: nothing to try"
    for folder, module in hidden.items():  # on the host, each of them imports: the check below can fail
        code = f"import sys; sys.path.insert(0, {folder!r}); import {module}"
        assert subprocess_run([sys.executable, "-I", "-S", "-c", code], {}).returncode == 0, (folder, module)
    limits = Limits(disk_bytes=8 * 2**20)
    plan = {
        "hidden": hidden,
        "write": ["/x", f"{sandbox.WORKER_SITE}/x", f"{sandbox.WORKER_VIEW}/x", *(f"{d}/x" for d in hidden), "/tmp/x"],
        "fill": {"/tmp": limits.disk_bytes, "/dev/shm": sandbox.SHM_BYTES},
    }
    found = _probe_worker(tmp_path, plan, limits)
    assert found["environ"] == learner_environment(
        sandbox.SANDBOX_HOME, [os.path.dirname(sandbox._python_binary()), *sandbox.SYSTEM_PATH]
    )
    assert not any(module_found for module_found in found["imported"].values()), found["imported"]
    assert all(listed == [] for listed in found["listed"].values()), found["listed"]
    assert found["written"].pop("/tmp/x") == "written"
    assert found["written"].pop("/tmp") <= limits.disk_bytes
    assert found["written"].pop("/dev/shm") <= sandbox.SHM_BYTES
    assert set(found["written"].values()) == {"EROFS"}, found["written"]
    assert found["numpy"]  # the declared package is there


def test_the_unsandboxed_worker_gets_the_same_clean_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(sandbox.UNSANDBOXED_VARIABLE, "1")
    found = _probe_worker(tmp_path, {"hidden": {}, "write": [], "fill": {}}, Limits())
    home = str(tmp_path / "grade" / "home")
    assert found["environ"] == learner_environment(
        home, [os.path.dirname(sandbox._python_binary()), *sandbox.SYSTEM_PATH]
    )
    assert CANARY not in json.dumps(found["environ"])


# --- the notebook's feedback run ---------------------------------------------------------------------------


def _run_notebook(cells, folder: Path | None = None, **traits) -> tuple[nbformat.NotebookNode, float, list[str]]:
    """Run code cells through SandboxedExecute as autograde would (Execute's settings from the course's
    configuration unless given); returns the notebook, the seconds it took and the warnings logged."""
    nb = new_notebook(cells=[new_code_cell(c) if isinstance(c, str) else c for c in cells])
    settings = {"timeout": 30, "interrupt_on_timeout": True, "iopub_timeout": 2, "raise_on_iopub_timeout": False}
    config = Config()
    for key, value in traits.pop("kernel", {}).items():
        setattr(config.SandboxedKernelManager, key, value)
    execute = SandboxedExecute(config=config, **{**settings, **traits})
    lines: list[str] = []
    handler = Recorded()
    execute.log.addHandler(handler)
    start = time.monotonic()
    resources = {"metadata": {"path": str(folder)} if folder else {}, "nbgrader": {"student": "someone"}}
    kernel_folders: list[str] = []
    pre_start = SandboxedKernelManager._async_pre_start_kernel

    async def recorded_pre_start(self, **kw):
        started = await pre_start(self, **kw)
        kernel_folders.append(self._sandbox_dir)
        return started

    SandboxedKernelManager._async_pre_start_kernel = recorded_pre_start
    try:
        nb, _ = execute.preprocess(nb, resources)
    finally:
        SandboxedKernelManager._async_pre_start_kernel = pre_start
        execute.log.removeHandler(handler)
    lines += handler.lines
    # However the kernel ended (shut down, died, never started), its folder (sockets, its own output) is gone.
    assert kernel_folders and not [f for f in kernel_folders if os.path.exists(f)], kernel_folders
    return nb, time.monotonic() - start, lines


def _text(cell) -> str:
    return "".join(o.get("text", "") + o.get("ename", "") for o in cell.outputs)


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed"])
def test_the_kernel_runs_in_a_copy_with_a_clean_environment(tmp_path, monkeypatch, sandboxed):
    if sandboxed and shutil.which("bwrap") is None:
        pytest.skip("needs bubblewrap")
    if sandboxed:
        monkeypatch.delenv(sandbox.UNSANDBOXED_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(sandbox.UNSANDBOXED_VARIABLE, "1")
    for key, value in INSTRUCTOR.items():
        monkeypatch.setenv(key, value)
    folder = tmp_path / "autograded" / "someone" / "lab"
    folder.mkdir(parents=True)
    (folder / "lab.ipynb").write_text("{}")
    (folder / "data.txt").write_text("the learner's data")
    secret = tmp_path / "gradebook.db"
    secret.write_text("every grade")
    (folder / "grades.txt").symlink_to(secret)
    before = {
        p.name: (p.is_symlink(), p.read_bytes() if p.is_file() and not p.is_symlink() else None)
        for p in folder.iterdir()
    }
    cells = [
        "import json, os\nprint('ENVIRON', json.dumps(dict(os.environ)))",
        "print('FILES', sorted(os.listdir('.')), open('data.txt').read())",
        "open('data.txt', 'w').write('changed'); open('new.txt', 'w').write('new')\n"
        "os.remove('lab.ipynb'); os.symlink(" + repr(str(secret)) + ", 'lab.ipynb')",
        f"print('ORIGINAL VISIBLE', os.path.exists({str(folder)!r}))",
    ]
    nb, _, _ = _run_notebook(cells, folder)
    environ = json.loads(_text(nb.cells[0]).split("ENVIRON ", 1)[1])
    assert CANARY not in json.dumps(environ) and not set(INSTRUCTOR) & set(environ)
    assert set(environ) - set(learner_environment("/", [])) <= KERNEL_OWN, sorted(environ)
    assert "'data.txt'" in _text(nb.cells[1]) and "the learner's data" in _text(nb.cells[1])
    assert "grades.txt" not in _text(nb.cells[1])  # the link was not copied
    after = {
        p.name: (p.is_symlink(), p.read_bytes() if p.is_file() and not p.is_symlink() else None)
        for p in folder.iterdir()
    }
    assert after == before and secret.read_text() == "every grade"
    if sandboxed:
        assert "ORIGINAL VISIBLE False" in _text(nb.cells[3])
    assert nb.metadata.language_info["name"] == "python"


FILL_THE_DISK = """written = 0
try:
    with open('filler', 'wb') as f:
        while written < 64 << 20:
            f.write(bytes(1 << 20))
            f.flush()
            written += 1 << 20
except OSError:
    pass
print('WROTE', written)"""


@needs_sandbox
def test_the_kernel_writes_nothing_beyond_its_capped_tmp(tmp_path):
    cells = [
        FILL_THE_DISK,
        "for path in ['/x', '/submission/x', '/usr/x']:\n    try:\n        open(path, 'w')\n"
        "        print('WRITABLE', path)\n    except OSError as err:\n        print('refused', path, err.errno)",
    ]
    nb, _, _ = _run_notebook(cells, tmp_path, kernel={"disk_limit_mb": 16})
    assert int(_text(nb.cells[0]).split("WROTE ")[1]) <= 16 << 20
    assert "WRITABLE" not in _text(nb.cells[1]) and _text(nb.cells[1]).count("refused") == 3


DYING = {
    "kill": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "segfault": "import ctypes\nctypes.string_at(0)",
    "exit": "import os\nos._exit(0)",
}


@needs_sandbox
@pytest.mark.parametrize("how", sorted(DYING))
def test_a_kernel_that_dies_costs_only_the_outputs_after_it(tmp_path, how):
    nb, _, warnings = _run_notebook(["print('before')", DYING[how], "print('after')"], tmp_path)
    assert _text(nb.cells[0]) == "before\n"
    assert "The notebook's run stopped here: the kernel died" in _text(nb.cells[1])
    assert nb.cells[2].outputs == []
    assert any("someone: the notebook's feedback run stopped at cell 1" in w for w in warnings), warnings


@needs_sandbox
def test_a_cell_that_swallows_the_interrupt_ends_the_run_in_bounded_time(tmp_path):
    swallow = "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n    except BaseException:\n        pass"
    nb, seconds, warnings = _run_notebook(
        ["print('before')", swallow, "print('after')"], tmp_path, timeout=2, answer_seconds=3
    )
    assert "did not stop when it was interrupted" in _text(nb.cells[1])
    assert nb.cells[2].outputs == [] and seconds < 40
    assert any("stopped at cell 1" in w for w in warnings)


@needs_sandbox
def test_a_cell_that_stops_when_interrupted_lets_the_run_go_on(tmp_path):
    busy = "import time\nwhile True:\n    time.sleep(0.2)"
    nb, _, _ = _run_notebook([busy, "print('after')"], tmp_path, timeout=2)
    assert "KeyboardInterrupt" in _text(nb.cells[0]) and _text(nb.cells[1]) == "after\n"


@needs_sandbox
def test_the_whole_run_has_a_time_limit(tmp_path):
    cells = ["import time\ntime.sleep(1.5)\nprint('slept')"] * 6
    nb, seconds, _ = _run_notebook(cells, tmp_path, run_seconds=4)
    stopped = [i for i, c in enumerate(nb.cells) if "took more than 4 s" in _text(c)]
    assert len(stopped) == 1 and all(c.outputs == [] for c in nb.cells[stopped[0] + 1 :]) and seconds < 30
    assert 1 <= stopped[0] < 5


@needs_sandbox
def test_output_is_cut_as_it_arrives(tmp_path):
    nb, _, _ = _run_notebook(
        ["for _ in range(2000):\n    print('x' * 5000)", "print('after')"], tmp_path, max_output_bytes=100_000
    )
    kept = sum(len(o.get("text", "")) for o in nb.cells[0].outputs)
    assert kept < 110_000 and "[output cut" in _text(nb.cells[0]) and _text(nb.cells[1]) == "after\n"


WIDGET_FLOOD = """
import comm
big = "x" * (8 * 2**20)
for i in range(40):  # 320 MB of widget state, well within the kernel's own memory limit
    comm.create_comm(target_name="jupyter.widget", data={"state": {"value": big}})
print("sent")
"""


@needs_sandbox
def test_widget_messages_cannot_fill_the_graders_memory(tmp_path):
    import tracemalloc

    tracemalloc.start()
    try:
        nb, _, _ = _run_notebook([WIDGET_FLOOD, "print('after')"], tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "sent" in _text(nb.cells[0]) and _text(nb.cells[1]) == "after\n"
    assert peak < 100 * 2**20, f"the grader peaked at {peak / 2**20:.0f} MiB"
    assert "widgets" not in nb.metadata


DISPLAYS = """
from IPython.display import display
for i in range(500):
    display({"text/plain": ""}, raw=True, display_id="same")
"""
REWRITE = 'display({"text/plain": "x" * 200_000}, raw=True, display_id="same")\nprint("rewrote")'


@needs_sandbox
def test_a_display_rewriting_many_earlier_ones_cannot_multiply_the_notebook(tmp_path):
    nb, _, _ = _run_notebook([DISPLAYS, REWRITE], tmp_path)
    assert "rewrote" in _text(nb.cells[1])
    assert len(nbformat.writes(nb)) < 10 * 2**20  # 500 copies of 200 kB would be 100 MB


@needs_sandbox
def test_an_honest_display_update_still_shows(tmp_path):
    cells = [
        "h = display({'text/plain': 'first'}, raw=True, display_id=True)",
        "h.update({'text/plain': 'second'}, raw=True)",
    ]
    nb, _, _ = _run_notebook(["from IPython.display import display", *cells], tmp_path)
    assert nb.cells[1].outputs[0]["data"]["text/plain"] == "second"


@needs_sandbox
def test_a_kernel_that_cannot_start_costs_only_outputs(tmp_path):
    """A file of the submission shadows the kernel's launcher (the kernel's folder comes first on sys.path)."""
    (tmp_path / "ipykernel_launcher.py").write_text("import os\nos._exit(1)\n")
    nb, seconds, warnings = _run_notebook(["print('never')"], tmp_path)
    assert nb.cells[0].outputs == [] and seconds < 60
    assert any("the kernel failed" in w for w in warnings), warnings
    assert nb.metadata.language_info["name"] == "python"  # the grader's, not what a kernel reported


# --- HTML -------------------------------------------------------------------------------------------------

ATTACKS = [
    "<script>document.title = 'pwned'</script>",
    "<img src=x onerror=\"document.title = 'pwned'\">",
    "<svg onload=\"document.title = 'pwned'\"></svg>",
    "<iframe srcdoc=\"<script>parent.document.title = 'pwned'</script>\"></iframe>",
    "<a href=\"javascript:document.title = 'pwned'\">link</a>",
    "<math><mtext><table><mglyph><style><img src=x onerror=\"document.title = 'pwned'\"></style>",
    '<div style="background:url(javascript:pwned())" onmouseover="document.title = \'pwned\'">hover</div>',
]


class _Elements(HTMLParser):
    """Every element of a page as the browser's parser starts it: (tag, attributes, text up to the next tag)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[list] = []

    def handle_starttag(self, tag, attrs):
        self.found.append([tag, dict(attrs), ""])

    def handle_data(self, data):
        if self.found:
            self.found[-1][2] += data


def _live_attacks(html: str) -> list[str]:
    """What in a page could run a learner's code (each attack here says "pwned"): a script or a frame of
    theirs, an event handler, a javascript: link, a style."""
    parser = _Elements()
    parser.feed(html)
    parser.close()  # flushes an unclosed <style>
    live = []
    for tag, attrs, text in parser.found:
        if tag in ("script", "iframe", "object", "embed") and "pwned" in text + str(attrs):
            live.append(f"<{tag}> {attrs} {text[:80]}")
        if tag == "style" and re.search(r"<\w+[^>]*\son\w+\s*=", text):  # markup a MathML parent would parse
            live.append(f"<style> {text[:80]}")
        for name, value in attrs.items():  # the page's own handlers (formgrader's onclick) are not the learner's
            value = value or ""
            if "pwned" in value and (name.startswith("on") or name in ("href", "src", "srcdoc", "style")):
                live.append(f"<{tag} {name}={value!r}>")
    return live


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_learners_html_keeps_no_script(attack):
    assert _live_attacks(attack), "the check does not see the attack: the test could not fail"
    cleaned = clean_learner_html(attack)
    assert not _live_attacks(cleaned), cleaned
    assert "<script" not in cleaned and "<iframe" not in cleaned and "<svg" not in cleaned


def test_the_learners_formatting_survives_sanitising():
    html = (
        "<h2>Answer</h2><p>1 &lt; 2, <strong>bold</strong></p><table><tbody><tr><th>a</th></tr></tbody></table>"
        '<img src="data:image/png;base64,AAAA" alt="plot">'
    )
    assert clean_learner_html(html) == html


def _course_config(monkeypatch) -> Config:
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))  # the configuration prepends to PATH: undone after
    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT / "course")).load_config()


@pytest.mark.parametrize("template", ["feedback", "formgrade"])
def test_feedback_and_formgrader_render_a_script_as_text(monkeypatch, template):
    """nbgrader's own templates, with the course's configuration: the written answer's script is shown as
    text, its formatting kept; an HTML output loses its handler; a JavaScript output is dropped."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    config = _course_config(monkeypatch)
    config.HTMLExporter.template_name = template
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    # as GenerateFeedback does: the feedback page inlines bootstrap's stylesheet
    config.HTMLExporter.extra_template_paths = [os.path.join(handlers.static_path, "node_modules/bootstrap/dist/css")]
    answer = new_markdown_cell("**bold**\n\n" + "\n\n".join(ATTACKS))
    answer.metadata["nbgrader"] = {"solution": True, "grade": True, "grade_id": "written", "points": 1, "score": 0}
    code = new_code_cell("display(...)")
    code.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<img src=x onerror=\"document.title='pwned'\">"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "document.title='pwned-js'"}),
    ]
    nb = new_notebook(cells=[answer, code])
    resources = {
        "nbgrader": {"notebook": "lab", "score": 0, "max_score": 1, "late_penalty": 0},
        **dict(assignment_id="a", notebook_id="n", submission_id="s", index=0, total=1, base_url="", student="s"),
        **dict(last_name="", first_name="", notebook_path="n.ipynb"),
    }
    html, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    assert not _live_attacks(html), _live_attacks(html)
    assert "<strong>bold</strong>" in html and "&lt;script&gt;document.title" in html  # shown, as text
    assert "pwned-js" not in html
    config.HTMLExporter.filters = {}  # nbgrader's templates as they come: the attacks are live
    config.HTMLExporter.sanitize_html = False
    assert _live_attacks(HTMLExporter(config=config).from_notebook_node(nb, resources=resources)[0])


# --- nbgrader collect ---------------------------------------------------------------------------------------


def _inbound_with_links(root: Path) -> tuple[Path, Path]:
    """An exchange inbound folder as a student could leave it: a notebook, a link to a secret of the
    instructor's, a FIFO, a linked folder. Returns (the submission's inbound folder, the secret)."""
    secret = root / "gradebook.db"
    secret.write_text("every student's grade")
    inbound = root / "exchange" / "dlcourse" / "inbound" / "alice+01-neuron+2024-01-02 03:04:05.000000 UTC+abc"
    inbound.mkdir(parents=True)
    nbformat.write(new_notebook(), inbound / "01-neuron.ipynb")
    (inbound / "timestamp.txt").write_text("2024-01-02 03:04:05.000000 UTC")
    (inbound / "notes.txt").symlink_to(secret)
    (inbound / "folder").symlink_to(root)
    os.mkfifo(inbound / "pipe")
    return inbound, secret


def test_collect_copies_no_link_and_opens_no_fifo(tmp_path):
    from nbgrader.coursedir import CourseDirectory

    inbound, secret = _inbound_with_links(tmp_path)
    collect = LinkSafeCollect(coursedir=CourseDirectory(root=str(tmp_path / "course")))
    collect.do_copy(str(inbound), str(tmp_path / "submitted"))
    found = sorted(p.name for p in (tmp_path / "submitted").iterdir())
    assert found == ["01-neuron.ipynb", "timestamp.txt"]
    assert secret.read_text() == "every student's grade"


@pytest.mark.slow  # runs nbgrader
def test_the_course_collects_with_the_link_safe_collector(tmp_path):
    """nbgrader collect, with the course's configuration: nbgrader's own would copy the secret in as notes.txt."""
    import subprocess

    inbound, secret = _inbound_with_links(tmp_path)
    os.chmod(inbound.parent, 0o777)  # nbgrader insists that students can write there
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "course" / "nbgrader_config.py", course)
    argv = [sys.executable, "-m", "nbgrader", "collect", "01-neuron", f"--Exchange.root={tmp_path / 'exchange'}"]
    proc = subprocess.run(argv, cwd=course, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    submitted = course / "submitted" / "alice" / "01-neuron"
    assert sorted(p.name for p in submitted.iterdir()) == ["01-neuron.ipynb", "timestamp.txt"]
    assert "notes.txt is a symbolic link: not collected" in proc.stderr
