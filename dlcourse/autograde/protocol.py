"""Plain data across the sandbox wall: the only things a learner's process can hand to the grader.

A message is one length-prefixed JSON object with an ``op``. Arrays travel as their raw bytes with a numeric
dtype and a shape; tuples, lists, dicts with string keys, strings, numbers, booleans and None travel as
themselves; any other object is described by its type's name and nothing else. Decoding never runs code (no
pickle), accepts numeric and boolean dtypes only, and refuses a message larger than ``MAX_MESSAGE`` bytes;
``check_message`` refuses an op the reader does not expect and a field of the wrong type, so whatever the
learner's process writes, the grader reads data of the agreed shape or a ``ProtocolError``.

The operations (``data`` is a value made by ``encode``; sizes are upper limits):

========================  ==============  ==========================================================================
op                        sent by         fields
========================  ==============  ==========================================================================
``alive``                 worker          (none): first message, before any learner code runs
``setup``                 grader          cells: [str] (answer cells, IPython syntax already turned into Python),
                                          skip: [int] (cells not to run), given: [str] (helpers served),
                                          cell_seconds: number (each cell's time limit)
``cell``                  worker          number: int (the answer cell just run, from 1),
                                          problem: str or None (why it stopped part way)
``ready``                 worker          problems: [str] (at most 20): every answer cell has run
``call``                  grader          function: str, kwargs: data (a dict), runner: str or None,
                                          mutates: [str] (inputs the function may change in place)
``calibrate``             grader          kwargs: data, shapes: [[[int], str]] (shape and dtype of each array
                                          a correct answer returns): the same round trip with no learner code
``result``                worker          outcome: data, changed: [str] (inputs changed in place)
``raised``                worker          type: str, mro: [str], message: str, frames: [str] (the learner's
                                          own lines only)
``given``                 worker          name: str, args: data (a list), kwargs: data (a dict): a call of a
                                          helper the exercise hands over, computed by the grader
``given_result``          grader          value: data
``given_error``           grader          message: str
========================  ==============  ==========================================================================

After ``setup`` the worker sends one ``cell`` per answer cell it runs, then ``ready``; after ``call`` or
``calibrate``, any number of ``given`` (each answered by ``given_result`` or ``given_error``) and then one
``result`` or ``raised``.

This module runs on both sides and imports nothing but the standard library and NumPy.
"""

from __future__ import annotations

import base64
import json
import math
import struct

import numpy as np

MAX_MESSAGE = 64 * 2**20  # bytes; a graded case's inputs and outputs are far smaller
MAX_DEPTH = 20
_NUMERIC_KINDS = "biufc"  # bool, int, unsigned, float, complex


class ProtocolError(Exception):
    """A message that is not well-formed plain data."""


def encode(value, depth: int = 0):
    """A JSON-able description of value (arrays, containers, scalars); other objects by type name only."""
    if depth > MAX_DEPTH:
        return {"~": "opaque", "type": "a structure nested too deeply"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**62 else {"~": "bigint", "v": str(value)}
    if isinstance(value, float):
        return value if np.isfinite(value) else {"~": "float", "v": repr(value)}
    if isinstance(value, np.ndarray) and value.dtype.kind in _NUMERIC_KINDS and value.dtype.hasobject is False:
        arr = np.ascontiguousarray(value).reshape(value.shape)  # ascontiguousarray makes a 0-d array 1-d
        return {
            "~": "nd",
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "data": base64.b64encode(arr.tobytes()).decode("ascii"),
        }
    if isinstance(value, np.generic) and np.dtype(type(value)).kind in _NUMERIC_KINDS:
        return {"~": "np", "v": encode(np.asarray(value), depth + 1)}
    if isinstance(value, tuple):
        return {"~": "tuple", "v": [encode(v, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"~": "dict", "v": {k: encode(v, depth + 1) for k, v in value.items()}}
    kind = type(value)
    return {"~": "opaque", "type": f"{kind.__module__}.{kind.__qualname__}"[:200]}


class Opaque:
    """An object the learner's process returned that is not plain data: only its type's name crossed."""

    def __init__(self, type_name: str):
        self.type_name = str(type_name)[:200]

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


def decode(value):
    """The inverse of encode, for data that came from a process the grader does not trust: plain data, or
    ProtocolError saying what is wrong (never another exception)."""
    try:
        return _decode(value, 0)
    except ProtocolError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError, IndexError, RecursionError) as err:
        raise ProtocolError(f"malformed data ({type(err).__name__}: {str(err)[:100]})") from None


def _decode(value, depth: int):
    if depth > MAX_DEPTH + 2:
        raise ProtocolError("nested too deeply")
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):
        return [_decode(v, depth + 1) for v in value]
    if not isinstance(value, dict) or not isinstance(value.get("~"), str):
        raise ProtocolError(f"unexpected {type(value).__name__}")
    tag = value["~"]
    if tag == "nd":
        dtype = np.dtype(str(value["dtype"]))
        if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
            raise ProtocolError(f"dtype {dtype} is not numeric")
        shape = tuple(int(s) for s in value["shape"])
        if len(shape) > 32 or any(s < 0 for s in shape):
            raise ProtocolError("a shape of more than 32 dimensions, or a negative one")
        data = base64.b64decode(str(value["data"]), validate=True)
        if len(data) != dtype.itemsize * math.prod(shape):
            raise ProtocolError("array data does not match its shape")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if tag == "np":
        return _decode(value["v"], depth + 1)[()]
    if tag == "tuple":
        return tuple(_decode(v, depth + 1) for v in value["v"])
    if tag == "dict":
        return {str(k): _decode(v, depth + 1) for k, v in dict(value["v"]).items()}
    if tag == "bigint":
        return int(str(value["v"])[:4000])
    if tag == "float":
        return float(str(value["v"]))
    if tag == "opaque":
        return Opaque(value.get("type", "object"))
    raise ProtocolError(f"unknown tag {tag!r}")


# --- the shape of each operation -------------------------------------------------------------------------

TEXT_LIMIT = 2000  # characters of any one string field (a message, a frame, a name) but an answer cell
LIST_LIMIT = 50  # entries of any one list field
CELL_LIMIT = 500_000  # characters of one answer cell


def _text(value, limit: int = TEXT_LIMIT) -> str | None:
    if not isinstance(value, str):
        return f"a string, got {type(value).__name__}"
    return f"at most {limit} characters, got {len(value)}" if len(value) > limit else None


def _optional_text(value) -> str | None:
    return None if value is None else _text(value)


def _texts(value, limit: int = TEXT_LIMIT, count: int = LIST_LIMIT) -> str | None:
    if not isinstance(value, list):
        return f"a list of strings, got {type(value).__name__}"
    if len(value) > count:
        return f"at most {count} entries, got {len(value)}"
    return next((f"entry {i}: {why}" for i, v in enumerate(value) if (why := _text(v, limit))), None)


def _cells(value) -> str | None:
    return _texts(value, CELL_LIMIT, count=1000)


def _count(value, low: int = 0, high: int = 1_000_000) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return f"an integer, got {type(value).__name__}"
    return None if low <= value <= high else f"an integer from {low} to {high}, got {value}"


def _counts(value) -> str | None:
    if not isinstance(value, list) or len(value) > 1000:
        return "a list of at most 1000 integers"
    return next((f"entry {i}: {why}" for i, v in enumerate(value) if (why := _count(v))), None)


def _seconds(value) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 86_400
    return None if ok else f"a number of seconds, got {value!r}"[:100]


def _shapes(value) -> str | None:
    if not isinstance(value, list) or len(value) > LIST_LIMIT:
        return f"a list of at most {LIST_LIMIT} [shape, dtype] pairs"
    for i, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], list) and len(pair[0]) <= 32):
            return f"entry {i}: a [shape, dtype] pair"
        why = next((w for w in map(_count, pair[0]) if w), None) or _text(pair[1], 20)
        if why:
            return f"entry {i}: {why}"
    return None


