"""The exchange between grader and worker, and how answer cells run there (issue 21, items 4, 5, 6, 8 and 11).

Every exchange has a deadline and a type check (a fake worker speaking the protocol badly, fuzzed); served
helpers refuse requests that would cost the grader gigabytes; timing is the grader's; answer cells run as
Jupyter runs them (IPython syntax, top-level code, a cell that raises part way); checks reach the learner
through one executor seam.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcourse.autograde import protocol, remote, served
from dlcourse.autograde.ipython_shim import as_python
from dlcourse.autograde.protocol import FIELDS, ProtocolError, check_message, decode, encode, frame
from dlcourse.autograde.remote import LearnerError, LearnerProcess, LearnerProcessError, Pipes
from dlcourse.autograde.score import score_test_cell

ROOT = Path(__file__).resolve().parents[1]

# --- messages of the wrong shape ----------------------------------------------------------------------------

WELL_FORMED = {
    "alive": {},
    "setup": {"cells": ["x = 1"], "skip": [], "given": ["F.conv2d"], "cell_seconds": 10.0},
    "cell": {"number": 1, "problem": None},
    "ready": {"problems": ["answer cell 1, line 2: NameError: y"]},
    "call": {"function": "f", "kwargs": encode({"x": np.ones(2)}), "runner": None, "mutates": []},
    "calibrate": {"kwargs": encode({}), "shapes": [[[2, 3], "<f8"]]},
    "result": {"outcome": encode(np.ones(3)), "changed": []},
    "raised": {"type": "ValueError", "mro": ["ValueError", "Exception"], "message": "no", "frames": []},
    "given": {"name": "F.conv2d", "args": encode([np.ones((1, 1, 2, 2))]), "kwargs": encode({})},
    "given_result": {"value": encode(np.ones(1))},
    "given_error": {"message": "ValueError: no"},
}


def test_every_operation_is_in_the_protocols_table_and_accepted_when_well_formed():
    assert set(WELL_FORMED) == set(FIELDS)
    for op, fields in WELL_FORMED.items():
        assert f"``{op}``" in protocol.__doc__, op
        assert check_message({"op": op, **fields}, (op,))["op"] == op


@pytest.mark.parametrize(
    "message, why",
    [
        ({"op": "ready", "problems": 5}, "problems must be a list"),
        ({"op": "ready", "problems": [5]}, "entry 0: a string"),
        ({"op": "ready"}, "no field 'problems'"),
        ({"op": "ready", "problems": [], "extra": 1}, "unexpected field"),
        ({"op": "pwn"}, "an op 'pwn'"),
        ({"op": ["ready"]}, "an op"),
        ({"problems": []}, "an op None"),
        ({"op": "result", "outcome": 1, "changed": "x"}, "changed must be a list"),
        ({"op": "raised", "type": "E", "mro": [], "message": "m" * 10_000, "frames": []}, "at most 2000"),
        ({"op": "cell", "number": True, "problem": None}, "an integer"),
        ({"op": "cell", "number": 1, "problem": 3}, "a string"),
        ({"op": "given", "name": ["F.conv2d"], "args": [], "kwargs": {}}, "name must be a string"),
    ],
)
def test_a_message_of_the_wrong_shape_is_refused_in_one_line(message, why):
    expected = ("ready", "result", "raised", "cell", "given")
    with pytest.raises(ProtocolError, match=why) as caught:
        check_message(message, expected)
    assert "\n" not in str(caught.value) and len(str(caught.value)) <= 300


def test_a_message_whose_op_is_not_the_one_expected_is_refused():
    with pytest.raises(ProtocolError, match="where raised or result was expected"):
        check_message({"op": "ready", "problems": []}, ("result", "raised"))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
TAGGED = st.fixed_dictionaries(
    {"~": st.sampled_from(["nd", "np", "tuple", "dict", "bigint", "float", "opaque", "pickle"])},
    optional={
        "dtype": st.sampled_from(["<f8", "|O", "V8", "<M8", "S3", "f8,f8", "nonsense", "<i8"]) | JSON,
        "shape": st.lists(st.integers(-2, 2**40), max_size=40) | JSON,
        "data": st.text(max_size=12) | JSON,
        "v": JSON,
        "type": JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.recursive(JSON | TAGGED, lambda inner: st.lists(inner, max_size=3) | TAGGED, max_leaves=10))
def test_decoding_anything_gives_plain_data_or_a_protocol_error(value):
    try:
        decode(value)
    except ProtocolError as err:
        assert "\n" not in str(err)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(FIELDS)), st.dictionaries(st.sampled_from(["op", "problems", "number", "x"]), JSON))
def test_checking_any_message_gives_it_back_or_a_protocol_error(op, fields):
    try:
        check_message({"op": op, **fields}, tuple(FIELDS))
    except ProtocolError:
        pass


# --- reads and writes with deadlines ---------------------------------------------------------------------


@pytest.fixture
def pipes():
    """Pipes over two os.pipe()s: (Pipes, the worker's write end, the worker's read end)."""
    to_worker_r, to_worker_w = os.pipe()
    from_worker_r, from_worker_w = os.pipe()
    yield Pipes(to_worker_w, from_worker_r), from_worker_w, to_worker_r
    for fd in (to_worker_r, to_worker_w, from_worker_r, from_worker_w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_a_silent_worker_costs_the_deadline_and_no_more(pipes):
    reader, _, _ = pipes
    start = time.monotonic()
    with pytest.raises(remote._Late):
        reader.read_message(until=time.monotonic() + 0.5)
    assert time.monotonic() - start < 1.5


def test_a_message_begun_and_not_finished_is_stuck_before_the_deadline(pipes, monkeypatch):
    monkeypatch.setattr(remote, "STALL_SECONDS", 0.3)
    reader, worker_out, _ = pipes
    os.write(worker_out, frame({"op": "alive"})[:5])
    start = time.monotonic()
    with pytest.raises(remote._Stuck):
        reader.read_message(until=time.monotonic() + 30)
    assert time.monotonic() - start < 2


def test_a_header_over_the_limit_is_refused_without_reading_the_body(pipes):
    reader, worker_out, _ = pipes
    os.write(worker_out, (60 * 2**30).to_bytes(8, "big"))
    with pytest.raises(ProtocolError, match="over the limit"):
        reader.read_message(until=time.monotonic() + 5)


def test_a_worker_that_does_not_read_cannot_block_the_graders_write(pipes, monkeypatch):
    """The hang of the issue: the grader writing to a worker that floods and never reads blocked for ever."""
    monkeypatch.setattr(remote, "STALL_SECONDS", 0.3)
    writer, _, _ = pipes
    start = time.monotonic()
    with pytest.raises(remote._Stuck):
        writer.write(b"x" * (8 * 2**20), until=time.monotonic() + 30)  # far more than a pipe holds
    assert time.monotonic() - start < 2


def test_messages_arrive_whole_in_any_chunking(pipes):
    reader, worker_out, _ = pipes
    data = frame({"op": "result", "outcome": encode(np.arange(5.0)), "changed": []}) + frame({"op": "alive"})
    for i in range(0, len(data), 7):
        os.write(worker_out, data[i : i + 7])
    first = reader.read_message(until=time.monotonic() + 5)
    assert np.array_equal(decode(first["outcome"]), np.arange(5.0))
    assert reader.read_message(until=time.monotonic() + 5) == {"op": "alive"}


# --- a fake worker speaking the protocol badly -------------------------------------------------------------

FAKE_WORKER = r"""
import base64, json, os, struct, sys, time, signal
signal.signal(signal.SIGALRM, signal.SIG_IGN)
actions = json.load(open(sys.argv[1]))
out = os.fdopen(1, "wb", buffering=0)
inp = os.fdopen(0, "rb", buffering=0)

