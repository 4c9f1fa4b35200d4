"""Grading holds against the corpus in tests/adversarial.py: real ``nbgrader autograde``, one run per lab.

Every cheat scores nothing for the cells it cheats; every honest fault costs its own cell at most; two honest
students graded in the same run keep full marks, also after a detached process of a cheater has had time to
act; nothing outside the scratch course is touched, and inside it no file but the submissions' outputs
changes; autograded/ and feedback/ (generated for the first lab's corpus) hold no link and nothing but the
course's outputs and the submissions' own regular files; none of the instructor's variables (set in the
grader's environment) reaches a notebook or a feedback page; the instructor's log shows no traceback; a
regrade replaces the old grade. In a browser, no script a learner wrote runs in feedback or formgrader.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from adversarial import CANARY, INSTRUCTOR_VARIABLES, LAB_SPECIFIC, corpus, honest_variants, outside_file
from course_helpers import (
    ROOT,
    graded_cells,
    missing_browser,
    nbgrader_meta,
    noisy,
    scratch_config,
    solution_cells,
    solved,
    source_notebook,
    without_demos,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # one autograde run grades the corpus
LABS = ["01-neuron", "05-convolution"]  # the labs the attacks were first confirmed on
HONEST = ("honest", "honest_noisy")


def nbgrader(*args, cwd, check=True, env=None):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True, text=True, env=env)
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
    """Both labs' corpora are graded at once, on first use (two nbgrader runs, one per core: much of a run is
    spent waiting out hung cells and time limits, and CI has 90 minutes for everything)."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(LABS))
    runs = {}

    def get(lab):
        if not runs:
            for each in LABS:
                runs[each] = pool.submit(_run, each, tmp_path_factory.mktemp(f"attack-{each}"))
        return runs[lab].result()

    yield get
    pool.shutdown(wait=True)


def _fingerprint(course: Path) -> dict[str, str]:
    """Every file grading must leave as it was: the course's sources, the release, the submissions (links and
    FIFOs as what they are, never followed), the configuration, and a file of the instructor's outside it."""
    found = {}
    paths = [course / "nbgrader_config.py", outside_file(course)]
    for top in ("source", "release", "submitted"):
        paths += sorted((course / top).rglob("*"))
    for path in paths:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            found[str(path)] = "link to " + os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            found[str(path)] = f"{stat.filemode(info.st_mode)} " + hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = stat.filemode(info.st_mode)
    return found


def _run(lab, course):
    before = sorted(p.name for p in (ROOT / "course").iterdir())
    scratch_config(course, seconds_per_test=15, cell_timeout=30)  # the corpus's loops and hangs wait these out
    shutil.copytree(ROOT / "course" / "source" / lab, course / "source" / lab)
    nbgrader("generate_assignment", lab, "--force", cwd=course)
    outside_file(course).write_text(f"a file of the instructor's, outside the course ({CANARY})\n")
    release = nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4)
    source = source_notebook(lab)
    submissions, expected, plants = {"honest": solved(release, source), "honest_noisy": noisy(release, source)}, {}, {}
    for student in HONEST:
        expected[student] = ("full", None)
    for entry in corpus(lab):
        made = entry.make(release, source, lab)
        nb, lost = made if isinstance(made, tuple) else (made, None)
        submissions[entry.name] = without_demos(nb, release)  # the honest students run the demos
        expected[entry.name] = (entry.expect, lost)
        plants[entry.name] = entry.plant
    for student, nb in submissions.items():
        folder = course / "submitted" / student / lab
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{lab}.ipynb")
        if plants.get(student):
            plants[student](folder, course, lab)
    misnamed = course / "submitted" / "misnamed" / lab
    misnamed.mkdir(parents=True)
    nbformat.write(solved(release, source), misnamed / f"{lab} (1).ipynb")
    pristine = None
    if lab == LABS[0]:  # the same class, for dlcourse grade (test_dlcourse_grade_scores_the_corpus_alike)
        pristine = course.parent / "pristine-course"
        _copy_as_is(course, pristine)
    protected = _fingerprint(course)
    instructor = dict(os.environ, **INSTRUCTOR_VARIABLES)  # what a JupyterHub or a cloud shell would hold
    start = time.perf_counter()
    proc = nbgrader("autograde", lab, "--force", cwd=course, check=False, env=instructor)  # exits 1: misnamed
    seconds = time.perf_counter() - start
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    time.sleep(6)  # a detached process started by a cheater would have acted by now
    scores = _scores(course, lab, list(submissions))
    # Feedback pages for one lab's corpus (about a minute): the other lab's autograded/ is checked the same way.
    feedback = nbgrader("generate_feedback", lab, "--force", cwd=course, env=instructor) if lab == LABS[0] else None
    return {
        "course": course,
        "scores": scores,
        "expected": expected,
        "log": proc.stderr,
        "feedback_log": feedback.stderr if feedback else "",
        "seconds": seconds,
        "students": len(submissions),
        "repo_course_before": before,
        "protected_before": protected,
        "protected_after": _fingerprint(course),
        "release": release,
        "source": source,
        "pristine": pristine,
    }


