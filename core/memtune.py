"""Keep freed memory in the decoding process for the next file (glibc's malloc only).

A scan's decoder allocates and frees the same few sizes of array for every file (a
block of samples, its resampled signal, a spectrogram's frames: 0.1-1 MB each). glibc
hands such sizes back to the system when they are freed (``mmap`` above its threshold,
then a trim of the heap's top) and takes them again for the next file: each page is
faulted in and zeroed anew, ~100 page faults a file, ~0.3 ms of system CPU time of the
decode task's ~7 (measured on the bench library: 0.47 vs 0.18 ms a file, docs/eval/
analysis.md). With fixed thresholds the freed memory stays in the heap and is reused.
What the process holds at most grows by up to :data:`TRIM_THRESHOLD` of free memory.
Nothing else changes: the same arrays, the same values.
"""

from __future__ import annotations

import ctypes
import functools
import platform
import sys

#: allocations at least this large still get their own mapping (an hour-long segment's
#: blocks), returned to the system when freed
MMAP_THRESHOLD = 16 << 20
#: free memory at the heap's top beyond this is returned to the system
TRIM_THRESHOLD = 64 << 20
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Set glibc's malloc thresholds in this process (once); False where there is no
    glibc (macOS, Windows, musl) or it refused, and nothing is changed."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