def send(obj):
    body = json.dumps(obj).encode()
    out.write(struct.pack(">Q", len(body)) + body)

def receive():
    head = inp.read(8)
    size = struct.unpack(">Q", head)[0]
    body = b""
    while len(body) < size:
        body += inp.read(size - len(body))
    return json.loads(body)

send({"op": "alive"})
receive()  # setup
for kind, arg in actions:
    if kind == "msg":
        send(arg)
    elif kind == "raw":
        out.write(base64.b64decode(arg))
    elif kind == "sleep":
        time.sleep(arg)
    elif kind == "read":
        receive()
    elif kind == "exit":
        os._exit(arg)
    elif kind == "flood_bytes":
        while True:
            out.write(struct.pack(">Q", 10 * 2**20) + b"{" * 65536)
    elif kind == "flood_given":
        while True:
            send({"op": "given", "name": "F.nothing", "args": [], "kwargs": {"~": "dict", "v": {}}})
    elif kind == "given_forever":
        while True:
            send({"op": "given", "name": "F.nothing", "args": [], "kwargs": {"~": "dict", "v": {}}})
            receive()
    elif kind == "hang":
        time.sleep(60)
"""

READY = [["msg", {"op": "cell", "number": 1, "problem": None}], ["msg", {"op": "ready", "problems": []}]]
RESULT = ["msg", {"op": "result", "outcome": 1, "changed": []}]


def _messages():
    wrong_field = st.builds(
        lambda op, fields: ["msg", {"op": op, **fields}],
        st.sampled_from(sorted(FIELDS) + ["pwn", ""]),
        st.dictionaries(st.sampled_from(["problems", "outcome", "changed", "number", "problem", "name"]), JSON),
    )
    raw = st.binary(max_size=40).map(lambda b: ["raw", base64.b64encode(b).decode()])
    header_only = st.integers(0, 2**64 - 1).map(lambda n: ["raw", base64.b64encode(n.to_bytes(8, "big")).decode()])
    return st.one_of(
        wrong_field,
        raw,
        header_only,
        st.just(RESULT),
        st.just(["read", None]),
        st.just(["exit", 3]),
        st.just(["sleep", 0.2]),
        st.just(["hang", None]),
        st.just(["flood_bytes", None]),
        st.just(["flood_given", None]),
        st.just(["given_forever", None]),
    )


@pytest.fixture
def fake_worker(tmp_path, monkeypatch):
    """Replace the sandboxed worker by FAKE_WORKER acting out a script; returns a function that writes it."""
    program = tmp_path / "fake_worker.py"
    program.write_text(FAKE_WORKER)
    script = tmp_path / "script.json"
    monkeypatch.setattr(remote, "worker_command", lambda *a, **k: [sys.executable, str(program), str(script)])
    monkeypatch.setattr(remote, "STALL_SECONDS", 0.5)
    return lambda actions: script.write_text(json.dumps(actions))


def _grade_once(deadline: float):
    """Start a process on one answer cell and call f once; what happened, as the grader saw it."""
    with LearnerProcess(["def f(x):\n    return x\n"], deadline=deadline, cell_seconds=0.5, label="fuzz") as p:
        try:
            outcome = p.call("f", {"x": 1})[0]
        except (LearnerProcessError, LearnerError, ValueError, NotImplementedError) as err:
            return "failed", str(err), p.failure
        return "answered", outcome, p.failure


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.booleans(), st.lists(_messages(), max_size=4))
def test_whatever_the_worker_sends_the_grader_fails_that_process_cleanly_and_in_time(
    fake_worker, caplog, set_up, actions
):
    fake_worker((READY + [["read", None]] if set_up else []) + actions)
    caplog.clear()
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="dlcourse.grading"):
        what, said, failure = _grade_once(deadline=2.0)
    assert time.monotonic() - start < 2.0 + 3.0  # the deadline, plus starting (and restarting) small processes
    if failure:  # the process was stopped: one line in the instructor's log, the reason in the learner's feedback
        records = [r.getMessage() for r in caplog.records if r.name == "dlcourse.grading"]
        assert records and all("\n" not in r for r in records), records
        assert failure in said


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_messages(), min_size=1, max_size=3))
def test_whatever_the_worker_sends_a_test_cell_ends_in_a_verdict_in_time(fake_worker, actions):
    fake_worker(READY + [["read", None]] + actions)
    start = time.monotonic()
    verdict = score_test_cell('check_exercise("relu", relu)', ["def relu(x):\n    return x\n"], deadline=2.0)
    assert not verdict.passed and verdict.message and "tell your instructor" not in verdict.message
    assert time.monotonic() - start < 2.0 + 3.0


def test_the_malformed_ready_of_the_issue_fails_that_process_and_is_logged(fake_worker, caplog):
    fake_worker([["msg", {"op": "cell", "number": 1, "problem": None}], ["msg", {"op": "ready", "problems": 5}]])
    with caplog.at_level(logging.WARNING, logger="dlcourse.grading"):
        what, said, failure = _grade_once(deadline=5.0)
    assert what == "failed" and "ready: problems must be a list of strings, got int" in said
    assert any(
        "fuzz: your code's process sent something that is not an answer" in r.getMessage() for r in caplog.records
    )


def test_a_worker_flooding_given_requests_without_reading_fails_at_the_stall_limit(fake_worker):
    fake_worker(READY + [["read", None], ["flood_given", None]])
    start = time.monotonic()
    what, said, _ = _grade_once(deadline=30.0)
    assert what == "failed" and "stopped reading" in said
    assert time.monotonic() - start < 10


def test_a_worker_asking_for_given_helpers_for_ever_fails_at_the_deadline(fake_worker):
    fake_worker(READY + [["read", None], ["given_forever", None]])
    start = time.monotonic()
    what, said, _ = _grade_once(deadline=3.0)
    assert what == "failed" and "time limit of 3 s" in said
    assert time.monotonic() - start < 6


def test_a_cell_message_out_of_turn_is_refused(fake_worker):
    fake_worker([["msg", {"op": "cell", "number": 7, "problem": None}]])
    what, said, _ = _grade_once(deadline=5.0)
    assert what == "failed" and "out of turn" in said


# --- in the real sandbox: floods and hangs from the learner's own code -----------------------------------

FLOOD = r"""
import json, os, signal, struct
def f(x):
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    body = json.dumps({"op": "given", "name": "F.nothing", "args": [], "kwargs": {"~": "dict", "v": {}}}).encode()
    message = struct.pack(">Q", len(body)) + body
    while True:
        for fd in range(3, 12):
            try:
                os.write(fd, message)
            except OSError:
                pass
