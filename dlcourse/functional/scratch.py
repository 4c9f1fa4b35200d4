"""Reusable scratch buffers for the large temporaries of conv2d (the im2col matrix, padded grids).

Allocating a fresh multi-megabyte array on every call costs as much as the arithmetic: the allocator hands
big blocks back to the operating system on free, so each new one page-faults in again. Training calls
conv2d with the same few shapes over and over, so each thread keeps its most recent buffers, keyed by
role, shape and dtype, up to a byte budget; anything larger is allocated normally. Buffers never leave
this package: results handed to the caller are always fresh arrays.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np

BUDGET_BYTES = 192 * 2**20  # kept per thread; small next to Binder's 2 GB
_local = threading.local()


def _pool() -> OrderedDict:
    if not hasattr(_local, "buffers"):
        _local.buffers = OrderedDict()
    return _local.buffers


def scratch(role: str, shape: tuple[int, ...], dtype, *, zero: bool = False) -> np.ndarray:
    """An array of the given shape and dtype for temporary use; its contents are garbage unless ``zero``."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > BUDGET_BYTES // 2:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    pool = _pool()
    key = (role, tuple(shape), dtype.str)
    buf = pool.pop(key, None)
    if buf is None:
        buf = np.empty(shape, dtype)
        while pool and sum(b.nbytes for b in pool.values()) + nbytes > BUDGET_BYTES:
            pool.popitem(last=False)  # least recently used first
    pool[key] = buf
    if zero:
        buf.fill(0)
    return buf
