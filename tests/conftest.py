import os

# Keep BLAS and torch to two threads, the size of the machines the course targets.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Downloads and caches go to a per-session folder, never the user's home."""
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path_factory.getbasetemp() / "dlcourse-cache"))
