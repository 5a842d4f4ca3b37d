"""Scan benchmarks on a library made by ``python -m bench.gen_library``.

    python -m bench.scan --library-dir DIR [--files N] [--device cpu|cuda] [--jobs N]
                         [--repeat 3] [--scan-files N] [--json PATH]

Parts (see bench/README.md for what each figure means and the targets):

a  decode + log-mel alone: the scanner's worker function (core.scanner._decode_task) in the
   scanner's own process pool (core.scanner._make_pool, --jobs workers, the same in-flight
   limit), log-mel (models.features.LogMel) on 256-window batches in this process;
b  embedding alone: the model on random log-mel batches on --device (default network: the
   paper's exact CNN, untrained — no trained weights are bundled yet);
c  full first scan (core.scanner.scan with --model, else that untrained network) of
   --scan-files files into a fresh library, in a child process;
d  rescan of the unchanged library (all --files) after an index-only scan (model=None);
e  library bytes per window, before and after PRAGMA wal_checkpoint(TRUNCATE);
f  peak memory of an index-only scan (child process: its own peak RSS, and the whole process
   tree — scan process, forkserver, decode workers — sampled with psutil every 0.1 s) at
   1/4 of --files and at --files.

Every scan runs in a fresh library in a scratch folder (--work-dir, removed unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHILD_FLAG = "--_child"

TARGETS = {
    "decode_wps": 500.0,         # windows/s, decode + log-mel, 2 cores (this brief)
    "embed_cpu_shipped": 300.0,  # windows/s, shipped model, CPU 2 cores (DESIGN.md)
    "embed_cpu_paper": 26.0,     # windows/s, paper's exact net measured here (DESIGN.md)
    "embed_cuda": 40_000.0,      # windows/s on an H100 (DESIGN.md)
    "rescan_s_per_10k": 1.0,     # ≤ 10 s per 100k files (DESIGN.md)
    "bytes_per_window": 2500.0,  # ≤ 2.5 KB (DESIGN.md)
    "library_rss_gb": 1.5,       # 100k-file library open (DESIGN.md; not a scan target)
}


# -- machine -----------------------------------------------------------------------------------

def machine_info(device: str) -> dict[str, Any]:
    import numpy as np
    import soundfile as sf
    import soxr
    import torch

    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    mem_gb = None
    try:
        import psutil
        mem_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    info = {
        "cpu_model": cpu_model, "cpu_count": os.cpu_count(), "cpus_usable": affinity,
        "memory_gib": mem_gb, "python": platform.python_version(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "numpy": np.__version__,
        "soundfile": sf.__version__, "libsndfile": sf.__libsndfile_version__,
        "soxr": soxr.__version__, "sqlite": sqlite3.sqlite_version, "device": device,
        "platform": platform.platform(),
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# -- the library on disk -------------------------------------------------------------------------

#: scans make waveform thumbnails (``--no-thumbnails``: not, to measure what they cost)
THUMBNAILS = True


def leaf_folders(library_dir: Path) -> list[tuple[str, int]]:
    """(relative folder, audio files) of every folder that directly holds audio files."""
    from bench.gen_library import read_manifest

    manifest = read_manifest(library_dir)
    if manifest is not None:
        return [(f, int(c)) for f, c in manifest["folders"]]
    from core.audio import AUDIO_EXTENSIONS
    from core.walk import is_skipped

    counts: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(library_dir):
        dirnames[:] = sorted(d for d in dirnames if not is_skipped(d))
        n = sum(1 for f in filenames if not is_skipped(f)
                and os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS)
        if n:
            counts[os.path.relpath(dirpath, library_dir)] = n
    return list(counts.items())


def choose_folders(leaves: list[tuple[str, int]], n_files: int) -> list[tuple[str, int]]:
    """The first leaf folders holding at least ``n_files`` files (whole folders)."""
    out, total = [], 0
    for folder, count in leaves:
        if total >= n_files:
            break
        out.append((folder, count))
        total += count
    return out


def covering_dirs(library_dir: Path, chosen: list[tuple[str, int]],
                  leaves: list[tuple[str, int]]) -> list[str]:
    """The fewest folders whose trees hold exactly the chosen leaf folders (the scan roots)."""
    chosen_set = {f for f, _ in chosen}
    all_set = {f for f, _ in leaves}
    if chosen_set == all_set:
        return [str(library_dir)]

    def full(prefix: str) -> bool:
        under = [f for f in all_set if f == prefix or f.startswith(prefix + "/")]
        return bool(under) and all(f in chosen_set for f in under)

    roots: list[str] = []
    for folder, _ in chosen:
        top = folder
        parts = folder.split("/")
        for i in range(len(parts) - 1, 0, -1):
            parent = "/".join(parts[:i])
            if full(parent):
                top = parent
            else:
                break
        if top not in roots:
            roots.append(top)
    # a root inside another root would be scanned twice
    roots = [r for r in roots if not any(r.startswith(o + "/") for o in roots if o != r)]
    return [str(library_dir / r) for r in roots]


def list_files(dirs: list[str]) -> list[str]:
    from core.walk import walk

    problems: list[tuple[str, str]] = []
    paths = [e.path for e in walk(dirs, lambda p, w: problems.append((p, w)))]
    if problems:
        raise SystemExit(f"cannot walk the library: {problems[:3]}")
    return paths


def db_sizes(db: Path) -> dict[str, int]:
    wal = db.with_name(db.name + "-wal")
    return {"db": db.stat().st_size if db.exists() else 0,
            "wal": wal.stat().st_size if wal.exists() else 0}


# -- a: decode + log-mel ------------------------------------------------------------------------

def _decode_pass(paths: list[str], jobs: int, logmel: Any | None) -> dict[str, Any]:
    """One pass over ``paths`` as the scanner decodes them; log-mel on full batches if given."""
    import numpy as np
    import torch

    from core.audio import WindowParams
    from core.scanner import INFLIGHT_PER_JOB, ScanOptions, _decode_task, _make_pool

    params = WindowParams()
    batch = ScanOptions().batch_windows
    max_inflight = max(2, INFLIGHT_PER_JOB * max(1, jobs))  # as Scanner._decode_all
    t0 = time.perf_counter()
    pool = _make_pool(jobs)
    pending: deque[tuple[int, int, str, Any, Any]] = deque(
        (i, 0, p, None, None) for i, p in enumerate(paths))
    followups: deque[tuple[int, int, str, Any, Any]] = deque()
    inflight: dict[Future[Any], int] = {}
    buf: list[np.ndarray] = []
    st = {"files": 0, "errors": 0, "windows": 0, "segments": 0, "logmel_s": 0.0,
          "logmel_windows": 0}

    def run_mel() -> None:
        audio = np.concatenate(buf)
        buf.clear()
        t = time.perf_counter()
        with torch.inference_mode():
            mel = logmel(torch.from_numpy(audio))
        st["logmel_s"] += time.perf_counter() - t
        st["logmel_windows"] += mel.shape[0]

    n_buf = 0
    try:
        while pending or followups or inflight:
            while len(inflight) < max_inflight and (pending or followups):
                task = followups.popleft() if followups else pending.popleft()
                inflight[pool.submit(_decode_task, *task[:3], params, *task[3:],
                                     THUMBNAILS)] = task[0]
            done, _ = wait(list(inflight), timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                inflight.pop(fut)
                res = fut.result()
                if res.error is not None or res.vanished:
                    st["errors"] += 1
                    continue
                st["segments"] += 1
                if res.seg == 0:
                    st["files"] += 1
                    followups.extend((res.key, k, paths[res.key], res.info, res.plan[k])
                                     for k in range(1, len(res.plan)))
                st["windows"] += len(res.segment.audio)
                if logmel is not None:
                    buf.append(res.segment.audio)
                    n_buf += len(res.segment.audio)
                    if n_buf >= batch:
                        run_mel()
                        n_buf = 0
        if buf:
            run_mel()
    finally:
        pool.shutdown(wait=True)
    wall = time.perf_counter() - t0
    return {**st, "seconds": wall, "windows_per_s": st["windows"] / wall,
            "files_per_s": (st["files"] + st["errors"]) / wall}


def bench_decode(paths: list[str], jobs: int, repeat: int) -> dict[str, Any]:
    import torch

    from core.audio import WindowParams
    from core.scanner import ScanOptions
    from models.features import FeatureParams, LogMel

    logmel = LogMel(FeatureParams())
    batch = ScanOptions().batch_windows
    runs = [_decode_pass(paths, jobs, logmel) for _ in range(repeat)]
    decode_only = _decode_pass(paths, jobs, None)  # one pass, for the breakdown
    # log-mel alone (no decoders competing for the cores), for the breakdown
    x = torch.randn(batch, WindowParams().win) * 0.1
    with torch.inference_mode():
        logmel(x)
        t = time.perf_counter()
        n = 0
        while time.perf_counter() - t < 2.0:
            logmel(x)
            n += batch
        mel_alone = n / (time.perf_counter() - t)
    return {
        "runs": runs, "decode_only": decode_only, "files": len(paths), "jobs": jobs,
        "batch_windows": batch,
        "windows_per_s": statistics.median(r["windows_per_s"] for r in runs),
        "files_per_s": statistics.median(r["files_per_s"] for r in runs),
        "seconds": statistics.median(r["seconds"] for r in runs),
        "windows": runs[0]["windows"], "errors": runs[0]["errors"],
        "logmel_ms_per_window_in_pipeline": 1000 * statistics.median(
            r["logmel_s"] / max(1, r["logmel_windows"]) for r in runs),
        "logmel_alone_windows_per_s": mel_alone,
        "torch_threads": torch.get_num_threads(),
    }


# -- b: embedding -------------------------------------------------------------------------------

def bench_embed(device: str, repeat: int, batch: int, min_s: float,
                weights: Path | None) -> dict[str, Any]:
    import torch

    from models import build_untrained, load_model

    out: dict[str, Any] = {}
    candidates = [("paper", None)] + ([("weights", weights)] if weights else [])
    for key, path in candidates:
        model = (build_untrained(device=device) if path is None
                 else load_model(path, device=device))
        fp = model.info.features
        x = torch.randn(batch, fp.n_mels, fp.n_frames, device=model.device)
        x = x * 2.0 - 4.0  # roughly the range of log-mel values
        sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
        model.embed(x)  # warm-up (allocations, cuDNN autotuning)
        sync()
        rates = []
        for _ in range(repeat):
            n = 0
            t = time.perf_counter()
            while True:
                model.embed(x)
                n += batch
                sync()
                if time.perf_counter() - t >= min_s:
                    break
            rates.append(n / (time.perf_counter() - t))
        out[key] = {
            "model_id": model.info.model_id, "trained": model.info.trained,
            "network": model.info.network.to_dict(),
            "parameters": sum(p.numel() for p in model.net.parameters()),
            "batch": batch, "rates": rates, "windows_per_s": statistics.median(rates),
        }
        del model
    return out


# -- scans in a child process, with memory sampling -------------------------------------------

class TreeSampler(threading.Thread):
    """Peak RSS (and PSS) of a process and all its descendants, sampled every ``interval``."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stop_event = threading.Event()
        self.peak_tree_rss = self.peak_tree_pss = self.peak_main_rss = 0
        self.peak_worker_rss = 0
        self.max_procs = 0
        self.samples = 0

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.stop_event.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            rss = pss = 0
            for p in procs:
                try:
                    mem = p.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                rss += mem.rss
                pss += getattr(mem, "pss", mem.rss)
                if p.pid == self.pid:
                    self.peak_main_rss = max(self.peak_main_rss, mem.rss)
                else:
                    self.peak_worker_rss = max(self.peak_worker_rss, mem.rss)
            self.peak_tree_rss = max(self.peak_tree_rss, rss)
            self.peak_tree_pss = max(self.peak_tree_pss, pss)
            self.max_procs = max(self.max_procs, len(procs))
            self.samples += 1
            self.stop_event.wait(self.interval)


