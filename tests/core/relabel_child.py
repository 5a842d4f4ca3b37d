"""Applies one relabel batch slowly, to be killed (SIGKILL) by test_relabel's kill test.

usage: python relabel_child.py LIBRARY BATCH_ID plain|exdev NAP_S

``exdev`` makes every move look cross-drive (the copy → verify → rename → delete path)
and naps inside the copy, so that a kill can land in the middle of a step.
"""

from __future__ import annotations

import errno
import os
import sys
import time

import core.relabel as relabel
from core.library import Library


def main() -> None:
    library, batch_id, variant, nap = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(
        sys.argv[4])
    if variant == "exdev":
        real_rename, real_copy = relabel.disksteps._rename, relabel.disksteps._copy

        def rename(src: str, dst: str) -> None:
            if not os.path.basename(src).startswith(".sampletree-"):
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src)
            real_rename(src, dst)

        def copy(src: str, dst: str, **kwargs: object) -> None:
            real_copy(src, dst, **kwargs)  # type: ignore[arg-type]
            time.sleep(5 * nap)  # the temporary copy is there, the original not yet gone

        relabel.disksteps._rename, relabel.disksteps._copy = rename, copy  # type: ignore[assignment]
    with Library(library) as lib:
        relabel.apply_batch(lib, batch_id, progress=lambda _p: time.sleep(nap))
    print("finished", flush=True)


if __name__ == "__main__":
    main()
