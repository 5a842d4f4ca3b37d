"""Work off the UI thread.

Two kinds of work, so that the UI thread never waits on the library or the network:

- :class:`Engine`: one background thread that owns a library connection and the
  classifier (its in-memory embeddings). Short requests (load the table, re-predict a
  tree, find similar, add examples, edit the tree) queue there and run one at a time;
  each answer comes back to the UI thread as a callback. A request may carry a ``key``:
  a newer request with the same key replaces one still waiting (typing in the search
  box, clicking through files).
- :class:`JobRunner`: long jobs (scan, relabel, undo, map projection) in a thread of
  their own, with their own library connection, a :class:`core.jobs.Progress` stream
  (throttled to 10 updates a second) and a :class:`core.jobs.CancelToken`.

SQLite in WAL mode lets the engine read while a job writes; the library's busy timeout
covers the rest.

An answer may come back after the window that asked was closed (the dialogs delete
themselves on close): requests and job connections name an ``owner`` widget, and an answer
whose owner is gone is dropped instead of reaching deleted widgets (:func:`alive`,
:func:`owned`, :func:`post`).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal

from core.classify import Classifier, Thresholds, store_thresholds
from core.errors import Cancelled, LibraryError, SampletreeError
from core.jobs import CancelToken, Progress
from core.library import Library


def library_gone(path: Path) -> LibraryError:
    return LibraryError(
        f"the library {path} is gone (deleted, moved, or its drive removed) since the app "
        "opened it; nothing was written. Put it back, or open another library (File menu)")


class _LibraryFile:
    """The library file the app opened (made there by ``open_window`` when it was missing):
    later connections open that one only, never a new empty library where it was, and a
    connection held open is dropped once the file is gone (writes to a deleted file are
    lost when it closes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = path.exists()  # (tests may start an engine on a library not made yet)

    def open(self) -> Library:
        if self.seen and not self.path.exists():
            raise library_gone(self.path)
        lib = Library(self.path, create=not self.seen)
        self.seen = True
        return lib

    def gone(self) -> bool:
        return self.seen and not self.path.exists()


def describe(exc: BaseException) -> str:
    """One line a user can act on."""
    if isinstance(exc, SampletreeError):
        return str(exc)
    if isinstance(exc, OSError):
        text = exc.strerror or str(exc)
        return f"{text}: {exc.filename}" if exc.filename else text
    return f"{type(exc).__name__}: {exc}"


def alive(obj: object) -> bool:
    """Whether a Qt object still exists (its C++ side not deleted)."""
    return obj is not None and shiboken6.isValid(obj)


def owned(owner: QObject, fn: Callable[..., Any]) -> Callable[..., None]:
    """``fn``, called only while ``owner`` exists: connect a job's signals through it when
    ``fn`` touches a window that may close first (a lambda connection outlives it)."""
    def call(*args: Any) -> None:
        if alive(owner):
            fn(*args)
    return call


def _owner_of(*fns: Callable[..., Any] | None) -> QObject | None:
    """The Qt object a bound-method callback belongs to, if any."""
    for fn in fns:
        obj = getattr(fn, "__self__", None)
        if isinstance(obj, QObject):
            return obj
    return None


class _Poster(QObject):
    """Runs a callable on the UI thread for a worker thread, if its owner still exists. It
    lives as long as the program, so a thread never emits on an object being deleted."""

    _posted = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._posted.connect(self._run)

    def _run(self, item: tuple[QObject, Callable[..., Any], tuple[Any, ...]]) -> None:
        owner, fn, args = item
        if alive(owner):
            fn(*args)


_POSTER: _Poster | None = None


def poster() -> Callable[..., None]:
    """``post(owner, fn, *args)`` for a worker thread: ``fn(*args)`` runs on the UI thread
    unless ``owner`` was deleted meanwhile. Call this on the UI thread (it creates the
    relay there the first time)."""
    global _POSTER
    if _POSTER is None:
        _POSTER = _Poster()
    relay = _POSTER

    def post(owner: QObject, fn: Callable[..., Any], *args: Any) -> None:
        relay._posted.emit((owner, fn, args))
    return post


@dataclass
class EngineState:
    """What engine requests work with (only ever touched from the engine thread)."""

    lib: Library
    classifier: Classifier
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Request:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    done: Callable[[Any], None] | None
    failed: Callable[[str], None] | None
    key: str | None
    owner: QObject | None = None


class Engine(QObject):
    """The library's own thread. ``call(fn, *args, done=…)`` runs ``fn(state, *args)`` there."""

    _answer = Signal(object)
    #: a request failed and had no ``failed`` callback: (message)
    error = Signal(str)
    #: requests waiting or running (for a busy indicator)
    busy = Signal(bool)

    def __init__(self, library_path: str | Path, thresholds: Thresholds | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library_path = Path(library_path)
        self._file = _LibraryFile(self.library_path)
        self._thresholds = thresholds  # None: the library's own (core.classify.stored_thresholds)
        self._queue: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._running = False
        self._state: EngineState | None = None
        self._answer.connect(self._deliver)
        self._thread = threading.Thread(target=self._loop, name="sampletree-engine", daemon=True)
        self._thread.start()

    # -- UI thread ---------------------------------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any, done: Callable[[Any], None] | None = None,
             failed: Callable[[str], None] | None = None, key: str | None = None,
             owner: QObject | None = None) -> None:
        """``owner``: the widget ``done``/``failed`` work on (a bound method's own object
        when not given); the answer is dropped if it was deleted before it came back."""
        owner = owner if owner is not None else _owner_of(done, failed)
        with self._cond:
            if key is not None:
                self._queue = deque(r for r in self._queue if r.key != key)
            self._queue.append(_Request(fn, args, done, failed, key, owner))
            self._cond.notify()
        self.busy.emit(True)

    def set_thresholds(self, thresholds: Thresholds,
                       done: Callable[[Any], None] | None = None) -> None:
        """Make ``thresholds`` the library's (``core.classify.store_thresholds``): the app
        and every command label with them from now on."""
        self.call(lambda state: store_thresholds(state.lib, thresholds), done=done)

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + (1 if self._running else 0)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until every request ran (tests and shutdown only)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.pending():
                return True
            time.sleep(0.005)
        return False

    def shutdown(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            self._queue.clear()
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout_s)

    def _deliver(self, payload: tuple[_Request, bool, Any]) -> None:
        request, ok, value = payload
        # the window that asked may have closed meanwhile: its callbacks are dropped (an
        # error no callback handles still reaches the error signal)
        gone = request.owner is not None and not alive(request.owner)
        try:
            if ok and request.done is not None:
                if not gone:
                    request.done(value)
            elif not ok:
                if request.failed is not None:
                    if not gone:
                        request.failed(value)
                else:
                    self.error.emit(value)
        finally:
            if not self.pending():
                self.busy.emit(False)

    # -- engine thread -----------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    break
                request = self._queue.popleft()
                self._running = True
            try:
                state = self._open()
                value, ok = request.fn(state, *request.args), True
            except BaseException as exc:  # delivered to the UI as a message
                if not isinstance(exc, SampletreeError | OSError):
                    traceback.print_exc()
                value, ok = describe(exc), False
            finally:
                with self._cond:
                    self._running = False
            try:
                self._answer.emit((request, ok, value))
            except RuntimeError:  # the window is gone
                break
        if self._state is not None:
            self._state.lib.close()

    def _open(self) -> EngineState:
        if self._state is not None and self._file.gone():
            state, self._state = self._state, None
            state.lib.close()
        if self._state is None:
            lib = self._file.open()
            self._state = EngineState(lib, Classifier(lib, self._thresholds))
        return self._state


# -- long jobs ----------------------------------------------------------------------------

JobFn = Callable[[Library, Callable[[Progress], None], CancelToken], Any]


class Job(QObject):
    """One long job. Signals arrive on the UI thread."""

    progress = Signal(object)  # core.jobs.Progress
    finished = Signal(object)  # the job's result
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.token = CancelToken()
        self.done = False
        self.result: Any = None
        self.message: str | None = None

    def cancel(self) -> None:
        self.token.cancel()


class JobRunner(QObject):
    """Runs one long job at a time in its own thread with its own library connection."""

    started = Signal(object)  # Job
    ended = Signal(object)  # Job

    def __init__(self, library_path: str | Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library_path = Path(library_path)
        self._file = _LibraryFile(self.library_path)
        self.current: Job | None = None
        self._thread: threading.Thread | None = None
        self._post = poster()  # made here, on the UI thread

    @property
    def running(self) -> bool:
        return self.current is not None and not self.current.done

    def start(self, name: str, fn: JobFn) -> Job:
        """Start ``fn(lib, progress, cancel)``; refused while another job runs."""
        if self.running:
            assert self.current is not None
            raise SampletreeError(f"{self.current.name} is still running: wait for it to "
                                  "finish or cancel it first")
        job = Job(name, self)
        job.finished.connect(lambda _r, j=job: self._end(j))
        job.failed.connect(lambda _m, j=job: self._end(j))
        job.cancelled.connect(lambda j=job: self._end(j))
        self.current = job
        self._thread = threading.Thread(target=self._run, args=(job, fn),
                                        name=f"sampletree-job-{name}", daemon=True)
        self.started.emit(job)
        self._thread.start()
        return job

    def _end(self, job: Job) -> None:
        job.done = True
        self.ended.emit(job)

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Block until the current job's thread ended (tests and shutdown only)."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self, job: Job, fn: JobFn) -> None:
        last = [0.0]

        def progress(p: Progress) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1 or (p.total and p.done >= p.total):
                last[0] = now
                job.progress.emit(p)

        # The end is signalled from the UI thread, in its event loop: whoever connects to
        # the job right after start() (the dialog that started it, the jobs bar) hears it
        # even when the job ends at once (refused as busy); a signal emitted from this
        # thread before they connected reached no one, and the dialog waited for ever.
        lib: Library | None = None
        try:
            lib = self._file.open()
            result = fn(lib, progress, job.token)
        except Cancelled:
            self._post(self, job.cancelled.emit)
            return
        except BaseException as exc:
            if not isinstance(exc, SampletreeError | OSError):
                traceback.print_exc()
            job.message = describe(exc)
            self._post(self, job.failed.emit, job.message)
            return
        finally:
            if lib is not None:
                lib.close()
        job.result = result
        if job.token.cancelled or getattr(result, "cancelled", False):
            self._post(self, job.cancelled.emit)
        else:
            self._post(self, job.finished.emit, result)