# A tiny launcher process, started before this one grows: a process exec'd by a large
# parent inherits the parent's peak RSS in its ru_maxrss (Linux keeps the larger of the
# two across exec, and vfork/fork hands over the parent's), so scans are started from here.
_LAUNCHER_CODE = r"""
import json, os, subprocess, sys
for line in sys.stdin:
    req = json.loads(line)
    p = subprocess.Popen(req["argv"], cwd=req["cwd"], env=req["env"])
    print(json.dumps({"pid": p.pid}), flush=True)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    print(json.dumps({"exit": p.returncode, "maxrss_kb": ru.ru_maxrss, "utime": ru.ru_utime,
                      "stime": ru.ru_stime}), flush=True)
"""


class Launcher:
    """Starts child processes from a small helper and reports their wait4() rusage."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER_CODE], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def start(self, argv: list[str], cwd: Path, env: dict[str, str]) -> int:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd), "env": env}) + "\n")
        self.proc.stdin.flush()
        return int(json.loads(self.proc.stdout.readline())["pid"])

    def wait(self) -> dict[str, Any]:
        assert self.proc.stdout
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the launcher process died")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


class CpuMonitor(threading.Thread):
    """CPU used by other processes on the machine while a part runs (they skew timings).

    Every 0.5 s: busy time of the whole machine (/proc/stat) minus the CPU time of this
    process and its descendants (psutil). Reported as cores busy with other work.
    """

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.hz = os.sysconf("SC_CLK_TCK")
        self.ours: dict[int, float] = {}
        self.foreign = 0.0  # core-seconds
        self.ok = Path("/proc/stat").exists()

    def _busy(self) -> float:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / self.hz  # incl. steal

    def _ours(self) -> float:
        import psutil

        me = psutil.Process()
        for p in [me, *me.children(recursive=True)]:
            try:
                t = p.cpu_times()
                self.ours[p.pid] = t.user + t.system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return sum(self.ours.values())

    def run(self) -> None:
        if not self.ok:
            return
        busy0, ours0 = self._busy(), self._ours()
        while not self.stop_event.wait(self.interval):
            busy, ours = self._busy(), self._ours()
            with self.lock:
                self.foreign += max(0.0, (busy - busy0) - (ours - ours0))
            busy0, ours0 = busy, ours

    def mark(self) -> tuple[float, float]:
        with self.lock:
            return time.perf_counter(), self.foreign

    def load_since(self, mark: tuple[float, float]) -> float | None:
        if not self.ok:
            return None
        t, f = self.mark()
        return (f - mark[1]) / max(1e-9, t - mark[0])


def run_scan_child(launcher: Launcher, library: Path, dirs: list[str], jobs: int,
                   model_device: str | None, work: Path,
                   model_path: str | None = None) -> dict[str, Any]:
    """Scan ``dirs`` into a fresh ``library`` in a child process; its report and memory.

    With ``model_device`` set the scan embeds with ``model_path`` (None: the paper's exact
    network, untrained, as before the shipped weights existed)."""
    result_path = work / f"{library.stem}.result.json"
    spec = {"library": str(library), "dirs": dirs, "jobs": jobs, "model_device": model_device,
            "model_path": model_path, "result": str(result_path), "peaks": THUMBNAILS}
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    pid = launcher.start([sys.executable, "-m", "bench.scan", CHILD_FLAG, json.dumps(spec)],
                         REPO, env)
    sampler = TreeSampler(pid)
    sampler.start()
    ru = launcher.wait()
    wall = time.perf_counter() - t0
    sampler.stop_event.set()
    sampler.join()
    if ru["exit"] != 0:
        raise SystemExit(f"the scan child failed (exit {ru['exit']}); spec: {spec}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result["memory"] = {
        "wait4_maxrss_bytes": ru["maxrss_kb"] * 1024,
        "vmhwm_bytes": result["vmhwm_bytes"],
        "tree_peak_rss_bytes": sampler.peak_tree_rss,
        "tree_peak_pss_bytes": sampler.peak_tree_pss,
        "main_peak_rss_sampled_bytes": sampler.peak_main_rss,
        "worker_peak_rss_bytes": sampler.peak_worker_rss,
        "max_processes": sampler.max_procs, "samples": sampler.samples,
    }
    result["child_wall_s"] = wall
    result["child_cpu_s"] = ru["utime"] + ru["stime"]
    return result


def _vmhwm() -> int:
    """Peak RSS of this process image (since exec), from /proc/self/status."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _child_main(spec_json: str) -> int:
    """Runs in the child: one scan, then the library's size before/after a checkpoint."""
    import resource

    spec = json.loads(spec_json)
    t0 = time.perf_counter()
    from core.library import Library
    from core.scanner import ScanOptions, scan

    model = None
    if spec["model_device"]:
        from models import build_untrained, load_model

        model = (load_model(spec["model_path"], spec["model_device"]) if spec.get("model_path")
                 else build_untrained(device=spec["model_device"]))  # the paper's exact network
    t_import = time.perf_counter() - t0
    db = Path(spec["library"])
    lib = Library(db)
    rep = scan(lib, spec["dirs"], model,
               options=ScanOptions(jobs=spec["jobs"], peaks=spec.get("peaks", True)))
    before = db_sizes(db)
    with sqlite3.connect(db, isolation_level=None) as raw:
        n_windows = raw.execute("SELECT count(*) FROM windows").fetchone()[0]
        n_embedded = raw.execute(
            "SELECT count(*) FROM windows WHERE embedding IS NOT NULL").fetchone()[0]
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
        checkpoint = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    raw.close()
    after = db_sizes(db)
    lib.close()
    report = rep.as_dict()
    report["problems"] = report["problems"][:10]
    result = {
        "report": report, "import_s": t_import, "windows_in_db": n_windows,
        "embedded_in_db": n_embedded, "page_size": page_size, "checkpoint": list(checkpoint),
        "sizes_before_checkpoint": before, "sizes_after_checkpoint": after,
        "vmhwm_bytes": _vmhwm(),
        "self_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "children_maxrss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    }
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


