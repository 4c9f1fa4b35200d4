"""Grading holds against the corpus in tests/adversarial.py: real ``nbgrader autograde``, one run per lab.

Every cheat scores nothing for the cells it cheats; every honest fault costs its own cell at most; two honest
students graded in the same run keep full marks, also after a detached process of a cheater has had time to
act; nothing outside the scratch course is touched; a regrade replaces the old grade.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from adversarial import LAB_SPECIFIC, corpus, honest_variants
from course_helpers import (
    ROOT,
    graded_cells,
    nbgrader_meta,
    noisy,
    solution_cells,
    solved,
    source_notebook,
    without_demos,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # one autograde run grades the corpus
LABS = ["01-neuron", "05-convolution"]  # the labs the attacks were first confirmed on
HONEST = ("honest", "honest_noisy")


def nbgrader(*args, cwd, check=True):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _scores(course, lab, students):
    from nbgrader.api import Gradebook

    ids = [nbgrader_meta(c)["grade_id"] for c in graded_cells(source_notebook(lab))]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {
            s: {g: (gb.find_grade(g, lab, lab, s).score, gb.find_grade(g, lab, lab, s).max_score) for g in ids}
            for s in students
        }


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    cache = {}

    def get(lab):
        if lab not in cache:
            cache[lab] = _run(lab, tmp_path_factory.mktemp(f"attack-{lab}"))
        return cache[lab]

    return get


def _run(lab, course):
    before = sorted(p.name for p in (ROOT / "course").iterdir())
    shutil.copy(ROOT / "course" / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "course" / "source" / lab, course / "source" / lab)
    nbgrader("generate_assignment", lab, "--force", cwd=course)
    release = nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4)
    source = source_notebook(lab)
    submissions, expected = {"honest": solved(release, source), "honest_noisy": noisy(release, source)}, {}
    for student in HONEST:
        expected[student] = ("full", None)
    for entry in corpus(lab):
        made = entry.make(release, source, lab)
        nb, lost = made if isinstance(made, tuple) else (made, None)
        submissions[entry.name] = without_demos(nb, release)  # the honest students run the demos
        expected[entry.name] = (entry.expect, lost)
    for student, nb in submissions.items():
        folder = course / "submitted" / student / lab
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{lab}.ipynb")
    misnamed = course / "submitted" / "misnamed" / lab
    misnamed.mkdir(parents=True)
    nbformat.write(solved(release, source), misnamed / f"{lab} (1).ipynb")
    start = time.perf_counter()
    proc = nbgrader("autograde", lab, "--force", cwd=course, check=False)  # exits 1: the misnamed notebook
    seconds = time.perf_counter() - start
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    time.sleep(6)  # a detached process started by a cheater would have acted by now
    scores = _scores(course, lab, list(submissions))
    return {
        "course": course,
        "scores": scores,
        "expected": expected,
        "log": proc.stderr,
        "seconds": seconds,
        "students": len(submissions),
        "repo_course_before": before,
        "release": release,
        "source": source,
    }


def _check(student, cells, expect, lost):
    for grade_id, (score, max_score) in cells.items():
        if expect == "zero":
            assert score == 0, f"{student} scored {score} on {grade_id}"
        elif expect == "full" or (expect == "lose" and grade_id != lost):
            assert score == max_score, f"{student} lost {grade_id} ({score}/{max_score})"
        else:
            assert score == 0, f"{student} kept {grade_id}"


@pytest.mark.parametrize("lab", LABS)
def test_every_submission_scores_what_it_deserves(lab, attacked):
    result = attacked(lab)
    wrong = []
    for student, (expect, lost) in result["expected"].items():
        try:
            _check(student, result["scores"][student], expect, lost)
        except AssertionError as err:
            wrong.append(str(err))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("lab", LABS)
def test_nothing_outside_the_scratch_course_is_touched(lab, attacked):
    result = attacked(lab)
    assert sorted(p.name for p in (ROOT / "course").iterdir()) == result["repo_course_before"]
    assert not (ROOT / "course" / "gradebook.db").exists()


@pytest.mark.parametrize("lab", LABS)
def test_output_is_capped_by_size(lab, attacked):
    course = attacked(lab)["course"]
    path = course / "autograded" / "huge_print" / lab / f"{lab}.ipynb"
    assert path.stat().st_size < 3 * 2**20, f"{path.stat().st_size:,} bytes"


@pytest.mark.parametrize("lab", LABS)
def test_a_misnamed_notebook_is_reported_loudly(lab, attacked):
    log = attacked(lab)["log"]
    assert f"misnamed submitted {lab} (1).ipynb" in log and "It is NOT graded" in log


@pytest.mark.parametrize("lab", LABS)
def test_grading_time_per_submission(lab, attacked):
    result = attacked(lab)
    per_submission = result["seconds"] / result["students"]
    assert per_submission < 60, f"{per_submission:.1f} s per submission"


def test_regrading_replaces_the_old_grade(attacked):
    lab = LABS[0]
    result = attacked(lab)
    course = result["course"]
    folder = course / "submitted" / "honest" / lab
    nbformat.write(result["release"], folder / f"{lab}.ipynb")  # the honest student resubmits a blank lab
    nbgrader("autograde", lab, "--student", "honest", "--force", cwd=course)
    cells = _scores(course, lab, ["honest"])["honest"]
    assert sum(score for score, _ in cells.values()) == 0


@pytest.mark.parametrize("lab", LABS)
def test_validate_agrees_with_grading_on_every_honest_variant(lab, attacked):
    """A magic line, !pip list, top-level try/if/with/for, prints, a plot, a cell that raises after its
    definitions: `dlcourse validate` (the learner's kernel) passes every check, and grading gave full marks."""
    from dlcourse.notebook_check import validate

    result = attacked(lab)
    for name in honest_variants(lab):
        checks = [r for r in validate(result["course"] / "submitted" / name / lab / f"{lab}.ipynb") if r.is_check]
        graded = result["scores"][name]
        assert len(checks) == len(graded) and all(r.passed for r in checks), (name, checks)
        assert all(score == max_score for score, max_score in graded.values()), (name, graded)


def test_the_corpus_of_labs_without_an_autograde_run_scores_as_intended(tmp_path):
    """Lab-specific attacks and honest variants of labs that get no autograde run here (lab 06's served F.conv2d
    and its try/except import), scored test cell by test cell as nbgrader's ScoreTests scores them; the honest
    ones also pass `dlcourse validate`."""
    import nbformat

    from dlcourse.autograde.score import score_test_cell
    from dlcourse.notebook_check import validate

    for lab in sorted(set(LAB_SPECIFIC) - set(LABS)):
        source = source_notebook(lab)
        for entry in LAB_SPECIFIC[lab]:
            made = entry.make(source, source, lab)
            nb, lost = made if isinstance(made, tuple) else (made, None)
            answers = [c.source for c in solution_cells(nb)]
            for cell in graded_cells(source):
                grade_id = nbgrader_meta(cell)["grade_id"]
                verdict = score_test_cell(cell.source, answers)
                deserved = entry.expect == "full" or (entry.expect == "lose" and grade_id != lost)
                assert verdict.passed == deserved, (entry.name, grade_id, verdict.message)
            if entry.name in honest_variants(lab):
                path = tmp_path / entry.name / f"{lab}.ipynb"
                path.parent.mkdir()
                nbformat.write(without_demos(nb, source), path)
                checks = [r for r in validate(path) if r.is_check]
                assert checks and all(r.passed for r in checks), (entry.name, checks)


def _log_by_student(log: str) -> dict[str, str]:
    """The autograde log cut into what nbgrader said while grading each student."""
    parts = re.split(r"Creating/updating student with ID '([^']+)'", log)
    return {student: text for student, text in zip(parts[1::2], parts[2::2])}


@pytest.mark.parametrize("lab", LABS)
def test_the_instructors_log_says_what_each_submission_did_in_one_line(lab, attacked):
    """No traceback while grading any corpus submission (nbgrader's own report of the misnamed notebook aside); a
    process stopped for talking nonsense, flooding or stalling is named in one line."""
    sections = _log_by_student(attacked(lab)["log"])
    assert set(attacked(lab)["expected"]) <= set(sections)
    for student, text in sections.items():
        assert student == "misnamed" or "Traceback" not in text, (student, text[:5000])
    for student, said in {
        "fake_ready": "not an answer (ready: problems must be a list of strings, got int)",
        "malformed_reply": "not an answer (an op 'pwn' where given or raised or result was expected)",
        "flood_given": "stopped part way through a message, or stopped reading the grader's",
        "stalled_message": "stopped part way through a message, or stopped reading the grader's",
    }.items():
        lines = [line for line in sections[student].splitlines() if said in line]
        assert lines and all(line.startswith("test of ") for line in lines), (student, sections[student][-3000:])
