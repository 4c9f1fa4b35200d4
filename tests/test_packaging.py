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


def _environment():
    deps, pip = [], []
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("\ndependencies:") :].splitlines():
        m = re.match(r"^  - (\S+)$", line)
        if m and m.group(1) != "pip:":
            deps.append(m.group(1))
        m = re.match(r"^      - (.+)$", line)
        if m:
            pip.append(m.group(1))
    return deps, pip


def test_environment_lists_every_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    conda = {_name(d.split("=")[0]) for d in _environment()[0]}
    wanted = {
        CONDA_NAMES.get(_name(r), _name(r)) for r in project["dependencies"] + project["optional-dependencies"]["lab"]
    }
    assert wanted - conda == set(), "add these to environment.yml"
    assert conda - wanted - {"python", "pip"} == set(), "environment.yml asks for packages pyproject.toml does not"


def test_environment_pins_a_python_the_package_supports_and_installs_it():
    deps, pip = _environment()
    python = next(d for d in deps if d.startswith("python="))
    minor = tuple(int(v) for v in python.split("=")[1].split(".")[:2])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    minimum = tuple(int(v) for v in re.search(r">=\s*([\d.]+)", project["requires-python"]).group(1).split(".")[:2])
    assert minor >= minimum
    assert pip == ["-e ."]


def test_no_upper_pins_on_what_colab_brings():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"]:
        if _name(req) in {"numpy", "torch", "matplotlib"}:
            assert "<" not in req and "==" not in req, req


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(python -m pip install [^\n]+)\n```", readme)
    assert len(commands) == 2, "README gives exactly two set-up commands"
    assert any("jupyterlab labs" in c or "jupyter lab labs" in c for c in commands)
    test_command = next(c for c in commands if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci and 'eval "$test_command"' in ci
    assert test_command.startswith('python -m pip install -e ".[test]"')