# -- d: rescan ------------------------------------------------------------------------------------

def bench_rescan(library: Path, dirs: list[str], jobs: int, repeat: int) -> dict[str, Any]:
    from core.library import Library
    from core.scanner import ScanOptions, scan
    from core.walk import walk

    runs = []
    with Library(library) as lib:
        for _ in range(repeat):
            t = time.perf_counter()
            n_walked = sum(1 for _ in walk(dirs, lambda p, w: None))
            t_walk = time.perf_counter() - t
            t = time.perf_counter()
            known = lib.known_samples()
            t_known = time.perf_counter() - t
            t = time.perf_counter()
            rep = scan(lib, dirs, None, options=ScanOptions(jobs=jobs, peaks=THUMBNAILS))
            t_scan = time.perf_counter() - t
            runs.append({"seconds": t_scan, "report_seconds": rep.seconds, "walk_s": t_walk,
                         "known_samples_s": t_known, "found": rep.found,
                         "unchanged": rep.unchanged, "new": rep.new, "changed": rep.changed,
                         "known": len(known), "walked": n_walked})
    med = statistics.median(r["seconds"] for r in runs)
    files = runs[0]["found"]
    return {"runs": runs, "files": files, "seconds": med,
            "s_per_10k_files": med * 10_000 / max(1, files),
            "walk_s": statistics.median(r["walk_s"] for r in runs),
            "known_samples_s": statistics.median(r["known_samples_s"] for r in runs),
            "all_unchanged": all(r["unchanged"] == r["found"] for r in runs)}


