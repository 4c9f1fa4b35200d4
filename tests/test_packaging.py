"""environment.yml (Binder) and pyproject.toml must ask for the same packages; README and CI must agree."""

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch-cpu"}  # conda-forge's name for the CPU build


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].strip().lower()


def _environment() -> list[str]:
    """environment.yml's conda dependencies, as written ("numpy>=1.23")."""
    text = (ROOT / "environment.yml").read_text()
    deps = []
    for line in text[text.index("\ndependencies:") + 1 :].splitlines()[1:]:
        m = re.match(r"^  - (\S+)$", line)
        if not m:
            assert not line.strip() or line.startswith("#"), f"environment.yml: unexpected line {line!r}"
            continue
        deps.append(m.group(1))
    return deps


def _floor(requirement: str) -> str | None:
    m = re.search(r">=\s*([\d.]+)", requirement)
    return m and m.group(1)


def _students_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["lab"]


def test_environment_lists_every_student_dependency_with_the_same_floor():
    conda = {_name(d): d for d in _environment()}
    wanted = {CONDA_NAMES.get(_name(r), _name(r)): r for r in _students_requirements()}
    assert set(wanted) - set(conda) == set(), "add these to environment.yml"
    assert set(conda) - set(wanted) - {"python", "pip"} == set(), "environment.yml asks for what pyproject does not"
    for name, requirement in wanted.items():
        assert _floor(conda[name]) == _floor(requirement), (
            f"environment.yml {conda[name]!r} vs pyproject {requirement!r}"
        )


def test_binder_installs_the_package_after_the_environment():
    """repo2docker builds environment.yml before it copies the repository: a `pip: [-e .]` there fails, so the
    package comes from postBuild, without its dependencies (conda-forge brought them)."""
    assert "-e ." not in (ROOT / "environment.yml").read_text()
    post = ROOT / "postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    commands = [line for line in post.read_text().splitlines() if line and not line.startswith("#")]
    assert commands[0] == "set -euo pipefail"
    assert commands[1:] == ["python -m pip install --no-deps -e ."]


def test_environment_pins_a_python_the_package_supports():
    python = next(d for d in _environment() if d.startswith("python="))
    minor = tuple(int(v) for v in python.split("=")[1].split(".")[:2])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    minimum = tuple(int(v) for v in re.search(r">=\s*([\d.]+)", project["requires-python"]).group(1).split(".")[:2])
    assert minor >= minimum


def test_students_do_not_get_the_instructors_tools():
    """nbgrader in a student's JupyterLab adds Create Assignment and Formgrader; students validate with dlcourse."""
    names = {_name(r) for r in _students_requirements()}
    assert "nbgrader" not in names and {"nbclient", "nbformat", "ipykernel", "jupyterlab"} <= names
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "nbgrader" in {_name(r) for r in project["optional-dependencies"]["instructor"]}


def test_no_upper_pins_on_what_colab_brings():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"]:
        if _name(req) in {"numpy", "torch", "matplotlib"}:
            assert "<" not in req and "==" not in req, req


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(python [^\n]+)\n```", readme[: readme.index("## For students")])
    assert commands == ["python start.py", "python start.py --test"], "README gives exactly two set-up commands"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci and 'eval "$test_command"' in ci
    assert "grep -m1 -E '^python start\\.py --test' README.md" in ci
    # Nothing prepared by other means: start.py makes .venv and installs everything, as on a newcomer's machine;
    # where CI differs (no PyTorch index within reach) it sets a variable that README names.
    code = "\n".join(line for line in ci.splitlines() if not line.lstrip().startswith("#"))
    assert "venv" not in code and "pip install" not in code, "CI must not make or fill .venv itself"
    for variable in re.findall(r"export (DLCOURSE_TORCH\w*)=", code):
        assert variable in readme[: readme.index("## For students")], f"README must name {variable}"
    # CI fails, not skips, when the browser is missing.
    assert "export DLCOURSE_BROWSER_TESTS=1" in ci and "chromium" in ci
    # ...and when PostgreSQL is (tests/test_class_grading.py's scratch gradebook server).
    assert "export DLCOURSE_POSTGRES_TESTS=1" in ci and "postgresql" in ci


def test_the_test_extra_has_what_the_browser_tests_drive_chromium_with():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "playwright" in {_name(r) for r in project["optional-dependencies"]["test"]}