"""


def test_learner_code_that_floods_its_reply_pipe_and_ignores_sigalrm_fails_only_its_call(monkeypatch):
    monkeypatch.setattr(remote, "STALL_SECONDS", 2.0)
    start = time.monotonic()
    with LearnerProcess([FLOOD], deadline=60) as process:
        with pytest.raises(LearnerProcessError, match="stopped reading|not an answer"):
            process.call("f", {"x": 1})
    assert time.monotonic() - start < 15


# --- served helpers within limits ------------------------------------------------------------------------


def test_the_padding_8000_request_of_the_issue_is_refused_before_computing():
    import dlcourse.functional as F

    x, w = np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))
    with pytest.raises(ValueError, match="padding=8000 is outside what grading serves"):
        served.check_request("F.conv2d", F.conv2d, [x, w], {"padding": 8000})
    with pytest.raises(ValueError, match="padded input"):
        served.check_request("F.conv2d", F.conv2d, [np.ones((64, 64, 2, 2)), np.ones((1, 64, 3, 3))], {"padding": 1000})
    with pytest.raises(ValueError, match="multiply-adds"):
        served.check_request("F.conv2d", F.conv2d, [np.ones((1, 64, 66, 66)), np.ones((1024, 64, 4, 4))], {})
    with pytest.raises(ValueError, match="numbers in|holds more than"):
        served.check_request("F.relu", F.relu, [np.ones(2**22 + 1)], {})
    with pytest.raises(ValueError, match="output"):
        served.check_request("F.linear", F.linear, [np.ones((4000, 1)), np.ones((4000, 1))], {})
    with pytest.raises(ValueError, match="broadcast"):
        served.check_request("F.relu_backward", F.relu_backward, [np.ones((4000, 1)), np.ones((1, 4000))], {})
    with pytest.raises(ValueError, match="kernel_size=100000"):
        served.check_request("F.max_pool2d", F.max_pool2d, [np.ones((1, 1, 2, 2)), 100000], {"padding": 50000})
    with pytest.raises(ValueError, match="unexpected keyword"):
        served.check_request("F.relu", F.relu, [np.ones(2)], {"inplace": True})
    # what the labs ask passes
    served.check_request("F.conv2d", F.conv2d, [np.ones((8, 16, 32, 32)), np.ones((32, 16, 3, 3))], {"padding": 1})
    served.check_request("F.max_pool2d", F.max_pool2d, [np.ones((8, 16, 32, 32)), 2], {})
    served.check_request("F.linear", F.linear, [np.ones((64, 400)), np.ones((120, 400)), np.ones(120)], {})


def test_arrays_passed_as_lists_or_with_more_axes_are_bounded_alike():
    """The limits see the shapes the helper will compute with, however the arrays were passed: nested lists
    (which the helpers turn into arrays themselves), a linear layer's input with more than two axes."""
    import dlcourse.functional as F

    one, weights = [[[[0.0]]]], [[[[0.0]]]] * 256
    with pytest.raises(ValueError, match="padded input|output|windows"):
        served.check_request("F.conv2d", F.conv2d, [one, weights], {"padding": 1024})
    with pytest.raises(ValueError, match="output"):
        served.check_request("F.linear", F.linear, [np.zeros((1024, 4096, 1)), np.zeros((512, 1))], {})
    with pytest.raises(ValueError, match="multiply-adds"):
        served.check_request("F.linear", F.linear, [np.ones((2, 1024, 2048)), np.ones((1024, 2048))], {})
    with pytest.raises(ValueError, match="not an array"):
        served.check_request("F.relu", F.relu, [[[1.0], [1.0, 2.0]]], {})
    with pytest.raises(ValueError, match="must hold numbers"):
        served.check_request("F.relu", F.relu, [["a", "b"]], {})
    # an honest list is served as the array it stands for
    assert np.array_equal(served.serve("F.relu", F.relu, [[-1.0, 2.0]], {}), [0.0, 2.0])
    assert served.serve("F.conv2d", F.conv2d, [one, [[[[2.0]]]]], {"padding": 1}).shape == (1, 1, 3, 3)