def _data(value) -> str | None:
    return None  # any JSON value: decode() checks it where it is used


FIELDS = {
    "alive": {},
    "setup": {"cells": _cells, "skip": _counts, "given": _texts, "cell_seconds": _seconds},
    "cell": {"number": lambda v: _count(v, 1, 1000), "problem": _optional_text},
    "ready": {"problems": _texts},
    "call": {"function": _text, "kwargs": _data, "runner": _optional_text, "mutates": _texts},
    "calibrate": {"kwargs": _data, "shapes": _shapes},
    "result": {"outcome": _data, "changed": _texts},
    "raised": {"type": _text, "mro": _texts, "message": _text, "frames": _texts},
    "given": {"name": _text, "args": _data, "kwargs": _data},
    "given_result": {"value": _data},
    "given_error": {"message": _text},
}


def check_message(message: dict, expected) -> dict:
    """message, if its op is one of ``expected`` and its fields are exactly that op's, of the right types;
    otherwise ProtocolError saying, in one line, what was wrong."""
    op = message.get("op")
    if not isinstance(op, str) or op not in expected:
        shown = repr(op)[:60]
        raise ProtocolError(f"an op {shown} where {' or '.join(sorted(expected))} was expected")
    fields = FIELDS[op]
    extra = sorted(set(message) - set(fields) - {"op"})
    if extra:
        raise ProtocolError(f"{op}: unexpected field {extra[0][:60]!r}")
    for name, check in fields.items():
        if name not in message:
            raise ProtocolError(f"{op}: no field {name!r}")
        why = check(message[name])
        if why:
            raise ProtocolError(f"{op}: {name} must be {why}"[:300])
    return message


# --- framing ---------------------------------------------------------------------------------------------

HEADER = 8  # bytes: the body's length, big-endian


def frame(message: dict) -> bytes:
    body = json.dumps(message, allow_nan=False).encode("utf-8")
    return struct.pack(">Q", len(body)) + body


def body_size(header: bytes, limit: int = MAX_MESSAGE) -> int:
    (size,) = struct.unpack(">Q", header)
    if size > limit:
        raise ProtocolError(f"a message of {size} bytes is over the limit of {limit}")
    return size


def parse_body(body: bytes) -> dict:
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise ProtocolError(f"not JSON: {str(err)[:100]}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a message must be a JSON object, got {type(message).__name__}")
    return message


def write_message(stream, message: dict) -> None:
    stream.write(frame(message))
    stream.flush()


def read_message(stream, limit: int = MAX_MESSAGE) -> dict:
    """One message from a blocking stream (the worker's side; the grader reads with deadlines, in remote)."""
    size = body_size(_read_exactly(stream, HEADER), limit)
    return parse_body(_read_exactly(stream, size))


def _read_exactly(stream, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other process closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
