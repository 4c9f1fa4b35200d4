"""``dlcourse build``: says what it will rebuild, why and about how long first; rebuilds only what changed or
what ``--lab`` names; and a rebuild of an unchanged lab leaves no diff (no timestamps, pinned widget ids, the
old file kept when only timings differ)."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys

import nbformat
import pytest
from course_helpers import ROOT

from dlcourse.instructor import build, fingerprint, reruns

LAB = "01-neuron"


def _scratch(tmp_path, solution=True):
    """A repository holding lab 01 only: its source, nbgrader's configuration, labs/ and (if asked) solutions/."""
    root = tmp_path / "repo"
    (root / "course" / "source").mkdir(parents=True)
    shutil.copy(ROOT / "course" / "nbgrader_config.py", root / "course")
    shutil.copytree(ROOT / "course" / "source" / LAB, root / "course" / "source" / LAB)
    (root / "labs").mkdir()
    shutil.copy(ROOT / "labs" / f"{LAB}.ipynb", root / "labs")
    (root / "solutions").mkdir()
    if solution:
        shutil.copy(ROOT / "solutions" / f"{LAB}.ipynb", root / "solutions")
    return root


def _with_record(root, **changes):
    path = root / "solutions" / f"{LAB}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.metadata[fingerprint.RECORD] = {**fingerprint.record(LAB, root, 42), **changes}
    nbformat.write(nb, path)


# --- what needs a rebuild, and why -------------------------------------------------------------------------


def test_a_lab_built_from_what_is_on_disk_needs_nothing(tmp_path):
    root = _scratch(tmp_path)
    _with_record(root)
    assert build.plan([LAB], root) == {}
    assert build.plan([LAB], root, forced={LAB}) == {LAB: ["named with --lab"]}


def test_each_change_is_named(tmp_path):
    root = _scratch(tmp_path)
    assert build.plan([LAB], root) == {LAB: ["no build record (built before dlcourse build kept one)"]}
    _with_record(root, package="an older package")
    assert build.plan([LAB], root) == {LAB: ["the dlcourse package changed"]}
    _with_record(root)
    with open(root / "course" / "nbgrader_config.py", "a") as config:
        config.write("\n# an instructor's edit\n")
    assert build.plan([LAB], root) == {LAB: [f"course/source/{LAB} or course/nbgrader_config.py changed"]}
    _with_record(root)
    source = root / "course" / "source" / LAB / f"{LAB}.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells[2].source += "\n\nOne more sentence."
    nbformat.write(nb, source)
    assert build.plan([LAB], root) == {LAB: [f"the cells of solutions/{LAB}.ipynb differ from course/source"]}
    (root / "labs" / f"{LAB}.ipynb").unlink()
    (root / "solutions" / f"{LAB}.ipynb").unlink()
    assert build.plan([LAB], root) == {LAB: [f"labs/{LAB}.ipynb is missing", f"solutions/{LAB}.ipynb is missing"]}


def test_the_package_fingerprint_follows_what_labs_run_and_nothing_else(tmp_path):
    package = tmp_path / "dlcourse"
    for part in ("functional", "instructor", "__pycache__"):
        (package / part).mkdir(parents=True)
    (package / "functional" / "conv.py").write_text("def conv(): ...\n")
    (package / "instructor" / "build.py").write_text("def build(): ...\n")
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    before = fingerprint.package_fingerprint(package)
    (package / "instructor" / "build.py").write_text("def build(): return 1\n")  # never runs in a lab
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\1")
    (package / "notebook_check.py").write_text("# dlcourse validate\n")
    assert fingerprint.package_fingerprint(package) == before
    (package / "functional" / "conv.py").write_text("def conv(): return 2\n")
    assert fingerprint.package_fingerprint(package) != before


def test_the_estimate_comes_from_the_last_builds(tmp_path):
    root = _scratch(tmp_path)
    _with_record(root)  # 42 s
    total, lines = build.estimate({LAB: ["named with --lab"]}, root)
    assert total == 42 and lines == [f"  {LAB}: named with --lab (last build 42 s)"]
    (root / "solutions" / f"{LAB}.ipynb").unlink()
    total, lines = build.estimate({LAB: ["solutions/01-neuron.ipynb is missing"]}, root)
    assert total == build.FIRST_BUILD_SECONDS and lines[0].endswith("(not timed before)")
    assert [build.duration(s) for s in (45, 150, 3725)] == ["45 s", "2 min", "1 h 02 min"]


def test_an_unknown_lab_is_refused_with_the_ones_there_are(tmp_path, capsys):
    root = _scratch(tmp_path)
    with pytest.raises(SystemExit):
        build.main(["--course", str(root / "course"), "--lab", LAB, "--lab", "99-nothing"])
    assert f"no such lab(s) in course/source: 99-nothing; available: {LAB}" in capsys.readouterr().err


# --- what differs between two runs ---------------------------------------------------------------------------