LIST_REQUEST = """
def conv2d_backward(dout, x, weight, bias=None, stride=1, padding=0):
    return F.conv2d([[[[0.0]]]], [[[[0.0]]]] * 256, padding=1024)
"""


def test_a_huge_request_made_of_lists_costs_the_grader_nothing():
    import tracemalloc

    tracemalloc.start()
    try:
        verdict = score_test_cell('check_exercise("conv2d_backward", conv2d_backward)', [LIST_REQUEST])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not verdict.passed and "more than grading serves" in verdict.message, verdict.message
    assert peak < 100 * 2**20, f"the grader peaked at {peak / 2**20:.0f} MiB"


def test_every_helper_an_exercise_hands_over_fits_its_cases_well_within_the_limits():
    from dlcourse.feedback.exercises import EXERCISES

    for name, exercise in EXERCISES.items():
        if not exercise.given:
            continue
        for case in exercise.cases(np.random.default_rng(0), True):
            assert served._numbers(list(case.kwargs.values())) < served.ELEMENT_LIMIT // 20, name


HUGE_REQUEST = """
def conv2d_backward(dout, x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), padding=8000)
"""


def test_a_huge_request_of_a_given_helper_costs_the_learner_not_the_grader():
    import tracemalloc

    tracemalloc.start()
    try:
        verdict = score_test_cell('check_exercise("conv2d_backward", conv2d_backward)', [HUGE_REQUEST])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (
        not verdict.passed
        and "raised ValueError: F.conv2d: padding=8000 is outside what grading serves" in verdict.message
    )
    assert peak < 100 * 2**20, f"the grader peaked at {peak / 2**20:.0f} MiB"


