"""Guards that hidden tests use so that points go to the learner's own work.

``assert_own_work(fn, *args)`` calls ``fn`` while a profiler hook watches every function that runs. If
any code from a forbidden module runs (the reference in ``dlcourse``, or ``torch``), it fails with a
message naming what was called. Watching the code that runs, rather than the names in the notebook,
catches every way of importing: ``from dlcourse.functional import conv2d as c`` binds the function
object itself, which patching ``dlcourse.functional.conv2d`` would not see.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

FORBIDDEN = ("dlcourse", "torch", "scipy.signal", "scipy.ndimage", "tensorflow", "jax", "sklearn", "keras")
# The exercises' own harness (cases, runners, the functions an exercise hands to the learner, such as the f
# of a numerical-gradient exercise) may run inside the learner's function: it holds no reference answer.
EXEMPT = ("dlcourse.feedback.exercises",)


class DelegationError(AssertionError):
    """The learner's function handed its work to a forbidden library."""


def _module_of_builtin(func) -> str:
    for candidate in (getattr(func, "__module__", None), getattr(getattr(func, "__self__", None), "__name__", None)):
        if isinstance(candidate, str):
            return candidate
    owner = getattr(func, "__self__", None)
    return type(owner).__module__ if owner is not None else ""


def _matches(module: str, prefixes: Iterable[str]) -> bool:
    inside = lambda p: module == p or module.startswith(p + ".")  # noqa: E731
    return any(inside(p) for p in prefixes) and not any(inside(p) for p in EXEMPT)


def assert_own_work(
    fn,
    *args,
    forbidden: Iterable[str] = FORBIDDEN,
    allowed: Iterable = (),
    name: str | None = None,
    target=None,
    **kwargs,
):
    """Call fn(*args, **kwargs); fail with DelegationError if the learner's function runs forbidden code.

    target: the learner's function, when fn is a harness that calls it (default: fn itself). Only code that
        runs inside target is watched, so a harness from dlcourse may drive it.
    forbidden: module prefixes whose code must not run inside target
    allowed: functions from those modules that the exercise lets the learner call (given helpers)
    name: what to call the function in the message (default: target.__name__)
    Returns fn's result.
    """
    forbidden = tuple(forbidden)
    target = fn if target is None else target
    target_code = getattr(target, "__code__", None)
    name = name or getattr(target, "__name__", "your function")
    seen: list[str] = []
    if isinstance(target, type):  # a class (a torch.nn.Module): its own methods are the learner's code
        inherited = [c for c in target.__mro__ if _matches(c.__module__, forbidden)]
        if inherited:  # class LeNet5(reference.LeNet5): pass
            seen.append(f"{inherited[0].__module__}.{inherited[0].__name__}")
        methods = [getattr(v, "__func__", v) for v in vars(target).values()]
        own_class_codes = {m.__code__ for m in methods if hasattr(m, "__code__")}
        if _matches(target.__module__, forbidden):
            seen.append(f"{target.__module__}.{target.__name__}")
    elif target_code is None:  # a builtin (torch.relu, a ufunc) or a partial given as the answer
        inner = getattr(target, "func", target)
        module = _module_of_builtin(inner) if not hasattr(inner, "__code__") else inner.__globals__.get("__name__", "")
        target_code = getattr(inner, "__code__", None)
        if _matches(module or "", forbidden):
            seen.append(f"{module}.{getattr(inner, '__name__', repr(inner))}")
    allowed_code = {getattr(f, "__code__", None) for f in allowed} - {None}
    allowed_builtins = {id(f) for f in allowed if not hasattr(f, "__code__")}
    depth = {"inside": 0, "allowed": 0}
    own_codes = ({target_code} | (own_class_codes if isinstance(target, type) else set())) - {None}

    def watch(frame, event, arg):
        if seen:
            return
        code = frame.f_code if event in ("call", "return") else None
        if event == "call":
            if code in own_codes:
                depth["inside"] += 1
                if _matches(frame.f_globals.get("__name__", ""), forbidden):  # the answer *is* the reference
                    seen.append(f"{frame.f_globals.get('__name__')}.{code.co_name}")
                return
            if not depth["inside"] or depth["allowed"]:
                depth["allowed"] += code in allowed_code and depth["inside"] > 0
                return
            if code in allowed_code:
                depth["allowed"] += 1
                return
            module = frame.f_globals.get("__name__", "")
            if _matches(module, forbidden):
                seen.append(f"{module}.{code.co_name}")
        elif event == "return":
            if code in own_codes:
                depth["inside"] -= 1
                # A generator handed back (``return reference_batches(...)``) runs later, outside this call:
                # its body counts as the learner's too, so that it is watched when the caller iterates it.
                generator_code = getattr(arg, "gi_code", None) or getattr(arg, "ag_code", None)
                if generator_code is not None:
                    own_codes.add(generator_code)
            elif code in allowed_code and depth["allowed"]:
                depth["allowed"] -= 1
        elif event == "c_call" and depth["inside"] and not depth["allowed"] and id(arg) not in allowed_builtins:
            module = _module_of_builtin(arg)
            if _matches(module, forbidden):
                seen.append(f"{module}.{getattr(arg, '__name__', repr(arg))}")

    previous = sys.getprofile()
    if not seen:
        sys.setprofile(watch)
        try:
            result = fn(*args, **kwargs)
        finally:
            sys.setprofile(previous)
    if seen:
        raise DelegationError(
            f"{name} called {seen[0]}: this exercise asks you to write the computation yourself with NumPy, "
            f"so a solution that hands the work to the reference or to a library earns no points"
        )
    return result
