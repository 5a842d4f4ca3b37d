"""What guarding the library costs: open, status, backup and the full check.

    python -m bench.library [--files 100000] [--windows 3] [--repeat 5] [--dir DIR]

Builds a library of embedded files (synthetic embeddings, the shipped network's 128
dimensions; kept in DIR between runs) and prints one table of medians:

- open + close of a ``Library`` (the cheap health check on open included);
- ``sampletree status`` and ``sampletree ls --status error`` as a user runs them
  (a fresh process: interpreter start and imports included);
- one automatic backup (SQLite's online backup plus the page-by-page check of the
  copy), as a scan or relabel takes it when the library changed since the last;
- ``sampletree check`` (SQLite's full integrity check and the foreign-key check).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _median_s(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.library", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--windows", type=int, default=3, help="windows a file (3)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-libfile")
    args = ap.parse_args(argv)

    from bench.classify import build_library
    from core import backup
    from core.library import Library

    args.dir.mkdir(parents=True, exist_ok=True)
    db = args.dir / f"lib-{args.files}x{args.windows}.sqlite"
    if not db.exists():
        print(f"building {db} …", file=sys.stderr)
        build_library(db, args.files, args.windows, 128, 24)
    size = sum(p.stat().st_size for p in args.dir.glob(db.name + "*") if p.is_file())

    def cli(*words: str) -> None:
        subprocess.run([sys.executable, "-m", "app.cli", "--library", str(db), *words],
                       check=True, capture_output=True,
                       env={**os.environ, "SAMPLETREE_BACKUPS": "3"})

    rows = [
        ("open + close (health check on open)",
         _median_s(lambda: Library(db).close(), args.repeat)),
        ("sampletree status (new process)", _median_s(lambda: cli("status"), args.repeat)),
        ("sampletree ls --status error (new process)",
         _median_s(lambda: cli("ls", "--status", "error"), args.repeat)),
    ]

    def one_backup() -> None:
        with Library(db) as lib:
            backup.make_backup(lib, "bench", force=True)

    rows.append(("backup before a scan/relabel (copy + check)",
                 _median_s(one_backup, max(1, args.repeat // 2))))
    rows.append(("sampletree check (full)", _median_s(lambda: cli("check"),
                                                      max(1, args.repeat // 2))))
    print(f"library: {args.files:,} files × {args.windows} windows, {size / 2**20:.0f} MiB, "
          f"{os.cpu_count()} CPUs; median of {args.repeat} (backup and check: "
          f"{max(1, args.repeat // 2)})\n")
    print("| step | seconds |\n| --- | --- |")
    for name, secs in rows:
        print(f"| {name} | {secs:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
