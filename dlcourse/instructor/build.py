"""Generate the student labs and the executed solutions from the nbgrader source notebooks.

Needs the instructor's tools: ``python -m pip install -e ".[instructor]"`` (nbgrader, nbformat, nbclient).
Finds the course from the working directory (the repository, or any folder inside it) or from ``--course``.

    python -m dlcourse build                 # rebuild the labs whose source or package changed since their build
    python -m dlcourse build --lab 01-neuron # rebuild this lab (repeatable), changed or not
    python -m dlcourse build --all           # rebuild every lab
    python -m dlcourse build --check         # exit 1, naming the notebooks, when either is out of date

labs/NN-topic.ipynb is what ``nbgrader generate_assignment`` releases: solutions replaced by stubs,
hidden tests removed, no outputs, nbgrader's metadata and checksums kept so a learner's copy can be
autograded. solutions/NN-topic.ipynb is the source with hidden tests removed (nbgrader's own
ClearHiddenTests), executed top to bottom, outputs kept. ``--check`` compares the labs exactly and the
solutions cell by cell (sources, not outputs: those hold timings and progress bars).

A solution carries a build record (fingerprint.py): what it was built from and how long that took. The
build says which labs it will rebuild, why and about how long it will take before it starts, and writes a
notebook only when it differs from the one on disk by more than what varies between runs (reruns.py), so a
rebuild of an unchanged lab leaves no diff.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dlcourse.instructor import fingerprint, release, reruns

INSTALL_HINT = 'python -m pip install -e ".[instructor]" (from the repository)'
EXECUTION_TIMEOUT = 120  # seconds per cell while building solutions; the labs aim far lower
FIRST_BUILD_SECONDS = 120  # a guess for a lab never timed: the nine took 16.5 min in all on two cores


class CourseNotFound(Exception):
    """No course/nbgrader_config.py in the working directory or above it."""


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder, from ``start`` (default: the working directory) upwards, that
    holds course/nbgrader_config.py; ``start`` may also be the course folder itself."""
    start = Path(start or Path.cwd()).resolve()
    if (start / "nbgrader_config.py").is_file() and (start / "source").is_dir():
        return start.parent
    for folder in [start, *start.parents]:
        if (folder / "course" / "nbgrader_config.py").is_file():
            return folder
    raise CourseNotFound(
        f"no course found in {start} or above it: run from the repository (the folder that holds "
        "course/nbgrader_config.py) or pass --course PATH"
    )


def lab_names(root: Path | None = None) -> list[str]:
    """The labs in course/source, e.g. ['01-neuron', ...], each a folder holding <name>.ipynb."""
    root = root or find_root()
    source = root / "course" / "source"
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file()) if source.is_dir() else []


def nbgrader_env() -> dict:
    """The environment for an nbgrader subprocess: this interpreter's scripts first on PATH, because nbgrader
    runs `alembic` by name and fails when the virtual environment is not activated."""
    return dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))


def _nbgrader(args: list[str], course: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True, env=nbgrader_env()
    )
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


def student_notebook(name: str, root: Path | None = None):
    """The released (student) version of one lab, made by nbgrader generate_assignment in a scratch course."""
    import nbformat

    root = root or find_root()
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        (course / "source").mkdir(parents=True)
        shutil.copy(root / "course" / "nbgrader_config.py", course)
        shutil.copytree(root / "course" / "source" / name, course / "source" / name)
        _nbgrader(["generate_assignment", name, "--force"], course)
        return nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)


def solution_notebook(name: str, root: Path | None = None, execute: bool = True):
    """The source with hidden tests removed, executed from its own folder when ``execute``."""
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests

    root = root or find_root()
    source = root / "course" / "source" / name / f"{name}.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb, _ = ClearHiddenTests().preprocess(nb, {})
    if execute:
        from nbclient import NotebookClient

        from dlcourse.kernel_transport import kernel_config

        env_backend = os.environ.get("MPLBACKEND")
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        try:
            NotebookClient(
                nb,
                config=kernel_config(),  # encrypted: no "running over TCP without encryption" warning
                timeout=EXECUTION_TIMEOUT,
                kernel_name="python3",
                record_timing=False,  # no timestamps in the cells' metadata: they would differ every build
                resources={"metadata": {"path": str(source.parent)}},
            ).execute()
        finally:
            if env_backend is None:
                os.environ.pop("MPLBACKEND", None)
            else:
                os.environ["MPLBACKEND"] = env_backend
    return reruns.settled(nb, name) if execute else nb


def _comparable(nb, with_outputs: bool) -> list:
    return [
        (c.cell_type, c.source, c.get("metadata", {}).get("nbgrader"))
        if not with_outputs
        else (c.cell_type, c.source, c.get("metadata", {}).get("nbgrader"), c.get("outputs"))
        for c in nb.cells
    ]


def _write(nb, path: Path) -> None:
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    nbformat.write(nb, path)


