"""Grading speed: ``dlcourse grade`` per submission and in parallel, and what the sandbox costs.

    python benchmarks/grading.py                          # dlcourse grade: every lab, then the class figures
    python benchmarks/grading.py 05-convolution           # one lab
    python benchmarks/grading.py --sandbox-overhead       # nbgrader autograde, sandboxed against unsandboxed

The default run (issue 24) grades ``PER_LAB`` model answers of each lab with one worker and reports the seconds
one submission's grading takes (each job's own time, from the grade record); then grades ``CLASS`` lab-05
submissions with one worker and with two, reports the speed-up (goal >= 1.7x on two cores) and projects a class
of 500 lab-05 submissions on 16 cores from the per-submission time and the parallel efficiency measured here
(goal <= 10 minutes). Each goal is printed with the figure.

With ``--sandbox-overhead``:
Each lab is graded twice in a scratch course: with the bubblewrap sandbox (the default) and with
DLCOURSE_UNSANDBOXED=1 (the same out-of-process scoring, no bubblewrap). The two runs are interleaved lab by
lab so that the machine's load affects both alike. Goals (issue 9): the sandbox costs at most 30 % more time,
and one submission of any lab grades in under 60 s on two cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from course_helpers import LABS, solved, source_notebook  # noqa: E402

SUBMISSIONS = 2


def grade_seconds(lab: str, sandboxed: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        (course / "source").mkdir(parents=True)
        shutil.copy(ROOT / "course" / "nbgrader_config.py", course)
        shutil.copytree(ROOT / "course" / "source" / lab, course / "source" / lab)
        run = lambda *args, env=None: subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=course,  # noqa: E731
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        run("generate_assignment", lab, "--force")
        release = nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4)
        for i in range(SUBMISSIONS):
            folder = course / "submitted" / f"student{i}" / lab
            folder.mkdir(parents=True)
            nbformat.write(solved(release, source_notebook(lab)), folder / f"{lab}.ipynb")
        env = dict(os.environ, DLCOURSE_UNSANDBOXED="0" if sandboxed else "1")
        start = time.perf_counter()
        run("autograde", lab, "--force", env=env)
        return (time.perf_counter() - start) / SUBMISSIONS


def overhead_main(labs: list[str]) -> int:
    print(f"{'lab':24s} {'sandboxed':>10s} {'unsandboxed':>12s} {'overhead':>9s}   (seconds per submission)")
    worst_overhead, slowest = 0.0, 0.0
    for lab in labs:
        plain = grade_seconds(lab, sandboxed=False)
        boxed = grade_seconds(lab, sandboxed=True)
        overhead = boxed / plain - 1
        worst_overhead, slowest = max(worst_overhead, overhead), max(slowest, boxed)
        print(f"{lab:24s} {boxed:10.1f} {plain:12.1f} {overhead:+9.0%}", flush=True)
    print(f"worst overhead {worst_overhead:+.0%} (goal <= +30%), slowest {slowest:.1f} s per submission (goal < 60 s)")
    return 0


# --- dlcourse grade -------------------------------------------------------------------------------------------

PER_LAB = 3
CLASS = 8
CLASS_LAB = "05-convolution"
PROJECTED_CLASS, PROJECTED_CORES = 500, 16


def _class_course(tmp: Path, lab: str, students: int) -> Path:
    course = tmp / f"course-{lab}-{students}"
    (course / "source").mkdir(parents=True)
    shutil.copy(ROOT / "course" / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "course" / "source" / lab, course / "source" / lab)
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", lab, "--force"],
        cwd=course,
        capture_output=True,
        check=True,
    )
    release = nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4)
    nb = solved(release, source_notebook(lab))
    for i in range(students):
        folder = course / "submitted" / f"student{i:03d}" / lab
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{lab}.ipynb")
    return course


def _grade(course: Path, lab: str, workers: int) -> tuple[float, list[float]]:
    """(seconds of the grading phase, each job's seconds) of one `dlcourse grade --force` run."""
    import json
    import re

    proc = subprocess.run(
        [sys.executable, "-m", "dlcourse", "grade", lab, "--force", "--quiet", "--workers", str(workers)],
        cwd=course,
        capture_output=True,
        text=True,
        check=True,
    )
    phase = float(re.search(r"grading took ([0-9.]+) s", proc.stderr).group(1))
    record = json.loads((course / ".dlcourse" / f"graded-{lab}.json").read_text())
    return phase, [entry["seconds"] for entry in record.values()]


def class_main(labs: list[str]) -> int:
    import statistics

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        print(f"dlcourse grade, one worker, {PER_LAB} model answers per lab (seconds per submission, scoring only)")
        print(f"{'lab':24s} {'median':>7s} {'max':>7s}")
        for lab in labs:
            _, seconds = _grade(_class_course(Path(tmp), lab, PER_LAB), lab, 1)
            print(f"{lab:24s} {statistics.median(seconds):7.1f} {max(seconds):7.1f}")
            ok &= max(seconds) <= 15
        print("goal: every lab's submission scored in <= 15 s on one core:", "met" if ok else "NOT met")
        course = _class_course(Path(tmp), CLASS_LAB, CLASS)
        one, per_job = _grade(course, CLASS_LAB, 1)
        two, _ = _grade(course, CLASS_LAB, 2)
        speedup = one / two
        efficiency = speedup / 2
        per_submission = one / CLASS
        projected = PROJECTED_CLASS * per_submission / (PROJECTED_CORES * efficiency) / 60
        print(
            f"\n{CLASS} submissions of {CLASS_LAB}: {one:.1f} s with 1 worker, {two:.1f} s with 2 workers "
            f"(cores here: {os.cpu_count()})"
        )
        print(f"speed-up with 2 workers: {speedup:.2f}x (goal >= 1.7x): {'met' if speedup >= 1.7 else 'NOT met'}")
        print(
            f"projected: {PROJECTED_CLASS} submissions on {PROJECTED_CORES} cores at {per_submission:.1f} s each "
            f"and {efficiency:.0%} efficiency: {projected:.1f} minutes (goal <= 10): "
            f"{'met' if projected <= 10 else 'NOT met'}"
        )
        return 0 if ok and speedup >= 1.7 and projected <= 10 else 1


def main(argv: list[str]) -> int:
    if "--sandbox-overhead" in argv:
        return overhead_main([a for a in argv if a != "--sandbox-overhead"] or LABS)
    return class_main(argv or LABS)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
