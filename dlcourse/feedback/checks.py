"""Feedback for learners: run their function against the reference and say precisely what is wrong.

A notebook's test cell calls ``check_exercise("conv2d", conv2d)``. On success it prints one line; on a
mismatch it raises ``CheckFailed`` (an ``AssertionError``, so nbgrader counts the cell as failed) whose
message gives the inputs, the shape or the entries that differ, the largest relative error and, when the
learner's result equals a known bug's result, a hint that names the bug.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .executor import InProcess, executor
from .exercises import EXERCISES, Case, Exercise


class CheckFailed(AssertionError):
    """A learner's answer differs from the reference; the message says how.

    In a notebook it shows as its message alone (IPython's ``_render_traceback_``): no traceback through the
    course's checking code, which would bury the one line that matters and could show reference code.
    """

    def _render_traceback_(self):
        return [f"\x1b[0;31m\u2718 {line}\x1b[0m" if i == 0 else line for i, line in enumerate(str(self).splitlines())]


NOT_IMPLEMENTED = "{} is not implemented yet: replace `raise NotImplementedError()` with your code"


def _not_implemented(name: str, err: NotImplementedError) -> str:
    """The message for a stub: the exercise's own, or that of a helper it calls which is still a stub."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return NOT_IMPLEMENTED.format(name)
    frame, raiser = tb.tb_frame, tb.tb_frame.f_code.co_name
    if (
        raiser == name
        or not raiser.isidentifier()
        or "self" in frame.f_locals  # a method of the class being checked (LeNet5.__init__, forward)
        or frame.f_globals.get("__name__", "").startswith("dlcourse")
    ):
        return NOT_IMPLEMENTED.format(name)
    return f"{name} calls {raiser}, which is not implemented yet: replace its `raise NotImplementedError()`"


def _raised(err: BaseException) -> str:
    """'TypeError: message', then the lines of the learner's own code the error passed through."""
    if getattr(err, "plain", False):
        return str(err)
    name = getattr(err, "type_name", None) or getattr(err, "learner_type", None) or type(err).__name__
    message = getattr(err, "message", None) if hasattr(err, "type_name") else str(err)
    lines = [f"{name}: {message}" if message else name]
    # An error rebuilt from a sandboxed process carries the learner's lines, as the worker saw them; its own
    # traceback runs through the grader only, which feedback never shows.
    frames = err.learner_frames if hasattr(err, "learner_frames") else _own_frames(err)
    return "\n".join(lines + [f"    in your code: {f}" for f in frames])


def _library_dirs() -> tuple[str, ...]:
    """Folders whose code is never the learner's: the dlcourse package, the standard library, site-packages."""
    import os
    import sys
    import sysconfig

    dirs = {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    dirs.update(sysconfig.get_paths().get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib"))
    dirs.update((sys.prefix, sys.base_prefix, sys.exec_prefix))
    return tuple(os.path.abspath(d) + os.sep for d in dirs if d and os.path.abspath(d) != os.sep)


def _own_frames(err: BaseException) -> list[str]:
    """Traceback lines of the learner's own code (not the course's, not a library's), newest last, at most three."""
    import os
    import traceback

    libraries = _library_dirs()
    frames = [
        f
        for f in traceback.extract_tb(err.__traceback__)
        if not (os.path.abspath(f.filename) + os.sep).startswith(libraries) and not f.filename.startswith("<frozen")
    ]
    return [f"line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames][-3:]


# --- comparing two results -----------------------------------------------------------------------------


def _as_array(value):
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return None
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like is reported, not raised
        return None
    if arr.dtype == object:
        return None
    return arr


def _fmt(v) -> str:
    return np.format_float_positional(float(v), precision=5, unique=False, trim="-") if np.isfinite(v) else str(v)


def _layout_hint(actual_shape, expected_shape) -> str | None:
    """A hint for a result with the reference's axes in another order; the image layout is named only for
    images (4-D), where it is the likely cause."""
    if len(actual_shape) == 4 and len(expected_shape) == 4:
        n, c, h, w = expected_shape
        if tuple(actual_shape) == (n, h, w, c):
            return "your result is channels-last (N, H, W, C); this course uses NCHW (N, C, H, W)"
    if sorted(actual_shape) == sorted(expected_shape):
        if len(expected_shape) == 2:
            return "your result is the transpose of the expected shape: a missing or extra .T?"
        if len(expected_shape) == 4:
            return "the right sizes in the wrong axis order: check the layout (NCHW) or a missing transpose"
        return "the right sizes in the wrong axis order: a missing transpose?"
    return None


def _ratio_hint(act: np.ndarray, exp: np.ndarray) -> str | None:
    """'Your result is c times the reference', said only where it means something: several numeric entries,
    not booleans, and a factor other than 0 and 1."""
    if act.dtype == bool or exp.dtype == bool or exp.size < 2:
        return None
    finite = np.isfinite(act) & np.isfinite(exp) & (np.abs(exp) > 1e-12)
    if finite.sum() < 2:
        return None
    ratio = act[finite] / exp[finite]
    if not np.allclose(ratio, ratio.flat[0], rtol=1e-6) or np.isclose(ratio.flat[0], 1):
        return None
    if np.isclose(ratio.flat[0], 0):
        return "your result is all zeros where the reference is not: is something not computed, or not returned?"
    return f"your result is the reference times {_fmt(ratio.flat[0])}: a missing or extra factor?"


def differences(actual, expected, *, rtol: float = 1e-5, atol: float = 1e-7) -> list[str]:
    """Human-readable list of what differs between actual and expected; empty when they match."""
    if expected is None:
        return [] if actual is None else [f"expected None, got {type(actual).__name__}"]
    if actual is None:
        return ["got None: did you forget to `return` the result?"]
    if hasattr(actual, "detach"):
        return ["got a torch tensor; return a NumPy array (tensor.detach().cpu().numpy())"]
    exp = np.asarray(expected)
    act = _as_array(actual)
    if act is None:
        return [f"expected an array of shape {exp.shape}, got {type(actual).__name__}"]
    if act.dtype == bool and exp.dtype != bool or not (np.issubdtype(act.dtype, np.number) or act.dtype == bool):
        return [f"expected numbers of dtype {exp.dtype}, got dtype {act.dtype}"]
    if act.shape != exp.shape:
        msg = [f"shape: expected {exp.shape}, got {act.shape}"]
        hint = _layout_hint(act.shape, exp.shape)
        return msg + ([f"hint: {hint}"] if hint else [])
    ratio_hint = _ratio_hint(act, exp)
    act = act.astype(np.float64)
    exp = exp.astype(np.float64)
    scale = float(np.max(np.abs(exp[np.isfinite(exp)]), initial=0.0))
    bad = ~np.isclose(act, exp, rtol=rtol, atol=atol * max(1.0, scale), equal_nan=True)
    if not bad.any():
        return []
    problems = []
    nonfinite = bad & ~np.isfinite(act) & np.isfinite(exp)
    if nonfinite.any():
        problems.append(
            f"{int(nonfinite.sum())} entries are nan or inf where the reference is finite (an overflow, or 0 / 0?)"
        )
    idx = np.argwhere(bad)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(act - exp) / np.maximum(np.abs(act) + np.abs(exp), 1e-12)
    rel = np.where(np.isfinite(rel), rel, 1.0)
    problems.append(f"{int(bad.sum())} of {bad.size} entries differ (max relative error {float(rel.max()):.2e})")
    shown = [tuple(int(i) for i in row) for row in idx[:3]]
    for where in shown:
        where_str = "[" + ", ".join(map(str, where)) + "]" if where else "(the value)"
        problems.append(f"  at {where_str}: expected {_fmt(exp[where])}, got {_fmt(act[where])}")
    if ratio_hint:
        problems.append(f"hint: {ratio_hint}")
    return problems


def _named_outcome(exercise: Exercise, value) -> dict[str, Any]:
    if len(exercise.output_names) == 1:
        return {exercise.output_names[0]: value}
    if not isinstance(value, (tuple, list)) or len(value) != len(exercise.output_names):
        return {"(return value)": value}
    return dict(zip(exercise.output_names, value))


def _compare_outcomes(exercise: Exercise, actual: dict, expected: dict) -> dict[str, list[str]]:
    if "(return value)" in actual:
        names = ", ".join(exercise.output_names)
        return {"return value": [f"expected a tuple ({names}), got {type(actual['(return value)']).__name__}"]}
    found = {}
    for key, exp in expected.items():
        diff = differences(actual.get(key), exp, rtol=exercise.rtol, atol=exercise.atol)
        if diff:
            found[key] = diff
    return found


# --- running a learner's function ----------------------------------------------------------------------


def _describe(case: Case) -> str:
    parts = []
    for k, v in case.kwargs.items():
        if isinstance(v, np.ndarray):
            parts.append(f"{k}: shape {v.shape}" if v.size > 6 else f"{k}={np.array2string(v, precision=3)}")
        elif isinstance(v, (list, tuple)) and len(v) > 3 and all(isinstance(a, np.ndarray) for a in v):
            shapes = {a.shape for a in v}  # a sequence of arrays (an optimiser's gradients): say what, not all
            parts.append(
                f"{k}: {len(v)} arrays of shape {shapes.pop()}" if len(shapes) == 1 else f"{k}: {len(v)} arrays"
            )
        else:
            parts.append(f"{k}={v!r}")
    return ", ".join(parts) + (f"  [{case.label}]" if case.label else "")


def _named(exercise: Exercise, outcome) -> dict[str, Any]:
    return outcome if isinstance(outcome, dict) else _named_outcome(exercise, outcome)


def _run(fn, exercise: Exercise, case: Case):
    """Call fn (a function, or an Executor) on a private copy of the case; return (outcome dict, names of inputs
    changed in place)."""
    outcome, changed = executor(fn).call(case.kwargs, runner=exercise.runner, mutates=exercise.mutates)
    return _named(exercise, outcome), changed


def _outcome_or_error(fn, exercise: Exercise, case: Case):
    """fn's outcome on case, or the name of the exception it raised (so that two failures can be compared)."""
    try:
        return _run(fn, exercise, case)[0]
    except Exception as err:  # noqa: BLE001
        return type(err).__name__


def _count_numbers(value) -> int:
    """How many numbers a value holds; lists of arrays may be ragged (a network's weights), so count each."""
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, (list, tuple)):
        return sum(_count_numbers(v) for v in value)
    return 1 if isinstance(value, (int, float, np.number)) else 0


def _case_size(case: Case) -> int:
    """How many numbers a case feeds in: the smaller, the easier to work through by hand."""
    return sum(_count_numbers(v) for v in case.kwargs.values())


def _fallback_hint(name: str, exercise: Exercise, fn, failing: Case, number: int, cases: list) -> str:
    """Advice when no catalogued mistake explains the difference on case ``number`` (``failing``): the smallest
    input that shows it, and for a backward pass, a gradient check of the learner's own forward function."""
    smallest = failing  # (cases hold arrays: compare by position, never with == or list.index)
    for i, case in sorted(enumerate(cases, 1), key=lambda ic: _case_size(ic[1])):
        if _case_size(case) >= _case_size(failing):
            break
        expected = _outcome_or_error(exercise.reference, exercise, case)
        if isinstance(expected, str):  # a case the reference rejects: not one to work through by hand
            continue
        if not _same(exercise, _outcome_or_error(fn, exercise, case), expected):
            smallest, number = case, i
            break
    advice = (
        f"no known mistake matches. The smallest input yours gets wrong is case {number} "
        f"({_describe(smallest)}): work it through by hand and compare with your output."
    )
    forward = name.removesuffix("_backward")
    if forward != name:
        advice += (
            f" As it is a backward pass, also compare it with centred differences, (f(x + h) - f(x - h)) / 2h, of your "
            f"own {forward} on that input: where they agree, the backward pass is right and the bug is elsewhere."
        )
    return advice


def _same(exercise: Exercise, a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):  # exception names
        return a == b
    return not _compare_outcomes(exercise, a, b)


def _matching_mistake(
    exercise: Exercise, case: Case, actual: dict, expected: dict | None, fn=None, others=()
) -> str | None:
    """The hint of a known mistake whose result on this case equals the learner's (expected None: the
    reference raised, so any mistake that returns the learner's result matches). When several mistakes
    match here, the learner's function is run on a few other cases to tell them apart."""
    candidates = []
    for m in exercise.mistakes:
        try:
            wrong, _ = _run(m.fn, exercise, case)
        except Exception:  # noqa: BLE001 - a mistake that cannot run on this case just cannot match
            continue
        if (expected is None or _compare_outcomes(exercise, wrong, expected)) and not _compare_outcomes(
            exercise, actual, wrong
        ):
            candidates.append(m)
    return _best_hint(exercise, candidates, fn, others)


def _best_hint(exercise: Exercise, candidates: list, fn, others) -> str | None:
    """The hint of the one candidate mistake that behaves like the learner's function: when several matched on
    the failing case, run the learner's function on a few other cases and keep those that still agree."""
    for other in list(others)[:6] if fn is not None and len(candidates) > 1 else []:
        learner = _outcome_or_error(fn, exercise, other)
        narrowed = [m for m in candidates if _same(exercise, learner, _outcome_or_error(m.fn, exercise, other))]
        candidates = narrowed or candidates
        if len(candidates) == 1:
            break
    return candidates[0].hint if candidates else None


def _mistake_raising(exercise: Exercise, case: Case, error: str, fn, others) -> str | None:
    """The hint of a known mistake that raises where the learner's function raised and the reference did not."""
    candidates = [m for m in exercise.mistakes if _outcome_or_error(m.fn, exercise, case) == error]
    return _best_hint(exercise, candidates, fn, others)


def _check_raises(name, fn, exercise, case, header, reason, others=()):
    """The reference rejected this case with ValueError: the learner's function must too."""
    failure = None
    try:
        actual, _ = _run(fn, exercise, case)
    except ValueError:
        return
    except NotImplementedError as err:
        failure = _not_implemented(name, err)
    except Exception as err:  # noqa: BLE001
        failure = f"{header}\n  expected a ValueError ({reason}), got {_raised(err)}"
    if failure:
        raise CheckFailed(failure) from None
    lines = [header, f"  expected a ValueError, because {reason}; your function returned {_short(actual)}"]
    hint = _matching_mistake(exercise, case, actual, None, fn, others)
    if hint:
        lines.append(f"  hint: {hint}")
    raise CheckFailed("\n".join(lines))


def _short(outcome: dict) -> str:
    values = list(outcome.values())
    return repr(values[0] if len(values) == 1 else tuple(values))


# How a lab names the helpers it hands to the learner: the set-up cell imports these modules under these names.
GIVEN_NAMESPACES = {"F": "dlcourse.functional", "np": "numpy"}


def given_helper(dotted: str):
    """The function a lab hands to the learner under the name ``dotted`` ("F.conv2d" -> dlcourse.functional.conv2d)."""
    import importlib

    space, _, attr = dotted.rpartition(".")
    if space not in GIVEN_NAMESPACES:
        raise ValueError(f"a given helper is named as one of {sorted(GIVEN_NAMESPACES)} + '.name', got {dotted!r}")
    return getattr(importlib.import_module(GIVEN_NAMESPACES[space]), attr)


def given_helpers(exercise) -> list:
    """The functions an exercise hands to the learner."""
    return [given_helper(dotted) for dotted in exercise.given]


def check_exercise(
    name: str,
    fn,
    *,
    seed: int | None = 0,
    hidden: bool = False,
    quiet: bool = False,
    own_work: bool = False,
    allowed=(),
) -> None:
    """Compare ``fn`` with the reference for exercise ``name`` on its test cases.

    seed: seeds the random cases; None draws fresh ones (what hidden tests use)
    hidden: also run the larger, harder set of cases that grading uses
    own_work: finally run fn once under ``dlcourse.feedback.guard.assert_own_work``, which fails (DelegationError)
        if fn hands its work to dlcourse or torch; ``allowed`` lists helpers the exercise permits (the
        exercise's own ``given`` helpers are always permitted)
    Raises CheckFailed with feedback on the first mismatch. Returns None on purpose: nbgrader reads a
    number left as a test cell's last value as partial credit.
    """
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; known: {sorted(EXERCISES)}")
    exercise = EXERCISES[name]
    if not callable(fn):
        raise CheckFailed(f"{name}: expected a function, got {type(fn).__name__}")
    fn = executor(fn)
    rng = np.random.default_rng(seed)
    cases = exercise.cases(rng, hidden)
    for number, case in enumerate(cases, 1):
        header = f"{name} does not match the reference on case {number} of {len(cases)}\n  inputs: {_describe(case)}"
        reason = None
        try:
            expected, _ = _run(exercise.reference, exercise, case)
        except ValueError as err:
            reason = str(err)
        if reason is not None:  # outside the except block: no chained traceback through the reference
            _check_raises(name, fn, exercise, case, header, reason, [c for c in cases if c is not case])
            continue
        failure = None
        try:
            actual, changed = _run(fn, exercise, case)
        except NotImplementedError as err:
            failure = _not_implemented(name, err)
        except Exception as err:  # noqa: BLE001 - the learner's error becomes feedback
            failure = f"{header}\n  " + (
                str(err) if getattr(err, "plain", False) else f"your function raised {_raised(err)}"
            )
            hint = (
                _mistake_raising(exercise, case, type(err).__name__, fn, [c for c in cases if c is not case])
                if isinstance(err, ValueError)
                else None
            )
            failure += f"\n  hint: {hint}" if hint else ""
        if failure:
            raise CheckFailed(failure) from None
        problems = _compare_outcomes(exercise, actual, expected)
        if changed and not problems:
            problems = {"inputs": [f"your function changed its input(s) {changed} in place; work on a copy"]}
        if problems:
            lines = [header]
            for key, diff in problems.items():
                label = f"  {key}: " if len(expected) > 1 or exercise.runner else "  "  # a runner names its outputs
                lines += [label + diff[0]] + ["    " + d for d in diff[1:]]
            hint = _matching_mistake(exercise, case, actual, expected, fn, [c for c in cases if c is not case])
            if hint:
                lines.append(f"  hint: {hint}")
            elif not any("hint:" in line for line in lines):  # nothing said yet about what the bug may be
                lines.append(f"  next step: {_fallback_hint(name, exercise, fn, case, number, cases)}")
            raise CheckFailed("\n".join(lines))
    if own_work:  # in a sandbox there is no reference to reach, and the executor guards nothing
        fn.guard_own_work(exercise, cases, allowed=[*allowed, *given_helpers(exercise)], name=name)
    if not quiet:
        print(f"\u2714 {name}: matches the reference on {len(cases)} test cases")


def check_speed(name: str, fn, *, factor: float = 25.0, floor_seconds: float = 0.02, repeats: int = 5) -> None:
    """Time ``fn`` against the reference on the exercise's speed case and fail, saying how far off, when it
    is slower than ``factor`` times the reference (and slower than ``floor_seconds``, so that timer noise
    on a fast reference cannot fail a good answer). Best of ``repeats`` runs each.

    Each run gets fresh random inputs, and its result must match the reference's: an answer cannot have its
    results ready from an earlier run, nor answer a large input quickly and wrongly. The clock is the
    executor's: for a sandboxed function, the grader's, around the whole round trip, less what the same round
    trip costs without the learner's code.
    """
    exercise = EXERCISES[name]
    if exercise.speed_case is None:
        raise ValueError(f"exercise {name!r} has no speed case")
    learner, reference = executor(fn), InProcess(exercise.reference)
    rng = np.random.default_rng()  # unseeded: the inputs cannot be known in advance
    yours, theirs, failure = [], [], None
    for run in range(repeats):
        kwargs = exercise.speed_case(rng)
        expected, seconds = reference.timed_call(kwargs, runner=exercise.runner)
        theirs.append(seconds)
        try:
            outcome, seconds = learner.timed_call(kwargs, runner=exercise.runner)
        except NotImplementedError as err:
            failure = _not_implemented(name, err)
        except Exception as err:  # noqa: BLE001
            failure = f"{name} raised {_raised(err)} on the speed test"
        if failure:
            raise CheckFailed(failure) from None
        problems = _compare_outcomes(exercise, _named(exercise, outcome), _named(exercise, expected))
        if problems:
            key, diff = next(iter(problems.items()))
            raise CheckFailed(
                f"{name} gives a different result on the speed test's input (run {run + 1}, "
                f"{_describe(Case(kwargs))})\n  {key}: {diff[0]}"
            )
        yours.append(seconds)
        if seconds > max(3 * factor * min(theirs), 3 * floor_seconds, 1.0):
            break  # three times the budget and over a second: more runs would not change the verdict
    reference_seconds, yours_seconds = min(theirs), min(yours)
    budget = max(factor * reference_seconds, floor_seconds)
    shapes = ", ".join(f"{k} {v.shape}" for k, v in kwargs.items() if isinstance(v, np.ndarray))
    if yours_seconds > budget:
        raise CheckFailed(
            f"{name} is too slow: {yours_seconds * 1e3:.1f} ms on {shapes}, {yours_seconds / reference_seconds:.0f}x "
            f"the reference's {reference_seconds * 1e3:.2f} ms; the budget is {budget * 1e3:.0f} ms ({factor:.0f}x "
            f"the reference, at least {floor_seconds * 1e3:.0f} ms).\n  hint: {exercise.speed_hint}"
        )
    print(
        f"\u2714 {name}: {yours_seconds * 1e3:.1f} ms, {yours_seconds / reference_seconds:.1f}x the reference "
        f"(budget {factor:.0f}x)"
    )


def check_gradient(name: str, fn, *, tol: float = 1e-6) -> None:
    """Gradient-check a learner's backward pass: compare what ``fn`` returns with centred finite
    differences of the reference forward pass, print the table, and fail if any row fails."""
    from ..gradcheck import check_gradients

    exercise = EXERCISES[name]
    if exercise.gradient_of is None:
        raise ValueError(f"exercise {name!r} has no forward pass to check gradients against")
    forward, wrt = exercise.gradient_of
    kwargs = exercise.gradient_case(np.random.default_rng(0))
    failure = None
    try:
        result = executor(fn).call(kwargs)[0]
    except NotImplementedError as err:
        failure = _not_implemented(name, err)
    except Exception as err:  # noqa: BLE001
        failure = f"{name} raised {_raised(err)} on the gradient check's input"
    if failure:
        raise CheckFailed(failure) from None
    outcome = _named_outcome(exercise, result)
    inputs = {k: v for k, v in kwargs.items() if k != "dout"}
    grads = {}
    for w in wrt:
        g = outcome.get("d" + w, outcome.get("output") if len(wrt) == 1 else None)
        if g is None or np.shape(g) != np.shape(inputs[w]):
            raise CheckFailed(
                f"{name}: expected a gradient for {w} of shape {np.shape(inputs[w])}, got "
                f"{None if g is None else np.shape(g)}"
            )
        grads[w] = np.asarray(g, dtype=np.float64)
    print(f"gradient check of {name} against finite differences of the forward pass:")
    ok = check_gradients(
        lambda: float(np.sum(forward(**inputs) * kwargs["dout"])), {w: inputs[w] for w in wrt}, grads, tol=tol
    )
    if not ok:
        raise CheckFailed(
            f"{name}: the gradients marked FAIL above disagree with finite differences "
            f"(relative error above {tol:g}); check_exercise shows which entries"
        )


def working_functions(namespace: dict, names) -> dict:
    """The functions among ``names`` that ``namespace`` defines and that pass their visible checks.

    Explorers use them to run on the learner's own code where it works, and on the reference elsewhere.
    """
    found = {}
    for name in names:
        fn = namespace.get(name)
        if not callable(fn):
            continue
        try:
            check_exercise(name, fn, quiet=True)
        except Exception:  # noqa: BLE001 - any failure, CheckFailed or otherwise, means "use the reference"
            continue
        found[name] = fn
    return found