def _unstamped(name: str, root: Path) -> tuple[object, bool]:
    """The lab's source notebook with its links stamped (release.stamp), and whether that changed anything."""
    import nbformat

    nb = nbformat.read(root / "course" / "source" / name / f"{name}.ipynb", as_version=4)
    changed = False
    for cell in nb.cells:
        stamped = release.stamp(cell.source)
        changed |= stamped != cell.source
        cell.source = stamped
    return nb, changed


def _readme_stamped(root: Path) -> str | None:
    """README.md with its badges stamped, or None when it has none to change (or no README)."""
    readme = root / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text()
    stamped = release.stamp(text)
    return stamped if stamped != text else None


def stamp_release(names: list[str], root: Path) -> list[str]:
    """Point every lab's set-up cell and badges, and README's badges, at this release; returns what changed."""
    changed = []
    for name in names:
        nb, differs = _unstamped(name, root)
        if differs:
            _write(nb, root / "course" / "source" / name / f"{name}.ipynb")
            changed.append(f"course/source/{name}/{name}.ipynb")
    readme = _readme_stamped(root)
    if readme is not None:
        (root / "README.md").write_text(readme)
        changed.append("README.md")
    return changed


def _solution_differs(name: str, root: Path) -> str | None:
    """Why solutions/<name>.ipynb must be rebuilt whatever its record says: missing, not executed, or cells
    that differ from the source's (edited by hand, or built before the source changed)."""
    import nbformat

    path = root / "solutions" / f"{name}.ipynb"
    if not path.exists():
        return f"solutions/{name}.ipynb is missing"
    nb = nbformat.read(path, as_version=4)
    if _comparable(nb, False) != _comparable(solution_notebook(name, root, execute=False), False):
        return f"the cells of solutions/{name}.ipynb differ from course/source"
    if not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        return f"solutions/{name}.ipynb was not executed"
    return None


def _recorded(name: str, root: Path) -> dict | None:
    import nbformat

    path = root / "solutions" / f"{name}.ipynb"
    return nbformat.read(path, as_version=4).metadata.get(fingerprint.RECORD) if path.exists() else None


def plan(names: list[str], root: Path, forced: set[str] = frozenset()) -> dict[str, list[str]]:
    """The labs among ``names`` to build, each with why: named in ``forced``, a generated notebook missing
    or unlike its source, or its inputs changed since its build record. Labs that need nothing are left out."""
    reasons = {}
    for name in names:
        why = ["named with --lab"] if name in forced else []
        if not (root / "labs" / f"{name}.ipynb").exists():
            why.append(f"labs/{name}.ipynb is missing")
        differs = _solution_differs(name, root)
        why += [differs] if differs else fingerprint.changes(_recorded(name, root), name, root)
        if why:
            reasons[name] = why
    return reasons


def duration(seconds: float) -> str:
    """'45 s', '3 min', '1 h 05 min'."""
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def estimate(reasons: dict[str, list[str]], root: Path) -> tuple[float, list[str]]:
    """About how long building these labs takes (each as long as its last build, FIRST_BUILD_SECONDS for a
    lab never built with a record), and one line per lab saying why and how long."""
    total, lines = 0.0, []
    for name, why in reasons.items():
        seconds = (_recorded(name, root) or {}).get("seconds")
        took = f"last build {duration(seconds)}" if seconds is not None else "not timed before"
        total += FIRST_BUILD_SECONDS if seconds is None else seconds
        lines.append(f"  {name}: {'; '.join(why)} ({took})")
    return total, lines


def _write_if_changed(nb, path: Path) -> bool:
    """Write ``nb`` to ``path`` unless the file already holds exactly that; whether it wrote."""
    import nbformat

    nbformat.validate(nb)
    text = nbformat.writes(nb)
    text += "" if text.endswith("\n") else "\n"  # as nbformat.write ends a file
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def build_lab(name: str, root: Path) -> list[str]:
    """Generate labs/<name>.ipynb and run solutions/<name>.ipynb; returns the paths it wrote.

    A solution whose run shows what the one on disk shows (up to timings, widget ids and timestamps) is
    kept as it is, its build record brought up to date if its inputs changed: no diff when nothing did.
    """
    import nbformat

    start = time.perf_counter()
    written = []
    if _write_if_changed(student_notebook(name, root), root / "labs" / f"{name}.ipynb"):
        written.append(f"labs/{name}.ipynb")
    new = solution_notebook(name, root)
    path = root / "solutions" / f"{name}.ipynb"
    old = nbformat.read(path, as_version=4) if path.exists() else None
    record = fingerprint.record(name, root, time.perf_counter() - start)
    if old is not None and reruns.same_run(old, new, name):  # (cells and outputs alike)
        kept = old.metadata.get(fingerprint.RECORD) or {}
        if {k: kept.get(k) for k in ("source", "package")} == {k: record[k] for k in ("source", "package")}:
            return written  # the same inputs and the same outputs: leave the file alone, timing included
        new = old  # the same outputs from changed inputs: keep them, with a record of the new inputs
    new.metadata[fingerprint.RECORD] = record
    if _write_if_changed(new, path):
        written.append(f"solutions/{name}.ipynb")
    return written


