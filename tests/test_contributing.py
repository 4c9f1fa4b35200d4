"""CONTRIBUTING.md's steps for adding a lab and the tests that enforce them agree."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _section(title: str) -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _test_functions() -> dict[str, list[str]]:
    """Test function name -> the files defining it."""
    found: dict[str, list[str]] = {}
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.setdefault(node.name, []).append(path.name)
    return found


def _per_lab_tests() -> set[str]:
    """The tests of tests/test_course.py that run once per lab."""
    tree = ast.parse((ROOT / "tests" / "test_course.py").read_text())
    per_lab = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            for deco in node.decorator_list:
                if "parametrize" in ast.unparse(deco) and '"lab"' in ast.unparse(deco):
                    per_lab.add(node.name)
    return per_lab


def test_every_test_the_guide_names_exists():
    named = set(re.findall(r"`(test_\w+)`", _section("Adding a lab")))
    assert named, "the steps name the tests that enforce them"
    missing = named - set(_test_functions())
    assert not missing, f"CONTRIBUTING.md names tests that do not exist: {sorted(missing)}"


def test_every_per_lab_check_is_a_step_of_the_guide():
    named = set(re.findall(r"`(test_\w+)`", _section("Adding a lab")))
    unmentioned = _per_lab_tests() - named
    assert not unmentioned, f"tests/test_course.py checks each lab with {sorted(unmentioned)}: add them to a step"


def test_every_file_the_guide_names_exists():
    for path in set(
        re.findall(
            r"`(dlcourse/[\w/.]+|tests/[\w/.]+|benchmarks/[\w/.]+|course/[\w.]+)`",
            (ROOT / "CONTRIBUTING.md").read_text(),
        )
    ):
        if "NN-topic" in path or "<" in path:
            continue
        assert (ROOT / path).exists(), path
