"""The out-of-reach half of grading, without nbgrader: protocol, sandbox, worker and test-cell scoring."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from course_helpers import (
    LABS,
    defined_classes,
    defined_functions,
    graded_cells,
    nbgrader_meta,
    solution_cells,
    source_notebook,
    strip_markers,
)

from dlcourse.autograde.protocol import Opaque, ProtocolError, decode, encode, read_message, write_message
from dlcourse.autograde.remote import LearnerProcess, build_view
from dlcourse.autograde.score import exercises_named, score_test_cell

# --- plain data only --------------------------------------------------------------------------------------


def test_protocol_round_trips_plain_data():
    value = {
        "a": np.arange(6.0).reshape(2, 3),
        "b": (1, 2.5, None, True),
        "c": [np.float32(3.5), "text"],
        "d": np.array([True, False]),
        "e": float("nan"),
        "f": 2**70,
    }
    back = decode(encode(value))
    assert np.array_equal(back["a"], value["a"]) and back["a"].dtype == np.float64
    assert back["b"] == (1, 2.5, None, True) and back["c"][1] == "text" and back["c"][0] == np.float32(3.5)
    assert back["d"].dtype == bool and np.isnan(back["e"]) and back["f"] == 2**70


def test_protocol_keeps_zero_dimensional_arrays_and_numpy_scalars():
    for value in (np.array(5), np.int64(61_706), np.float32(2.5), np.array(True)):
        back = decode(encode(value))
        assert np.shape(back) == () and back == value and np.asarray(back).dtype == np.asarray(value).dtype


def test_protocol_describes_other_objects_by_type_only():
    class Sneaky:
        def __array__(self, dtype=None, copy=None):
            raise AssertionError("never called while encoding")

    assert isinstance(decode(encode(Sneaky())), Opaque)
    assert isinstance(decode(encode(np.array([object()], dtype=object))), Opaque)


@pytest.mark.parametrize(
    "bad",
    [
        {"~": "nd", "dtype": "|O", "shape": [1], "data": ""},
        {"~": "nd", "dtype": "<f8", "shape": [3], "data": "AAAA"},
        {"~": "pickle", "v": "x"},
        {"no": "tag"},
    ],
)
def test_protocol_rejects_what_is_not_plain_data(bad):
    with pytest.raises(ProtocolError):
        decode(bad)


def test_protocol_refuses_an_oversized_message():
    stream = io.BytesIO()
    write_message(stream, {"x": "y" * 100})
    stream.seek(0)
    with pytest.raises(ProtocolError):
        read_message(stream, limit=50)


# --- the worker's view: no answers in it ----------------------------------------------------------------


def test_the_workers_view_holds_no_reference(tmp_path):
    view = build_view(tmp_path)
    files = {p.relative_to(view).as_posix() for p in view.rglob("*.py")}
    assert "dlcourse/functional/conv.py" not in files and "dlcourse/functional/naive.py" not in files
    assert "dlcourse/feedback/exercises/runners.py" in files
    assert (view / "dlcourse" / "__init__.py").read_text() == ""


def test_a_training_exercise_gets_the_framework_but_not_the_answer(tmp_path):
    view = build_view(tmp_path, ("dlcourse.nn", "dlcourse.optim"))
    files = {p.relative_to(view).as_posix() for p in view.rglob("*.py")}
    assert {
        "dlcourse/nn.py",
        "dlcourse/optim/__init__.py",
        "dlcourse/optim/rules.py",
        "dlcourse/functional/conv.py",
    } <= files
    assert "dlcourse/train.py" not in files


PROBE = """
def probe():
    found = {}
    for name in ("dlcourse.functional", "torch", "scipy", "sklearn", "dlcourse.feedback.exercises.ops"):
        try:  # a real module has a file; what the learner's own import of a missing package gets has none
            __import__(name)
            found[name] = getattr(__import__("sys").modules[name], "__file__", None) is not None
        except Exception:
            found[name] = False
    import glob, os
    found["course files"] = len(glob.glob("/work/**/*.ipynb", recursive=True) + glob.glob(os.path.expanduser("~/*")))
    try:
        import socket
        socket.create_connection(("127.0.0.1", 22), timeout=1)
        found["network"] = True
    except OSError:
        found["network"] = False
    return found