# --- timing by the grader's clock -------------------------------------------------------------------------

PATCHED_CLOCK = """
import time
time.perf_counter = time.monotonic = time.time = time.process_time = lambda: 0.0
time.perf_counter_ns = time.monotonic_ns = lambda: 0
_sleep = __import__("select").select
def slow(x):
    _sleep([], [], [], 0.3)
    return x
def fast(x):
    return x
"""


def test_a_patched_clock_in_the_learners_process_changes_nothing():
    with LearnerProcess([PATCHED_CLOCK], deadline=30) as process:
        _, slow = process.timed_call("slow", {"x": np.ones(10)})
        _, fast = process.timed_call("fast", {"x": np.ones(10)})
    assert 0.25 < slow < 2 and fast < 0.2


SLOW_CALIBRATION = """
import time
_zeros = np.zeros
def _slow_zeros(*args, **kwargs):
    time.sleep(1.0)
    return _zeros(*args, **kwargs)
np.zeros = _slow_zeros
def slow(x):
    time.sleep(0.3)
    return x * 1.0
"""


def test_a_learner_who_slows_the_calibration_gains_a_few_milliseconds_at_most():
    with LearnerProcess([SLOW_CALIBRATION], deadline=30) as process:
        for _ in range(2):
            _, seconds = process.timed_call("slow", {"x": np.ones(10)})
            assert seconds > 0.25


