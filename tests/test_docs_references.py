"""Docs that cannot drift: every dotted ``dlcourse.`` name and every repository path that the package's
docstrings and comments, the tests, README and CONTRIBUTING mention names something that exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from course_helpers import ROOT

DOTTED = re.compile(r"(?<![\w./-])dlcourse(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
PATH = re.compile(r"`((?:dlcourse|tests|benchmarks|course|\.ci)/[\w./-]+\.(?:py|md|yml|toml|ipynb))`")
WHERE = ["README.md", "CONTRIBUTING.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "dlcourse").rglob("*.py"))]
WHERE += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("*.py") if p.name != Path(__file__).name)


def _loggers() -> set[str]:
    """Names given to logging.getLogger in the package: dotted like modules, but names of loggers."""
    found = set()
    for path in (ROOT / "dlcourse").rglob("*.py"):
        found |= set(re.findall(r"getLogger\(\s*[\"']([\w.]+)[\"']", path.read_text()))
    return found


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_dotted_dlcourse_name_exists():
    missing, loggers = {}, _loggers()
    for name in WHERE:
        for found in DOTTED.findall((ROOT / name).read_text()):
            if found.rstrip(".") not in loggers and not _resolves(found.rstrip(".")):
                missing.setdefault(found, []).append(name)
    assert not missing, missing


def test_every_path_in_readme_and_contributing_exists():
    missing = [
        (name, path)
        for name in ("README.md", "CONTRIBUTING.md")
        for path in PATH.findall((ROOT / name).read_text())
        if "NN-topic" not in path and not (ROOT / path).exists()  # NN-topic: the pattern of a lab's name
    ]
    assert not missing, missing


def test_the_checks_can_fail():
    assert not _resolves("dlcourse.checks") and not _resolves("dlcourse.feedback.checks.no_such_function")
    assert _resolves("dlcourse.feedback.checks.check_exercise")
    assert PATH.findall("see `tests/test_nothing.py`") == ["tests/test_nothing.py"]


def test_the_reference_package_lists_every_module_it_has():
    import dlcourse.reference as reference

    modules = sorted(p.stem for p in Path(reference.__file__).parent.glob("*.py") if p.stem != "__init__")
    unlisted = [m for m in modules if f"``{m}``" not in reference.__doc__]
    assert not unlisted, f"dlcourse/reference/__init__.py does not name {unlisted}"
