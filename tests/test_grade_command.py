"""dlcourse grade's decisions, without grading anything: what is graded again, what a failure costs, what a
scoring-only run keeps, and where a job may write. The real runs are in tests/test_class_grading.py (slow)."""

from __future__ import annotations

import json
import os
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook
from traitlets.config import Config

from dlcourse.autograde.preprocessors import SUBMITTED_NOTE, ClearOutputForRerun, SandboxedExecute
from dlcourse.instructor import grade, grade_job
from dlcourse.instructor import gradebook_writer as writer

LAB = "lab"


def _notebook():
    said = [nbformat.v4.new_output("stream", text="hi\n")]
    answer = nbformat.v4.new_code_cell("def f():\n    return 1", outputs=said)
    answer.metadata.nbgrader = {"solution": True, "grade": False, "grade_id": "answer", "locked": False}
    test = nbformat.v4.new_code_cell("assert f() == 1", outputs=[nbformat.v4.new_output("stream", text="fake pass\n")])
    test.metadata.nbgrader = {"solution": False, "grade": True, "grade_id": "test", "points": 1, "locked": True}
    demo = nbformat.v4.new_code_cell("print(2)", outputs=[nbformat.v4.new_output("stream", text="2\n")])
    quiet = nbformat.v4.new_code_cell("x = 1")
    return nbformat.v4.new_notebook(cells=[answer, test, demo, quiet])


def _config(rerun: bool) -> Config:
    return Config({"FeedbackRun": {"rerun": rerun}})


def test_submitted_outputs_are_kept_only_when_the_notebook_is_not_rerun():
    kept, _ = ClearOutputForRerun(config=_config(False)).preprocess(_notebook(), {})
    assert [len(c.outputs) for c in kept.cells] == [1, 1, 1, 0]
    cleared, _ = ClearOutputForRerun(config=_config(True)).preprocess(_notebook(), {})
    assert [len(c.outputs) for c in cleared.cells] == [0, 0, 0, 0]


def test_a_scoring_only_run_starts_no_kernel_and_marks_what_it_did_not_run(monkeypatch):
    started = []

    def no_kernel(*args, **kwargs):
        started.append(True)
        raise RuntimeError("a kernel was started")

    monkeypatch.setattr("nbgrader.preprocessors.Execute.preprocess", no_kernel)
    nb, _ = SandboxedExecute(config=_config(False)).preprocess(_notebook(), {})
    answer, test, demo, quiet = nb.cells
    assert answer.outputs[0].text.strip() == SUBMITTED_NOTE and answer.outputs[1].text == "hi\n"
    assert demo.outputs[0].text.strip() == SUBMITTED_NOTE and len(demo.outputs) == 2
    assert test.outputs == [] and quiet.outputs == []  # ScoreTests writes the test's verdict; no note on nothing
    assert not started
    SandboxedExecute(config=_config(True)).preprocess(_notebook(), {"metadata": {"path": ""}})
    assert started  # the test can fail: with rerun, the kernel is started


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "a/../../b", ""])
def test_a_job_writes_nothing_outside_its_scratch_course(tmp_path, path):
    with pytest.raises(grade_job.JobFailed, match="outside the course"):
        grade_job._write_tree(tmp_path, {path: b"x"})


def test_links_are_never_followed_and_grade_as_empty_notebooks(tmp_path):
    top = tmp_path / "submitted"
    (top / "alice" / LAB).mkdir(parents=True)
    (top / "alice" / LAB / f"{LAB}.ipynb").write_text("{}")
    (top / "alice" / LAB / "notes.txt").write_text("mine")
    (top / "bob").symlink_to(top / "alice")
    (top / "carol").mkdir()
    (top / "carol" / LAB).symlink_to(top / "alice" / LAB)
    (top / "dave").mkdir()
    (top / "erin" / LAB).mkdir(parents=True)
    (top / "erin" / LAB / f"{LAB}.ipynb").symlink_to(top / "alice" / LAB / f"{LAB}.ipynb")
    (top / "erin" / LAB / "data.npy").symlink_to(top / "alice" / LAB / "notes.txt")
    assert grade.submissions(tmp_path, LAB) == ["alice", "bob", "carol", "erin"]
    files = {s: grade.submitted_files(tmp_path, LAB, s, [LAB], 2**20) for s in ("alice", "bob", "carol", "erin")}
    assert files["alice"] == {f"{LAB}.ipynb": b"{}", "notes.txt": b"mine"}
    assert files["bob"] == files["carol"] == files["erin"] == {f"{LAB}.ipynb": b""}  # graded as empty notebooks


def test_an_autograded_folder_is_replaced_whole_and_leftovers_of_a_killed_run_go(tmp_path):
    target = tmp_path / "autograded" / "alice" / LAB
    target.mkdir(parents=True)
    (target / "old.txt").write_text("old")
    (target.parent / f".{LAB}.new-x").mkdir()
    writer._replace_folder(target, {"lab.ipynb": b"{}", "data/extra.txt": b"1"})
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == ["data", "data/extra.txt", "lab.ipynb"]
    assert sorted(os.listdir(target.parent)) == [LAB]


def test_a_torn_record_reads_as_nothing_graded(tmp_path):
    path = writer.record_path(tmp_path, LAB)
    path.parent.mkdir(parents=True)
    path.write_text('{"alice": {"subm')
    assert writer.read_record(tmp_path, LAB) == {}


