"""The C allocator's settings, on glibc only (elsewhere each call does nothing and says so).

Python's own allocator serves objects up to 512 bytes from arenas of its own; what is larger
(dict tables, lists, bytes, SQLite's pages) comes from malloc. glibc gives each thread that
allocates an arena of its own, up to eight per core, and an arena keeps what was freed in it
for later use in that arena only. The daemon's threads (the database worker, the default
executor's, the schema builder) then each hold freed memory the event loop's thread cannot use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform

M_ARENA_MAX = -8  # glibc's malloc.h
# The event loop's thread and the database worker: the two that allocate all along.
DAEMON_ARENAS = 2


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    wanted = ("mallopt", "malloc_info", "malloc_trim")
    return libc if all(hasattr(libc, name) for name in wanted) else None


def limit_arenas(count: int = DAEMON_ARENAS) -> bool:
    """At most ``count`` malloc arenas from now on; True when applied. Threads started before
    keep the arena they have, so call it before any starts. An operator's ``MALLOC_ARENA_MAX``
    in the environment wins: glibc read it at start-up, and it is a deliberate choice."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _glibc()
    return libc is not None and libc.mallopt(M_ARENA_MAX, count) == 1


def trim() -> bool:
    """Hands the memory malloc keeps free (at its heaps' tops and in whole free pages) back to
    the system; True when some was released."""
    libc = _glibc()
    return libc is not None and libc.malloc_trim(0) == 1


def arenas() -> int | None:
    """How many malloc arenas exist (None off glibc): read from ``malloc_info``."""
    libc = _glibc()
    if libc is None:
        return None
    libc.open_memstream.restype = ctypes.c_void_p
    libc.open_memstream.argtypes = [
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.free.argtypes = [ctypes.c_void_p]
    text, size = ctypes.c_char_p(), ctypes.c_size_t()
    stream = libc.open_memstream(ctypes.byref(text), ctypes.byref(size))
    if not stream:
        return None
    try:
        libc.malloc_info(0, stream)
    finally:
        libc.fclose(stream)
    xml = ctypes.string_at(text, size.value).decode("ascii", "replace")
    libc.free(ctypes.cast(text, ctypes.c_void_p))
    return xml.count("<heap nr=")
