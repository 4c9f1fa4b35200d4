"""Generate the student labs and the executed solutions from the nbgrader source notebooks.

Needs the instructor's tools: ``python -m pip install -e ".[instructor]"`` (nbgrader, nbformat, nbclient).
Finds the course from the working directory (the repository, or any folder inside it) or from ``--course``.

    python -m dlcourse build            # regenerate labs/ and solutions/ from course/source
    python -m dlcourse build --check    # exit 1, naming the notebooks, when either is out of date
    python -m dlcourse build 01-neuron  # only the named labs

labs/NN-topic.ipynb is what ``nbgrader generate_assignment`` releases: solutions replaced by stubs,
hidden tests removed, no outputs, nbgrader's metadata and checksums kept so a learner's copy can be
autograded. solutions/NN-topic.ipynb is the source with hidden tests removed (nbgrader's own
ClearHiddenTests), executed top to bottom, outputs kept. ``--check`` compares the labs exactly and the
solutions cell by cell (sources, not outputs: those hold timings and progress bars).
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

from dlcourse.instructor import release

INSTALL_HINT = 'python -m pip install -e ".[instructor]" (from the repository)'
EXECUTION_TIMEOUT = 120  # seconds per cell while building solutions; the labs aim far lower


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

        env_backend = os.environ.get("MPLBACKEND")
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        try:
            NotebookClient(
                nb,
                timeout=EXECUTION_TIMEOUT,
                kernel_name="python3",
                resources={"metadata": {"path": str(source.parent)}},
            ).execute()
        finally:
            if env_backend is None:
                os.environ.pop("MPLBACKEND", None)
            else:
                os.environ["MPLBACKEND"] = env_backend
    return nb


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


def build(names: list[str], root: Path | None = None) -> None:
    root = root or find_root()
    for path in stamp_release(names, root):
        print(f"stamped {path} with {release.REPOSITORY} {release.release_tag()}")
    for name in names:
        start = time.perf_counter()
        _write(student_notebook(name, root), root / "labs" / f"{name}.ipynb")
        _write(solution_notebook(name, root), root / "solutions" / f"{name}.ipynb")
        print(f"built {name} in {time.perf_counter() - start:.1f} s: labs/{name}.ipynb, solutions/{name}.ipynb")


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
        description="Generate labs/ and solutions/ from course/source.",
        epilog=f"Instructors only; needs {INSTALL_HINT}. "
        "Run from the repository, or name the course folder with --course.",
    )
    parser.add_argument("labs", nargs="*", help="lab names such as 01-neuron (default: all)")
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
    unknown = sorted(set(args.labs) - set(available))
    if unknown:
        parser.error(f"no such lab(s) in course/source: {', '.join(unknown)}; available: {', '.join(available)}")
    names = args.labs or available
    if args.check:
        problems = stale(names, root)
        for p in problems:
            print(f"out of date: {p}", file=sys.stderr)
        if problems:
            print("run `python -m dlcourse build` and commit labs/ and solutions/", file=sys.stderr)
            return 1
        print(f"up to date: {', '.join(names)}")
        return 0
    build(names, root)
    return 0
