"""What a lab's generated notebooks were built from, so that ``dlcourse build`` rebuilds only what changed.

Each executed solution carries a build record in its metadata (``dlcourse_build``): a hash of its inputs and
how long the build took. The inputs are the lab's source notebook with the course's nbgrader configuration
(from which nbgrader makes labs/), and the dlcourse package that the solution's run imports (its outputs
come from there: checks, explorers, figures). Tools that never run in a lab (the grader, the build itself,
the command line) are left out of the package's hash, so that changing them rebuilds nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

RECORD = "dlcourse_build"  # the key in a solution notebook's metadata
NOT_RUN_IN_LABS = {"instructor", "autograde", "__main__.py", "notebook_check.py", "kernel_transport.py"}


def _digest(files: list[Path], base: Path) -> str:
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(base).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def source_fingerprint(name: str, root: Path) -> str:
    """The hash of a lab's source notebook and of course/nbgrader_config.py."""
    course = root / "course"
    return _digest([course / "source" / name / f"{name}.ipynb", course / "nbgrader_config.py"], course)


def package_fingerprint(package: Path | None = None) -> str:
    """The hash of the dlcourse package's files that a lab's run can use (everything but NOT_RUN_IN_LABS and
    caches), from the package this interpreter imports, which is the one the build's kernels run."""
    if package is None:
        import dlcourse

        package = Path(dlcourse.__file__).parent
    files = sorted(
        p
        for p in package.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and p.suffix != ".pyc"
        and not p.name.startswith(".")
        and p.relative_to(package).parts[0] not in NOT_RUN_IN_LABS
    )
    return _digest(files, package)


def record(name: str, root: Path, seconds: float) -> dict:
    """The build record of a lab built now from what is on disk."""
    return {"source": source_fingerprint(name, root), "package": package_fingerprint(), "seconds": round(seconds)}


def changes(recorded: dict | None, name: str, root: Path) -> list[str]:
    """What changed since the build that left ``recorded``, in words; empty when nothing did."""
    if not recorded:
        return ["no build record (built before dlcourse build kept one)"]
    found = []
    if recorded.get("source") != source_fingerprint(name, root):
        found.append(f"course/source/{name} or course/nbgrader_config.py changed")
    if recorded.get("package") != package_fingerprint():
        found.append("the dlcourse package changed")
    return found
