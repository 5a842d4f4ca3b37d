"""What the kernel says about a library file held by this process (Linux /proc), for the
tests of lost SQLite locks (issue #10): its POSIX locks, and descriptors of deleted files."""

from __future__ import annotations

import os
from pathlib import Path


def posix_locks(path: Path) -> list[str]:
    """This process's POSIX (not open-file-description) locks on ``path``."""
    ino = os.stat(path).st_ino
    pid = str(os.getpid())
    with open("/proc/locks") as f:
        return [line.strip() for line in f
                if "POSIX" in line.split() and pid in line.split()
                and any(x.endswith(f":{ino}") for x in line.split())]


def deleted_fds(path: Path) -> list[str]:
    """This process's descriptors of files named ``path``… that were deleted."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)) and target.endswith("(deleted)"):
            out.append(target)
    return out
