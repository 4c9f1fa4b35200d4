"""Datasets: toy sets, offline digits, photographs, IDX parsing and checksummed downloads over real HTTP."""

import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from dlcourse.data import (
    DownloadError,
    fetch,
    load_digits,
    load_mnist,
    load_photo,
    make_dataset,
    random_shift,
    read_idx,
)
from dlcourse.data.mnist import FILES


@pytest.mark.parametrize("name", ["moons", "circles", "spiral", "xor", "blobs"])
def test_toy_sets_are_reproducible_and_balanced(name):
    X, y = make_dataset(name, n=101, noise=0.1, rng=3)
    X2, y2 = make_dataset(name, n=101, noise=0.1, rng=3)
    assert X.shape == (101, 2) and y.shape == (101,)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert set(np.unique(y)) == {0, 1}
    assert abs(y.mean() - 0.5) < 0.15
    assert not np.array_equal(X, make_dataset(name, n=101, noise=0.1, rng=4)[0])


def test_noise_moves_points():
    X0, _ = make_dataset("moons", n=50, noise=0.0, rng=0)
    X1, _ = make_dataset("moons", n=50, noise=0.3, rng=0)
    assert np.abs(X0 - X1).mean() > 0.05


def test_offline_digits_are_stratified_real_mnist():
    X_train, y_train, X_test, y_test = load_digits()
    assert X_train.shape == (4000, 1, 28, 28) and X_test.shape == (1000, 1, 28, 28)
    assert X_train.dtype == np.float32 and 0 <= X_train.min() and X_train.max() == 1
    assert np.array_equal(np.bincount(y_test), [100] * 10)
    X8, y8, _, _ = load_digits("sklearn")
    assert X8.shape[1:] == (1, 8, 8)


def test_photo():
    rgb, gray = load_photo("flower"), load_photo("china", gray=True)
    assert rgb.shape == (3, 427, 640) and gray.shape == (427, 640)
    assert 0 <= gray.min() and gray.max() <= 1 and gray.std() > 0.1


def test_random_shift_moves_content_without_changing_it(rng):
    X = np.zeros((5, 1, 10, 10))
    X[:, 0, 4:6, 4:6] = 1
    shifted = random_shift(X, 2, rng)
    assert shifted.shape == X.shape and np.allclose(shifted.sum(axis=(1, 2, 3)), 4)
    assert not np.array_equal(shifted, X)


def write_idx(path: Path, array: np.ndarray, code: int):
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(array.dtype.newbyteorder(">")).tobytes())


@pytest.fixture
def idx_server(tmp_path):
    """A tiny MNIST-shaped dataset served over HTTP on localhost, counting requests."""
    rng = np.random.default_rng(0)
    served = tmp_path / "served"
    served.mkdir()
    arrays = {
        FILES[0]: rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        FILES[1]: rng.integers(0, 10, 6, dtype=np.uint8),
        FILES[2]: rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        FILES[3]: rng.integers(0, 10, 3, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(served / name, arr, 0x08)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    sha = {name: hashlib.sha256((served / name).read_bytes()).hexdigest() for name in FILES}
    yield {"base": base, "sha": sha, "arrays": arrays, "requests": requests, "dir": served}
    server.shutdown()


def test_read_idx_roundtrip_and_errors(tmp_path):
    arr = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", arr, 0x0C)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), arr)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match=r"promises shape \(10,\)"):
        read_idx(tmp_path / "short")


def test_load_mnist_downloads_once_and_verifies(idx_server, tmp_path):
    sources = {"tiny": {"mirrors": [idx_server["base"]], "sha256": idx_server["sha"]}}
    X_train, y_train, X_test, y_test = load_mnist("tiny", root=tmp_path / "cache", sources=sources)
    assert X_train.shape == (6, 1, 28, 28) and X_test.shape == (3, 1, 28, 28)
    assert np.allclose(X_train[:, 0] * 255, idx_server["arrays"][FILES[0]])
    assert np.array_equal(y_test, idx_server["arrays"][FILES[3]])
    assert len(idx_server["requests"]) == 4
    load_mnist("tiny", root=tmp_path / "cache", sources=sources)
    assert len(idx_server["requests"]) == 4  # cached and verified: nothing downloaded again


def test_fetch_tries_the_next_mirror_after_http_404(idx_server, tmp_path):
    name = FILES[1]
    path = fetch(
        name,
        [idx_server["base"] + "missing/" + name, idx_server["base"] + name],
        idx_server["sha"][name],
        root=tmp_path,
    )
    assert path.read_bytes() == (idx_server["dir"] / name).read_bytes()


def test_fetch_reports_http_errors_and_bad_checksums(idx_server, tmp_path):
    name, cache = FILES[1], tmp_path / "cache"
    with pytest.raises(DownloadError, match=r"HTTP 404.*\n.*load_digits\(\)"):
        fetch(name, [idx_server["base"] + "nope.gz"], idx_server["sha"][name], root=cache)
    with pytest.raises(DownloadError, match=r"checksum mismatch, expected sha256 0{64}, got [0-9a-f]{64}"):
        fetch(name, [idx_server["base"] + name], "0" * 64, root=cache)
    assert not list(cache.glob("*"))  # no partial or unverified file is left behind


def test_fetch_replaces_a_corrupt_cached_file(idx_server, tmp_path):
    name = FILES[3]
    (tmp_path / name).write_bytes(b"truncated")
    path = fetch(name, [idx_server["base"] + name], idx_server["sha"][name], root=tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == idx_server["sha"][name]


def test_fetch_unreachable_host(tmp_path):
    with pytest.raises(DownloadError, match="could not download"):
        fetch("x.gz", ["http://127.0.0.1:9/x.gz"], "a" * 64, root=tmp_path, timeout=2)