def build(names: list[str], root: Path | None = None, forced: set[str] = frozenset()) -> None:
    """Stamp the release into the sources, then rebuild the labs among ``names`` that need it (``plan``) or
    are named in ``forced``, saying which, why and about how long before starting."""
    root = root or find_root()
    for path in stamp_release(names, root):
        print(f"stamped {path} with {release.REPOSITORY} {release.release_tag()}")
    reasons = plan(names, root, forced)
    if not reasons:
        print(
            f"up to date: labs/ and solutions/ of {len(names)} lab(s) were built from what course/source and "
            "the dlcourse package hold now; `--lab NN-topic` rebuilds one anyway"
        )
        return
    total, lines = estimate(reasons, root)
    print(f"building {len(reasons)} of {len(names)} lab(s), about {duration(total)} in all:", *lines, sep="\n")
    print("(each lab: nbgrader makes labs/, then the solution runs top to bottom)", flush=True)
    for name in reasons:
        start = time.perf_counter()
        written = build_lab(name, root)
        said = ", ".join(written) if written else "nothing changed"
        print(f"built {name} in {duration(time.perf_counter() - start)}: {said}", flush=True)


def stale(names: list[str], root: Path | None = None) -> list[str]:
    """The generated notebooks that are missing or differ from what the sources would give."""
    import nbformat

    root = root or find_root()
    tag = f"{release.REPOSITORY} {release.release_tag()}"
    problems = []
    if _readme_stamped(root) is not None:
        problems.append(f"README.md (links not stamped with {tag})")
    for name in names:
        if _unstamped(name, root)[1]:
            problems.append(f"course/source/{name}/{name}.ipynb (links not stamped with {tag})")
        lab, solution = root / "labs" / f"{name}.ipynb", root / "solutions" / f"{name}.ipynb"
        if not lab.exists() or _comparable(nbformat.read(lab, as_version=4), True) != _comparable(
            student_notebook(name, root), True
        ):
            problems.append(str(lab.relative_to(root)))
        if not solution.exists() or _comparable(nbformat.read(solution, as_version=4), False) != _comparable(
            solution_notebook(name, root, execute=False), False
        ):
            problems.append(str(solution.relative_to(root)))
        elif not any(c.get("outputs") for c in nbformat.read(solution, as_version=4).cells if c.cell_type == "code"):
            problems.append(f"{solution.relative_to(root)} (not executed)")
    known = {f"{n}.ipynb" for n in lab_names(root)}
    for folder in ("labs", "solutions"):
        for extra in sorted((root / folder).glob("*.ipynb")) if (root / folder).is_dir() else []:
            if extra.name not in known:
                problems.append(f"{folder}/{extra.name} (no source in course/source)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dlcourse build",
        description="Generate labs/ and solutions/ from course/source, rebuilding only the labs that changed.",
        epilog=f"Instructors only; needs {INSTALL_HINT}. "
        "Run from the repository, or name the course folder with --course.",
    )
    parser.add_argument("labs", nargs="*", help="the same as --lab for each")
    parser.add_argument(
        "--lab",
        action="append",
        default=[],
        metavar="NN-topic",
        help="rebuild this lab, changed or not (repeatable); with --check: check only these",
    )
    parser.add_argument("--all", action="store_true", help="rebuild every lab, changed or not")
    parser.add_argument(
        "--check", action="store_true", help="fail, naming the notebooks, if labs/ or solutions/ is out of date"
    )
    parser.add_argument("--course", type=Path, help="the course folder (holding nbgrader_config.py and source/)")
    args = parser.parse_args(argv)
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
        import nbgrader  # noqa: F401
    except ModuleNotFoundError as err:
        print(f"dlcourse build: the instructor's tools are missing ({err.name}): {INSTALL_HINT}", file=sys.stderr)
        return 2
    try:
        root = find_root(args.course)
    except CourseNotFound as err:
        parser.error(str(err))
    available = lab_names(root)
    named = list(dict.fromkeys(args.labs + args.lab))
    unknown = sorted(set(named) - set(available))
    if unknown:
        parser.error(f"no such lab(s) in course/source: {', '.join(unknown)}; available: {', '.join(available)}")
    if args.check:
        names = named or available
        print(f"checking {len(names)} lab(s) against course/source (nbgrader makes each student version) ...")
        problems = stale(names, root)
        for p in problems:
            print(f"out of date: {p}", file=sys.stderr)
        if problems:
            # Named: a default build goes by the build records and would not notice a hand-edited labs/ file.
            stale_labs = [n for n in names if any(f"{n}.ipynb" in p for p in problems)]
            command = "python -m dlcourse build" + "".join(f" --lab {n}" for n in stale_labs)
            print(f"run `{command}` and commit labs/ and solutions/", file=sys.stderr)
            return 1
        print(f"up to date: {', '.join(names)}")
        return 0
    forced = set(available) if args.all else set(named)
    build(named or available, root, forced)
    return 0
