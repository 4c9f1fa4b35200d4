"""Set up the course in one command, with nothing but Python (3.10 or newer) installed.

    python start.py               # install into .venv, copy the labs into my-labs/, open JupyterLab there
    python start.py --test        # install the test tools into .venv, then run the whole test suite
    python start.py --instructor  # add nbgrader and the instructor's tools to .venv, say what else grading needs
    python start.py --no-open     # install and copy only, and print the command that opens the labs

It makes a virtual environment in ``.venv`` beside this file (or reuses it), installs PyTorch, then the course
package with the students' tools (``.[lab]``), the test tools (``.[test]``) or the instructor's (``.[instructor]``).
Run again with nothing changed, it skips pip. PyTorch comes as the CPU-only build on a Linux machine without an
NVIDIA GPU, where pip's default is a CUDA build of several GB; with a GPU, and on macOS and Windows, it is pip's
default build. A PyTorch already in ``.venv`` is kept. Two variables change where PyTorch comes from:
``DLCOURSE_TORCH_INDEX`` (another index for the CPU build: a mirror) and ``DLCOURSE_TORCH`` (pip requirements to
install from pip's own configured sources instead, e.g. ``torch==2.13.0+cpu`` from a wheelhouse or an offline
mirror).

The labs are copied once into ``my-labs/`` (not tracked by git), never overwritten: a learner's work there survives
``git pull``, and a lab updated in ``labs/`` since it was copied is named, so the learner can compare. JupyterLab is
started with ``--allow-root`` when run as root (Docker, some JupyterHub images), which it otherwise refuses; other
arguments (``--port 8890``, ``--no-browser``) are passed on to it.

Only the standard library is used here: this file runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# PyTorch's own index of CPU-only builds (https://pytorch.org/get-started/locally/); DLCOURSE_TORCH_INDEX
# points elsewhere (a mirror, or a local index in the tests).
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MIN_PYTHON = (3, 10)
WORK = "my-labs"  # the learner's own copies of the labs
STAMP = "dlcourse-installed.json"  # in the virtual environment: what was installed, so a rerun can skip pip
ORIGINS = ".dlcourse-origins.json"  # in my-labs/: the digest of each lab as it was when copied


def venv_python(env: Path) -> Path:
    """The interpreter of a virtual environment, on Windows and elsewhere."""
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def has_nvidia_gpu() -> bool:
    """True when `nvidia-smi` lists a GPU (the driver a CUDA build of PyTorch needs)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        proc = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "GPU" in proc.stdout


def torch_install_args(system: str, gpu: bool, cpu_index: str = CPU_INDEX, requirement: str = "") -> list[str]:
    """pip's arguments for PyTorch: the CPU-only build where pip's default would be a CUDA build for nothing.

    Only Linux wheels on PyPI carry CUDA; macOS and Windows get a CPU (or Apple GPU) build by default.
    ``requirement`` (DLCOURSE_TORCH) overrides both: those requirements, from pip's own configured sources.
    """
    if requirement.strip():
        return requirement.split()
    if system == "Linux" and not gpu:
        return ["torch", "--index-url", cpu_index]
    return ["torch"]


def jupyterlab_args(python: Path, labs: Path, is_root: bool, extra: list[str] | None = None) -> list[str]:
    """The command that opens JupyterLab with ``labs`` as its file browser's root."""
    args = [str(python), "-m", "jupyterlab", f"--ServerApp.root_dir={labs}"]
    return args + (["--allow-root"] if is_root else []) + list(extra or [])


def _run(args: list[str]) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run(args, check=True)


def _has_torch(python: Path) -> bool:
    return subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode == 0


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wanted_stamp(extras: set[str]) -> dict:
    """What an installation for ``extras`` depends on: when the stamp in .venv says the same, pip is skipped."""
    return {
        "extras": sorted(extras),
        "pyproject": _digest(ROOT / "pyproject.toml"),
        "python": platform.python_version(),
        "root": str(ROOT),
    }


