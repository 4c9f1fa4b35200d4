"""The two-worker test run (start.py --test: pytest-xdist, --dist loadgroup) does what tests/conftest.py says.

A scratch test suite, run under the same conftest hooks: the tests that share an expensive module-scoped
fixture run on one worker, one after another, so the fixture is made once; and a block inside
course_helpers.machine_to_myself() never overlaps a test on the other worker. pytest 9.2 silently broke the
first (xdist could no longer add its group to the test ids, and every lab's class was graded several times);
this is the test that notices.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest
from course_helpers import ROOT

pytestmark = pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist is not installed")

CONFTEST = f"""
import importlib.util, sys
sys.path.insert(0, {str(ROOT / "tests")!r})
spec = importlib.util.spec_from_file_location("dlcourse_conftest", {str(ROOT / "tests" / "conftest.py")!r})
real = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real)
pytest_collection_modifyitems = real.pytest_collection_modifyitems
pytest_runtest_protocol = real.pytest_runtest_protocol
"""

SHARED = """
import json, os, time
import pytest
from course_helpers import machine_to_myself

LOG = os.environ["WORKERS_LOG"]


def note(**record):
    with open(LOG, "a") as f:
        f.write(json.dumps(record) + "\\n")


@pytest.fixture(scope="module")
def klass():  # the name of an expensive fixture in SHARED_FIXTURES
    note(made="klass", worker=os.environ["PYTEST_XDIST_WORKER"])
    return 1


@pytest.fixture(autouse=True)
def interval(request):
    start = time.time()
    yield
    note(test=request.node.name, start=start, end=time.time(), worker=os.environ["PYTEST_XDIST_WORKER"])


@pytest.mark.parametrize("i", range(6))
def test_in_the_class(klass, i):
    time.sleep(0.2)


@pytest.mark.parametrize("i", range(6))
def test_alone(i):
    time.sleep(0.1)
    if i == 2:
        with machine_to_myself():
            start = time.time()
            time.sleep(1.0)
            note(alone_from=start, alone_to=time.time())
"""

OTHER = """
import json, os, time
import pytest

LOG = os.environ["WORKERS_LOG"]


@pytest.fixture(autouse=True)
def interval(request):
    start = time.time()
    yield
    with open(LOG, "a") as f:
        f.write(json.dumps(dict(test=request.node.name, start=start, end=time.time(),
                                worker=os.environ["PYTEST_XDIST_WORKER"])) + "\\n")


@pytest.mark.parametrize("i", range(12))
def test_other(i):
    time.sleep(0.15)
"""


def test_a_shared_fixture_is_made_once_and_a_timed_block_has_the_machine_alone(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_shared.py").write_text(textwrap.dedent(SHARED))
    (tmp_path / "test_other.py").write_text(textwrap.dedent(OTHER))
    log = tmp_path / "log.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "WORKERS_LOG": str(log)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    made = [r for r in records if r.get("made") == "klass"]
    assert len(made) == 1, f"the shared fixture was made {len(made)} times ({made}): the xdist groups did not apply"
    tests = [r for r in records if "test" in r]
    assert len({r["worker"] for r in tests}) == 2, "both workers ran tests"
    (alone,) = [r for r in records if "alone_from" in r]
    overlapping = [
        r["test"]
        for r in tests
        if r["start"] < alone["alone_to"] and r["end"] > alone["alone_from"] and r["test"] != "test_alone[2]"
    ]
    assert not overlapping, f"tests ran while a block had the machine to itself: {overlapping}"
