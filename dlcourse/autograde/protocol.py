"""Plain data across the sandbox wall: the only things a learner's process can hand to the grader.

A message is one length-prefixed JSON document. Arrays travel as their raw bytes with a numeric dtype and a
shape; tuples, lists, dicts with string keys, strings, numbers, booleans and None travel as themselves; any
other object is described by its type's name and nothing else. Decoding never runs code (no pickle), accepts
numeric and boolean dtypes only, and refuses a message larger than ``MAX_MESSAGE`` bytes, so whatever the
learner's process writes, the grader reads data or an error.

This module runs on both sides and imports nothing but the standard library and NumPy.
"""

from __future__ import annotations

import base64
import json
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


def decode(value, depth: int = 0):
    """The inverse of encode, for data that came from a process the grader does not trust."""
    if depth > MAX_DEPTH + 2:
        raise ProtocolError("nested too deeply")
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):
        return [decode(v, depth + 1) for v in value]
    if not isinstance(value, dict) or not isinstance(value.get("~"), str):
        raise ProtocolError(f"unexpected {type(value).__name__}")
    tag = value["~"]
    if tag == "nd":
        dtype = np.dtype(str(value["dtype"]))
        if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
            raise ProtocolError(f"dtype {dtype} is not numeric")
        shape = tuple(int(s) for s in value["shape"])
        if any(s < 0 for s in shape):
            raise ProtocolError("negative dimension")
        data = base64.b64decode(str(value["data"]), validate=True)
        if len(data) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise ProtocolError("array data does not match its shape")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if tag == "np":
        return decode(value["v"], depth + 1)[()]
    if tag == "tuple":
        return tuple(decode(v, depth + 1) for v in value["v"])
    if tag == "dict":
        return {str(k): decode(v, depth + 1) for k, v in dict(value["v"]).items()}
    if tag == "bigint":
        return int(str(value["v"])[:4000])
    if tag == "float":
        return float(str(value["v"]))
    if tag == "opaque":
        return Opaque(value.get("type", "object"))
    raise ProtocolError(f"unknown tag {tag!r}")


def write_message(stream, message: dict) -> None:
    body = json.dumps(message, allow_nan=False).encode("utf-8")
    stream.write(struct.pack(">Q", len(body)) + body)
    stream.flush()


def read_message(stream, limit: int = MAX_MESSAGE) -> dict:
    """One message from stream; EOFError when the other side has gone."""
    header = _read_exactly(stream, 8)
    (size,) = struct.unpack(">Q", header)
    if size > limit:
        raise ProtocolError(f"a message of {size} bytes is over the limit of {limit}")
    try:
        message = json.loads(_read_exactly(stream, size))
    except ValueError as err:
        raise ProtocolError(f"not JSON: {err}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


def _read_exactly(stream, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other process closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