LOOP_CONV = """
import time
time.perf_counter = lambda: 0.0
def conv2d(x, weight, bias=None, stride=1, padding=0):
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for b in range(n):
        for k in range(o):
            for i in range(ho):
                for j in range(wo):
                    window = xp[b, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[b, k, i, j] = np.sum(window * weight[k]) + (0 if bias is None else bias[k])
    return out
"""


def test_the_loop_conv2d_with_a_patched_perf_counter_is_too_slow():
    verdict = score_test_cell('check_speed("conv2d", conv2d)', [LOOP_CONV])
    assert not verdict.passed and "conv2d is too slow" in verdict.message, verdict.message


MEMO_WRONG_ON_LARGE = (
    LOOP_CONV
    + """
_loop = conv2d
def conv2d(x, weight, bias=None, stride=1, padding=0):
    if x.size > 4000:  # the speed test's input: answer at once
        return np.zeros((x.shape[0], weight.shape[0], x.shape[2], x.shape[3]))
    return _loop(x, weight, bias, stride, padding)
"""
)


def test_an_answer_fast_and_wrong_on_the_speed_input_fails_the_speed_check():
    verdict = score_test_cell('check_speed("conv2d", conv2d)', [MEMO_WRONG_ON_LARGE])
    assert not verdict.passed and "different result on the speed test's input" in verdict.message, verdict.message


def test_the_in_kernel_speed_check_still_passes_the_reference_and_fails_a_loop():
    from dlcourse.feedback.checks import CheckFailed, check_speed
    from dlcourse.functional import conv2d

    check_speed("conv2d", conv2d)
    namespace = {"np": np}
    exec(LOOP_CONV.replace("time.perf_counter = lambda: 0.0", ""), namespace)
    with pytest.raises(CheckFailed, match="too slow"):
        check_speed("conv2d", namespace["conv2d"])


# --- answer cells as Jupyter runs them ---------------------------------------------------------------------


def test_ipython_syntax_becomes_python_as_ipython_makes_it():
    assert "run_line_magic('timeit', 'relu(x)')" in as_python("%timeit relu(x)\n")
    assert "get_ipython().system('pip list')" in as_python("!pip list\n")
    assert "getoutput('ls')" in as_python("files = !ls\n")
    assert "pinfo" in as_python("relu?\n")
    assert as_python("%%time\ndef f():\n    %time x = 1\n") == (
        "get_ipython().run_cell_magic('time', '', '')\ndef f():\n    get_ipython().run_line_magic('time', 'x = 1')\n"
    )
    assert "run_cell_magic('html', '', '<b>x</b>\\n')" in as_python("%%html\n<b>x</b>\n")
    assert as_python("def f(:\n") == "def f(:\n"  # a syntax error stays one, for Python to report
    assert as_python("\n\n%time x = 1\n").splitlines()[2].startswith("get_ipython()")  # numbered as written


def test_turning_a_cell_into_python_costs_the_grader_little_whatever_the_cell():
    """It runs in the grader before any deadline: a thousand %%time lines are no recursion, and a long cell
    full of magics is not handed to IPython's transformer (which reads the whole cell once per magic)."""
    from dlcourse.autograde import ipython_shim

    stacked = as_python("%%time\n" * 1000 + "x = 1\n")
    assert stacked.count("run_cell_magic('time'") == 1000 and stacked.endswith("x = 1\n")
    compile(stacked, "<cell>", "exec")
    as_python.cache_clear()
    heavy = "%time 0\n" * 60 + "x = [" + "0," * 200_000 + "]\n"
    start = time.monotonic()
    assert as_python(heavy) == heavy  # left as it is: Python reports its syntax, in the learner's process
    long_cell = "%time 0\n" * 20 + "x = [" + "0," * 200_000 + "]\n"
    assert as_python(long_cell) == long_cell and time.monotonic() - start < 2
    assert ipython_shim.SYNTAX_LINES_LIMIT >= 20  # an honest cell with a few magics is transformed (above)


