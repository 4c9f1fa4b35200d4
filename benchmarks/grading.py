"""Seconds per submission for ``nbgrader autograde``, sandboxed against unsandboxed, for each lab.

    python benchmarks/grading.py                 # every lab, two model-answer submissions each
    python benchmarks/grading.py 05-convolution  # one lab

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


def main(labs: list[str]) -> int:
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or LABS))
