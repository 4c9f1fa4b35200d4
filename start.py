"""Set up the course in one command, with nothing but Python (3.10 or newer) installed.

    python start.py            # install into .venv, then open JupyterLab on the labs
    python start.py --test     # install the test tools into .venv, then run the whole test suite
    python start.py --no-open  # install only, and print the command that opens the labs

It makes a virtual environment in ``.venv`` beside this file (or reuses it), installs PyTorch, then the course
package with the students' tools (``.[lab]``) or the test tools (``.[test]``). PyTorch comes as the CPU-only
build (under 1 GB) on a Linux machine without an NVIDIA GPU, where pip's default is the CUDA build of several
GB; with a GPU, and on macOS and Windows, it is pip's default build. A PyTorch already in ``.venv`` is kept.
JupyterLab is started with ``--allow-root`` when run as root (Docker, some JupyterHub images), which it
otherwise refuses.

Only the standard library is used here: this file runs before anything is installed.
"""

from __future__ import annotations

import argparse
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


def torch_install_args(system: str, gpu: bool, cpu_index: str = CPU_INDEX) -> list[str]:
    """pip's arguments for PyTorch: the CPU-only build where pip's default would be a CUDA build for nothing.

    Only Linux wheels on PyPI carry CUDA; macOS and Windows get a CPU (or Apple GPU) build by default.
    """
    if system == "Linux" and not gpu:
        return ["torch", "--index-url", cpu_index]
    return ["torch"]


def jupyterlab_args(python: Path, labs: Path, is_root: bool) -> list[str]:
    """The command that opens JupyterLab with labs/ as its file browser's root."""
    args = [str(python), "-m", "jupyterlab", f"--ServerApp.root_dir={labs}"]
    return args + ["--allow-root"] if is_root else args


def _run(args: list[str]) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run(args, check=True)


def _has_torch(python: Path) -> bool:
    return subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode == 0


def install(env: Path, extra: str) -> Path:
    """Create (or reuse) the environment and install PyTorch and the course into it; returns its python."""
    python = venv_python(env)
    if not python.exists():
        print(f"creating a virtual environment in {env}", flush=True)
        venv.EnvBuilder(with_pip=True).create(env)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    if _has_torch(python):
        print("PyTorch is already installed in this environment: keeping it", flush=True)
    else:
        gpu = has_nvidia_gpu()
        args = torch_install_args(platform.system(), gpu, os.environ.get("DLCOURSE_TORCH_INDEX", CPU_INDEX))
        print(f"installing PyTorch ({'GPU build' if gpu else 'for this machine, no NVIDIA GPU found'})", flush=True)
        try:
            _run(pip + args)
        except subprocess.CalledProcessError:
            if args == ["torch"]:
                raise
            print(
                f"could not reach {args[-1]} for the CPU-only build; installing pip's default build instead "
                "(on Linux a CUDA build of several GB)",
                flush=True,
            )
            _run(pip + ["torch"])
    _run(pip + ["-e", f"{ROOT}[{extra}]"])
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--test", action="store_true", help="install the test tools and run the tests")
    what.add_argument("--no-open", action="store_true", help="install only; print how to open the labs")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv", help="the virtual environment (default .venv)")
    args, rest = parser.parse_known_args(argv)
    if sys.version_info < MIN_PYTHON:
        print(f"the course needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is {platform.python_version()}")
        return 2
    if rest and not args.test:
        parser.error(f"unrecognised arguments: {' '.join(rest)} (only --test passes arguments on, to pytest)")
    python = install(args.venv.resolve(), "test" if args.test else "lab")
    if args.test:
        return subprocess.run([str(python), "-m", "pytest", *rest], cwd=ROOT).returncode
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    command = jupyterlab_args(python, ROOT / "labs", is_root)
    if args.no_open:
        print("ready; open the labs with:\n  " + " ".join(command))
        return 0
    print("opening JupyterLab on labs/ (stop it with Ctrl+C)", flush=True)
    try:
        return subprocess.run(command, cwd=ROOT).returncode
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