# -- the table ------------------------------------------------------------------------------------

def _fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _mb(b: float) -> str:
    if b < 10 * 2**20:
        return f"{b / 2**10:,.0f} KiB"
    return f"{b / 2**20:,.0f} MiB"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "NO")


Row = tuple[str, str, str, str, str]


def build_rows(res: dict[str, Any]) -> list[Row]:
    from core.scanner import ScanOptions

    rows: list[Row] = []
    m, a = res["machine"], res["args"]

    def head(part: str, title: str) -> str:
        w, load = res["wall_s"].get(part), res["other_load"].get(part)
        extra = [f"{w:.0f} s"] if w is not None else []
        if load is not None:
            extra.append(f"other load {load:.1f} cores")
        return f"{part} {title}" + (f" [{', '.join(extra)}]" if extra else "")

    dev = m["device"] + (f" ({m['gpu']})" if "gpu" in m else "")
    rows.append(("machine", "CPU", f"{m['cpu_model']}, {m['cpus_usable']} cores usable "
                 f"({m['cpu_count']} online), {m['memory_gib']} GiB RAM", "", ""))
    rows.append(("", "software", f"Python {m['python']}, torch {m['torch']} "
                 f"({m['torch_threads']} threads), libsndfile {m['libsndfile']}, soxr "
                 f"{m['soxr']}, SQLite {m['sqlite']}", "", ""))
    rows.append(("", "device / decode jobs / repeats",
                 f"{dev} / {a['jobs']} / median of {a['repeat']}", "", ""))
    rows.append(("", "library", f"{a['library_dir']}: {a['files']:,} files used", "", ""))
    if "a" in res:
        r = res["a"]
        d = r["decode_only"]
        rows.append((head("a", "decode + log-mel"), "windows/s (wall)", _fmt(r["windows_per_s"]),
                     f">= {TARGETS['decode_wps']:.0f} (2 cores)",
                     _verdict(r["windows_per_s"] >= TARGETS["decode_wps"])))
        rows.append(("", "files/s", _fmt(r["files_per_s"]), "", ""))
        rows.append(("", "files / windows kept / errors",
                     f"{r['files']:,} / {r['windows']:,} / {r['errors']}", "", ""))
        rows.append(("", "seconds per pass", _fmt(r["seconds"], 1), "", ""))
        rows.append(("", "breakdown: decode alone (no log-mel, 1 pass)",
                     f"{_fmt(d['windows_per_s'])} windows/s, {_fmt(d['files_per_s'])} files/s",
                     "", ""))
        rows.append(("", "breakdown: log-mel in the pipeline",
                     f"{r['logmel_ms_per_window_in_pipeline']:.2f} ms/window (this process, "
                     "beside the decoders)", "", ""))
        rows.append(("", "breakdown: log-mel alone",
                     f"{_fmt(r['logmel_alone_windows_per_s'])} windows/s "
                     f"({1000 / r['logmel_alone_windows_per_s']:.2f} ms/window, "
                     f"{r['torch_threads']} torch threads)", "", ""))
    if "b" in res:
        r = res["b"]
        p = r["paper"]
        cuda = m["device"].startswith("cuda")
        tgt = f">= {TARGETS['embed_cuda']:,.0f} (shipped model)" if cuda else (
            f"DESIGN: ~{TARGETS['embed_cpu_paper']:.0f} for this net; shipped model "
            f">= {TARGETS['embed_cpu_shipped']:.0f}")
        rows.append((head("b", "embedding"), "windows/s, the paper's exact net, untrained "
                     f"(build_untrained() default: {p['parameters'] / 1e6:.2f} M params, fp32, "
                     f"batch {p['batch']})",
                     _fmt(p["windows_per_s"], 1), tgt,
                     _verdict(p["windows_per_s"] >= TARGETS["embed_cuda"]) if cuda else ""))
        if "weights" in r:
            w = r["weights"]
            thr = TARGETS["embed_cuda"] if cuda else TARGETS["embed_cpu_shipped"]
            rows.append(("", f"windows/s, {w['model_id']}", _fmt(w["windows_per_s"], 1),
                         f">= {thr:,.0f}", _verdict(w["windows_per_s"] >= thr)))
            rows.append(("", "speed-up over the paper's net",
                         f"{w['windows_per_s'] / p['windows_per_s']:.1f}x", "~10x", ""))
    if "c" in res:
        r = res["c"]
        rep = r["report"]
        secs = rep["seconds"]
        rows.append((head("c", "full first scan"), "files/s",
                     _fmt((rep["decoded"] + rep["failed"]) / secs, 1), "", ""))
        rows.append(("", "windows/s (embedded)", _fmt(rep["embedded_windows"] / secs, 1),
                     "decode-bound on CUDA", ""))
        rows.append(("", "what was scanned", f"{rep['found']:,} files in {len(r['dirs'])} "
                     f"folder(s) ({'all' if r['all'] else 'a subset, --scan-files'}), "
                     f"{rep['windows']:,} windows, {secs:.1f} s, {rep['failed']} failed", "",
                     ""))
        rows.append(("", "model", (f"--model {r['model']}" if r.get("model") else
                                   "build_untrained() default = the paper's exact net")
                     + f", on {m['device']}, batch {ScanOptions().batch_windows}", "", ""))
        if len(r["runs_seconds"]) > 1:
            rows.append(("", "runs (s)", ", ".join(f"{x:.1f}" for x in r["runs_seconds"]),
                         "", ""))
        if r.get("model_bound_s") is not None:
            share = 100 * r["model_bound_s"] / secs
            note = " (> 100 %: b ran under more load than c)" if share > 100 else ""
            rows.append(("", "network's share of the scan (est.)",
                         f"{share:.0f} % (windows / rate in b){note}", "", ""))
    if "d" in res:
        r = res["d"]
        rows.append((head("d", "rescan, unchanged"), "seconds (scan() call)",
                     f"{r['seconds']:.3f} for {r['files']:,} files", "", ""))
        rows.append(("", "seconds per 10k files", f"{r['s_per_10k_files']:.3f}",
                     f"<= {TARGETS['rescan_s_per_10k']:.0f} (10 s / 100k)",
                     _verdict(r["s_per_10k_files"] <= TARGETS["rescan_s_per_10k"])))
        rows.append(("", "breakdown: walk / known_samples() (timed apart)",
                     f"{r['walk_s']:.3f} s / {r['known_samples_s']:.3f} s", "", ""))
        rows.append(("", "before it: index-only first scan (model=None)",
                     f"{r['index_scan_s']:.1f} s, {r['index_files_per_s']:.0f} files/s, "
                     f"{r['index_windows_per_s']:.0f} windows/s", "", ""))
        if not r["all_unchanged"]:
            rows.append(("", "WARNING", "the rescan did not find every file unchanged", "",
                         "NO"))
    if "e" in res:
        first = True
        for label, key in (("with embeddings (c)", "embedded"), ("index only (d)", "index")):
            r = res["e"].get(key)
            if r is None:
                continue
            rows.append((head("e", "library size") if first else "",
                         f"bytes/window, {label}, db + wal as the scan left them",
                         f"{r['bpw_before']:,.0f} ({_mb(r['before']['db'])} + "
                         f"{_mb(r['before']['wal'])} wal, {r['windows']:,} windows)", "", ""))
            rows.append(("", f"bytes/window, {label}, after wal_checkpoint(TRUNCATE)",
                         f"{r['bpw_after']:,.0f} ({_mb(r['after']['db'])}, page size "
                         f"{r['page_size']})", f"<= {TARGETS['bytes_per_window']:,.0f}",
                         _verdict(r["bpw_after"] <= TARGETS["bytes_per_window"])))
            first = False
    if "f" in res:
        f = res["f"]
        for i, r in enumerate(f["runs"]):
            mem = r["memory"]
            rows.append((head("f", "peak memory") if i == 0 else "",
                         f"index-only scan of {r['files']:,} files: scan process",
                         f"{_mb(mem['wait4_maxrss_bytes'])} ru_maxrss (wait4), "
                         f"{_mb(mem['vmhwm_bytes'])} VmHWM", "", ""))
            rows.append(("", f"  whole tree ({mem['max_processes']} processes, sampled)",
                         f"{_mb(mem['tree_peak_rss_bytes'])} RSS sum, "
                         f"{_mb(mem['tree_peak_pss_bytes'])} PSS sum; one worker <= "
                         f"{_mb(mem['worker_peak_rss_bytes'])}", "", ""))
        if len(f["runs"]) == 2:
            r0, r1 = (x["memory"] for x in f["runs"])
            ratio = r1["tree_peak_pss_bytes"] / max(1, r0["tree_peak_pss_bytes"])
            ratio_main = r1["vmhwm_bytes"] / max(1, r0["vmhwm_bytes"])
            rows.append(("", "full / quarter: tree PSS, scan process",
                         f"{ratio:.2f}x, {ratio_main:.2f}x (for "
                         f"{f['runs'][1]['files'] / f['runs'][0]['files']:.1f}x the files)",
                         "flat (~1x)", _verdict(ratio < 1.25)))
        if "c" in res:
            mem = res["c"]["memory"]
            rows.append(("", f"full scan with the network (c), {res['c']['report']['found']:,} "
                         "files", f"{_mb(mem['vmhwm_bytes'])} scan process, "
                         f"{_mb(mem['tree_peak_pss_bytes'])} tree PSS", "", ""))
    return rows