@pytest.mark.parametrize("argv", [[LAB, "--workers", "0"], []])
def test_the_command_line_refuses_what_it_cannot_do(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        grade.main(argv)
    assert stopped.value.code == 2
    assert "--workers must be at least 1" in capsys.readouterr().err or not argv


def test_a_failure_says_what_nbgrader_said():
    log = "[AutogradeApp | INFO] Creating\n[AutogradeApp | ERROR] alice submitted x.ipynb, which is not a notebook\n"
    assert grade_job.last_words(log) == "alice submitted x.ipynb, which is not a notebook"
    assert grade_job.last_words("a\nb\nc\nd\n") == "b c d"


# --- a course with one assignment, graded by a stand-in for the worker -----------------------------------------


@pytest.fixture
def course(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))  # alembic
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'test'\n")
    (tmp_path / "source" / LAB).mkdir(parents=True)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", "test") as gb:
        gb.add_assignment(LAB)
        gb.add_notebook(LAB, LAB)
        gb.add_grade_cell("test", LAB, LAB, max_score=1, cell_type="code")
        gb.add_solution_cell("answer", LAB, LAB)
        gb.add_source_cell("test", LAB, LAB, cell_type="code", source="assert f() == 1", checksum="x", locked=True)
        gb.add_source_cell("answer", LAB, LAB, cell_type="code", source="", checksum="y")
    for student in ("alice", "bob"):
        folder = tmp_path / "submitted" / student / LAB
        folder.mkdir(parents=True)
        nbformat.write(_notebook(), folder / f"{LAB}.ipynb")
    monkeypatch.setattr(grade, "_prove_here", lambda: None)
    monkeypatch.setattr(grade_job, "warm_up", lambda: None)
    return tmp_path


def _fake_worker(monkeypatch, fail_for=(), refuse=()):
    calls = []

    def run_job(job):
        calls.append(job.student)
        if job.student in fail_for:
            raise grade_job.JobFailed("nbgrader autograde ran past 300 s and was stopped")
        if job.student in refuse:
            raise grade_job.JobFailed("nbgrader autograde exited with status 1: misnamed", retry=False)
        nb = _notebook()
        nb.cells[1].outputs = [] if job.student == "alice" else [nbformat.v4.new_output("error", ename="E", evalue="")]
        return grade_job.Result(LAB, job.student, files={f"{LAB}.ipynb": nbformat.writes(nb).encode()}, host="here")

    monkeypatch.setattr(grade, "run_job", run_job)
    return calls


def _scores(course):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: gb.find_grade("test", LAB, LAB, s).score for s in ("alice", "bob")}


def test_only_new_or_changed_submissions_are_graded_again(course, monkeypatch):
    calls = _fake_worker(monkeypatch)
    states = lambda outcomes: sorted((o.student, o.state) for o in outcomes)  # noqa: E731
    assert states(grade.grade_class(course, LAB, workers=2)) == [("alice", "graded"), ("bob", "graded")]
    assert _scores(course) == {"alice": 1.0, "bob": 0.0}  # nbgrader's SaveAutoGrades read the verdicts
    assert (course / "autograded" / "bob" / LAB / f"{LAB}.ipynb").is_file()
    assert states(grade.grade_class(course, LAB)) == [("alice", "unchanged"), ("bob", "unchanged")]
    (course / "submitted" / "bob" / LAB / "notes.txt").write_text("an extra file changes the submission")
    assert states(grade.grade_class(course, LAB)) == [("alice", "unchanged"), ("bob", "graded")]
    assert states(grade.grade_class(course, LAB, force=True, students=["alice"])) == [("alice", "graded")]
    (course / "nbgrader_config.py").write_text((course / "nbgrader_config.py").read_text() + "# changed\n")
    assert len(grade.grade_class(course, LAB)) == 2 and calls.count("alice") == 3  # the grader changed: all again


def test_a_failing_job_is_tried_twice_then_reported_and_graded_next_time(course, monkeypatch):
    calls = _fake_worker(monkeypatch, fail_for=("bob",))
    outcomes = {o.student: o for o in grade.grade_class(course, LAB, workers=2)}
    assert outcomes["alice"].state == "graded" and outcomes["bob"].state == "failed"
    assert "ran past 300 s" in outcomes["bob"].reason and calls.count("bob") == 2
    assert "bob" not in writer.read_record(course, LAB)
    table = grade.summary(list(outcomes.values()), 0.5)
    assert "failed: bob: nbgrader autograde ran past 300 s" in table
    assert table.splitlines()[2].split() == ["failed", "1"]
    _fake_worker(monkeypatch)
    assert {o.student: o.state for o in grade.grade_class(course, LAB)} == {"alice": "unchanged", "bob": "graded"}


def test_a_submission_nbgrader_refuses_is_not_tried_again(course, monkeypatch):
    calls = _fake_worker(monkeypatch, refuse=("bob",))
    outcomes = {o.student: o for o in grade.grade_class(course, LAB, workers=2)}
    assert outcomes["bob"].state == "failed" and "misnamed" in outcomes["bob"].reason and calls.count("bob") == 1


def test_an_unknown_student_is_a_failure_with_a_reason(course, monkeypatch):
    _fake_worker(monkeypatch)
    outcomes = grade.grade_class(course, LAB, students=["zoe"])
    assert [(o.student, o.state) for o in outcomes] == [("zoe", "failed")]
    assert "no submission" in outcomes[0].reason


def test_the_template_gradebook_holds_the_lab_and_no_student(course):
    _fake_worker_db = course / "graded.db"
    _fake_worker_db.write_bytes(writer.template_gradebook(f"sqlite:///{course / 'gradebook.db'}", LAB))
    with Gradebook(f"sqlite:///{_fake_worker_db}") as gb:
        nb = gb.find_notebook(LAB, LAB)
        assert [c.name for c in nb.grade_cells] == ["test"] and sorted(c.name for c in nb.source_cells) == [
            "answer",
            "test",
        ]
        assert gb.students == []
    record = json.dumps(writer.read_record(course, LAB))
    assert record == "{}"
