"""Give the heap that bursts of work freed back to the operating system (glibc only).

A start with thousands of objects parses thousands of responses at once, from
several threads. CPython returns what it frees to the C allocator, but glibc
keeps freed pages inside its heaps (one per thread that contended, each
growing on its own), so an operator that is idle afterwards still shows the
burst in its RSS. Three glibc knobs undo that: fewer heaps (``M_ARENA_MAX``),
``malloc_trim`` now and then, which hands free pages back, and a fixed mmap
threshold (``M_MMAP_THRESHOLD``). glibc otherwise raises that threshold to
the size of the largest block freed, up to 32 MiB; then the 256 KiB read
buffer of every TLS connection asyncio opens (kopf opens hundreds at once at
a start with thousands of objects, one per object it patches) and every large
response come from the heap and leave it fragmented. Below a fixed threshold
they are mapped apart and unmapped when freed. Elsewhere (musl, macOS) the
knobs do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

#: mallopt's parameter numbers (malloc.h): the most heaps glibc keeps, and the
#: block size from which it maps memory apart instead of carving it from a heap.
M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3
#: glibc's own default threshold; setting it at all stops glibc from raising it.
MMAP_THRESHOLD = 128 * 1024


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


def map_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Blocks of ``threshold`` bytes or more are mapped apart from now on (and
    returned when freed); False where that cannot be set."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1)


def trim() -> bool:
    """Return free heap pages to the OS; True when glibc released any."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)
