"""What the analysis (core/analysis) adds to a scan, in CPU seconds (robust to other load).

    python -m bench.analysis_cost --library-dir DIR [--files 300] [--repeat 3] [--model W]

On the first ``--files`` files of a ``bench.gen_library`` library, alternately with and
without the analysis, in this process (``jobs=0``: every cost is this process's CPU time,
which other programs' load disturbs far less than wall time):

1. decode stage alone: ``core.scanner._decode_task`` on segment 0 of each file;
2. a full first scan (decode + log-mel + embedding with ``--model``) into a fresh library;
3. an older library's catch-up: the analysis-only pass over files already embedded.

"Without" replaces the worker's ``_decode_and_analyse`` by the plain ``decode_segment``
the scanner called before the analysis existed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import core.scanner as scanner
from core.audio import AUDIO_EXTENSIONS, WindowParams, decode_segment


def _files(root: Path, n: int) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames.sort()
        for name in sorted(names):
            if Path(name).suffix.lower() in AUDIO_EXTENSIONS and not name.startswith("."):
                out.append(os.path.join(dirpath, name))
                if len(out) >= n:
                    return out
    return out


def _plain(path: str, info: Any, params: WindowParams, span: tuple[int, int]) -> tuple[Any, None]:
    return decode_segment(path, info, params, *span), None


class _Analysis:
    """Switch the worker's analysis off and on."""

    def __init__(self) -> None:
        self.real = scanner._decode_and_analyse

    def __call__(self, on: bool) -> None:
        scanner._decode_and_analyse = self.real if on else _plain  # type: ignore[assignment]


def _cpu(fn: Any) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library-dir", type=Path, required=True)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args(argv)
    files = _files(args.library_dir, args.files)
    switch = _Analysis()
    params = WindowParams()

    def decode_all() -> None:
        for i, f in enumerate(files):
            scanner._decode_task(i, 0, f, params, None, None)

    from core.library import Library
    from core.scanner import ScanOptions, scan

    model = None
    if args.model:
        from models import load_model

        model = load_model(args.model, device="cpu")
    work = Path(tempfile.mkdtemp(prefix="sampletree-analysis-cost-"))
    folder = work / "files"
    folder.mkdir()
    for i, f in enumerate(files):  # a folder of links: the scan sees exactly these files
        os.symlink(f, folder / f"{i:05d}{Path(f).suffix}")

    def full_scan(tag: str) -> None:
        db = work / f"{tag}.sqlite"
        for p in work.glob(f"{tag}.sqlite*"):
            if p.is_file():
                p.unlink()
        with Library(db) as lib:
            scan(lib, [str(folder)], model, options=ScanOptions(jobs=0))

    results: dict[str, dict[str, list[float]]] = {"decode": {}, "scan": {}}
    decode_all()  # warm caches, imports
    for r in range(args.repeat):
        for on in (False, True) if r % 2 == 0 else (True, False):
            switch(on)
            results["decode"].setdefault(str(on), []).append(_cpu(decode_all))
            results["scan"].setdefault(str(on), []).append(
                _cpu(lambda on=on, r=r: full_scan(f"s{int(on)}{r}")))
    switch(True)
    # catch-up of an older library: analysis rows dropped, the next scan redoes them only
    db = work / "s10.sqlite"
    catchup = []
    for _ in range(args.repeat):
        import sqlite3

        con = sqlite3.connect(str(db))
        con.execute("DELETE FROM analysis")
        con.commit()
        con.close()
        with Library(db) as lib:
            t = _cpu(lambda lib=lib: scan(lib, [str(folder)], model, options=ScanOptions(jobs=0)))
        catchup.append(t)
    med = statistics.median
    n = len(files)
    print(f"{n} files of {args.library_dir}, CPU seconds of this process, median of "
          f"{args.repeat}")
    for part in ("decode", "scan"):
        off, on = med(results[part]["False"]), med(results[part]["True"])
        print(f"{part:<7} without analysis {off:7.2f} s   with {on:7.2f} s   "
              f"+{100 * (on / off - 1):.1f} %   ({1000 * (on - off) / n:.1f} ms a file)")
    print(f"catch-up of an older library (analysis only): {med(catchup):.2f} s "
          f"({1000 * med(catchup) / n:.1f} ms a file)")
    for p in sorted(work.rglob("*"), reverse=True):
        p.unlink() if p.is_file() or p.is_symlink() else p.rmdir()
    work.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