IPYTHON_CELLS = [
    "%matplotlib inline\n!pip list\nfiles = !ls\ncalls = []\n"
    "def relu(x):\n    calls.append(1)\n    return np.maximum(x, 0)\n"
    "%timeit relu(np.ones(3))\n%timeit -n 10 -r 3 relu(np.ones(3))\nrelu?\n%time y = relu(np.ones(2))\n"
    "def after():\n    return len(calls), y.tolist(), files\n",
    "%%time\ndef timed():\n    return 'defined in a %%time cell'\n%timeit timed()\n",
    "%%html\n<b>not python</b>\n",
    "%%capture out\nprint('hidden')\ndef captured():\n    return out.stdout\n",
    "from IPython.display import display, HTML, clear_output\ndisplay(HTML('<b>x</b>'))\nclear_output()\n"
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1])\nplt.show()\n"
    "def plotted():\n    return len(fig.axes)\n",
]


def test_a_cold_import_of_torch_is_not_the_answer_cells_time():
    """An answer cell that begins with `import torch` (lab 07's LeNet5) keeps its definitions on a loaded
    machine: the worker has imported torch before the cells' time limits start."""
    cells = ["import torch\nfrom torch import nn\ndef layers():\n    return nn.Linear(2, 3).weight.shape[0]\n"]
    with LearnerProcess(cells, packages=("numpy", "torch"), deadline=60, cell_seconds=0.2) as process:
        assert not process.problems, process.problems
        assert process.call("layers", {})[0] == 3


def test_an_import_grading_does_not_have_lets_the_cell_go_on_and_fails_the_function_that_uses_it():
    """In Jupyter the cell runs whole (torch is installed there): what it defines after `import torch` exists in
    grading too, and a function that calls torch fails when called, as one that calls the reference does."""
    cells = [
        "def relu(x):\n    return np.maximum(x, 0)\n\nimport torch\nimport torch.nn.functional as TF\n"
        "from tqdm import tqdm\n\ndef relu(x):\n    return TF.relu(torch.as_tensor(x)).numpy()\n\n"
        "def after(x):\n    return x + 1\n"
    ]
    with LearnerProcess(cells, deadline=30) as process:
        assert not process.problems, process.problems
        assert process.call("after", {"x": 1})[0] == 2
        with pytest.raises(LearnerError, match="ModuleNotFoundError.*torch is not available where answers are graded"):
            process.call("relu", {"x": np.ones(2)})
    # a library's own optional import still fails as usual (only the learner's imports are stood in for)
    probe = [
        "import numpy\ndef optional():\n    import importlib\n    try:\n"
        "        importlib.import_module('surely_not_installed_here')\n    except ImportError:\n"
        "        return 'missing'\n    return 'stood in'\n"
    ]
    with LearnerProcess(probe, deadline=30) as process:
        assert process.call("optional", {})[0] == "missing"


def test_ipython_syntax_runs_harmlessly_in_the_worker():
    with LearnerProcess(IPYTHON_CELLS, packages=("numpy", "matplotlib"), deadline=60) as process:
        assert process.problems == [] and process.failure is None
        assert process.call("after", {})[0] == (3, [1.0, 1.0], [])  # each %timeit and %time ran the statement once
        assert process.call("timed", {})[0] == "defined in a %%time cell"
        assert process.call("captured", {})[0] == ""
        assert process.call("plotted", {})[0] == 1


TOP_LEVEL_CELLS = [
    "try:\n    from numpy.lib.stride_tricks import sliding_window_view\nexcept ImportError:\n"
    "    sliding_window_view = None\ndef windows(x):\n    return sliding_window_view(x, 2)\n",
    "if np.__version__:\n    def _helper(x):\n        return x + 1\nelse:\n    def _helper(x):\n        return x\n"
    "for power in (2,):\n    pass\nimport warnings\nwith warnings.catch_warnings():\n    def guarded(x):\n"
    "        return _helper(x) ** power\nprint('a print at top level')\n",
    "def kept():\n    return 'defined before the error'\nraise RuntimeError('a demo that fails')\n"
    "def lost():\n    pass\n",
    "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    try:\n        pass\n"
    "    except BaseException:\n        pass\n",
    "import os\nos._exit(3)\n",
    "def last():\n    return 'defined after a cell that hangs and one that exits'\n",
]