def _copy_as_is(src: Path, dest: Path) -> None:
    """A copy of a course in which links stay links and FIFOs stay FIFOs (never opened, never followed)."""
    for folder, dirs, files in os.walk(src, followlinks=False):
        target = dest / Path(folder).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in dirs + files:
            path, there = Path(folder) / name, target / name
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(path), there)
                if name in dirs:
                    dirs.remove(name)
            elif stat.S_ISFIFO(info.st_mode):
                os.mkfifo(there)
            elif stat.S_ISREG(info.st_mode):
                shutil.copy2(path, there)


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
def test_no_file_but_the_submissions_outputs_changes(lab, attacked):
    """source/, release/, submitted/ (links included), the configuration and a file outside the course, which
    submissions link to, write to and link over at run time, are exactly as they were."""
    result = attacked(lab)
    before, after = result["protected_before"], result["protected_after"]
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, changed[:10]


def _students_files(course: Path, top: str, lab: str):
    for folder in sorted((course / top).glob(f"*/{lab}")):
        for path in sorted(folder.rglob("*")):
            yield folder.parent.name, path.relative_to(folder), path


@pytest.mark.parametrize("lab", LABS)
def test_autograded_and_feedback_hold_only_the_courses_outputs(lab, attacked):
    """No link, no FIFO, nothing the grader did not write or the student did not hand in as a regular file
    (an honest extra file is copied; links, FIFOs and a file over the size limit are not)."""
    course = attacked(lab)["course"]
    wrong = []
    outputs = [("autograded", {f"{lab}.ipynb"})] + ([("feedback", {f"{lab}.html"})] if lab == LABS[0] else [])
    for top, own in outputs:
        assert any((course / top).glob(f"*/{lab}/{next(iter(own))}")), f"no {top} written"
        for student, rel, path in _students_files(course, top, lab):
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode):
                continue
            submitted = course / "submitted" / student / lab / rel
            handed_in = (
                not (course / "submitted" / student / lab).is_symlink()
                and submitted.is_file()
                and not submitted.is_symlink()
                and submitted.read_bytes() == path.read_bytes()
            )
            if not stat.S_ISREG(info.st_mode) or not (str(rel) in own or handed_in):
                wrong.append(f"{top}/{student}/{lab}/{rel} ({stat.filemode(info.st_mode)})")
    assert not wrong, wrong
    copied = course / "autograded" / "submitted_links" / lab
    assert (copied / "my_notes.md").is_file() and not (copied / "weights.npy").exists()


@pytest.mark.parametrize("lab", LABS)
def test_the_instructors_environment_reaches_no_learner(lab, attacked):
    """The grader ran with a JupyterHub token and cloud credentials in its environment: the learner's function
    (which fails its cell if it sees one) passed, and the kernel's printout of os.environ, which is in the
    graded notebook and the feedback page, holds none of them."""
    course = attacked(lab)["course"]
    graded = (course / "autograded" / "reads_environment" / lab / f"{lab}.ipynb").read_text()
    pages = list((course / "feedback" / "reads_environment").glob(f"{lab}/{lab}.html"))
    assert pages or lab != LABS[0]
    for marker in ("ENVIRONMENT:", "ENVIRONMENT (answer cell):", "HOME"):  # the printouts are there: the check
        assert marker in graded and all(marker in p.read_text() for p in pages), marker  # can fail
    leaked = [str(p) for top in ("autograded", "feedback") for p in (course / top).rglob("*") if p.is_file()]
    leaked = [p for p in leaked if CANARY.encode() in Path(p).read_bytes()]
    assert not leaked, leaked


@pytest.mark.parametrize("lab", LABS)
def test_the_instructors_log_shows_no_traceback(lab, attacked):
    result = attacked(lab)
    for log in (result["log"], result["feedback_log"]):
        assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]


@pytest.mark.parametrize("lab", LABS)
def test_a_feedback_run_that_stops_says_where_and_why(lab, attacked):
    result = attacked(lab)
    stopped = {"kernel_killed": "kernel died", "kernel_segfault": "kernel died", "kernel_exits": "kernel died"}
    if lab == "01-neuron":
        stopped["kernel_hangs"] = "did not stop when it was interrupted"
    for student, why in stopped.items():
        nb = nbformat.read(result["course"] / "autograded" / student / lab / f"{lab}.ipynb", as_version=4)
        notes = [c for c in nb.cells if "The notebook's run stopped here" in json.dumps(c.get("outputs", []))]
        assert len(notes) == 1 and why in json.dumps(notes[0].outputs), student
        assert f"{student}: the notebook's feedback run stopped" in result["log"]


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


