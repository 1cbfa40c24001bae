"""Keep freed memory in the process for a replay's next chunk (glibc's malloc only).

A replay allocates the same few megabyte-sized temporaries for every chunk (the block grids and
the tables' per-cell arrays). glibc hands each allocation above its mmap threshold straight from
the kernel and gives it back when freed, so every chunk pays a page fault and the zeroing of a page
for every 4 kB it touches again: about 90,000 faults, a tenth of the core's CPU time on the
benchmark's case. Raising the threshold and the trim limit keeps those pages in the heap for reuse.
The peak memory is the same (the same arrays are alive at once); only its return to the system is
left to the end of the process, which for ``smartsite replay`` is the end of the replay.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest (64-bit): larger arrays are still mapped and unmapped
TRIM_THRESHOLD = 1 << 30

_done = False


def keep_freed_memory() -> bool:
    """Tune this process's malloc once; True if it took (False off glibc, or when refused)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1:
            _done = True
    return _done
