import os

# Keep BLAS and torch to two threads, the size of the machines the course targets.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")

import json  # noqa: E402
import subprocess  # noqa: E402
import venv  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Downloads and caches go to a per-session folder, never the user's home."""
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path_factory.getbasetemp() / "dlcourse-cache"))


# --- a Colab-like environment ---------------------------------------------------------------------------

COLAB_PACKAGES = Path(__file__).with_name("colab-packages.txt")
COLAB_KERNEL = "dlcourse-colab-like"


@pytest.fixture(scope="session")
def colab_kernel(tmp_path_factory):
    """The name of a Jupyter kernel whose Python has Colab's versions of what the labs import
    (tests/colab-packages.txt: ipywidgets 7, not 8) and the course installed as a lab's set-up cell installs it
    on Colab: ``pip install --no-deps mlxtend dlcourse``, not editable, leaving those versions alone."""
    root = tmp_path_factory.mktemp("colab-like")
    env = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = str(env / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + ["-r", str(COLAB_PACKAGES)], check=True)
    subprocess.run(pip + ["--no-deps", "mlxtend", str(Path(__file__).resolve().parents[1])], check=True)
    spec = root / "share" / "jupyter" / "kernels" / COLAB_KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python (Colab's package versions)",
                "language": "python",
                "env": {"PYTHONPATH": ""},
            }
        )
    )
    # Jupyter looks for kernels in JUPYTER_PATH first; the session's other kernels are unaffected.
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root / "share" / "jupyter"), previous]))
    yield COLAB_KERNEL
    if previous is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = previous
