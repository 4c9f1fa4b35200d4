"""Grading holds against the corpus in tests/adversarial.py: real ``nbgrader autograde``, one run per lab.

Every cheat scores nothing for the cells it cheats; every honest fault costs its own cell at most; two honest
students graded in the same run keep full marks, also after a detached process of a cheater has had time to
act; nothing outside the scratch course is touched; a regrade replaces the old grade.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from adversarial import corpus
from course_helpers import ROOT, graded_cells, nbgrader_meta, noisy, solved, source_notebook, without_demos

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