def test_top_level_code_runs_and_a_cell_that_fails_costs_only_what_it_did_not_define():
    start = time.monotonic()
    with LearnerProcess(TOP_LEVEL_CELLS, deadline=60, cell_seconds=1) as process:
        assert process.call("windows", {"x": np.arange(3)})[0].tolist() == [[0, 1], [1, 2]]
        assert process.call("guarded", {"x": 2})[0] == 9
        assert process.call("kept", {})[0] == "defined before the error"
        with pytest.raises(LearnerError, match="no function called lost"):
            process.call("lost", {})
        assert process.call("last", {})[0].startswith("defined after")
        problems = "\n".join(process.problems)
    assert "answer cell 3, line 3: RuntimeError: a demo that fails" in problems
    assert "answer cell 4 did not finish" in problems and "answer cell 5 did not finish" in problems
    assert time.monotonic() - start < 30


def test_an_answer_cell_too_large_to_grade_costs_only_itself():
    huge = "x = 1\n" * 100_000
    with LearnerProcess([huge, "def f():\n    return 1\n"], deadline=30) as process:
        assert process.call("f", {})[0] == 1
        assert process.problems == [
            "answer cell 1, line 1: MemoryError: this answer cell holds 600,000 characters, more than grading runs"
        ]


FRAMES = """
def helper(x):
    raise ValueError("a message of the learner's own")

def relu(x):
    return helper(x)
"""


def test_feedback_shows_only_lines_of_the_learners_own_cells():
    verdict = score_test_cell('check_exercise("relu", relu)', [FRAMES])
    assert not verdict.passed
    assert "in your code: answer cell 1, line 6, in relu: return helper(x)" in verdict.message
    assert "in your code: answer cell 1, line 3, in helper" in verdict.message
    assert "remote" not in verdict.message and ".py" not in verdict.message


def test_the_in_kernel_checks_show_only_the_learners_lines_too():
    from dlcourse.feedback.checks import CheckFailed, check_exercise

    namespace = {}
    exec(compile("import numpy as np\ndef relu(x):\n    return np.pad(x, -1)\n", "<learner>", "exec"), namespace)
    with pytest.raises(CheckFailed) as caught:
        check_exercise("relu", namespace["relu"])
    lines = [line for line in str(caught.value).splitlines() if "in your code" in line]
    assert lines == ["    in your code: line 3, in relu: "], lines  # numpy's and the course's frames are not shown


# --- one executor seam -----------------------------------------------------------------------------------


def test_checks_reach_the_learner_through_the_executor_only():
    checks = (ROOT / "dlcourse" / "feedback" / "checks.py").read_text()
    for branch in ("remote_call", "remote_time", "_is_remote", "hasattr(fn", "deepcopy", "perf_counter"):
        assert branch not in checks, branch
    score = (ROOT / "dlcourse" / "autograde" / "score.py").read_text()
    assert "_resolve" not in score and "import_module(GIVEN" not in score
    worker = (ROOT / "dlcourse" / "autograde" / "worker.py").read_text()
    assert "deepcopy" not in worker and "perf_counter" not in worker


def test_a_sandboxed_function_and_a_local_one_are_both_executors():
    from dlcourse.feedback.executor import Executor, InProcess, executor

    local = executor(lambda x: x * 2)
    assert isinstance(local, InProcess) and local.call({"x": np.ones(2)})[0].tolist() == [2.0, 2.0]
    with LearnerProcess(["def double(x):\n    x *= 2\n    return x\n"], deadline=30) as process:
        remote_fn = process.function("double")
        assert isinstance(remote_fn, Executor) and executor(remote_fn) is remote_fn
        outcome, changed = remote_fn.call({"x": np.ones(2)})
    assert outcome.tolist() == [2.0, 2.0] and changed == ["x"]
    assert local.call({"x": np.ones(2)}, mutates=("x",))[1] == []
