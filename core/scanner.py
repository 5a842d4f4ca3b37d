"""Scanning sample folders into the library.

walk (stat only) → diff against the library (new / changed / moved / gone) → decode
in a process pool → log-mel and embedding in batches on the model's device → one
transaction per batch of files. A killed scan loses at most the batch in flight; the
next scan skips what was committed and picks up the rest.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core import thumbnail
from core.analysis.names import name_facts_differ
from core.audio import AudioInfo, Segment, WindowParams, decode_segment, plan_segments, probe
from core.audio import segments_to_keep as _segments_to_keep
from core.backup import make_backup
from core.dupsig import combine_hashes
from core.errors import AudioError, Cancelled, LibraryFull, SampletreeError
from core.joblock import job_lock
from core.jobs import CancelToken, Progress, ProgressCallback, RateMeter, no_progress
from core.memtune import keep_freed_memory
from core.paths import display_path, under
from core.walk import FileEntry, classify_name, content_hash, walk

if TYPE_CHECKING:
    from core.library import KnownSample, Library, SampleRecord
    from models import EmbeddingModel

    _Todo = tuple[FileEntry, KnownSample | None]

# -- the decode workers import this module (their task is _decode_task) but never the
# library's: core.library and core.dupstore (SQLAlchemy, ~0.13 s of CPU a worker at the start
# of every scan) are imported where the scanning process uses them

CHANGED_DURING_READ = "the file changed while it was being read; it will be read again next scan"

#: Longest reason a file's record keeps (decoder messages can quote whole paths).
MAX_ERROR_CHARS = 300


def short_reason(why: str, path: str) -> str:
    """A reason fit for one line: the file's own path not repeated, the length capped."""
    for form in {path, display_path(path)}:
        if form and form in why:
            why = why.replace(form, "the file")
    why = " ".join(why.split())  # no newlines or tabs from a library's message
    return why if len(why) <= MAX_ERROR_CHARS else why[:MAX_ERROR_CHARS - 1] + "…"


@dataclass(frozen=True)
class ScanOptions:
    """How a scan runs. ``jobs=0`` decodes in this process (deterministic, for tests)."""

    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    window: WindowParams = field(default_factory=WindowParams)
    batch_windows: int = 32
    commit_files: int = 64
    commit_interval_s: float = 2.0
    #: compute waveform thumbnails while decoding (core.thumbnail)
    peaks: bool = True


#: The counts of a scan's report that the scan journal keeps (``sampletree status``).
SCAN_COUNTS = ("found", "new", "changed", "unchanged", "moved", "restored", "missing",
               "failed", "folder_problems")


