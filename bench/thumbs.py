"""What waveform thumbnails cost a scan and a library, on a library made by bench.gen_library.

    python -m bench.thumbs --library-dir DIR [--files 1000] [--pairs 3] [--jobs 2]
                           [--size-files 10000] [--json PATH]

1. scan time: index-only scans (``model=None``, the decode-bound case where the envelope's
   share is largest) of --files files into fresh libraries, with thumbnails on and off
   (``ScanOptions.peaks``), in interleaved pairs (on/off, then off/on, …) so that the
   load of a shared machine falls on both alike; medians and the median of the per-pair
   ratios;
2. the decoder alone (core.audio.decode_segment, what the scan's workers run, plus the
   merge and encode the scanner adds) with and without the envelope, alternating file by
   file, in CPU time — a figure the machine's load moves much less than two scans;
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


def decode_share(dirs: list[str], n_files: int, repeat: int) -> dict[str, Any]:
    """The decoder's CPU time for each file with the envelope and without, alternating
    file by file, in this process (the function the scan's workers run). CPU time of this
    thread only: the load of a shared machine moves it far less than wall time, and no
    timer call sits inside the code measured (a clock syscall there lets the scheduler in,
    which inflated wall-time shares to 40 % here)."""
    from bench.scan import list_files
    from core import thumbnail
    from core.audio import WindowParams, decode_segment, plan_segments, probe
    from core.errors import AudioError

    params = WindowParams()
    jobs = []
    for path in list_files(dirs)[:n_files]:
        try:
            info = probe(path)
        except AudioError:
            continue
        jobs.append((path, info, plan_segments(info, params)))
    on = off = 0.0
    for r in range(repeat):
        for path, info, plan in jobs:
            for env in ((True, False) if r % 2 == 0 else (False, True)):
                t = time.thread_time()
                segs = [decode_segment(path, info, params, *span, envelope=env)
                        for span in plan]
                if env:
                    thumbnail.encode(thumbnail.merge(s.envelope for s in segs
                                                     if s.envelope is not None))
                if env:
                    on += time.thread_time() - t
                else:
                    off += time.thread_time() - t
        print(f"  pass {r + 1}: {len(jobs)} files", flush=True)
    n = len(jobs) * repeat
    return {"files": len(jobs), "repeat": repeat, "cpu_on_s": on, "cpu_off_s": off,
            "ratio": on / off, "ms_per_file": (on - off) * 1000 / n,
            "decode_ms_per_file": off * 1000 / n}


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
    ap.add_argument("--inline", type=int, default=3, help="passes over the files (part 2)")
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
            print(f"2. the decoder on {n} files, with and without the envelope (CPU time)")
            out["decode"] = s = decode_share(dirs, n, args.inline)
            print(f"   {s['decode_ms_per_file']:.2f} ms a file without, +{s['ms_per_file']:.3f} ms "
                  f"with (x{s['ratio']:.3f})")
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