def _widget_run(ids, seconds, stored_order=1):
    """A run with two widgets (one inside the other) and a timing, as nbclient saves it; stored_order=-1
    stores the widget state the other way round (as a file read back holds it: sorted by id)."""
    a, b = ids
    models = [
        (a, {"model_name": "VBoxModel", "state": {"children": [f"IPY_MODEL_{b}"]}}),
        (b, {"model_name": "FloatSliderModel", "state": {"value": 0.5}}),
    ]
    state = dict(models[::stored_order])
    view = {reruns.WIDGET_VIEW: {"model_id": a, "version_major": 2, "version_minor": 0}}
    cell = nbformat.v4.new_code_cell("explorer()", id="explorer")  # ids come from the source: fixed
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/plain": "VBox()", **view}),
        nbformat.v4.new_output("stream", text=f"trained in {seconds} s, held-out accuracy 97.6%\n"),
    ]
    cell.metadata["execution"] = {"iopub.execute_input": f"2026-01-01T00:00:{seconds:02d}Z"}
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["widgets"] = {reruns.WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    return nb


def test_widget_ids_are_pinned_consistently():
    first = reruns.pin_widget_ids(_widget_run(["a1" * 16, "b2" * 16], 21), LAB)
    second = reruns.pin_widget_ids(_widget_run(["c3" * 16, "d4" * 16], 21, stored_order=-1), LAB)
    assert nbformat.writes(first) == nbformat.writes(second)  # as files: the same text
    state = first.metadata["widgets"][reruns.WIDGET_STATE]["state"]
    outer = first.cells[0].outputs[0].data[reruns.WIDGET_VIEW]["model_id"]
    (inner,) = set(state) - {outer}
    assert state[outer]["state"]["children"] == [f"IPY_MODEL_{inner}"]
    assert "a1a1" not in nbformat.writes(first)


def test_printed_text_is_one_output_between_figures_however_the_kernel_cut_it():
    cell = nbformat.v4.new_code_cell("print(...); plot(); print(...)", id="plot")
    figure = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})
    cell.outputs = [
        nbformat.v4.new_output("stream", text="loss 0.7"),
        nbformat.v4.new_output("stream", text="2\n"),
        figure,
        nbformat.v4.new_output("stream", text="done\n"),
        nbformat.v4.new_output("stream", name="stderr", text="a warning\n"),
    ]
    merged = reruns.merge_adjacent_streams(nbformat.v4.new_notebook(cells=[cell])).cells[0].outputs
    assert [(o.output_type, o.get("name"), o.get("text")) for o in merged] == [
        ("stream", "stdout", "loss 0.72\n"),
        ("display_data", None, None),
        ("stream", "stdout", "done\n"),
        ("stream", "stderr", "a warning\n"),
    ]


def test_two_runs_that_differ_in_timings_only_are_the_same_run():
    run = _widget_run(["a1" * 16, "b2" * 16], 21)
    assert reruns.same_run(run, _widget_run(["c3" * 16, "d4" * 16], 19), LAB)
    other = copy.deepcopy(run)
    other.cells[0].outputs[1].text = other.cells[0].outputs[1].text.replace("97.6%", "97.5%")
    assert not reruns.same_run(run, other, LAB)


# --- the command -------------------------------------------------------------------------------------------------


def _build(root, *args):
    proc = subprocess.run(
        [sys.executable, "-m", "dlcourse", "build", "--course", str(root / "course"), *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _files(root):
    return {name: (root / name).read_bytes() for name in (f"labs/{LAB}.ipynb", f"solutions/{LAB}.ipynb")}


@pytest.mark.slow
def test_build_says_what_and_how_long_then_a_rebuild_of_an_unchanged_lab_leaves_no_diff(tmp_path):
    root = _scratch(tmp_path, solution=False)
    out = _build(root)
    assert out.index("building 1 of 1 lab(s), about") < out.index(f"built {LAB} in"), out
    assert f"  {LAB}: solutions/{LAB}.ipynb is missing (not timed before)" in out
    assert f"built {LAB} in" in out and f": solutions/{LAB}.ipynb" in out  # labs/ was already what nbgrader makes
    built = _files(root)
    solution = nbformat.reads(built[f"solutions/{LAB}.ipynb"].decode(), as_version=4)
    assert solution.metadata[fingerprint.RECORD]["seconds"] > 0
    assert not any("execution" in c.metadata for c in solution.cells)  # no timestamps

    out = _build(root)  # nothing changed: nothing to do
    assert out.startswith("up to date") and f"built {LAB} in" not in out, out
    out = _build(root, "--lab", LAB)  # run again all the same: the same files, to the byte
    assert f"{LAB}: named with --lab (last build" in out and f"built {LAB} in" in out and "nothing changed" in out
    assert _files(root) == built
    assert "up to date" in _build(root, "--check")

    # A hand-edited labs/ file: --check names the command that rebuilds it (a plain build goes by records).
    lab = nbformat.read(root / "labs" / f"{LAB}.ipynb", as_version=4)
    lab.cells[0].source += "\nAn edit made by hand."
    nbformat.write(lab, root / "labs" / f"{LAB}.ipynb")
    proc = subprocess.run(
        [sys.executable, "-m", "dlcourse", "build", "--course", str(root / "course"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and f"run `python -m dlcourse build --lab {LAB}`" in proc.stderr, proc.stderr
