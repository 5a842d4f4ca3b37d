"""CPU time a file of the scan costs, comparable across commits (robust to other load).

    python bench/scan_cpu.py --library-dir DIR [--files 500] [--repeat 3] [--model W]

Run as a script (not ``-m``) so that ``core`` comes from ``PYTHONPATH``: the same script
then times an older checkout (``PYTHONPATH=/tmp/wt-old python bench/scan_cpu.py …``).
On the first ``--files`` files of a ``bench.gen_library`` library (whole leaf folders in
generation order, as ``bench.scan`` picks them), in this process, ``--repeat`` times:

1. ``decode``: the decode workers' task (``core.scanner._decode_task``) on every segment
   of every file, one after another;
2. ``scan``: a full first scan (``jobs=0``: decode, log-mel, embedding with ``--model``,
   library writes) into a fresh library, torch on one thread.

Prints the median CPU milliseconds a file of each (this process's CPU time, which other
programs' load disturbs far less than wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _files(root: Path, n: int) -> list[str]:
    from core.audio import AUDIO_EXTENSIONS

    marker = root / ".sampletree-bench-library.json"
    if marker.exists():
        folders = [root / f for f, _c in json.loads(marker.read_text())["folders"]]
    else:
        folders = sorted({Path(d) for d, _s, names in os.walk(root) if names})
    out: list[str] = []
    for folder in folders:
        if len(out) >= n:
            break
        out += sorted(str(folder / f) for f in os.listdir(folder)
                      if Path(f).suffix.lower() in AUDIO_EXTENSIONS and not f.startswith("."))
    return out[:n]


def _decode_all(files: list[str]) -> None:
    from core.audio import WindowParams
    from core.scanner import _decode_task

    params = WindowParams()
    for i, f in enumerate(files):
        res = _decode_task(i, 0, f, params, None, None)
        for s, span in enumerate((res.plan or [])[1:], start=1):
            _decode_task(i, s, f, params, res.info, span)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library-dir", type=Path, required=True)
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--parts", default="decode,scan")
    args = ap.parse_args(argv)
    import core

    try:  # as the scan's decoding processes do (core.memtune; absent in older code)
        from core.memtune import keep_freed_memory
    except ImportError:
        pass
    else:
        keep_freed_memory()
    files = _files(args.library_dir, args.files)
    parts = args.parts.split(",")
    model: Any = None
    if "scan" in parts and args.model:
        import torch

        from models import load_model

        torch.set_num_threads(1)
        model = load_model(args.model, device="cpu")
    from core.library import Library
    from core.scanner import ScanOptions, scan

    work = Path(tempfile.mkdtemp(prefix="sampletree-scan-cpu-"))
    folder = work / "files"
    folder.mkdir()
    for i, f in enumerate(files):  # a folder of links: the scan sees exactly these files
        os.symlink(f, folder / f"{i:05d}{Path(f).suffix}")

    def full_scan() -> None:
        db = work / "lib" / "lib.sqlite"
        shutil.rmtree(db.parent, ignore_errors=True)
        db.parent.mkdir()
        with Library(db) as lib:
            scan(lib, [str(folder)], model, options=ScanOptions(jobs=0))

    run = {"decode": lambda: _decode_all(files), "scan": full_scan}
    _decode_all(files[:50])  # imports, caches
    times: dict[str, list[float]] = {p: [] for p in parts}
    for _ in range(args.repeat):
        for p in parts:
            t0 = time.process_time()
            run[p]()
            times[p].append(time.process_time() - t0)
    n = len(files)
    print(f"core from {Path(core.__file__).parent.parent}; {n} files of {args.library_dir}; "
          f"CPU ms a file, median of {args.repeat} (runs: ms a file)")
    for p in parts:
        runs = ", ".join(f"{1000 * t / n:.2f}" for t in times[p])
        print(f"{p:<7} {1000 * statistics.median(times[p]) / n:7.2f}   ({runs})")
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
