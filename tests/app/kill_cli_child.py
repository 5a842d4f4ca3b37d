"""Runs one ``sampletree`` command that SIGKILLs itself at a chosen point of a relabel
batch (the journal that ``duplicates --apply`` and ``undo`` go through), for
test_kill_quarantine.py. Deterministic: the process kills itself, no timing involved.

usage: python kill_cli_child.py POINT N [CLI ARGS...]

POINT (killed at the Nth time it is reached):
  started   an op is marked ``started`` in the journal (committed), the disk not touched
  linked    the file is linked at its new place, the original not unlinked yet
  moved     the move is done on disk, the journal still says ``started``
  done      an op is marked ``done`` (between two files)
  undone    an undo step is marked ``undone`` (between two files of an undo)
  pre-done  just before an op is marked ``done`` (in a recovery: the disk settled, the
            journal not yet)
  copied    across drives (every move made to look so): the hidden copy is written and
            flushed, not verified, renamed or deleted yet
  backup    the backup before the batch is written, not yet checked or renamed
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from typing import Any


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    point, n, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    import core.backup as backup
    from core.relabel import disksteps, journal

    seen = [0]

    def reached() -> bool:
        seen[0] += 1
        return seen[0] >= n

    if point in ("started", "done", "undone"):
        real_set_op = journal._Run.set_op

        def set_op(self: Any, op: dict[str, Any], **kw: Any) -> None:
            real_set_op(self, op, **kw)
            if kw.get("state") == point and reached():
                _die()

        journal._Run.set_op = set_op  # type: ignore[method-assign]
    elif point == "pre-done":
        real_set_op = journal._Run.set_op

        def set_op_pre(self: Any, op: dict[str, Any], **kw: Any) -> None:
            if kw.get("state") == "done" and reached():
                _die()
            real_set_op(self, op, **kw)

        journal._Run.set_op = set_op_pre  # type: ignore[method-assign]
    elif point == "linked":
        real_drop = disksteps._drop_source

        def drop(src: str, dst: str) -> None:
            if reached():
                _die()
            real_drop(src, dst)

        disksteps._drop_source = drop
    elif point == "moved":
        real_move = disksteps._move

        def move(*args: Any, **kw: Any) -> None:
            real_move(*args, **kw)
            if reached():
                _die()

        disksteps._move = move
    elif point == "copied":
        real_rename, real_copy = disksteps._rename, disksteps._copy

        def rename(src: str, dst: str) -> None:
            if not os.path.basename(src).startswith(".sampletree-"):
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src)
            real_rename(src, dst)

        def copy(src: str, dst: str, **kw: Any) -> None:
            real_copy(src, dst, **kw)
            if reached():
                _die()

        disksteps._rename, disksteps._copy = rename, copy
    elif point == "backup":
        real_check = backup.integrity_problems

        def check(conn: Any, **kw: Any) -> list[str]:
            if reached():
                _die()
            return real_check(conn, **kw)

        backup.integrity_problems = check
    else:
        raise SystemExit(f"unknown kill point {point}")
    from app.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