def _read_stamp(env: Path) -> dict:
    try:
        return json.loads((env / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def _is_up_to_date(env: Path, extras: set[str]) -> bool:
    stamp = _read_stamp(env)
    wanted = wanted_stamp(extras)
    return (
        bool(stamp)
        and set(stamp.get("extras", [])) >= extras
        and all(stamp.get(k) == wanted[k] for k in ("pyproject", "python", "root"))
    )


def install(env: Path, extra: str) -> Path:
    """Create (or reuse) the environment and install PyTorch and the course into it; returns its python.

    ``extra`` is one extra or several joined by commas (``lab,instructor``). Extras installed earlier are kept
    (``--test`` after ``--instructor`` keeps nbgrader), so the stamp records their union.
    """
    python = venv_python(env)
    extras = {e for e in extra.split(",") if e}
    if python.exists() and _is_up_to_date(env, extras) and _has_torch(python):
        print(f"{env.name} is up to date ({', '.join(sorted(extras))}): nothing to install", flush=True)
        return python
    if not python.exists():
        print(f"creating a virtual environment in {env}", flush=True)
        venv.EnvBuilder(with_pip=True).create(env)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    if _has_torch(python):
        print("PyTorch is already installed in this environment: keeping it", flush=True)
    else:
        gpu = has_nvidia_gpu()
        requirement = os.environ.get("DLCOURSE_TORCH", "")
        args = torch_install_args(
            platform.system(), gpu, os.environ.get("DLCOURSE_TORCH_INDEX", CPU_INDEX), requirement
        )
        why = (
            "DLCOURSE_TORCH" if requirement.strip() else "GPU build" if gpu else "for this machine, no NVIDIA GPU found"
        )
        print(f"installing PyTorch ({why})", flush=True)
        try:
            _run(pip + args)
        except subprocess.CalledProcessError:
            if "--index-url" not in args:
                raise
            print(
                f"could not reach {args[-1]} for the CPU-only build; installing pip's default build instead "
                "(on Linux a CUDA build of several GB; set DLCOURSE_TORCH_INDEX to a mirror, or DLCOURSE_TORCH to "
                "a requirement such as torch==2.13.0+cpu that your pip can find)",
                flush=True,
            )
            _run(pip + ["torch"])
    extras |= set(_read_stamp(env).get("extras", [])) if python.exists() else set()
    _run(pip + ["-e", f"{ROOT}[{','.join(sorted(extras))}]"])
    (env / STAMP).write_text(json.dumps(wanted_stamp(extras), indent=1))
    return python


def copy_labs(labs: Path, work: Path) -> list[str]:
    """Copy each lab into ``work`` unless a copy is already there; returns the names of labs updated in ``labs``
    since the learner's copy was made (the copy is kept: the learner's work comes first)."""
    work.mkdir(exist_ok=True)
    try:
        origins = json.loads((work / ORIGINS).read_text())
    except (OSError, ValueError):
        origins = {}
    updated = []
    for lab in sorted(labs.glob("*.ipynb")):
        copy = work / lab.name
        digest = _digest(lab)
        if not copy.exists():
            shutil.copyfile(lab, copy)
            origins[lab.name] = digest
        elif origins.get(lab.name) not in (None, digest):
            updated.append(lab.name)
    (work / ORIGINS).write_text(json.dumps(origins, indent=1, sort_keys=True))
    return updated


def _say_updated(updated: list[str]) -> None:
    for name in updated:
        print(
            f"labs/{name} has changed since it was copied into {WORK}/ (your copy is kept). To start again from the "
            f"new version, rename {WORK}/{name} and run start.py again; open labs/{name} to compare.",
            flush=True,
        )


def _bubblewrap_advice() -> str:
    if shutil.which("bwrap"):
        return "bubblewrap is installed: grading will run each submission in its sandbox."
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    command = "apt-get install bubblewrap" if as_root else "sudo apt-get install bubblewrap"
    return (
        f"grading also needs bubblewrap, which is missing: {command} (Debian/Ubuntu; Fedora: dnf install bubblewrap)."
    )


def pytest_workers(args: list[str]) -> list[str]:
    """Two pytest-xdist workers where there are two cores or more (most slow tests wait on one process: a kernel,
    a browser, pip), unless the arguments choose (-n, --numprocesses, -p no:xdist). Tests that share an expensive
    fixture run on one worker, and timing budgets get the machine to themselves (tests/conftest.py)."""
    chosen = any(a in ("-n", "--numprocesses", "no:xdist") or a.startswith(("-n", "--numprocesses=")) for a in args)
    if chosen or (os.cpu_count() or 1) < 2:
        return []
    return ["-n", "2", "--dist", "loadgroup"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--test", action="store_true", help="install the test tools and run the tests")
    what.add_argument("--instructor", action="store_true", help="add nbgrader and the instructor's tools")
    what.add_argument("--no-open", action="store_true", help="install only; print how to open the labs")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv", help="the virtual environment (default .venv)")
    args, rest = parser.parse_known_args(argv)
    if sys.version_info < MIN_PYTHON:
        print(f"the course needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is {platform.python_version()}")
        return 2
    if rest and (args.instructor or args.no_open):
        parser.error(
            f"unrecognised arguments: {' '.join(rest)} (--test passes them to pytest, and a plain run to JupyterLab)"
        )
    extra = "test" if args.test else "lab,instructor" if args.instructor else "lab"
    python = install(args.venv.resolve(), extra)
    if args.test:
        return subprocess.run([str(python), "-m", "pytest", *pytest_workers(rest), *rest], cwd=ROOT).returncode
    if args.instructor:
        activate = args.venv / ("Scripts\\activate" if os.name == "nt" else "bin/activate")
        print(
            f"ready. {_bubblewrap_advice()}\nNext (README, For instructors): source {activate}  then  "
            "python -m dlcourse build, and from course/: nbgrader generate_assignment / autograde / generate_feedback",
            flush=True,
        )
        return 0
    _say_updated(copy_labs(ROOT / "labs", ROOT / WORK))
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    command = jupyterlab_args(python, ROOT / WORK, is_root, rest)
    if args.no_open:
        print("ready; open the labs with:\n  " + " ".join(command))
        return 0
    print(f"opening JupyterLab on {WORK}/, your copies of the labs", flush=True)
    try:
        return subprocess.run(command, cwd=ROOT).returncode
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
