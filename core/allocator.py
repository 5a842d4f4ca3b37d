"""Process-wide memory allocator settings that make the network and log-mel fast on CPU.

glibc serves large blocks (every activation tensor of a batch) with fresh ``mmap`` pages
and unmaps them when freed, so each batch pays for page faults and zeroing again: about
half of the CPU time of log-mel and of the network here (measured by bench/scan.py:
decode + log-mel 338 → 599 windows/s, network 36 → 68 windows/s on 2 cores). Keeping
freed memory in the heap avoids it; the price is that RSS stays at its peak, which the
scanner bounds by embedding in small batches.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_done = False


def tune_allocator() -> bool:
    """Apply the settings once (glibc only); returns whether they are in effect."""
    global _done
    if _done:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
        ok &= libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    except (OSError, AttributeError):
        return False
    _done = bool(ok)
    return _done
