"""README's first command, ``python start.py``: the right PyTorch build, root-safe JupyterLab, labs/ as the root.

The fast tests check the decisions; the slow one runs start.py on a copy of the repository as a new user would
(here as root), measures the virtual environment it leaves and opens JupyterLab from it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from course_helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("start", ROOT / "start.py")
start = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(start)


def test_linux_without_a_gpu_gets_the_cpu_build():
    assert start.torch_install_args("Linux", gpu=False) == ["torch", "--index-url", start.CPU_INDEX]
    assert start.CPU_INDEX == "https://download.pytorch.org/whl/cpu"


@pytest.mark.parametrize("system,gpu", [("Linux", True), ("Darwin", False), ("Windows", False), ("Windows", True)])
def test_pip_default_build_elsewhere(system, gpu):
    assert start.torch_install_args(system, gpu=gpu) == ["torch"]


def test_no_gpu_without_nvidia_smi(monkeypatch):
    monkeypatch.setattr(start.shutil, "which", lambda name: None)
    assert start.has_nvidia_gpu() is False


def test_jupyterlab_opens_on_labs_and_allows_root_only_as_root(tmp_path):
    python = tmp_path / "bin" / "python"
    as_user = start.jupyterlab_args(python, ROOT / "labs", is_root=False)
    as_root = start.jupyterlab_args(python, ROOT / "labs", is_root=True)
    assert as_user[:3] == [str(python), "-m", "jupyterlab"] and f"--ServerApp.root_dir={ROOT / 'labs'}" in as_user
    assert "--allow-root" not in as_user and as_root == as_user + ["--allow-root"]


def test_only_test_runs_pass_arguments_on(capsys):
    with pytest.raises(SystemExit):
        start.main(["-k", "something"])
    assert "only --test passes arguments on" in capsys.readouterr().err


def test_the_cpu_index_falls_back_to_pips_default_when_unreachable(monkeypatch, tmp_path):
    calls = []

    def fake_run(args):
        calls.append(args)
        if "--index-url" in args:
            raise subprocess.CalledProcessError(1, args)

    monkeypatch.setattr(start, "_run", fake_run)
    monkeypatch.setattr(start, "_has_torch", lambda python: False)
    monkeypatch.setattr(start, "has_nvidia_gpu", lambda: False)
    monkeypatch.setattr(start.platform, "system", lambda: "Linux")
    monkeypatch.setattr(start.venv.EnvBuilder, "create", lambda self, env: None)
    start.install(tmp_path / "env", "lab")
    assert "--index-url" in calls[0] and calls[1][-1] == "torch" and calls[2][-1].endswith("[lab]")


# --- end to end ---------------------------------------------------------------------------------------------

VENV_LIMIT = 2 * 2**30  # bytes: the bound for a laptop without a GPU


def _size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if not p.is_symlink())


def _local_cpu_index(where: Path) -> str:
    """A PEP 503 index holding a CPU build of this machine's PyTorch and what it needs, standing in for
    PyTorch's CPU index (this machine reaches only the package registries). Returns its URL."""
    import torch

    if not torch.__version__.endswith("+cpu"):
        pytest.skip(f"this environment's PyTorch ({torch.__version__}) is not a CPU build to stand in with")
    wheels = where / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:", "-d", str(wheels)]
        + [f"torch=={torch.__version__}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"no wheel of torch {torch.__version__} within reach: {proc.stderr[-300:]}")
    simple = where / "simple"
    for wheel in wheels.glob("*.whl"):
        project = wheel.name.split("-")[0].lower().replace("_", "-")
        (simple / project).mkdir(parents=True, exist_ok=True)
        with open(simple / project / "index.html", "a") as page:
            page.write(f'<a href="{wheel.as_uri()}">{wheel.name}</a>\n')
    return simple.as_uri()


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(sys.platform != "linux", reason="the CPU-only build is a Linux question")
def test_a_new_user_gets_a_small_environment_and_jupyterlab(tmp_path):
    clone = tmp_path / "dlcourse"
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in tracked.splitlines():
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    index = _local_cpu_index(tmp_path / "index")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["DLCOURSE_TORCH_INDEX"] = index
    # The Python a new user has: the one this test environment was made from, not its virtual environment.
    base_python = getattr(sys, "_base_executable", sys.executable)
    proc = subprocess.run([base_python, "start.py", "--no-open"], cwd=clone, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "no NVIDIA GPU found" in proc.stdout or "GPU build" in proc.stdout
    command = proc.stdout.strip().splitlines()[-1].split()
    venv_size = _size(clone / ".venv")
    print(f"\nREADME's first command left a virtual environment of {venv_size / 2**30:.2f} GiB")
    assert venv_size < VENV_LIMIT, f"{venv_size / 2**30:.2f} GiB"
    python = str(clone / ".venv" / "bin" / "python")
    assert command[:3] == [python, "-m", "jupyterlab"]
    if os.geteuid() == 0:
        assert "--allow-root" in command
    # The students' tools: the labs' imports and `dlcourse validate`, not the instructor's nbgrader.
    check = subprocess.run(
        [
            python,
            "-c",
            "import dlcourse.explorers.widgets, nbclient, ipywidgets, importlib.util as u; "
            "print(u.find_spec('nbgrader') is None)",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert check.returncode == 0 and check.stdout.strip() == "True", check.stderr

    port = free_port()
    server = subprocess.Popen(
        command + ["--no-browser", f"--port={port}", "--IdentityProvider.token=t"],
        cwd=clone,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        listing = None
        for _ in range(120):
            if server.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token=t", timeout=2) as reply:
                    listing = json.load(reply)
                break
            except OSError:
                time.sleep(0.5)
        assert server.poll() is None, f"JupyterLab exited: {server.stderr.read()[-2000:]}"
        names = {item["name"] for item in listing["content"]}
        assert "01-neuron.ipynb" in names, names  # the labs at the root of the file browser, as README says
    finally:
        server.terminate()
        server.wait(timeout=60)
