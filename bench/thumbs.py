"""What waveform thumbnails cost a scan and a library, on a library made by bench.gen_library.

    python -m bench.thumbs --library-dir DIR [--files 1000] [--pairs 3] [--jobs 2]
                           [--size-files 10000] [--json PATH]

1. scan time: index-only scans (``model=None``, the decode-bound case where the envelope's
   share is largest) of --files files into fresh libraries, with thumbnails on and off
   (``ScanOptions.peaks``), in interleaved pairs (on/off, then off/on, …) so that the
   load of a shared machine falls on both alike; medians and the median of the per-pair
   ratios;
2. the envelope's own share of an inline scan (``jobs=0``: one process, so every call is
   timed): the time spent in core.thumbnail (per-segment envelopes in the decoder, merge
   and encode in the scanner) over the scan's total — a figure the machine's load moves
   much less than two separate scans;
3. library bytes a file: a scan with thumbnails of --size-files files, then the same
   library without its ``peaks`` table, both VACUUMed (page overhead included);
4. an older library's next rescan: the --size-files library with its thumbnails deleted
   (as a library scanned before them) rescanned — every unchanged file decoded for its
   thumbnail, none embedded — against a no-op rescan and the first scan.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def _roots(library_dir: Path, n_files: int) -> tuple[list[str], int]:
    from bench.scan import choose_folders, covering_dirs, leaf_folders

    leaves = leaf_folders(library_dir)
    chosen = choose_folders(leaves, n_files)
    return covering_dirs(library_dir, chosen, leaves), sum(c for _, c in chosen)


class CpuSampler(threading.Thread):
    """CPU seconds of this process and its descendants (the decode workers, which end
    with each scan's pool: their last sample, every 20 ms, is what counts)."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.stop_event = threading.Event()
        self.seen: dict[int, float] = {}

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        for p in [me, *me.children(recursive=True)]:
            try:
                t = p.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            self.seen[p.pid] = t.user + t.system

    def run(self) -> None:
        while not self.stop_event.is_set():
            self._sample()
            self.stop_event.wait(self.interval)

    def total(self) -> float:
        self._sample()
        return sum(self.seen.values())


def _scan(db: Path, dirs: list[str], jobs: int, peaks: bool,
          sample_cpu: bool = True) -> dict[str, Any]:
    """One scan into a fresh library: wall time, and CPU time of the process tree (its
    sampler thread competes for the GIL: off where this process decodes, jobs=0)."""
    from core.library import Library
    from core.scanner import ScanOptions, scan

    sampler = CpuSampler()
    with Library(db) as lib:
        before = sampler.total()
        sampler.seen.clear()
        if sample_cpu:
            sampler.start()
        t = time.perf_counter()
        try:
            rep = scan(lib, dirs, None, options=ScanOptions(jobs=jobs, peaks=peaks))
        finally:
            wall = time.perf_counter() - t
            sampler.stop_event.set()
            if sample_cpu:
                sampler.join()
        # processes that lived through the scan (this one, the forkserver) count their
        # CPU since it started; the workers were born in it
        cpu = sampler.total() - before
        return {"seconds": wall, "cpu_s": cpu, "decoded": rep.decoded,
                "thumbnails_added": rep.thumbnails_added, "unchanged": rep.unchanged}


def scan_pairs(work: Path, dirs: list[str], jobs: int, pairs: int) -> dict[str, Any]:
    on: list[float] = []
    off: list[float] = []
    cpu_on: list[float] = []
    cpu_off: list[float] = []
    for i in range(pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        for peaks in order:
            db = work / f"pair{i}-{'on' if peaks else 'off'}.sqlite"
            r = _scan(db, dirs, jobs, peaks)
            (on if peaks else off).append(r["seconds"])
            (cpu_on if peaks else cpu_off).append(r["cpu_s"])
            print(f"  pair {i + 1}: thumbnails {'on ' if peaks else 'off'} "
                  f"{r['seconds']:.2f} s, CPU {r['cpu_s']:.2f} s ({r['decoded']} files)",
                  flush=True)
            _remove(db)
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    cpu_ratios = [a / b for a, b in zip(cpu_on, cpu_off, strict=True)]
    return {"on_s": on, "off_s": off, "median_on_s": statistics.median(on),
            "median_off_s": statistics.median(off),
            "median_pair_ratio": statistics.median(ratios),
            "cpu_on_s": cpu_on, "cpu_off_s": cpu_off,
            "median_cpu_on_s": statistics.median(cpu_on),
            "median_cpu_off_s": statistics.median(cpu_off),
            "median_cpu_pair_ratio": statistics.median(cpu_ratios)}


def inline_share(work: Path, dirs: list[str], repeat: int) -> dict[str, Any]:
    """Scans with jobs=0, core.thumbnail's functions timed where the scan calls them."""
    from core import thumbnail

    spent = [0.0, 0.0]  # wall, CPU (this thread)
    originals = {n: getattr(thumbnail, n) for n in ("partial", "merge", "encode")}

    def timed(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t
                spent[1] += time.thread_time() - c
        return wrapper

    runs = []
    try:
        for name, fn in originals.items():
            setattr(thumbnail, name, timed(fn))
        for i in range(repeat):
            spent[:] = [0.0, 0.0]
            db = work / f"inline{i}.sqlite"
            cpu = time.process_time()
            r = _scan(db, dirs, 0, True, sample_cpu=False)
            cpu = time.process_time() - cpu
            runs.append({"seconds": r["seconds"], "thumbnail_s": spent[0],
                         "share": spent[0] / r["seconds"], "files": r["decoded"],
                         "cpu_s": cpu, "thumbnail_cpu_s": spent[1], "cpu_share": spent[1] / cpu})
            print(f"  inline scan {i + 1}: {r['seconds']:.2f} s, of which thumbnails "
                  f"{spent[0] * 1000:.0f} ms ({spent[0] / r['seconds']:.2%}); CPU "
                  f"{cpu:.2f} s, thumbnails {spent[1] * 1000:.0f} ms ({spent[1] / cpu:.2%})",
                  flush=True)
            _remove(db)
    finally:
        for name, fn in originals.items():
            setattr(thumbnail, name, fn)
    return {"runs": runs, "median_share": statistics.median(r["share"] for r in runs),
            "median_cpu_share": statistics.median(r["cpu_share"] for r in runs),
            "ms_per_file": statistics.median(r["thumbnail_s"] * 1000 / max(1, r["files"])
                                             for r in runs)}


def _remove(db: Path) -> None:
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        p.unlink(missing_ok=True)
    shutil.rmtree(db.with_name(db.name + ".backups"), ignore_errors=True)


def _vacuumed_size(db: Path, drop_peaks: bool) -> int:
    with sqlite3.connect(db) as conn:
        if drop_peaks:
            conn.execute("DROP TABLE peaks")
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db.stat().st_size


def size_and_backfill(work: Path, dirs: list[str], jobs: int) -> dict[str, Any]:
    from core.library import Library

    db = work / "size.sqlite"
    first = _scan(db, dirs, jobs, True)
    print(f"  first scan with thumbnails: {first['seconds']:.1f} s ({first['decoded']} files)",
          flush=True)
    with sqlite3.connect(db) as conn:
        files = conn.execute("SELECT count(*) FROM peaks").fetchone()[0]
        n_samples = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    as_written = db.stat().st_size
    noop = _scan(db, dirs, jobs, True)
    # an older library: its files have no thumbnails yet
    with Library(db) as lib, lib.transaction() as conn:
        conn.exec_driver_sql("DELETE FROM peaks")
    backfill = _scan(db, dirs, jobs, True)
    print(f"  no-op rescan {noop['seconds']:.1f} s; rescan adding "
          f"{backfill['thumbnails_added']} thumbnails {backfill['seconds']:.1f} s", flush=True)
    copy = work / "size-without.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(db, copy)
    with_peaks = _vacuumed_size(db, False)
    without = _vacuumed_size(copy, True)
    return {"files": n_samples, "with_thumbnail": files, "as_written_bytes": as_written,
            "vacuumed_with_bytes": with_peaks, "vacuumed_without_bytes": without,
            "bytes_per_file": (with_peaks - without) / max(1, files),
            "first_scan_s": first["seconds"], "noop_rescan_s": noop["seconds"],
            "backfill_rescan_s": backfill["seconds"],
            "backfilled": backfill["thumbnails_added"], "backfill_decoded": backfill["decoded"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library-dir", type=Path, required=True)
    ap.add_argument("--files", type=int, default=1000, help="files in the A/B scans")
    ap.add_argument("--pairs", type=int, default=3, help="on/off pairs of scans")
    ap.add_argument("--inline", type=int, default=3, help="inline scans (part 2)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--size-files", type=int, default=10_000,
                    help="files for the bytes and older-library figures (0: skip)")
    ap.add_argument("--parts", default="1234")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sampletree-bench-thumbs-"))
    out: dict[str, Any] = {"jobs": args.jobs}
    try:
        dirs, n = _roots(args.library_dir, args.files)
        if "1" in args.parts:
            print(f"1. index-only scans of {n} files, thumbnails on/off, {args.pairs} pairs")
            out["scan"] = scan_pairs(work, dirs, args.jobs, args.pairs)
            s = out["scan"]
            print(f"   median on {s['median_on_s']:.2f} s, off {s['median_off_s']:.2f} s; "
                  f"median ratio of pairs {s['median_pair_ratio']:.3f} (target ≤ 1.05)")
            print(f"   CPU: median on {s['median_cpu_on_s']:.2f} s, off "
                  f"{s['median_cpu_off_s']:.2f} s; median ratio of pairs "
                  f"{s['median_cpu_pair_ratio']:.3f}")
        if "2" in args.parts:
            print(f"2. inline scans of {n} files: core.thumbnail's share")
            out["inline"] = inline_share(work, dirs, args.inline)
            s = out["inline"]
            print(f"   median share {s['median_share']:.2%} of wall time, "
                  f"{s['median_cpu_share']:.2%} of CPU time; {s['ms_per_file']:.3f} ms a file")
        if args.size_files and ("3" in args.parts or "4" in args.parts):
            sdirs, sn = _roots(args.library_dir, args.size_files)
            print(f"3/4. library of {sn} files: bytes a file, an older library's rescan")
            out["size"] = s = size_and_backfill(work, sdirs, args.jobs)
            print(f"   {s['bytes_per_file']:.1f} bytes a file (VACUUMed libraries "
                  f"{s['vacuumed_with_bytes']:,} vs {s['vacuumed_without_bytes']:,} bytes, "
                  f"{s['with_thumbnail']} thumbnails; target ≤ 200)")
            print(f"   first scan {s['first_scan_s']:.1f} s, no-op rescan "
                  f"{s['noop_rescan_s']:.1f} s, rescan of the older library "
                  f"{s['backfill_rescan_s']:.1f} s ({s['backfilled']} thumbnails added, "
                  f"{s['backfill_decoded']} files embedded or re-indexed)")
        if args.json:
            args.json.write_text(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
