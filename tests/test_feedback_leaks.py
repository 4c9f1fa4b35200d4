"""Feedback never shows a line of a reference implementation, and shows up compact in a notebook.

For every exercise, every catalogued mistake and a few generic wrong answers are checked; the failure is
rendered the three ways a learner can meet it (IPython's compact rendering, a full Python traceback, and the
message nbgrader's feedback shows), and none may contain a line of the reference's source.
"""

from __future__ import annotations

import inspect
import traceback

import numpy as np
import pytest

from dlcourse.feedback.checks import CheckFailed, check_exercise
from dlcourse.feedback.exercises import EXERCISES


def _reference_lines(fn) -> set[str]:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError) as err:  # without the source there is nothing to compare: say so, never pass
        pytest.fail(f"cannot read the reference's source ({err}): the leak check would be vacuous")
    lines = {line.strip() for line in source.splitlines()}
    return {line for line in lines if len(line) >= 20 and not line.startswith(("#", '"""', "def "))}


def _wrong_answers(exercise):
    def returns_zero(*args, **kwargs):
        return 0.0

    def raises_type_error(*args, **kwargs):
        raise TypeError("a bug in the learner's code")

    def never_raises(*args, **kwargs):  # where the reference must raise ValueError, this returns a number
        return 1

    return [m.fn for m in exercise.mistakes] + [returns_zero, raises_type_error, never_raises]


def _rendered(err: CheckFailed) -> str:
    return "\n".join(["".join(traceback.format_exception(err)), "\n".join(err._render_traceback_()), str(err)])


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_no_failure_shows_reference_code(name):
    exercise = EXERCISES[name]
    hints = " ".join(m.hint for m in exercise.mistakes) + exercise.speed_hint
    secret = {line for line in _reference_lines(exercise.reference) if line not in hints}  # hints name calls on purpose
    failures = 0
    for wrong in _wrong_answers(exercise):
        try:
            check_exercise(name, wrong, seed=None, hidden=True, quiet=True)
        except CheckFailed as err:
            failures += 1
            text = _rendered(err)
            leaked = [line for line in secret if line in text]
            assert not leaked, f"{name}: feedback for {wrong.__name__} shows reference code: {leaked[:2]}"
        except Exception:  # noqa: BLE001 - a mistake that cannot run on some case; not a feedback path
            continue
    assert failures >= 2, f"{name}: the generic wrong answers must fail"


def test_failures_render_compactly_without_the_checker():
    with pytest.raises(CheckFailed) as caught:
        check_exercise("conv_output_size", lambda n, kernel_size, stride=1, padding=0: 1, seed=None, hidden=True)
    lines = caught.value._render_traceback_()
    assert "\u2718" in lines[0] and len(lines) <= 8
    assert not any("checks.py" in line for line in lines)
    assert caught.value.__cause__ is None and (caught.value.__context__ is None or caught.value.__suppress_context__)


def test_the_learners_own_error_shows_their_line_not_ours():
    def relu(x):
        y = np.maximum(x, 0)
        return y.undefined_attribute  # the learner's bug

    with pytest.raises(CheckFailed) as caught:
        check_exercise("relu", relu)
    text = str(caught.value)
    assert "AttributeError" in text and "y.undefined_attribute" in text
    assert "dlcourse" not in text