@dataclass
class ScanReport:
    roots: list[str]
    found: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    moved: int = 0
    restored: int = 0
    missing: int = 0
    decoded: int = 0
    failed: int = 0
    #: folders the walk could not read (or skipped as a link loop): ``report.unlisted``
    folder_problems: int = 0
    vanished: int = 0
    windows: int = 0
    embedded_windows: int = 0
    #: files already read whose analysis (tempo, key…) was made in this scan on its own
    analysed: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    model_id: str | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: The problems the library keeps no record of, so that ``ls`` cannot show them:
    #: folders that could not be read or loop, new files that vanished. Every other
    #: problem is a file whose record says error, missing or pending (``ls --problems``).
    unlisted: list[tuple[str, str]] = field(default_factory=list)
    #: how the folders asked for map to the library's sources (core/sources.py), in words
    notes: list[str] = field(default_factory=list)
    #: files the walk passed over because they are not audio (``walk.skipped_summary``)
    skipped: list[str] = field(default_factory=list)
    #: files in error in the whole library after this scan (not only those read now)
    errors_in_library: int = 0
    #: unchanged files decoded only for their duplicate fingerprints (core/dupsig.py),
    #: which a library made before those existed gets on its next scan
    fingerprinted: int = 0
    #: unchanged files given a waveform thumbnail they lacked (decoded, not embedded)
    thumbnails_added: int = 0
    #: of ``changed``: files unchanged on disk, embedded again because the library's
    #: embeddings came from another network (new weights shipped)
    reembedded: int = 0
    #: examples (supports) whose audio changed on disk in this scan: the trees now learn
    #: from the new audio; {"path", "tree", "node"} each (the user should check them)
    examples_changed: list[dict[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """What the scan found, as ``status`` shows it (kept in ``scans.report``)."""
        return {k: int(getattr(self, k)) for k in SCAN_COUNTS}

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["problems"] = [{"path": p, "error": e} for p, e in self.problems]
        data["unlisted"] = [{"path": p, "error": e} for p, e in self.unlisted]
        data["skipped"] = [p for p in self.skipped if classify_name(p) == "not-read"]
        data["skipped_other"] = len(self.skipped) - len(data["skipped"])
        return data


# -- worker side (runs in the decode processes; no torch, no library) -------------------

@dataclass
class _TaskResult:
    key: int
    seg: int
    stat: tuple[int, int] | None = None  # (size, mtime_ns) before decoding
    stat_after: tuple[int, int] | None = None
    info: AudioInfo | None = None
    plan: list[tuple[int, int]] | None = None
    content_hash: str | None = None
    segment: Segment | None = None
    error: str | None = None
    verdict: bool = False  # the error judges bytes that were read (no point retrying them)
    vanished: bool = False
    analysis: dict[str, Any] | None = None  # segment 0's core.analysis row


def _stat(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _decode_task(key: int, seg: int, path: str, params: WindowParams,
                 info: AudioInfo | None, span: tuple[int, int] | None,
                 peaks: bool = True) -> _TaskResult:
    """Segment 0 also probes, fingerprints and plans the file; others only decode."""
    res = _TaskResult(key, seg)
    try:
        res.stat = _stat(path)
    except FileNotFoundError:
        res.vanished = True
        return res
    except OSError as exc:
        res.error = f"cannot read file: {exc.strerror or exc}"
        return res
    try:
        if info is None:
            info = probe(path)
            res.info = info
            res.plan = plan_segments(info, params)
            res.content_hash = content_hash(path, res.stat[0])
            span = res.plan[0]
        assert span is not None
        if seg == 0:
            res.segment, res.analysis = _decode_and_analyse(path, info, params, span, peaks)
        else:
            res.segment = decode_segment(path, info, params, *span, envelope=peaks)
        res.stat_after = _stat(path)
    except FileNotFoundError:
        res.vanished = True
    except AudioError as exc:
        if not os.path.exists(path):
            res.vanished = True  # deleted between our stat and the decoder's open
        else:
            res.error = str(exc)
            res.verdict = not exc.transient
    except MemoryError:
        res.error = "not enough memory to decode this file"
    except OSError as exc:
        res.error = f"cannot read file: {exc.strerror or exc}"
    except Exception as exc:  # a decoder library failing in an unforeseen way: record, go on
        res.error = f"unexpected decoder error: {type(exc).__name__}: {exc}"
        res.verdict = True
    if res.error is not None:
        res.error = short_reason(res.error, path)
        if not res.verdict:
            res.content_hash = None
        elif seg == 0 and res.content_hash is None:
            # The fingerprint of the bytes judged: while they stay as they are, the
            # verdict stands and the file is not read again (see Scanner._up_to_date).
            res.content_hash = _hash_or_none(path)
    return res


# -- analysis (core/analysis): computed on segment 0 in the worker ------------------------

def _decode_and_analyse(path: str, info: AudioInfo, params: WindowParams,
                        span: tuple[int, int], envelope: bool = True
                        ) -> tuple[Segment, dict[str, Any] | None]:
    """Segment 0 decoded as usual, plus the file's analysis from the same read (its raw
    blocks for peak and loudness, its 16 kHz signal for the rest). An analysis that fails
    leaves the file without one; it never fails the file."""
    from core.analysis.level import scan_meter

    meter = scan_meter(info.sample_rate, info.channels)
    segment = decode_segment(path, info, params, *span, envelope=envelope, meter=meter,
                             keep_signal=True)
    signal, segment.signal = segment.signal, None  # never sent back to the parent
    # (the segment's frames at the file's rate, from its 16 kHz signal's length)
    frames = len(signal) * info.sample_rate / params.sample_rate if signal is not None else 0
    damaged = segment.nonfinite > DAMAGED_SHARE * max(1.0, frames)
    return segment, _analysis_row(path, info, params, signal, meter, damaged)


#: a segment with more than this share of NaN or infinite frames is damaged: its
#: analysis keeps only what tags and the name say (a stray bad sample does not count)
DAMAGED_SHARE = 0.01


def _analysis_row(path: str, info: AudioInfo, params: WindowParams, signal: Any,
                  meter: Any, damaged: bool = False) -> dict[str, Any] | None:
    try:
        from core.analysis import analyse
        from core.analysis.chunks import read_chunks

        result = analyse(signal, params.sample_rate, info.duration_s,
                         name=os.path.basename(path), chunks=read_chunks(path), meter=meter)
        if damaged:
            result.withhold_audio()
        return result.as_row()
    except Exception:  # an estimator failing on odd audio: the file keeps no analysis
        return None


def _analyse_task(sample_id: int, path: str, params: WindowParams
                  ) -> tuple[int, dict[str, Any] | None]:
    """A file whose embeddings are current but that has no analysis: segment 0 only."""
    try:
        info = probe(path)
        _segment, row = _decode_and_analyse(path, info, params, plan_segments(info, params)[0])
    except Exception:  # unreadable now: the next full read of the file says why
        return sample_id, None
    return sample_id, row


def _hash_or_none(path: str) -> str | None:
    try:
        return content_hash(path)
    except OSError:
        return None


# -- parent side ------------------------------------------------------------------------

def _file_peaks(segments: list[Segment]) -> bytes | None:
    """A file's waveform thumbnail from its segments' partial envelopes (all of them,
    quiet ones included); None when any is missing (thumbnails off)."""
    parts = [s.envelope for s in segments]
    if not parts or any(p is None for p in parts):
        return None
    return thumbnail.encode(thumbnail.merge(p for p in parts if p is not None))


def _no_audio(audio: np.ndarray) -> np.ndarray:
    """An empty array in place of a segment's windows once they are embedded: a slice
    (``audio[:0]``) kept the whole buffer alive, so a 2-hour file held every window of
    it, ~920 MB, until its record was written."""
    return np.empty((0, *audio.shape[1:]), audio.dtype)


@dataclass
class _FileJob:
    key: int
    entry: FileEntry
    known: KnownSample | None
    info: AudioInfo | None = None
    plan: list[tuple[int, int]] | None = None
    content_hash: str | None = None
    segments: dict[int, Segment] = field(default_factory=dict)
    embeddings: dict[int, np.ndarray] = field(default_factory=dict)
    stats: set[tuple[int, int]] = field(default_factory=set)
    error: str | None = None
    crashes: int = 0
    analysis: dict[str, Any] | None = None
    #: an unchanged file decoded again only for what a library made before them lacks (its
    #: duplicate fingerprints, its waveform thumbnail, its analysis): not embedded, its
    #: record kept as is
    refresh_only: bool = False

    def complete(self, embedding: bool) -> bool:
        if self.error is not None:
            return True
        if self.plan is None or len(self.segments) < len(self.plan):
            return False
        return not embedding or self.refresh_only or len(self.embeddings) == len(self.plan)

    def fingerprints(self) -> tuple[str, bytes | None] | None:
        """(decoded-audio hash, near-duplicate signature) of a fully decoded file."""
        if self.error is not None or self.info is None or self.plan is None:
            return None
        parts = [self.segments[i].audio_hash for i in range(len(self.plan))
                 if i in self.segments]
        if len(parts) != len(self.plan) or any(p is None for p in parts):
            return None
        i = self.info
        return (combine_hashes(i.sample_rate, i.channels, i.frames, parts),  # type: ignore[arg-type]
                self.segments[0].dup_signature)


class _InlineExecutor(Executor):
    """Runs tasks at submit time in this process: the scan without a pool."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut


#: decode tasks in flight a decode worker (submitted, running, or done and not yet taken):
#: enough that the workers decode on while this process embeds a batch and commits (3 left
#: them idle ~50 % of a loaded scan of 500 bench files, 8 ~35 %; docs/eval/analysis.md,
#: "Cost, fourth round")
INFLIGHT_PER_JOB = 8


def _usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _make_pool(jobs: int) -> Executor:
    if jobs <= 0:
        keep_freed_memory()  # this process decodes (core.memtune)
        return _InlineExecutor()
    if sys.platform.startswith("linux") and not getattr(sys, "frozen", False):
        # forkserver: workers fork from a clean process that has imported only the decoder,
        # never from this one (torch's threads do not survive a fork).
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["core.audio", "core.analysis.rhythm",
                                    "core.analysis.tonal", "core.analysis.level", "scipy.fft"])
    else:
        ctx = multiprocessing.get_context("spawn")
    # A lifeline: only this process holds the write end. Each worker watches the read
    # end, which reaches EOF the moment this process ends in any way (kill -9
    # included), and exits. Without it the workers outlived a killed scan for ever
    # (blocked on their task queue, whose write end they hold themselves), and with
    # them the forkserver and the resource tracker, which end only once every holder
    # of their pipes has.
    lifeline_r, lifeline_w = ctx.Pipe(duplex=False)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                               initargs=(lifeline_r,))
    pool._sampletree_lifeline = (lifeline_r, lifeline_w)  # type: ignore[attr-defined]
    return pool


def _init_worker(lifeline: Any) -> None:
    keep_freed_memory()  # core.memtune: the decoder's arrays reuse freed memory
    _quiet_worker()
    _die_with_parent()
    threading.Thread(target=_watch_lifeline, args=(lifeline,), name="lifeline",
                     daemon=True).start()


def _watch_lifeline(lifeline: Any) -> None:
    """Runs in each worker: end the process when the scanning process is gone."""
    try:
        while True:
            lifeline.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(1)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent ends (the scanning process when
    workers are spawned, the forkserver otherwise). Best effort; the lifeline covers
    the rest."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _quiet_worker() -> None:
    """Decoder libraries (libmpg123) print warnings straight to fd 2 from the workers,
    which would tear through the CLI's progress bar. Errors still come back as results."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass


#: No task has finished for this long although tasks are in flight: the pool is stuck.
STALL_TIMEOUT_S = 600.0


def _pool_stalled(pool: Executor, idle_s: float) -> bool:
    """A worker process is dead (for a second already), or nothing finished for ages."""
    if not isinstance(pool, ProcessPoolExecutor):
        return False
    if idle_s > STALL_TIMEOUT_S:
        return True
    procs = (getattr(pool, "_processes", None) or {}).values()
    return idle_s > 1.0 and any(p.exitcode is not None for p in procs)


def _close_pool(pool: Executor, timeout_s: float = 10.0) -> None:
    """Shut a pool down without ever hanging, now or when the interpreter exits.

    ``ProcessPoolExecutor.shutdown(wait=True)`` can wait forever when a worker died at
    the wrong moment: killed while sending a result, it leaves half a message in the
    result pipe and the pool's manager thread blocks reading the rest, so the process
    would also hang at exit (the executor joins that thread). Workers get a grace
    period to exit, then are terminated; a manager thread still stuck after that is
    woken by closing this side's write end of the result pipe: with every worker dead
    nothing else holds it, so its read ends with EOF and the thread finishes.
    """
    if not isinstance(pool, ProcessPoolExecutor):
        pool.shutdown(wait=True)
        return
    try:
        _close_pool_processes(pool, timeout_s)
    finally:
        for end in getattr(pool, "_sampletree_lifeline", ()):
            with contextlib.suppress(OSError):
                end.close()


def _close_pool_processes(pool: ProcessPoolExecutor, timeout_s: float) -> None:
    # shutdown() forgets these, so take them first
    procs = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    results = getattr(pool, "_result_queue", None)
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(2.0)
    if manager is None:
        return
    manager.join(max(0.5, deadline - time.monotonic()))
    if manager.is_alive() and results is not None and not any(p.is_alive() for p in procs):
        with contextlib.suppress(OSError, AttributeError):
            results._writer.close()
        manager.join(5.0)


class Scanner:
    """One scan of some folders into a library. Use :func:`scan`."""

    def __init__(self, library: Library, model: EmbeddingModel | None, options: ScanOptions,
                 progress: ProgressCallback, cancel: CancelToken) -> None:
        self.lib = library
        self.model = model
        self.opt = options
        self.progress = progress
        self.cancel = cancel
        self.model_key: int | None = None
        self.jobs: dict[int, _FileJob] = {}
        self.queue: list[tuple[int, int]] = []  # (file key, segment) awaiting embedding
        self.queued_windows = 0
        self.ready: list[SampleRecord] = []
        self.to_mark_missing: list[int] = []
        self.last_commit = time.monotonic()
        self.done = 0
        self.total = 0
        self.meter = RateMeter()
        self.scan_id: int | None = None
        self.analysis_only: dict[int, str] = {}
        # unchanged files with no analysis; those read again for their fingerprints get it
        # from that read (self.refresh_analysis), the others in _analyse_only
        self.unanalysed: set[int] = set()
        self.refresh_analysis: list[tuple[int, dict[str, Any]]] = []
        # duplicates: (path, hash, signature) to write, hash None to drop; and the paths of
        # unchanged files read only for their fingerprints
        self.dup_rows: list[tuple[str, str | None, bytes | None]] = []
        self.fingerprint_only: set[str] = set()
        # -- waveform thumbnails of unchanged files that lack one (older libraries)
        self.peaks_only: set[str] = set()
        self.ready_peaks: list[tuple[int, bytes]] = []
        # -- files read before whose bytes changed: sample id -> their old content hash
        self.changed_ok: dict[int, str | None] = {}
        # -- the torch threads the caller had set, while the scan lowers them
        self._torch_threads: int | None = None

    # -- diff ------------------------------------------------------------------------

    def _up_to_date(self, k: KnownSample, e: FileEntry) -> bool:
        if (k.size, k.mtime_ns) != (e.size, e.mtime_ns):
            return False
        if k.status == "error":
            # A verdict on bytes the decoder read (their fingerprint is kept) stands while
            # the file is unchanged. Any other error (permission denied, an I/O error,
            # a name too long, a vanished file…) may be gone now: try again.
            return k.content_hash is not None
        if k.status != "ok":
            return False
        return self.model_key is None or k.model_id == self.model_key

    def _needs_decoding(self, k: KnownSample) -> bool:
        """A record found again (moved or restored) still has to be decoded."""
        return (k.n_windows == 0 or k.status == "pending"
                or (self.model_key is not None and k.model_id != self.model_key))

    def diff(self, entries: list[FileEntry], roots: list[str], root_ids: dict[str, int],
             unreadable: list[str], report: ScanReport,
             problem_files: list[tuple[str, str, str]] | None = None) -> list[_Todo]:
        known = self.lib.known_samples()
        from core.dupstore import sample_ids_without_fingerprints

        unfingerprinted = sample_ids_without_fingerprints(self.lib)
        seen: set[str] = set()
        todo: list[_Todo] = []
        new: list[FileEntry] = []
        for e in entries:
            seen.add(e.path)
            k = known.get(e.path)
            if k is None:
                new.append(e)
            elif self._up_to_date(k, e):
                report.unchanged += 1
                if k.id in unfingerprinted:  # duplicates: decoded again, not embedded
                    self.fingerprint_only.add(e.path)
                if self.opt.peaks and k.status == "ok" and not k.has_peaks:
                    self.peaks_only.add(e.path)  # decoded for its thumbnail, not embedded
                if e.path in self.fingerprint_only or e.path in self.peaks_only:
                    todo.append((e, k))  # one read for both (Scanner._refresh_only)
            elif (k.status == "missing" and (k.size, k.mtime_ns) == (e.size, e.mtime_ns)
                  and k.content_hash is not None and not self._needs_decoding(k)):
                self.lib.move_sample(k.id, e.path, root_id=root_ids[e.root], size=e.size,
                                     mtime_ns=e.mtime_ns)
                report.restored += 1
            else:
                report.changed += 1
                if k.status == "ok" and (k.size, k.mtime_ns) != (e.size, e.mtime_ns):
                    self.changed_ok[k.id] = k.content_hash  # an example? (see scan())
                if (k.status == "ok" and (k.size, k.mtime_ns) == (e.size, e.mtime_ns)
                        and self.model_key is not None and k.model_id is not None
                        and k.model_id != self.model_key):
                    report.reembedded += 1  # the file is as it was: the network changed
                todo.append((e, k))

        # Audio-named entries that are no regular file (a FIFO, a link loop…): recorded as
        # errors (retried each scan), except where the library held this file's audio:
        # that record is gone from here (missing below) and may be found moved.
        from core.library import SampleRecord  # (this process only: see the imports)

        problems: list[SampleRecord] = []
        for path, why, root in problem_files or []:
            k = known.get(path)
            if k is not None and k.n_windows > 0:
                continue
            seen.add(path)
            report.failed += 1
            problems.append(SampleRecord(path=path, root_id=root_ids[root], size=0,
                                         mtime_ns=-1, status="error", error=why,
                                         sample_id=None if k is None else k.id))
        if problems:
            self.lib.write_batch(problems)

        # Gone: known under a scanned root, not seen, and not under a folder we failed to read.
        def under_any(path: str, folders: list[str]) -> bool:
            return any(under(path, f) for f in folders)

        gone = [k for p, k in known.items()
                if p not in seen and under_any(p, roots) and not under_any(p, unreadable)]
        # A new file may also be one that left another folder of the library (scanned or
        # not in this scan): a record already missing, or whose file is no longer there.
        elsewhere = [k for p, k in known.items() if k.content_hash and not under_any(p, roots)]
        by_size: dict[int, list[KnownSample]] = {}
        for k in gone + elsewhere:
            if k.content_hash:
                by_size.setdefault(k.size, []).append(k)
        gone_ids = {k.id for k in gone}
        library_roots = sorted(self.lib.roots(), key=len, reverse=True)
        present: dict[str, bool] = {}

        def root_present(path: str) -> bool:
            """Its source folder is there and not empty (an unmounted drive is neither:
            its files are not gone, and must not be taken for moved copies)."""
            root = next((r for r in library_roots if under(path, r)), None)
            if root is None:
                return True
            if root not in present:
                try:
                    with os.scandir(root) as it:
                        present[root] = any(True for _ in it)
                except OSError:
                    present[root] = False
            return present[root]

        vanished: dict[int, bool] = {}

        def is_gone(k: KnownSample) -> bool:
            if k.id in gone_ids:
                return True
            if k.id not in vanished:
                vanished[k.id] = not os.path.isfile(k.path) and (
                    k.status == "missing" or root_present(k.path))
            return vanished[k.id]

        moved_ids: set[int] = set()
        for e in new:
            candidates = [k for k in by_size.get(e.size, [])
                          if k.id not in moved_ids and is_gone(k)]
            if candidates:
                digest = _hash_or_none(e.path)
                match = next((k for k in candidates if k.content_hash == digest), None)
                if match is not None:
                    moved_ids.add(match.id)
                    again = self._needs_decoding(match)
                    self.lib.move_sample(match.id, e.path, root_id=root_ids[e.root],
                                         size=e.size, mtime_ns=e.mtime_ns,
                                         status="pending" if again else "ok")
                    report.moved += 1
                    # renamed: what its name states (tempo, key, root note) may have
                    # changed; its analysis is redone from segment 0, not re-embedded
                    if not again and name_facts_differ(match.path, e.path):
                        self.lib.mark_analysis_stale([match.id])
                    if again:
                        todo.append((e, match))
                    continue
            report.new += 1
            todo.append((e, None))
        missing = [k.id for k in gone if k.id not in moved_ids and k.status != "missing"]
        self.lib.mark_missing(missing)
        report.missing = len(missing)
        return todo

    # -- decode, embed, commit ----------------------------------------------------------

    def _record(self, job: _FileJob, report: ScanReport) -> SampleRecord | None:
        from core.library import SampleRecord

        e = job.entry
        root_id = self.root_ids[e.root]
        sid = job.known.id if job.known else None
        if job.refresh_only:
            self._refresh_only(job, report)
            return None
        prints = job.fingerprints()
        self.dup_rows.append((e.path, *prints) if prints else (e.path, None, None))
        if job.error is not None:
            report.failed += 1
            report.problems.append((e.path, job.error))
            return SampleRecord(path=e.path, root_id=root_id, size=e.size, mtime_ns=e.mtime_ns,
                                status="error", error=job.error, sample_id=sid,
                                content_hash=job.content_hash)
        assert job.info is not None and job.plan is not None
        order = sorted(job.segments)
        segs = [job.segments[i] for i in order]
        keep = [order[i] for i in _segments_to_keep(segs)]
        starts = np.concatenate([job.segments[i].starts for i in keep])
        loud = np.concatenate([job.segments[i].loudness for i in keep])
        emb = (np.concatenate([job.embeddings[i] for i in keep])
               if self.model is not None else None)
        # a file that reads but is damaged (cut short) stays ok, with what is wrong said
        status, error = "ok", (job.info.note or None) if job.info is not None else None
        nonfinite = sum(s.nonfinite for s in segs)
        if nonfinite:  # a float file with NaN or infinite samples: said, not silently
            said = (f"{nonfinite:,} sample{'s' * (nonfinite != 1)} (mixed to mono) "
                    "{} NaN or infinite (damaged float data), read as silence or full "
                    "scale").format("are" if nonfinite != 1 else "is")
            error = f"{error}; {said}" if error else said
        if len(job.stats) > 1:
            status, error = "pending", CHANGED_DURING_READ
        if error is not None:
            report.problems.append((e.path, error))
        size, mtime_ns = min(job.stats) if job.stats else (e.size, e.mtime_ns)
        report.decoded += 1
        report.windows += len(starts)
        report.embedded_windows += 0 if emb is None else len(emb)
        i = job.info
        return SampleRecord(
            path=e.path, root_id=root_id, size=size, mtime_ns=mtime_ns, status=status,
            error=error, content_hash=job.content_hash, duration_s=i.duration_s,
            sample_rate=i.sample_rate, channels=i.channels, format=i.format,
            subtype=i.subtype, starts=starts, loudness=loud, embeddings=emb,
            model_id=self.model_key if emb is not None else None, sample_id=sid,
            analysis=job.analysis, peaks=_file_peaks(segs))

    def _refresh_only(self, job: _FileJob, report: ScanReport) -> None:
        """An unchanged file decoded again for what it lacked: its duplicate fingerprints,
        its thumbnail, its analysis (one read for all three). Nothing is embedded and its
        record stays as it is."""
        e = job.entry
        if e.path in self.fingerprint_only:
            prints = job.fingerprints()
            if prints is not None:  # else retried next scan
                self.dup_rows.append((e.path, *prints))
                report.fingerprinted += 1
        if e.path in self.peaks_only:
            self._thumbnail_only(job, report)
        sid = job.known.id if job.known else None
        if sid is not None and job.analysis is not None and sid in self.unanalysed:
            self.refresh_analysis.append((sid, job.analysis))
            report.analysed += 1

    def _thumbnail_only(self, job: _FileJob, report: ScanReport) -> None:
        """An unchanged file decoded for the thumbnail it lacked: store only that. A
        failure or a change seen while reading leaves its record as it was."""
        if job.error is not None or job.known is None or job.plan is None:
            return
        if job.stats - {(job.entry.size, job.entry.mtime_ns)}:
            return  # changed since the walk: the next scan reads it in full
        blob = _file_peaks([job.segments[i] for i in sorted(job.segments)])
        if blob is not None:
            self.ready_peaks.append((job.known.id, blob))
            report.thumbnails_added += 1

    # -- torch's threads beside the decode workers ---------------------------------------

    def _embed_threads(self, decoding: int) -> None:
        """Intra-op threads for the next batches: while ``decoding`` tasks run in the
        workers, only the cores they leave (at least one); when none runs (the scan's last
        batches, files whose embedding outpaces their decoding), as many as the caller
        had set. Two decode workers and two torch threads on two cores made the main
        process spend 2-4.5x the CPU on the same batches (torch's waiting threads spin),
        CPU the workers needed (docs/eval/analysis.md, "Cost, fourth round")."""
        if self.model is None:
            return
        import torch

        if self._torch_threads is None:
            self._torch_threads = torch.get_num_threads()
        want = self._torch_threads
        if decoding:
            want = min(want, max(1, _usable_cpus() - min(decoding, max(1, self.opt.jobs))))
        if torch.get_num_threads() != want:
            torch.set_num_threads(want)

    def _restore_threads(self) -> None:
        if self._torch_threads is None:
            return
        import torch

        if torch.get_num_threads() != self._torch_threads:
            torch.set_num_threads(self._torch_threads)
        self._torch_threads = None

    def _embed_queue(self) -> None:
        if not self.queue or self.model is None:
            return
        import torch  # only the parent process embeds

        audio = np.concatenate([self.jobs[k].segments[s].audio for k, s in self.queue])
        out = []
        bs = self.opt.batch_windows
        for a in range(0, len(audio), bs):
            batch = torch.from_numpy(audio[a:a + bs])
            out.append(self.model.embed_audio(batch).cpu().numpy())
        emb = np.concatenate(out)
        pos = 0
        for k, s in self.queue:
            seg = self.jobs[k].segments[s]
            n = len(seg.starts)
            self.jobs[k].embeddings[s] = emb[pos:pos + n]
            pos += n
            seg.audio = _no_audio(seg.audio)  # the raw audio is no longer needed
        self.queue.clear()
        self.queued_windows = 0

    def _commit(self, report: ScanReport, force: bool = False) -> None:
        due = (len(self.ready) >= self.opt.commit_files
               or time.monotonic() - self.last_commit >= self.opt.commit_interval_s)
        if not (self.ready or self.to_mark_missing or self.dup_rows or self.ready_peaks) \
                or not (force or due):
            return
        from core.dupstore import write_fingerprints

        with self.lib.transaction() as conn:
            self.lib.write_batch(self.ready)
            self.lib.mark_missing(self.to_mark_missing)
            write_fingerprints(self.lib, self.dup_rows)
            self.lib.write_analysis(self.refresh_analysis)
            thumbnail.write_peaks(conn, self.ready_peaks)
            if self.scan_id is not None:
                self.lib.update_scan(self.scan_id, files_done=self.done)
        self.refresh_analysis.clear()
        self.ready.clear()
        self.to_mark_missing.clear()
        self.dup_rows.clear()
        self.ready_peaks.clear()
        self.last_commit = time.monotonic()

    def _report_progress(self, message: str = "") -> None:
        rate = self.meter.update(self.done)
        self.progress(Progress("decode", self.done, self.total, rate,
                               RateMeter.eta(self.done, self.total, rate), message))

    def run(self, dirs: list[str], report: ScanReport) -> None:
        for d in dirs:
            if not os.path.isdir(d):
                raise SampletreeError(f"{os.path.abspath(d)} is not a folder "
                                      "(or cannot be reached)")
        # -- sources: one per folder on disk (core/sources.py) --
        from core import sources

        plan = sources.plan_sources(dirs, self.lib.roots())
        roots = report.roots = plan.walk
        report.notes = plan.notes
        if self.model is not None:
            info = self.model.info
            self.model_key = self.lib.ensure_model(
                info.model_id, name=info.name, version=info.version, sha256=info.sha256,
                dim=info.dim, trained=info.trained, features=info.features.to_dict())
            report.model_id = info.model_id
        self.root_ids = sources.apply_plan(self.lib, plan)

        unreadable: list[str] = []
        problem_files: list[tuple[str, str, str]] = []

        def on_walk_error(path: str, why: str) -> None:
            unreadable.append(path)
            report.problems.append((path, short_reason(why, path)))
            report.unlisted.append(report.problems[-1])

        def on_file_error(path: str, why: str, root: str) -> None:
            why = short_reason(why, path)
            problem_files.append((path, why, root))
            report.problems.append((path, why))

        entries: list[FileEntry] = []
        try:
            for entry in walk(roots, on_walk_error, report.skipped.append,
                              on_file_error=on_file_error):
                entries.append(entry)
                if len(entries) % 2000 == 0:
                    self.progress(Progress("walk", len(entries), 0, message=entry.path))
                    self.cancel.raise_if_cancelled()
            report.found = len(entries)
            # folders it could not read are kept until a scan reads them (ls --problems)
            denied = set(unreadable)
            walk_problems = [p for p in report.unlisted if p[0] in denied]
            report.folder_problems = len(walk_problems)
            sources.record_folder_problems(self.lib, roots, walk_problems)
            self.progress(Progress("diff", 0, len(entries), message="comparing with the library"))
            todo = self.diff(entries, roots, self.root_ids, unreadable, report, problem_files)
            self.cancel.raise_if_cancelled()
        except Cancelled:
            # Cancelled before decoding: a clean stop like any other, not an error.
            report.cancelled = True
            return
        # files of these folders read before (unchanged, not redone now) with no analysis
        redo = {k.id for _e, k in todo if k is not None}
        redo_paths = {e.path for e, _k in todo}
        prefixes = tuple(r.rstrip(os.sep) + os.sep for r in roots)
        missing_analysis = self.lib.analysis_missing()
        self.unanalysed = set(missing_analysis)
        self.analysis_only = {sid: p for sid, p in missing_analysis.items()
                              if sid not in redo and p not in redo_paths
                              and p.startswith(prefixes)}
        self.total = len(todo) + len(self.analysis_only)
        self.scan_id = self.lib.start_scan(self.total)
        try:
            self._decode_all(todo, report)
            if not report.cancelled:
                self._analyse_only(report)
        except BaseException as exc:
            state = "cancelled" if report.cancelled else "failed"
            # If the library itself is failing (disk full), the error re-raised says so.
            with contextlib.suppress(SampletreeError):
                self.lib.update_scan(self.scan_id, files_done=self.done, state=state,
                                     message=str(exc)[:500], report=report.counts())
            raise
        state = "cancelled" if report.cancelled else "done"
        self.lib.update_scan(self.scan_id, files_done=self.done, state=state,
                             report=report.counts())

    def _decode_all(self, todo: list[_Todo],
                    report: ScanReport) -> None:
        params = self.opt.window
        pending = deque(enumerate(todo))
        followups: deque[tuple[int, int]] = deque()  # (key, segment) of started files
        solo: deque[int] = deque()  # files to retry alone after a decoder crash
        inflight: dict[Future[_TaskResult], tuple[int, int]] = {}
        max_inflight = max(2, INFLIGHT_PER_JOB * max(1, self.opt.jobs))
        pool = _make_pool(self.opt.jobs)

        crashes_in_a_row = 0

        def submit(key: int, seg: int) -> None:
            job = self.jobs[key]
            span = None if seg == 0 else job.plan[seg]  # type: ignore[index]
            try:
                fut = pool.submit(_decode_task, key, seg, job.entry.path, params,
                                  job.info if seg else None, span, self.opt.peaks)
            except BrokenProcessPool:
                fut = Future()
                fut.set_exception(BrokenProcessPool("worker died"))
            inflight[fut] = (key, seg)

        def finish_file(key: int) -> None:
            job = self.jobs.pop(key)
            if self.queue and job.error is not None:
                self.queue = [q for q in self.queue if q[0] != key]
                self.queued_windows = sum(
                    len(self.jobs[k].segments[s].starts) for k, s in self.queue)
            rec = self._record(job, report)
            if rec is not None:
                self.ready.append(rec)
            self.done += 1

        def recover(crashed: list[int]) -> Executor:
            """A decoder process died (a C library crashing on a pathological file).

            The files that were in flight are retried one at a time in a fresh pool; a
            file that kills a decoder on its own is recorded as an error. If workers
            cannot start at all, decoding goes on in this process.
            """
            nonlocal crashes_in_a_row
            crashed = list(dict.fromkeys(crashed + [k for k, _ in inflight.values()]))
            inflight.clear()
            _close_pool(pool, timeout_s=2.0)
            crashes_in_a_row += 1
            if crashes_in_a_row >= 3:
                problem = ("(scan)", "decoder processes keep failing to start; "
                           "decoding in the main process instead")
                report.problems.append(problem)
                report.unlisted.append(problem)
                new_pool: Executor = _InlineExecutor()
            else:
                new_pool = _make_pool(self.opt.jobs)
            for key in crashed:
                job = self.jobs[key]
                job.crashes += 1
                if job.crashes >= 2 or len(crashed) == 1:
                    job.error = "the decoder crashed on this file"
                    # a verdict on these bytes: not retried while they stay the same
                    job.content_hash = _hash_or_none(job.entry.path)
                job.segments.clear()
                job.embeddings.clear()
                job.plan = None
                self.queue = [q for q in self.queue if q[0] != key]
                if job.error is None:
                    solo.append(key)
                else:
                    finish_file(key)
            keep = [f for f in followups if f[0] not in crashed]
            followups.clear()
            followups.extend(keep)
            self.queued_windows = sum(
                len(self.jobs[k].segments[s].starts) for k, s in self.queue)
            return new_pool

        try:
            last_progress = 0.0
            last_result = time.monotonic()
            while pending or followups or inflight or solo or self.queue:
                if self.cancel.cancelled:
                    report.cancelled = True
                    break
                # Keep the pool fed: started files first, so they finish and free memory.
                while len(inflight) < max_inflight and not solo:
                    if followups:
                        submit(*followups.popleft())
                    elif pending:
                        key, (entry, known) = pending.popleft()
                        self.jobs[key] = _FileJob(
                            key, entry, known,
                            refresh_only=(entry.path in self.fingerprint_only
                                          or entry.path in self.peaks_only))
                        submit(key, 0)
                    else:
                        break
                if solo and not inflight:
                    submit(solo.popleft(), 0)
                if inflight:
                    done, _ = wait(list(inflight), timeout=0.2, return_when=FIRST_COMPLETED)
                else:
                    done = set()
                crashed: list[int] = []
                if done:
                    last_result = time.monotonic()
                elif inflight and _pool_stalled(pool, time.monotonic() - last_result):
                    # A worker died without the pool noticing (Python 3.11's executor can
                    # miss it and wait forever): treat what is in flight as crashed.
                    crashed = [k for k, _ in inflight.values()]
                    inflight.clear()
                for fut in done:
                    key, _seg = inflight.pop(fut)
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        crashed.append(key)
                        continue
                    crashes_in_a_row = 0
                    self._take(res, followups, report)
                if crashed:
                    pool = recover(crashed)
                flush = not (pending or followups or inflight or solo)
                if self.queued_windows >= self.opt.batch_windows or (flush and self.queue):
                    self._embed_threads(sum(1 for f in inflight if not f.done()))
                    self._embed_queue()
                for key in [k for k, j in self.jobs.items() if j.complete(self.model is not None)]:
                    finish_file(key)
                self._commit(report)
                now = time.monotonic()
                if now - last_progress > 0.1:
                    self._report_progress()
                    last_progress = now
            self._commit(report, force=True)
            self._report_progress("cancelled" if report.cancelled else "done")
        finally:
            _close_pool(pool)
            self._restore_threads()

    def _analyse_only(self, report: ScanReport) -> None:
        """Analysis for files read before analysis existed (or of an older version): their
        segment 0 is decoded again in the pool, nothing is embedded or rewritten."""
        todo = sorted(self.analysis_only.items())
        if not todo:
            return
        pool = _make_pool(self.opt.jobs)
        rows: list[tuple[int, dict[str, Any]]] = []
        try:
            pending = deque(todo)
            inflight: set[Future[tuple[int, dict[str, Any] | None]]] = set()
            max_inflight = max(2, 3 * max(1, self.opt.jobs))
            last_progress = 0.0
            while pending or inflight:
                if self.cancel.cancelled:
                    report.cancelled = True
                    break
                while pending and len(inflight) < max_inflight:
                    sid, path = pending.popleft()
                    inflight.add(pool.submit(_analyse_task, sid, path, self.opt.window))
                done, inflight = wait(inflight, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        sid, row = fut.result()
                    except BrokenProcessPool:
                        # a decoder crash here: leave the rest for the next scan
                        pending.clear()
                        inflight = set()
                        break
                    self.done += 1
                    if row is not None:
                        rows.append((sid, row))
                        report.analysed += 1
                if len(rows) >= self.opt.commit_files or (rows and not (pending or inflight)):
                    self.lib.write_analysis(rows)
                    rows.clear()
                now = time.monotonic()
                if now - last_progress > 0.1:
                    self._report_progress("analysing")
                    last_progress = now
            self.lib.write_analysis(rows)
        finally:
            _close_pool(pool)

    def _take(self, res: _TaskResult, followups: deque[tuple[int, int]],
              report: ScanReport) -> None:
        job = self.jobs.get(res.key)
        if job is None or job.error is not None:
            return  # another segment of this file already failed
        if res.vanished:
            # Deleted between the walk and the read: a known file is now missing, a new
            # one is simply not added.
            self.jobs.pop(res.key)
            self.done += 1
            report.vanished += 1
            problem = (job.entry.path, "file disappeared during the scan")
            report.problems.append(problem)
            if job.known is not None:
                self.to_mark_missing.append(job.known.id)
            else:
                report.unlisted.append(problem)
            return
        if res.error is not None:
            job.error = res.error
            # keep the fingerprint only under a verdict on the bytes (not retried then)
            job.content_hash = (res.content_hash or job.content_hash) if res.verdict else None
            return
        if res.stat:
            job.stats.add(res.stat)
        if res.stat_after:
            job.stats.add(res.stat_after)
        if res.seg == 0:
            job.info, job.plan, job.content_hash = res.info, res.plan, res.content_hash
            job.analysis = res.analysis
            followups.extend((res.key, s) for s in range(1, len(res.plan or [])))
        assert res.segment is not None
        job.segments[res.seg] = res.segment
        if self.model is not None and not job.refresh_only:
            self.queue.append((res.key, res.seg))
            self.queued_windows += len(res.segment.starts)
        else:  # nothing will embed these windows: keep only what the record needs
            res.segment.audio = _no_audio(res.segment.audio)


def scan(library: Library, dirs: list[str], model: EmbeddingModel | None = None, *,
         options: ScanOptions | None = None, progress: ProgressCallback = no_progress,
         cancel: CancelToken | None = None) -> ScanReport:
    """Scan ``dirs`` into ``library``, embedding with ``model`` (None: index and decode only).

    Returns a report; a cancelled scan commits what it finished and sets ``cancelled``.
    """
    report = ScanReport(roots=[os.path.abspath(d) for d in dirs])
    t0 = time.perf_counter()
    with job_lock(library.path, "scan"):  # never beside a relabel moving files (core.joblock)
        make_backup(library, "scan")
        scanner = Scanner(library, model, options or ScanOptions(), progress,
                          cancel or CancelToken())
        try:
            scanner.run(dirs, report)
        except LibraryFull as full:
            raise LibraryFull(full.path, "run the scan again: it goes on where it "
                                         "stopped") from None
        if scanner.changed_ok:
            report.examples_changed = _examples_changed(library, scanner.changed_ok)
    report.errors_in_library = int(library.stats()["by_status"].get("error", 0))
    report.seconds = time.perf_counter() - t0
    return report


def _examples_changed(library: Library, old_hash: dict[int, str | None]) -> list[dict[str, str]]:
    """The examples among the files whose bytes changed and now decode to other audio."""
    from sqlalchemy import select

    from core.schema import samples, supports, trees
    from core.trees import read_tree

    ids = list(old_hash)
    out: list[dict[str, str]] = []
    with library.reading() as conn:
        rows = []
        for a in range(0, len(ids), 500):
            rows += conn.execute(
                select(supports.c.sample_id, samples.c.path, samples.c.content_hash,
                       trees.c.name, supports.c.node_id)
                .join(samples, samples.c.id == supports.c.sample_id)
                .join(trees, trees.c.id == supports.c.tree_id)
                .where(supports.c.sample_id.in_(ids[a:a + 500]))).all()
        loaded = {name: read_tree(conn, name) for name in {r[3] for r in rows}}
    for sid, path, new_hash, tree, node_id in rows:
        if new_hash is not None and new_hash == old_hash[sid]:
            continue  # touched, same audio
        out.append({"path": path, "tree": tree, "node": loaded[tree].path_str(node_id)})
    return sorted(out, key=lambda d: (d["tree"], d["path"]))
