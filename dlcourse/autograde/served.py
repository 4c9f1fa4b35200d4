"""Helpers the grader computes for the learner (``F.conv2d`` in a backward pass), and what they may be asked.

An exercise may hand the learner a course function (its ``given``): the learner's sandboxed process has no
course package, so the call crosses to the grader, which computes it. The request comes from the learner's
code, so before computing, ``check_request`` bounds what it can cost the grader: the size of every array
passed, every integer hyper-parameter, and the sizes the computation will make (the padded input, the
windows, the output, broadcasting) and its multiply-adds. A request over a limit is refused with a
ValueError that says which limit, which the learner's code receives as the helper's own error.

The limits sit far above anything a lab asks (its largest case is about 10^5 numbers): a refused request is
an attack or a bug, and an allowed one stays within a few hundred MB and a second or two of the grader's time.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

ELEMENT_LIMIT = 2**22  # numbers in any one input, intermediate or output (32 MiB of float64)
MULTIPLY_ADD_LIMIT = 2**31  # about a second of one core
INTEGER_LIMIT = 1024  # kernel sizes, strides, paddings, axes
SPATIAL = ("padding", "stride", "kernel_size")
SETTINGS = ("training", "momentum", "eps", "dim")  # the helpers' other hyper-parameters: never arrays


def _numbers(value, limit: int = ELEMENT_LIMIT + 1) -> int:
    """How many numbers a (possibly nested) value holds, counting no further than ``limit``."""
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, (list, tuple)):
        total = 0
        for v in value:
            total += _numbers(v, limit - total)
            if total >= limit:
                break
        return total
    return 1


def _integers(value):
    """The integers among a hyper-parameter's value (an int, or a small tuple of them)."""
    if isinstance(value, (bool, np.bool_)):
        return []
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    if isinstance(value, (list, tuple)) and len(value) <= 8:
        return [i for v in value for i in _integers(v)]
    return []


def _pair(value, default):
    if value is None:
        return default
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    return int(value), int(value)


def predicted_sizes(arguments: dict) -> dict[str, int]:
    """What a call with these (bound) arguments will make, by the course's conventions: NCHW input ``x``,
    weights (C_out, C_in, kH, kW) or (out, in), ``kernel_size``, ``stride`` and ``padding``. Entries that do
    not apply to the helper are left out."""
    sizes = {}
    arrays = [np.shape(v) for v in arguments.values() if isinstance(v, np.ndarray)]
    try:
        sizes["broadcast result"] = math.prod(np.broadcast_shapes(*arrays)) if arrays else 0
    except ValueError:
        pass  # shapes that do not broadcast: not an element-wise helper
    x, weight = arguments.get("x"), arguments.get("weight")
    x_shape = np.shape(x) if isinstance(x, np.ndarray) else ()
    w_shape = np.shape(weight) if isinstance(weight, np.ndarray) else ()
    if len(x_shape) == 4 and (len(w_shape) == 4 or "kernel_size" in arguments):
        n, c, h, w = x_shape
        kh, kw = w_shape[2:] if len(w_shape) == 4 else _pair(arguments["kernel_size"], (1, 1))
        ph, pw = _pair(arguments.get("padding"), (0, 0))
        sh, sw = _pair(arguments.get("stride"), (kh, kw) if len(w_shape) != 4 else (1, 1))
        hp, wp = h + 2 * abs(ph), w + 2 * abs(pw)
        ho, wo = max((hp - kh) // max(sh, 1) + 1, 0), max((wp - kw) // max(sw, 1) + 1, 0)
        out_channels = w_shape[0] if len(w_shape) == 4 else c
        sizes["padded input"] = n * c * hp * wp
        sizes["windows"] = n * c * kh * kw * ho * wo
        sizes["output"] = n * out_channels * ho * wo
        sizes["multiply-adds"] = sizes["output"] * c * kh * kw
    elif len(x_shape) >= 2 and len(w_shape) == 2:  # a linear layer: (..., D) @ (D, out)
        sizes["output"] = math.prod(x_shape[:-1]) * w_shape[0]
        sizes["multiply-adds"] = sizes["output"] * x_shape[-1]
    return sizes


def _as_arrays(name: str, arguments: dict) -> dict:
    """The arguments with every array-like one (a list, a tuple, a number) as the array the helper would make
    of it: the limits below then see the shapes the computation will have, however the learner passed them."""
    converted = {}
    for key, value in arguments.items():
        if key in SPATIAL or key in SETTINGS or value is None or isinstance(value, (np.ndarray, bool, str)):
            converted[key] = value
            continue
        try:
            array = np.asarray(value)
        except (ValueError, TypeError, OverflowError):
            raise ValueError(f"{name}: {key} is not an array (a ragged or mixed list?)") from None
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name}: {key} must hold numbers, got {array.dtype}")
        converted[key] = array
    return converted


def check_request(name: str, helper, args: list, kwargs: dict) -> dict:
    """The call's arguments by name, array-likes as arrays, once ``helper`` (the given helper ``name``) on them
    is known to cost the grader no more than the limits above; ValueError, saying which limit, otherwise."""
    try:
        bound = inspect.signature(helper).bind(*args, **kwargs)
    except TypeError as err:
        raise ValueError(f"{name}: {err}") from None
    for key, value in bound.arguments.items():  # counted before any conversion allocates
        if _numbers(value) > ELEMENT_LIMIT:
            raise ValueError(
                f"{name}: {key} holds more than {ELEMENT_LIMIT:,} numbers, more than grading serves; "
                "call it on the inputs the exercise gives"
            )
    arguments = _as_arrays(name, dict(bound.arguments))  # as many numbers each as counted above
    for key, value in arguments.items():
        if key in SPATIAL or not isinstance(value, (np.ndarray, list)):
            for i in _integers(value):
                if abs(i) > INTEGER_LIMIT:
                    raise ValueError(
                        f"{name}: {key}={value!r} is outside what grading serves (|{key}| <= {INTEGER_LIMIT})"
                    )
    for what, size in predicted_sizes(arguments).items():
        limit = MULTIPLY_ADD_LIMIT if what == "multiply-adds" else ELEMENT_LIMIT
        if size > limit:
            raise ValueError(
                f"{name}: this call would make {size:,} {'multiply-adds' if what == 'multiply-adds' else 'numbers'} "
                f"({what}), more than grading serves ({limit:,}); check its arguments (padding, stride, shapes)"
            )
    return arguments


def serve(name: str, helper, args: list, kwargs: dict):
    """helper(*args, **kwargs), once the request is within the limits, on the arguments as checked; a result
    larger than the limits (which the checks should have foreseen) is refused rather than sent."""
    result = helper(**check_request(name, helper, args, kwargs))
    if _numbers(result) > ELEMENT_LIMIT:
        raise ValueError(f"{name}: the result holds more than {ELEMENT_LIMIT:,} numbers, more than grading serves")
    return result
