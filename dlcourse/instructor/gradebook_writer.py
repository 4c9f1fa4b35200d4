"""The one writer of a class's grades: the gradebook, ``autograded/``, and the record of what was graded.

Workers (``grade_job.py``) return plain results; only the coordinator calls :func:`record`, one result after
another, so SQLite is never written by two processes and PostgreSQL sees one client per grading run. Each
result is written in an order that makes a crash at any point harmless:

1. the autograded files, into a fresh folder that then replaces the old one (a rename);
2. the gradebook, with nbgrader's own ``SaveAutoGrades`` and ``AssignLatePenalties`` run on the autograded
   notebooks, exactly as ``nbgrader autograde`` runs them (scores, "needs manual grade", comments, late
   penalties: identical cell by cell);
3. the record (``.dlcourse/graded-LAB.json`` in the course), replaced atomically, naming the submission's and
   the grader's fingerprints.

A run killed between 1 and 3 finds no record and grades that submission again; doing so rewrites the same
rows, so nothing is lost and nothing doubled.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from .grade_job import Result


def template_gradebook(db_url: str, lab: str) -> bytes:
    """A SQLite gradebook (as bytes) holding only ``lab``'s definition as ``db_url`` has it: its notebooks and
    their grade, solution, task and source cells. No student and no grade travels to a worker."""
    with Gradebook(db_url) as gb:
        assignment = gb.find_assignment(lab)
        course_id = assignment.course_id
        definition = {
            "duedate": assignment.duedate,
            "notebooks": [
                {
                    "name": nb.name,
                    "kernelspec": nb.kernelspec,
                    "grade": [(c.name, c.max_score, c.cell_type) for c in nb.grade_cells],
                    "solution": [c.name for c in nb.solution_cells],
                    "task": [(c.name, c.max_score, c.cell_type) for c in nb.task_cells],
                    "source": [(c.name, c.cell_type, c.locked, c.source, c.checksum) for c in nb.source_cells],
                }
                for nb in assignment.notebooks
            ],
        }
    with tempfile.TemporaryDirectory(prefix="dlcourse-template-") as folder:
        path = Path(folder) / "gradebook.db"
        with Gradebook(f"sqlite:///{path}", course_id) as gb:
            gb.add_assignment(lab, duedate=definition["duedate"])
            for nb in definition["notebooks"]:
                gb.add_notebook(nb["name"], lab, kernelspec=nb["kernelspec"])
                for name, max_score, cell_type in nb["grade"]:
                    gb.add_grade_cell(name, nb["name"], lab, max_score=max_score, cell_type=cell_type)
                for name in nb["solution"]:
                    gb.add_solution_cell(name, nb["name"], lab)
                for name, max_score, cell_type in nb["task"]:
                    gb.add_task_cell(name, nb["name"], lab, max_score=max_score, cell_type=cell_type)
                for name, cell_type, locked, source, checksum in nb["source"]:
                    gb.add_source_cell(
                        name, nb["name"], lab, cell_type=cell_type, locked=locked, source=source, checksum=checksum
                    )
        return path.read_bytes()


def definition_fingerprint(template: bytes, config: bytes, source_files: dict[str, bytes]) -> str:
    """What grading depends on besides the submission: a change here makes every submission new again. The
    template is compared by its cells, not its bytes (SQLite files of equal content differ in their ids)."""
    digest = hashlib.sha256(config)
    for name in sorted(source_files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(source_files[name]).digest())
    with tempfile.NamedTemporaryFile(suffix=".db") as handle:
        handle.write(template)
        handle.flush()
        with Gradebook(f"sqlite:///{handle.name}") as gb:
            for assignment in gb.assignments:
                digest.update(str(assignment.duedate).encode())
                for nb in assignment.notebooks:
                    for cell in sorted(nb.source_cells, key=lambda c: c.name):
                        digest.update(f"{nb.name}\0{cell.name}\0{cell.checksum}\0".encode())
                    for cell in sorted(nb.grade_cells, key=lambda c: c.name):
                        digest.update(f"{nb.name}\0{cell.name}\0{cell.max_score}\0".encode())
    return digest.hexdigest()


def submission_fingerprint(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


# --- the record of what was graded ---------------------------------------------------------------------------


def record_path(course: Path, lab: str) -> Path:
    return course / ".dlcourse" / f"graded-{lab}.json"


def read_record(course: Path, lab: str) -> dict:
    path = record_path(course, lab)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_record(course: Path, lab: str, record: dict) -> None:
    path = record_path(course, lab)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


# --- writing one result ---------------------------------------------------------------------------------------


def _replace_folder(target: Path, files: dict[str, bytes]) -> None:
    """``target`` becomes exactly ``files``: written beside it, then swapped in with renames."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in [*target.parent.glob(f".{target.name}.new-*"), *target.parent.glob(f".{target.name}.old-*")]:
        shutil.rmtree(stale, ignore_errors=True)  # left by a run killed while it wrote this folder
    fresh = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.new-"))
    for name, data in files.items():
        path = fresh / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    old = None
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.rename(target, old / "folder")
    os.rename(fresh, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def record(
    course: Path,
    db_url: str,
    result: Result,
    notebooks: list[str],
    fingerprints: tuple[str, str],
    config=None,
) -> None:
    """Write one graded submission into autograded/, the gradebook and the record (in that order)."""
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    lab, student = result.lab, result.student
    _replace_folder(course / "autograded" / student / lab, result.files)
    timestamp = datetime.datetime.fromisoformat(result.timestamp) if result.timestamp else None
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(student)
        if timestamp:
            gb.update_or_create_submission(lab, student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(lab, student)
    for name in notebooks:
        data = result.files.get(f"{name}.ipynb")
        if data is None:
            continue  # nbgrader graded no notebook by this name (autograde made it an empty one otherwise)
        nb = nbformat.reads(data.decode("utf-8"), as_version=nbformat.NO_CONVERT)
        resources = {"nbgrader": {"notebook": name, "assignment": lab, "student": student, "db_url": db_url}}
        SaveAutoGrades(config=config).preprocess(nb, resources)
        AssignLatePenalties(config=config).preprocess(nb, resources)
    entries = read_record(course, lab)
    entries[student] = {
        "submission": fingerprints[0],
        "grader": fingerprints[1],
        "graded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 1),
        "host": result.host,
    }
    _write_record(course, lab, entries)


def forget(course: Path, lab: str, student: str) -> None:
    """Drop a student's entry from the record (a submission that failed must be graded again next time)."""
    entries = read_record(course, lab)
    if entries.pop(student, None) is not None:
        _write_record(course, lab, entries)
