"""Guards that hidden tests use so that points go to the learner's own work.

``assert_own_work(fn, *args)`` calls ``fn`` while a profiler hook watches every function that runs. If
any code from a forbidden module runs (the reference in ``dlcourse``, or ``torch``), it fails with a
message naming what was called. Watching the code that runs, rather than the names in the notebook,
catches every way of importing: ``from dlcourse.functional import conv2d as c`` binds the function
object itself, which patching ``dlcourse.functional.conv2d`` would not see.
"""
from __future__ import annotations

import sys
from typing import Iterable

FORBIDDEN = ("dlcourse", "torch", "scipy.signal", "scipy.ndimage", "tensorflow", "jax", "sklearn", "keras")


class DelegationError(AssertionError):
    """The learner's function handed its work to a forbidden library."""


def _module_of_builtin(func) -> str:
    for candidate in (getattr(func, "__module__", None), getattr(getattr(func, "__self__", None), "__name__", None)):
        if isinstance(candidate, str):
            return candidate
    owner = getattr(func, "__self__", None)
    return type(owner).__module__ if owner is not None else ""


def _matches(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def assert_own_work(fn, *args, forbidden: Iterable[str] = FORBIDDEN, allowed: Iterable = (), name: str | None = None,
                    **kwargs):
    """Call fn(*args, **kwargs); fail with DelegationError if it runs code from a forbidden module.

    forbidden: module prefixes whose code must not run inside fn
    allowed: functions from those modules that the exercise lets the learner call (given helpers)
    name: what to call fn in the message (default: fn.__name__)
    Returns fn's result.
    """
    forbidden = tuple(forbidden)
    allowed_code = {getattr(f, "__code__", None) for f in allowed} - {None}
    allowed_builtins = {id(f) for f in allowed if not hasattr(f, "__code__")}
    seen: list[str] = []
    depth_in_allowed = [0]

    def watch(frame, event, arg):
        if seen:
            return
        if event == "call":
            if frame.f_code in allowed_code:
                depth_in_allowed[0] += 1
                return
            if depth_in_allowed[0]:
                return
            module = frame.f_globals.get("__name__", "")
            if _matches(module, forbidden):
                seen.append(f"{module}.{frame.f_code.co_name}")
        elif event == "return" and frame.f_code in allowed_code:
            depth_in_allowed[0] -= 1
        elif event == "c_call" and not depth_in_allowed[0] and id(arg) not in allowed_builtins:
            module = _module_of_builtin(arg)
            if _matches(module, forbidden):
                seen.append(f"{module}.{getattr(arg, '__name__', repr(arg))}")

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        result = fn(*args, **kwargs)
    finally:
        sys.setprofile(previous)
    if seen:
        name = name or getattr(fn, "__name__", "your function")
        raise DelegationError(
            f"{name} called {seen[0]}: this exercise asks you to write the computation yourself with NumPy, "
            f"so a solution that hands the work to the reference or to a library earns no points"
        )
    return result