"""


def test_the_learners_process_cannot_reach_the_course_torch_or_the_network():
    with LearnerProcess([PROBE], deadline=30) as process:
        found, _, _ = process.call("probe", {})
    assert found == {
        "dlcourse.functional": False,
        "torch": False,
        "scipy": False,
        "sklearn": False,
        "dlcourse.feedback.exercises.ops": False,
        "course files": 0,
        "network": False,
    }


def test_a_crash_or_a_hang_fails_the_call_not_the_grader():
    cells = [
        "import os\ndef crash():\n    os._exit(0)\ndef hang():\n    while True:\n        try:\n            pass\n"
        "        except BaseException:\n            pass\ndef fine():\n    return 1"
    ]
    with LearnerProcess(cells, deadline=3) as process:
        with pytest.raises(Exception, match="ended unexpectedly"):
            process.call("crash", {})
    with LearnerProcess(cells, deadline=3) as process:
        assert process.call("fine", {})[0] == 1
        with pytest.raises(Exception, match="time limit"):
            process.call("hang", {})


def test_answer_cells_run_whole_and_a_looping_cell_stops_at_its_own_limit():
    cells = ["print('hi')\nwhile True:\n    pass\n", "x = 3\ndef f():\n    return x + 1\nundefined_name()"]
    with LearnerProcess(cells, deadline=20, cell_seconds=1) as process:
        assert process.call("f", {})[0] == 4
        assert process.problems == [
            "answer cell 1 did not finish within 1 s: what came after that point was not run",
            "answer cell 2, line 4: NameError: name 'undefined_name' is not defined",
        ]


# --- scoring test cells ----------------------------------------------------------------------------------


def _answers(lab):
    return [strip_markers(c.source) for c in solution_cells(source_notebook(lab))]


def _delegating_answers(lab):
    from dlcourse.feedback.exercises import EXERCISES

    cells = []
    for cell in solution_cells(source_notebook(lab)):
        lines = []
        for name in defined_classes(cell.source):  # a torch.nn.Module: subclass the reference's
            if name in EXERCISES:
                ref = EXERCISES[name].reference
                lines += [
                    f"from {ref.__module__} import {ref.__name__} as _ref_{name}",
                    f"class {name}(_ref_{name}):",
                    "    pass",
                ]
        for name in defined_functions(cell.source):
            if name in EXERCISES:
                ref = EXERCISES[name].reference
                lines += [
                    f"from {ref.__module__} import {ref.__name__} as _ref_{name}",
                    f"def {name}(*args, **kwargs):",
                    f"    return _ref_{name}(*args, **kwargs)",
                ]
        cells.append("\n".join(lines))
    return cells


@pytest.mark.slow  # about 70 sandboxed processes
@pytest.mark.parametrize("lab", LABS)
def test_model_answer_passes_and_delegation_fails_every_test_cell(lab):
    answers, delegating = _answers(lab), _delegating_answers(lab)
    for cell in graded_cells(source_notebook(lab)):
        assert exercises_named(cell.source), nbgrader_meta(cell)["grade_id"]
        verdict = score_test_cell(cell.source, answers, deadline=60)
        assert verdict.passed, f"{nbgrader_meta(cell)['grade_id']}: {verdict.message}"
        verdict = score_test_cell(cell.source, delegating, deadline=60)
        assert not verdict.passed, nbgrader_meta(cell)["grade_id"]


def test_a_given_helper_is_served_by_the_grader():
    """conv2d_backward may call F.conv2d (the lab hands it over): the sandbox has no course package, so the
    grader computes it; the learner's function still passes."""
    answer = """
def conv2d_backward(dout, x, weight, bias=None, stride=1, padding=0):
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    ph, pw = (padding, padding) if np.isscalar(padding) else padding
    n, c, h, w = x.shape
    kh, kw = weight.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dweight = np.zeros_like(weight)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            dweight += np.einsum("no,nchw->ochw", dout[:, :, i, j], window)
            dxp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum("no,ochw->nchw", dout[:, :, i, j], weight)
    F.conv2d(x[:1, :, :kh, :kw], weight)  # a call of the given helper, as the lab allows
    dx = dxp[:, :, ph:ph + h, pw:pw + w]
    return dx, dweight, (dout.sum(axis=(0, 2, 3)) if bias is not None else None)
"""
    verdict = score_test_cell('check_exercise("conv2d_backward", conv2d_backward, seed=None, hidden=True)', [answer])
    assert verdict.passed, verdict.message


def test_grading_refuses_to_start_without_bubblewrap(monkeypatch, tmp_path):
    from dlcourse.autograde import sandbox

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    monkeypatch.delenv(sandbox.UNSANDBOXED_VARIABLE, raising=False)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        sandbox.worker_command(Path("/nonexistent"))
    monkeypatch.setenv(sandbox.UNSANDBOXED_VARIABLE, "1")  # the documented opt-out
    assert sandbox.worker_command(tmp_path / "view") and sandbox.unsandboxed()


def test_the_private_tmp_is_mounted_before_anything_is_bound_into_it(tmp_path):
    """A repository or virtual environment under /tmp (a CI runner's clone) must stay visible in the sandbox."""
    from dlcourse.autograde import sandbox

    for argv in (
        sandbox.worker_command(tmp_path / "view"),
        sandbox.kernel_command(["python"], files=tmp_path, ipc_dir=tmp_path),
    ):
        tmpfs = next(i for i in range(len(argv) - 1) if argv[i : i + 2] == ["--tmpfs", "/tmp"])
        first_bind = min(i for i, a in enumerate(argv) if a in ("--bind", "--ro-bind"))
        assert tmpfs < first_bind