def test_dlcourse_grade_scores_the_corpus_alike(attacked):
    """The same class (links, FIFOs and all), graded by `dlcourse grade --workers 2`, scoring only, in a copy of
    the course made before the serial run: every student's points equal nbgrader autograde's, cell by cell, and
    the misnamed submission is the one failure, with its reason."""
    lab = LABS[0]
    result = attacked(lab)
    course = result["pristine"]
    instructor = dict(os.environ, **INSTRUCTOR_VARIABLES)
    proc = subprocess.run(
        [sys.executable, "-m", "dlcourse", "grade", lab, "--workers", "2", "--quiet"],
        cwd=course,
        capture_output=True,
        text=True,
        env=instructor,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    failed = [line for line in proc.stdout.splitlines() if line.strip().startswith("failed:")]
    assert len(failed) == 1 and "misnamed:" in failed[0] and "not a notebook of" in failed[0], proc.stdout
    scores = _scores(course, lab, list(result["scores"]))
    different = {s: (scores[s], result["scores"][s]) for s in scores if scores[s] != result["scores"][s]}
    assert not different, different
    leaked = [p for p in (course / "autograded").rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
    assert not leaked, leaked


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
def test_validate_agrees_with_grading_on_every_honest_variant(lab, attacked, tmp_path):
    """A magic line, !pip list, top-level try/if/with/for, prints, a plot, a cell that raises after its
    definitions: `dlcourse validate` (the learner's kernel) passes every check, and grading gave full marks."""
    from dlcourse.notebook_check import validate

    result = attacked(lab)

    def checks(path):
        return [r for r in validate(path) if r.is_check]

    # The model answer, written afresh: the corpus's "honest" student resubmits a blank lab in another test.
    nbformat.write(solved(result["release"], result["source"]), tmp_path / f"{lab}.ipynb")
    model = checks(tmp_path / f"{lab}.ipynb")  # a test cell may hold several checks: validate lists each one
    assert model and all(r.passed for r in model), model
    for name in honest_variants(lab):
        found, graded = checks(result["course"] / "submitted" / name / lab / f"{lab}.ipynb"), result["scores"][name]
        assert len(found) == len(model) and all(r.passed for r in found), (name, found)
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


FORMGRADE = """
import sys
from nbconvert.exporters import HTMLExporter
from nbgrader.apps.baseapp import NbGrader
from nbgrader.server_extensions.formgrader import handlers
app = NbGrader()
app.load_config_file()  # as formgrader does: the course's nbgrader_config.py, from the folder it runs in
config = app.config
config.HTMLExporter.template_name = "formgrade"
config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
resources = dict(assignment_id="a", notebook_id="n", submission_id="s", index=0, total=1, base_url="",
                 student="s", last_name="", first_name="", notebook_path="n.ipynb")
html, _ = HTMLExporter(config=config).from_filename(sys.argv[1], resources=resources)
open(sys.argv[2], "w").write(html)
"""


def test_no_script_of_the_learners_runs_in_feedback_or_formgrader(attacked, tmp_path):
    """The written answers, a markdown cell and the outputs of scripts_in_answers, rendered as the student's
    feedback page and as formgrader renders them for the instructor, opened in Chromium: each script would
    set the page's title to "pwned-..."; none may run, and the written text stays readable."""
    missing = missing_browser()
    if missing and os.environ.get("DLCOURSE_BROWSER_TESTS") == "1":
        pytest.fail(f"DLCOURSE_BROWSER_TESTS=1 but {missing}")
    if missing:
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    lab = LABS[0]
    course = attacked(lab)["course"]
    autograded = course / "autograded" / "scripts_in_answers" / lab / f"{lab}.ipynb"
    formgrade = tmp_path / "formgrade.html"
    proc = subprocess.run(
        [sys.executable, "-c", FORMGRADE, str(autograded), str(formgrade)], cwd=course, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pages = [course / "feedback" / "scripts_in_answers" / lab / f"{lab}.html", formgrade]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            for page_file in pages:
                html = page_file.read_text()
                assert "pwned-script" in html, "the attack is not on the page: the test could not fail"
                page = browser.new_page()
                page.goto(page_file.as_uri(), wait_until="domcontentloaded")
                page.wait_for_timeout(2000)  # onerror fires once the broken image has failed to load
                assert not page.title().startswith("pwned"), f"{page_file.name}: {page.title()}"
                shown = "<script>document.title" in page.inner_text("body")  # as text
                assert shown and page.locator("strong", has_text="bold").count(), f"{page_file.name}: answer not shown"
                page.close()
        finally:
            browser.close()
