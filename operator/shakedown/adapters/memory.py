"""Give the heap that bursts of work freed back to the operating system (glibc only).

A start with thousands of objects parses thousands of responses at once, from
several threads. CPython returns what it frees to the C allocator, but glibc
keeps freed pages inside its heaps (one per thread that contended, each
growing on its own), so an operator that is idle afterwards still shows the
burst in its RSS. Two glibc knobs undo that: fewer heaps (``M_ARENA_MAX``),
and ``malloc_trim`` now and then, which hands free pages back. Elsewhere
(musl, macOS) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

#: mallopt's parameter number for the most heaps glibc keeps (malloc.h).
M_ARENA_MAX = -8


@functools.cache
def _glibc() -> Any | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_heaps(count: int) -> bool:
    """At most ``count`` glibc heaps from now on; False where that cannot be set."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, count) == 1)


def trim() -> bool:
    """Return free heap pages to the OS; True when glibc released any."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)