def render(rows: list[Row]) -> str:
    head = ("part", "measure", "value", "target", "met")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    line = "-+-".join("-" * w for w in widths)
    out = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip(), line]
    for r in rows:
        if r[0] and out[-1] != line:
            out.append(line)
        out.append(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(out)


# -- main ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    from core.allocator import tune_allocator

    tune_allocator()  # as the app does (app/cli.py), in this process and the scan children
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == CHILD_FLAG:
        return _child_main(argv[1])
    p = argparse.ArgumentParser(prog="python -m bench.scan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--library-dir", type=Path, required=True,
                   help="a library made by python -m bench.gen_library")
    p.add_argument("--files", type=int, default=None,
                   help="files to use for a, d, f (whole leaf folders; default: all)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="decode processes")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure (median reported)")
    p.add_argument("--decode-files", type=int, default=None,
                   help="files for the decode stage a (default: all of --files)")
    p.add_argument("--scan-files", type=int, default=None,
                   help="files for the full scan c (default: 1000 on CPU, all on CUDA)")
    p.add_argument("--scan-repeat", type=int, default=None,
                   help="runs of the full scan c (default: 1 on CPU, --repeat on CUDA)")
    p.add_argument("--embed-batch", type=int, default=None,
                   help="windows per batch in b (default: 64 on CPU, 1024 on CUDA)")
    p.add_argument("--embed-seconds", type=float, default=None,
                   help="seconds per timed run in b (default: 3 on CPU, 2 on CUDA)")
    p.add_argument("--model", type=Path, default=None,
                   help="also time these weights in b (e.g. the shipped model)")
    p.add_argument("--parts", default="abcdef", help="which parts to run (default: abcdef)")
    p.add_argument("--work-dir", type=Path, default=None,
                   help="scratch folder for the libraries (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the scratch libraries")
    p.add_argument("--json", type=Path, default=None, help="save every figure here")
    p.add_argument("--no-thumbnails", action="store_true",
                   help="scan without waveform thumbnails (ScanOptions.peaks=False)")
    args = p.parse_args(argv)
    global THUMBNAILS
    THUMBNAILS = not args.no_thumbnails

    library_dir = args.library_dir.resolve()
    if not library_dir.is_dir():
        p.error(f"{library_dir} is not a folder (make one with python -m bench.gen_library)")
    parts = set(args.parts)
    if not parts or not parts <= set("abcdef"):
        p.error("--parts takes letters from abcdef")
    try:
        import psutil  # noqa: F401
    except ImportError:
        p.error("bench.scan needs psutil (pip install psutil, or the [dev] extra)")
    # Started first, while this process is small: see Launcher.
    launcher = Launcher()
    monitor = CpuMonitor()
    monitor.start()

    cuda = args.device == "cuda"
    if cuda:
        import torch

        if not torch.cuda.is_available():
            p.error("--device cuda, but torch sees no CUDA device")
    leaves = leaf_folders(library_dir)
    n_all = sum(c for _, c in leaves)
    n_files = n_all if args.files is None else args.files
    if not 0 < n_files <= n_all:
        p.error(f"--files {n_files}, but the library holds {n_all} files")
    chosen = choose_folders(leaves, n_files)
    n_files = sum(c for _, c in chosen)
    dirs = covering_dirs(library_dir, chosen, leaves)
    scan_files = args.scan_files if args.scan_files is not None else (n_files if cuda else 1000)
    scan_chosen = choose_folders(chosen, min(scan_files, n_files))
    scan_dirs = covering_dirs(library_dir, scan_chosen, leaves)
    scan_repeat = args.scan_repeat or (args.repeat if cuda else 1)
    embed_batch = args.embed_batch or (1024 if cuda else 64)
    embed_s = args.embed_seconds or (2.0 if cuda else 3.0)

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="sampletree-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {
        "args": {"library_dir": str(library_dir), "files": n_files, "device": args.device,
                 "jobs": args.jobs, "repeat": args.repeat, "scan_files": scan_files,
                 "scan_repeat": scan_repeat, "embed_batch": embed_batch,
                 "decode_files": args.decode_files,
                 "parts": "".join(sorted(parts)), "work_dir": str(work),
                 "scan_dirs": scan_dirs},
        "targets": TARGETS, "wall_s": {}, "other_load": {},
    }

    def log(msg: str) -> None:
        print(f"[bench.scan {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def done(part: str, t: float, mark: tuple[float, float]) -> None:
        res["wall_s"][part] = time.perf_counter() - t
        res["other_load"][part] = monitor.load_since(mark)
        log(f"{part}: {res['wall_s'][part]:.0f} s")

    t_all = time.perf_counter()
    try:
        if parts & set("def"):
            # f first: the scan children start while this process is still small
            t, mark = time.perf_counter(), monitor.mark()
            runs = []
            if "f" in parts:
                q_chosen = choose_folders(chosen, max(1, n_files // 4))
                q_dirs = covering_dirs(library_dir, q_chosen, leaves)
                log(f"f: index-only scan of 1/4 ({sum(c for _, c in q_chosen)} files), child")
                r = run_scan_child(launcher, work / "quarter.sqlite", q_dirs, args.jobs, None,
                                   work)
                r["files"] = r["report"]["found"]
                runs.append(r)
            log(f"d/f: index-only scan of {n_files} files, child")
            full = run_scan_child(launcher, work / "index.sqlite", dirs, args.jobs, None, work)
            full["files"] = full["report"]["found"]
            runs.append(full)
            if "f" in parts:
                res["f"] = {"runs": runs}
                done("f", t, mark)
            if "d" in parts:
                if "f" in parts:  # else the index-only scan counts towards d
                    t, mark = time.perf_counter(), monitor.mark()
                log(f"d: rescan x{args.repeat}")
                res["d"] = bench_rescan(work / "index.sqlite", dirs, args.jobs, args.repeat)
                rep = full["report"]
                res["d"]["index_scan_s"] = rep["seconds"]
                res["d"]["index_files_per_s"] = rep["found"] / rep["seconds"]
                res["d"]["index_windows_per_s"] = rep["windows"] / rep["seconds"]
                done("d", t, mark)
            res.setdefault("e", {})["index"] = _size_figures(full)
        if "a" in parts:
            t, mark = time.perf_counter(), monitor.mark()
            paths = list_files(dirs)
            if args.decode_files is not None:
                paths = paths[:max(1, args.decode_files)]
            log(f"a: decode + log-mel of {len(paths)} files, {args.jobs} jobs, x{args.repeat} "
                "(+1 pass without log-mel)")
            res["a"] = bench_decode(paths, args.jobs, args.repeat)
            done("a", t, mark)
        if "b" in parts:
            t, mark = time.perf_counter(), monitor.mark()
            log(f"b: embedding, batch {embed_batch} on {args.device}")
            res["b"] = bench_embed(args.device, args.repeat, embed_batch, embed_s, args.model)
            done("b", t, mark)
        if "c" in parts:
            t, mark = time.perf_counter(), monitor.mark()
            runs = []
            for i in range(scan_repeat):
                db = work / f"full{i}.sqlite"
                log(f"c: full scan of {sum(c for _, c in scan_chosen)} files with the network "
                    f"on {args.device}, child ({i + 1}/{scan_repeat})")
                runs.append(run_scan_child(launcher, db, scan_dirs, args.jobs, args.device, work,
                                           str(args.model) if args.model else None))
            runs.sort(key=lambda r: r["report"]["seconds"])
            c = dict(runs[len(runs) // 2])
            c["runs_seconds"] = [r["report"]["seconds"] for r in runs]
            c["dirs"] = scan_dirs
            c["model"] = str(args.model) if args.model else None
            c["all"] = c["report"]["found"] == n_all
            if "b" in res:
                c["model_bound_s"] = (c["report"]["embedded_windows"]
                                      / res["b"]["paper"]["windows_per_s"])
            res["c"] = c
            res.setdefault("e", {})["embedded"] = _size_figures(c)
            done("c", t, mark)
        if "e" not in parts:
            res.pop("e", None)
    finally:
        monitor.stop_event.set()
        launcher.close()
        if not args.keep and args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    res["wall_s"]["total"] = time.perf_counter() - t_all
    res["machine"] = machine_info(args.device)
    print(render(build_rows(res)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1, default=str) + "\n", encoding="utf-8")
    return 0


def _size_figures(r: dict[str, Any]) -> dict[str, Any]:
    n = max(1, r["windows_in_db"])
    b, a = r["sizes_before_checkpoint"], r["sizes_after_checkpoint"]
    return {"windows": r["windows_in_db"], "embedded": r["embedded_in_db"], "before": b,
            "after": a, "bpw_before": (b["db"] + b["wal"]) / n,
            "bpw_after": (a["db"] + a["wal"]) / n, "page_size": r["page_size"],
            "checkpoint": r["checkpoint"]}


if __name__ == "__main__":
    sys.exit(main())
