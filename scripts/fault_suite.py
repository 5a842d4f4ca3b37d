#!/usr/bin/env python3
"""Sampletree's long fault suite: "never lose a library" (issue #10).

    python scripts/fault_suite.py [--rounds N] [--files N] [--cases a,b,...] [--json OUT]
                                  [--seed N] [--keep] [--workdir DIR] [--list]

It writes a realistic sample folder (real audio files from numpy + soundfile, nested folders,
odd names: unicode, spaces, a newline, a non-UTF-8 byte, a leading dash, a very long path),
scans it once into a reference library with the real ``sampletree`` command, then runs each
fault case ``--rounds`` times against the real command line in subprocesses (and the desktop
app, headless, for ``app_and_cli``) and prints a Markdown table::

    | case | tried | survived | lost | failed | notes |

A round is **lost** when the evidence says something of the user's was lost or damaged:

- an original audio file is gone or its bytes changed (sha256 of every file recorded first);
- ``PRAGMA integrity_check`` / ``foreign_key_check`` of the library is not clean;
- an example (tree, node, file) or a file's label that the library held is gone;
- a record contradicts the disk (an ``ok`` record whose file is gone, a ``missing`` record
  whose file exists, an audio file nowhere in the library);
- the rescan after the fault differs from a clean scan of the same folder
  (path → status, number of windows);
- a command wrote to a library it should have left alone (a damaged one, a read-only one).

A round **failed** when nothing was lost but a promise was broken: a traceback, a hang past
the time bound, a missing or unclear message, a wrong exit status, decoder processes left
running after the CLI was killed (counted as "orphans"). A round is **skipped** when the
machine cannot stage the fault (no permission to mount a tmpfs); the reason is printed.

Exit status: 0 when every round survived (or was skipped), 1 when any was lost or failed,
2 when the suite itself could not start. Everything happens under a temporary folder (kept
with ``--keep``); the only global change is a tmpfs or bind mount (unmounted after).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.gen_library import synthesize  # noqa: E402  (after the sys.path line)

TREE = "t"
TRACEBACK = "Traceback (most recent call last)"
CMD_TIMEOUT_S = 300.0
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff", ".mp3")


# -- results ---------------------------------------------------------------------------------

class Lost(Exception):
    """Evidence that something was lost (a file, bytes, a label, the library's integrity)."""


class Failed(Exception):
    """Nothing was lost, but a promise was broken (a traceback, a hang, an unclear message)."""


class Skipped(Exception):
    """The machine cannot stage this fault; the message says why."""


@dataclass
class Tally:
    tried: int = 0
    survived: int = 0
    lost: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    notes: dict[str, int] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes[text] = self.notes.get(text, 0) + 1


@dataclass
class Case:
    name: str
    func: Callable[[World, int, random.Random, Tally], None]
    doc: str


CASES: dict[str, Case] = {}


def case(func: Callable[[World, int, random.Random, Tally], None]) -> Callable:
    """Register a fault case: ``func(world, round_index, rng, tally)``; raise Lost, Failed
    or Skipped, or return normally when the round survived."""
    CASES[func.__name__] = Case(func.__name__, func, (func.__doc__ or "").strip().split("\n")[0])
    return func


# -- running the command line -----------------------------------------------------------------

def cli_command() -> list[str]:
    """The ``sampletree`` console script beside this Python, else ``python -m app``."""
    script = Path(sys.executable).parent / "sampletree"
    if script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "app"]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"]
                                     if env.get("PYTHONPATH") else "")
    env.pop("SAMPLETREE_LIBRARY", None)
    env.pop("SAMPLETREE_PROGRESS", None)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["SAMPLETREE_NO_AUDIO"] = "1"
    env.update(extra)
    return env


@dataclass
class Run:
    args: list[str]
    rc: int | None
    out: str
    err: str
    seconds: float
    timed_out: bool = False

    @property
    def traceback(self) -> bool:
        return TRACEBACK in self.err or TRACEBACK in self.out

    def error_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.startswith("sampletree: error:")]

    def brief(self) -> str:
        tail = (self.err.strip().splitlines() or [""])[-1][:160]
        return f"`{' '.join(self.args[:3])}` rc={self.rc}: {tail}"


def spawn(cmd: list[str], env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start a command in its own session, its output going to temporary files (not pipes:
    a decoder process that outlives a killed command would hold a pipe open)."""
    paths = []
    for what in ("out", "err"):
        fd, name = tempfile.mkstemp(prefix=f"sampletree-faults-{what}-")
        os.close(fd)
        paths.append(name)
    with open(paths[0], "ab") as out, open(paths[1], "ab") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env or child_env(), start_new_session=True, cwd=cwd)
    proc.output_paths = paths  # type: ignore[attr-defined]
    return proc


def output(proc: subprocess.Popen) -> tuple[str, str]:
    texts = []
    for name in proc.output_paths:  # type: ignore[attr-defined]
        try:
            texts.append(Path(name).read_bytes().decode("utf-8", "replace"))
        except OSError:
            texts.append("")
    return texts[0], texts[1]


def forget(proc: subprocess.Popen) -> None:
    for name in proc.output_paths:  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            os.unlink(name)


def start(library: Path, *args: str, env: dict[str, str] | None = None,
          prefix: list[str] | None = None) -> subprocess.Popen:
    return spawn((prefix or []) + cli_command() + ["--library", str(library), *args], env)


def finish(proc: subprocess.Popen, args: list[str], t0: float,
           timeout: float = CMD_TIMEOUT_S) -> Run:
    timed_out = False
    try:
        proc.wait(timeout=max(0.1, timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
        proc.wait()
    kill_group(proc)  # anything it left running in its session (started by this suite)
    out, err = output(proc)
    forget(proc)
    return Run(list(args), proc.returncode, out, err, time.monotonic() - t0, timed_out)


def cli(library: Path, *args: str, timeout: float = CMD_TIMEOUT_S,
        prefix: list[str] | None = None) -> Run:
    t0 = time.monotonic()
    return finish(start(library, *args, prefix=prefix), list(args), t0, timeout)


def kill_group(proc: subprocess.Popen) -> None:
    """Kill a process this suite started and everything in its session."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def must(run: Run, what: str) -> Run:
    """A command that has to succeed for the round to go on."""
    if run.timed_out:
        raise Failed(f"{what}: hung past {CMD_TIMEOUT_S:.0f} s")
    if run.traceback:
        raise Failed(f"{what}: traceback: {last_line(run.err)}")
    if run.rc != 0:
        raise Failed(f"{what}: exit {run.rc}: {last_line(run.err)}")
    return run


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "(no message)"


# -- the sample folder -----------------------------------------------------------------------

FOLDERS = [  # (relative folder, family)
    ("Drums/Kicks", "kick"), ("Drums/Snares", "snare"), ("Drums/Hats/Closed", "hat"),
    ("FX/Risers", "chirp"), ("FX/Impacts", "impact"), ("Bass", "bass"),
    ("Café Sessions/Stabs", "pluck"), ("Textures", "texture"),
]
SPECS = [("WAV", "PCM_16", ".wav"), ("WAV", "PCM_24", ".wav"), ("FLAC", "PCM_16", ".flac"),
         ("OGG", "VORBIS", ".ogg"), ("AIFF", "PCM_16", ".aif"), ("WAV", "FLOAT", ".wav")]
ODD_FOLDER = "Odd names"
LONG_PARTS = 5  # nested folders of ~200 bytes: a path over 1,000 bytes


def odd_file_names() -> list[str]:
    """File names (in ODD_FOLDER, or the long path) that break naive code."""
    long_dir = "/".join(f"{'deep ' * 39}{i}" for i in range(LONG_PARTS))
    return [
        "kick\nwith newline.wav",
        "-leading dash.wav",
        "--help.wav",
        "ünïcødé ドラム 鼓.flac",
        "🥁 snare.wav",
        "  spaces  around  .wav",
        "tab\there.wav",
        "it's \"quoted\" \\ back.wav",
        "semi;colon & $HOME.wav",
        os.fsdecode(b"latin1 caf\xe9.wav"),  # not UTF-8: stored as raw bytes
        f"{long_dir}/{'long name ' * 24}.wav",
    ]


def write_audio(path: Path, rng: np.random.Generator, family: str, spec: tuple[str, str, str],
                max_s: float = 2.5) -> None:
    sr = int(rng.choice([22050, 44100, 48000]))
    dur = math.exp(rng.uniform(math.log(0.15), math.log(max_s)))
    n = max(256, int(dur * sr))
    y = synthesize(rng, family, n, sr) * 10 ** (rng.uniform(-18, -1) / 20)
    data = (y[:, None] * np.array([[1.0, rng.uniform(0.6, 1.0)]]) if rng.random() < 0.5
            else y[:, None]).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-write" + spec[2])
    with open(tmp, "wb") as f:  # a file object: libsndfile refuses names over ~1 KiB
        sf.write(f, data, sr, format=spec[0], subtype=spec[1])
    os.replace(tmp, path)


def make_samples(out: Path, n_files: int, seed: int) -> None:
    """``n_files`` audio files in nested folders, the odd names, one unreadable file and a
    text file. Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    odd = odd_file_names()
    regular = max(len(FOLDERS), n_files - len(odd) - 1)
    for i in range(regular):
        folder, family = FOLDERS[i % len(FOLDERS)]
        spec = SPECS[int(rng.integers(len(SPECS)))]
        stem = family.capitalize()
        write_audio(out / folder / f"{stem} {i // len(FOLDERS) + 1:03d}{spec[2]}", rng, family,
                    spec)
    for j, name in enumerate(odd):
        spec = ("FLAC", "PCM_16", ".flac") if name.endswith(".flac") else SPECS[0]
        write_audio(out / ODD_FOLDER / name, rng, ["kick", "snare", "pluck"][j % 3], spec)
    (out / "Drums" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio")
    (out / "README.txt").write_text("not audio\n", encoding="utf-8")


def audio_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if f.lower().endswith(AUDIO_SUFFIXES) and not f.startswith(".") and \
                    p.is_file() and not p.is_symlink():
                yield p


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every audio file under ``root``."""
    return {os.path.relpath(p, root): sha256(p) for p in audio_files(root)}


# -- evidence --------------------------------------------------------------------------------

@dataclass
class Snapshot:
    records: dict[str, tuple[str, int]]  # path → (status, n_windows)
    supports: set[tuple[str, str, str]]  # (tree, node path, file path)
    labels: dict[tuple[str, str], str]  # (tree, file path) → reported node or "unknown"
    trees: set[str]
    batches: dict[int, str]  # relabel batch id → state

    def relocated(self, old: str, new: str) -> Snapshot:
        def mv(p: str) -> str:
            return new + p[len(old):] if p.startswith(old) else p
        return Snapshot({mv(p): v for p, v in self.records.items()},
                        {(t, n, mv(p)) for t, n, p in self.supports},
                        {(t, mv(p)): v for (t, p), v in self.labels.items()},
                        set(self.trees), dict(self.batches))


def _path(value: Any) -> str:
    return os.fsdecode(bytes(value)) if isinstance(value, (bytes, memoryview)) else str(value)


def connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db), timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def integrity(db: Path) -> list[str]:
    """Problems ``PRAGMA integrity_check`` and ``foreign_key_check`` find (empty: healthy)."""
    if not db.exists():
        return [f"{db.name} does not exist"]
    try:
        with contextlib.closing(connect(db)) as conn:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            fks = conn.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return [f"sqlite: {exc}"]
    out = [] if rows == ["ok"] else [f"integrity_check: {'; '.join(rows[:3])}"]
    if fks:
        out.append(f"foreign_key_check: {len(fks)} dangling references, e.g. {fks[0]}")
    return out


def snapshot(db: Path) -> Snapshot:
    with contextlib.closing(connect(db)) as conn:
        records = {_path(p): (s, n) for p, s, n in
                   conn.execute("SELECT path, status, n_windows FROM samples")}
        trees = {i: name for i, name in conn.execute("SELECT id, name FROM trees")}
        nodes = {i: (parent, name) for i, parent, name in
                 conn.execute("SELECT id, parent_id, name FROM nodes")}

        def node_path(i: int | None) -> str:
            parts = []
            while i is not None and i in nodes:
                parent, name = nodes[i]
                if name:
                    parts.append(name)
                i = parent
            return "/".join(reversed(parts))

        supports = {(trees[t], node_path(n), _path(p)) for t, n, p in conn.execute(
            "SELECT s.tree_id, s.node_id, m.path FROM supports s "
            "JOIN samples m ON m.id = s.sample_id")}
        labels = {(trees[t], _path(p)): ("unknown" if u else node_path(n)) for t, p, n, u in
                  conn.execute("SELECT p.tree_id, m.path, p.node_id, p.unknown "
                               "FROM predictions p JOIN samples m ON m.id = p.sample_id")}
        batches = dict(conn.execute("SELECT id, state FROM relabel_batches"))
    return Snapshot(records, supports, labels, set(trees.values()), batches)


def check_originals(files: dict[str, str], root: Path, *, elsewhere: Path | None = None
                    ) -> list[str]:
    """Every recorded file byte-identical at its path (or, with ``elsewhere``, found with
    the same bytes somewhere under that folder: a relabel in progress)."""
    found_elsewhere: set[str] = set()
    if elsewhere is not None and elsewhere.exists():
        found_elsewhere = {sha256(p) for p in audio_files(elsewhere)}
    problems = []
    for rel, digest in files.items():
        p = root / rel
        if p.is_file() and not p.is_symlink() and sha256(p) == digest:
            continue
        if digest in found_elsewhere:
            continue
        problems.append(f"{'changed' if p.exists() else 'gone'}: {rel!r}")
    return problems


def check_records_vs_disk(snap: Snapshot, roots: list[Path]) -> list[str]:
    """No ``ok`` record without its file, no ``missing`` record for a file that exists, and
    every audio file under the roots known to the library."""
    problems = []
    for path, (status, _n) in snap.records.items():
        exists = os.path.isfile(path)
        if status == "ok" and not exists:
            problems.append(f"ok record but no file: {path!r}")
        if status == "missing" and exists:
            problems.append(f"missing record but the file exists: {path!r}")
    known = {p for p, (s, _n) in snap.records.items() if s != "missing"}
    for root in roots:
        for p in audio_files(root):
            if str(p) not in known:
                problems.append(f"audio file unknown to the library: {str(p)!r}")
    return problems


def compare(got: Snapshot, want: Snapshot, *, labels: bool = True) -> list[str]:
    """What ``got`` lost against ``want``: records (status, windows), examples, labels."""
    problems = []
    for path, rec in want.records.items():
        if path not in got.records:
            problems.append(f"record gone: {path!r}")
        elif got.records[path] != rec:
            problems.append(f"{path!r}: {got.records[path]} != clean scan's {rec}")
    for path in set(got.records) - set(want.records):
        problems.append(f"extra record: {path!r} {got.records[path]}")
    for s in want.supports - got.supports:
        problems.append(f"example gone: {s}")
    if labels:
        for key in want.labels:
            if key not in got.labels:
                problems.append(f"label gone: {key}")
    return problems


def raise_if(kind: type[Exception], problems: list[str], what: str) -> None:
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise kind(f"{what}: {'; '.join(problems[:3])}{more}")


def wait_children_gone(pids: set[int], bound_s: float) -> list[int]:
    """Pids (of processes this suite's command started) still alive after ``bound_s``."""
    deadline = time.monotonic() + bound_s
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if _alive(p)}
        time.sleep(0.2)
    return sorted(p for p in alive if _alive(p))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def count(db: Path, query: str) -> int:
    """A number read from the library by another process (0 while it cannot be read)."""
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True,
                                                timeout=0.2)) as conn:
            return int(conn.execute(query).fetchone()[0] or 0)
    except sqlite3.Error:
        return 0


def run_and_kill(proc: subprocess.Popen, after_s: float,
                 until: Callable[[], bool] | None = None) -> tuple[bool, set[int]]:
    """kill -9 the command (only the command itself, as a user's kill would) after
    ``after_s``, or as soon as ``until()`` is true when given (``after_s`` then bounds the
    wait); returns (was it still running, the child processes it had)."""
    children: set[int] = set()
    deadline = time.monotonic() + after_s
    ps = psutil.Process(proc.pid)
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            children |= {c.pid for c in ps.children(recursive=True)}
        if until is not None and until():
            break
        time.sleep(0.02)
    running = proc.poll() is None
    if running:
        with contextlib.suppress(psutil.Error):
            children |= {c.pid for c in ps.children(recursive=True)}
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    forget(proc)
    return running, children


# -- the world a round works in ------------------------------------------------------------------

@dataclass
class World:
    """The reference sample folder and library, shared read-only by every round, and a
    scratch folder per round."""

    base: Path
    samples: Path
    files: dict[str, str]
    lib: Path  # scanned + tree + examples
    scan_only: Snapshot  # the clean scan, before any tree
    ref: Snapshot  # the reference library after labeling
    labeled: list[str]
    relabel_s: float = 1.0
    relabel_ops: int = 1
    scan_s: float = 5.0
    args: argparse.Namespace | None = None

    def scratch(self, name: str) -> Path:
        d = self.base / "rounds" / name
        if d.exists():
            force_rmtree(d)
        d.mkdir(parents=True)
        return d

    def clone(self, into: Path) -> tuple[Path, Path]:
        """A copy of the sample folder and of the reference library pointing at it
        (mtimes kept, so a rescan sees nothing changed)."""
        samples = into / "samples"
        shutil.copytree(self.samples, samples, symlinks=True)
        lib = into / "library.sqlite"
        copy_library(self.lib, lib)
        relocate_library(lib, str(self.samples), str(samples))
        return samples, lib


def force_rmtree(path: Path) -> None:
    def onerror(_f: Any, p: str, _e: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o755)
            os.chmod(p, 0o755)
        with contextlib.suppress(OSError):
            (shutil.rmtree if os.path.isdir(p) and not os.path.islink(p) else os.remove)(p)
    shutil.rmtree(path, onerror=onerror)


def copy_library(src: Path, dst: Path) -> None:
    """A consistent copy through SQLite's backup API (WAL included)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(connect(src)) as a, contextlib.closing(sqlite3.connect(dst)) as b:
        a.backup(b)
    with contextlib.closing(sqlite3.connect(dst)) as b:
        b.execute("PRAGMA journal_mode=WAL")


def relocate_library(db: Path, old: str, new: str) -> None:
    """Point a copied library at a copied sample folder (paths keep their stored type)."""
    with contextlib.closing(connect(db)) as conn, conn:
        for table in ("samples", "roots"):
            rows = conn.execute(f"SELECT id, path FROM {table}").fetchall()
            for rid, p in rows:
                text = _path(p)
                if not text.startswith(old):
                    continue
                moved = new + text[len(old):]
                value: Any = moved
                if isinstance(p, bytes):
                    value = os.fsencode(moved)
                conn.execute(f"UPDATE {table} SET path = ? WHERE id = ?",
                             (value, rid))


def build_world(base: Path, args: argparse.Namespace) -> World:
    samples = base / "Samples"
    t0 = time.monotonic()
    make_samples(samples, args.files, args.seed)
    files = manifest(samples)
    print(f"  wrote {len(files)} audio files in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    lib = base / "reference" / "library.sqlite"
    lib.parent.mkdir()
    t0 = time.monotonic()
    must(cli(lib, "scan", str(samples), "--quiet"), "reference scan")
    scan_s = time.monotonic() - t0
    print(f"  reference scan in {scan_s:.1f} s", file=sys.stderr)
    scan_only = snapshot(lib)
    must(cli(lib, "tree", "create", TREE, "--from", "producer"), "tree create")
    by_folder: dict[str, list[str]] = {}
    for path, (status, _n) in sorted(scan_only.records.items()):
        if status == "ok":
            by_folder.setdefault(os.path.relpath(os.path.dirname(path), samples), []).append(path)
    labeled = []
    for folder, node in (("Drums/Kicks", "Drums/Kick"), ("Drums/Snares", "Drums/Snare"),
                         ("Drums/Hats/Closed", "Drums/Hi-hat"), ("Bass", "Bass"),
                         ("FX/Risers", "FX")):
        chosen = by_folder.get(folder, [])[:3]
        if chosen:
            must(cli(lib, "label", TREE, node, *chosen), f"label {node}")
            labeled += chosen
    ref = snapshot(lib)
    raise_if(RuntimeError, integrity(lib), "reference library")
    # how long a relabel runs, to aim the kills inside it
    scratch = base / "calibrate"
    scratch.mkdir()
    w = World(base, samples, files, lib, scan_only, ref, labeled, args=args)
    _samples, lib2 = w.clone(scratch)
    r = must(cli(lib2, "relabel", TREE, "--mode", "copy", "--dest", str(scratch / "out")),
             "calibration relabel")
    w.relabel_s, w.scan_s = r.seconds, scan_s
    w.relabel_ops = max(1, count(lib2, "SELECT count(*) FROM relabel_ops"))
    force_rmtree(scratch)
    print(f"  reference library: {len(ref.records)} records, {len(ref.supports)} examples, "
          f"{len(ref.labels)} labels; a relabel (copy) takes {w.relabel_s:.1f} s",
          file=sys.stderr)
    return w


def latest_batch(lib: Path) -> int | None:
    with contextlib.closing(connect(lib)) as conn:
        row = conn.execute("SELECT max(id) FROM relabel_batches").fetchone()
    return row[0]


def checks_after(w: World, lib: Path, samples: Path, want: Snapshot, *,
                 labels: bool = True) -> None:
    """The standard evidence after a fault: originals, integrity, records vs disk, and the
    library equal to the clean one."""
    raise_if(Lost, check_originals(w.files, samples), "originals")
    raise_if(Lost, integrity(lib), "library")
    snap = snapshot(lib)
    raise_if(Lost, check_records_vs_disk(snap, [samples]), "records vs disk")
    raise_if(Lost, compare(snap, want, labels=labels), "against the clean scan")


# -- the cases ------------------------------------------------------------------------------

def touch_half(folder: Path) -> None:
    """Every other audio file's mtime +1 s: a rescan reads them again (bytes unchanged)."""
    for i, p in enumerate(sorted(audio_files(folder))):
        if i % 2 == 0:
            st = p.stat()
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@case
def kill9_scan(w: World, r: int, rng: random.Random, t: Tally) -> None:
    """kill -9 of `scan` at a random time (first scan, or a rescan of a labeled library);
    rescan; the library equals a clean scan; no decoder process outlives the kill by 15 s."""
    d = w.scratch(f"kill9_scan-{r}")
    fresh = r % 2 == 0
    if fresh:
        samples, lib = w.samples, d / "library.sqlite"
        want = w.scan_only
    else:
        samples, lib = w.clone(d)
        want = w.ref.relocated(str(w.samples), str(samples))
        touch_half(samples)
    n = len(w.files)
    proc = start(lib, "scan", str(samples), "--quiet")
    if r % 4 < 2:  # at a random time (start-up, walk, decode, commit)
        after = rng.uniform(0.2, max(3.0, w.scan_s))
        running, children = run_and_kill(proc, after)
        how = f"at {after:.1f} s"
    else:  # once a random number of files are committed: mid-scan for sure
        k = rng.randint(1, max(1, n - 2))
        query = ("SELECT count(*) FROM samples" if fresh else
                 "SELECT files_done FROM scans ORDER BY id DESC LIMIT 1")
        running, children = run_and_kill(proc, 2 * w.scan_s + 30,
                                         lambda: count(lib, query) >= k)
        after = 0.0
        how = f"after {k} files"
    t.note("first scan" if fresh else "rescan of a labeled library")
    t.details.append(f"round {r}: kill -9 {how}; {len(children)} child processes")
    if not running:
        t.note("scan ended before the kill")
    orphans = wait_children_gone(children, 15.0)
    kill_pids(orphans)
    rescan = cli(lib, "scan", str(samples), "--quiet")
    if rescan.traceback or rescan.rc != 0:
        raise_if(Lost, integrity(lib), "library after kill -9")
        raise Failed(f"rescan after kill -9: {rescan.brief()}")
    checks_after(w, lib, samples, want)
    if orphans:
        t.note("orphans")
        raise Failed(f"{len(orphans)} orphan process(es) alive 15 s after kill -9 ({how})")


@case
def kill9_relabel(w: World, r: int, rng: random.Random, t: Tally) -> None:
    """kill -9 of `relabel --mode move|copy` at a random time; the next command recovers;
    (every other round) `relabel --resume`; `undo` puts every original back, byte-identical."""
    d = w.scratch(f"kill9_relabel-{r}")
    samples, lib = w.clone(d)
    mode = "move" if r % 2 == 0 else "copy"
    resume = r % 4 >= 2
    dest = d / "sorted"
    proc = start(lib, "relabel", TREE, "--mode", mode, "--dest", str(dest))
    if r % 4 == 3:  # at a random time (start-up, plan, apply)
        running, _ = run_and_kill(proc, rng.uniform(0.3, max(0.5, w.relabel_s * 1.1)))
    else:  # once a random number of files are moved/copied: mid-batch for sure
        k = rng.randint(0, max(0, w.relabel_ops - 1))
        running, _ = run_and_kill(proc, 60.0, lambda: count(
            lib, "SELECT count(*) FROM relabel_ops WHERE state = 'done'") >= k and count(
            lib, "SELECT count(*) FROM relabel_ops") > 0)
    t.note(f"{mode}{' + resume' if resume else ''}")
    if not running:
        t.note("relabel ended before the kill")
    raise_if(Lost, check_originals(w.files, samples, elsewhere=dest), "files after kill -9")
    nxt = cli(lib, "batches", "--json")
    if nxt.traceback or nxt.rc != 0:
        raise_if(Lost, integrity(lib), "library after kill -9")
        raise Failed(f"first command after kill -9: {nxt.brief()}")
    raise_if(Lost, integrity(lib), "library after recovery")
    batch = latest_batch(lib)
    if batch is None:
        t.note("killed before the batch was planned")
        checks_after(w, lib, samples, w.ref.relocated(str(w.samples), str(samples)))
        return
    raise_if(Lost, check_originals(w.files, samples, elsewhere=dest), "files after recovery")
    if snapshot(lib).batches.get(batch) == "planned":
        t.note("killed before the batch was applied")
        checks_after(w, lib, samples, w.ref.relocated(str(w.samples), str(samples)))
        return
    state = snapshot(lib).batches.get(batch)
    if resume and state == "applied":
        t.note("nothing left to resume")
        resume = False
    if resume:
        res = cli(lib, "relabel", "--resume", str(batch))
        if res.traceback or res.rc != 0:
            t.note("resume failed")
            t.details.append(f"round {r}: {res.brief()}")
        raise_if(Lost, check_originals(w.files, samples, elsewhere=dest), "files after resume")
    undo = cli(lib, "undo", str(batch))
    raise_if(Lost, check_originals(w.files, samples), "originals after undo")
    if undo.traceback or undo.rc != 0:
        raise Failed(f"undo after kill -9: {undo.brief()}")
    leftovers = list(audio_files(dest)) if dest.exists() else []
    want = w.ref.relocated(str(w.samples), str(samples))
    checks_after(w, lib, samples, want)
    if leftovers:
        raise Failed(f"{len(leftovers)} file(s) left in the destination after undo")
    if resume and (res.traceback or res.rc != 0):
        raise Failed(f"relabel --resume: {res.brief()}")


@case
def scan_during_relabel(w: World, r: int, rng: random.Random, t: Tally) -> None:
    """`relabel --mode move` with a `scan` of its source (0.3-0.7 s later, or the relabel
    once the scan decodes): one refuses with a clear busy line, or records match the disk."""
    d = w.scratch(f"scan_during_relabel-{r}")
    samples, lib = w.clone(d)
    dest = d / "sorted"
    touch_half(samples)  # the scan has real work (decoding) while the relabel moves files
    relabel_cmd = ["relabel", TREE, "--mode", "move", "--dest", str(dest)]
    scan_cmd = ["scan", str(samples), "--quiet"]
    if r % 2 == 0:  # the relabel first, the scan 0.3-0.7 s later
        t0 = time.monotonic()
        relabel = start(lib, *relabel_cmd)
        time.sleep(0.3 + rng.uniform(0, 0.4))
        t1 = time.monotonic()
        scan = start(lib, *scan_cmd)
        t.note("relabel, then scan")
    else:  # the scan first; the relabel once the scan has walked and is decoding
        before = count(lib, "SELECT max(id) FROM scans")
        t1 = time.monotonic()
        scan = start(lib, *scan_cmd)
        while time.monotonic() - t1 < 60 and scan.poll() is None and count(
                lib, f"SELECT count(*) FROM scans WHERE id > {before} AND files_total > 0") < 1:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 1.5))
        t0 = time.monotonic()
        relabel = start(lib, *relabel_cmd)
        t.note("scan, then relabel")
    rr = finish(relabel, ["relabel"], t0)
    sr = finish(scan, ["scan"], t1)
    raise_if(Lost, check_originals(w.files, samples, elsewhere=dest), "files")
    raise_if(Lost, integrity(lib), "library")
    snap = snapshot(lib)
    raise_if(Lost, check_records_vs_disk(snap, [samples, dest]), "records vs disk")
    for run in (rr, sr):
        if run.traceback or run.timed_out:
            raise Failed(f"{run.args[0]}: {'hung' if run.timed_out else 'traceback'}: "
                         f"{last_line(run.err)}")
    for run, other in ((sr, "relabel"), (rr, "scan")):
        if run.rc == 0:
            continue
        if not any(re.search(r"busy|running|in progress|wait", ln, re.I)
                   for ln in run.error_lines()):
            raise Failed(f"{run.args[0]} beside a {other}: {run.brief()}")
        t.note(f"{run.args[0]} refused (busy)")
    batch = latest_batch(lib)
    if batch is not None:
        undo = cli(lib, "undo", str(batch))
        raise_if(Lost, check_originals(w.files, samples), "originals after undo")
        if undo.rc != 0 or undo.traceback:
            raise Failed(f"undo: {undo.brief()}")
    must(cli(lib, "scan", str(samples), "--quiet"), "rescan")
    checks_after(w, lib, samples, w.ref.relocated(str(w.samples), str(samples)))


APP_DRIVER = r'''
# The app's scan decodes in a forkserver pool, whose processes import the main module:
# like the app's own entry point, this driver runs only as __main__.
import json, os, sys, time
from pathlib import Path
from PySide6.QtWidgets import QApplication, QFileDialog
from app.gui import open_window
from app.gui.settings import Settings



def main() -> None:
    db, folder, new_folder, report = sys.argv[1:5]
    app = QApplication([])
    settings = Settings(Path(report).with_suffix(".ini"))
    settings.setValue("engine/device", "cpu")
    w = open_window(Path(db), settings)
    w.show()
    out = {"problems": []}
    w.session.problem.connect(lambda text: out["problems"].append(text))

    def pump(seconds, until=lambda: False):
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            app.processEvents()
            time.sleep(0.01)

    pump(60, lambda: w.session.loaded)
    out["loaded"] = w.session.loaded
    dlg = QFileDialog(w, "x", folder)
    dlg.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dlg.show()
    pump(1.0)
    dlg.close()
    print("DIALOG_DONE", flush=True)
    pump(0.5)
    job = w.session.scan([folder, new_folder])
    out["job_started"] = job is not None
    if job is not None:
        job.finished.connect(lambda report: out.__setitem__("job_result", str(report)[:300]))
        job.failed.connect(lambda text: out.__setitem__("job_failed", text))
        job.cancelled.connect(lambda: out.__setitem__("job_failed", "cancelled"))
        pump(240, lambda: not w.session.jobs.running)
    out["job_running_at_end"] = w.session.jobs.running
    pump(2.0)
    w.session.create_tree("apptree")
    pump(10, lambda: "apptree" in w.session.tree_names)
    out["tree_names"] = list(w.session.tree_names)
    w.close()
    pump(1.0)
    out["closed"] = not w.isVisible()
    Path(report).write_text(json.dumps(out))
    sys.exit(0)


if __name__ == "__main__":
    main()
'''


@case
def app_and_cli(w: World, r: int, rng: random.Random, t: Tally) -> None:
    """The desktop app (offscreen) opens a file dialog on the library's folder and scans,
    while the CLI runs status, ls, scan, label; both sides' writes survive; the app quits."""
    d = w.scratch(f"app_and_cli-{r}")
    samples, lib = w.clone(d)
    nprng = np.random.default_rng(r + 1000)
    app_new, cli_new = d / "app_new", d / "cli_new"
    for i in range(6):
        write_audio(app_new / f"app {i}.wav", nprng, "kick", SPECS[0])
        write_audio(cli_new / f"cli {i}.wav", nprng, "snare", SPECS[0])
    driver = d / "driver.py"
    driver.write_text(APP_DRIVER, encoding="utf-8")
    report = d / "app.json"
    t0 = time.monotonic()
    app = spawn([sys.executable, str(driver), str(lib), str(samples), str(app_new),
                 str(report)], cwd=d)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and app.poll() is None and \
            "DIALOG_DONE" not in output(app)[0]:
        time.sleep(0.1)
    if "DIALOG_DONE" not in output(app)[0]:
        kill_group(app)
        app.wait()
        err = output(app)[1]
        forget(app)
        raise Failed(f"the app did not come up: {last_line(err)}")
    cli_runs = [cli(lib, "status"), cli(lib, "ls")]
    # A scan beside the app's scan is refused with a clear "busy" line (scans and relabels
    # take turns on a library); a user tries again, and so does this case.
    scan = cli(lib, "scan", str(cli_new), "--quiet")
    refused = 0
    retry_until = time.monotonic() + 120
    while scan.rc == 1 and re.search(r"^sampletree: error: busy:", scan.err, re.M) and \
            not scan.traceback and time.monotonic() < retry_until:
        refused += 1
        time.sleep(0.5)
        scan = cli(lib, "scan", str(cli_new), "--quiet")
    if refused:
        t.note(f"CLI scan refused as busy ×{refused}, then ran")
    cli_runs.append(scan)
    snare = str(cli_new / "cli 0.wav")
    label = cli(lib, "label", TREE, "Drums/Snare", snare) if scan.rc == 0 else None
    if label is not None:
        cli_runs.append(label)
    cli_runs += [cli(lib, "status"), cli(lib, "ls")]
    app_run = finish(app, ["app"], t0, timeout=300)
    if app_run.timed_out:
        raise_if(Lost, integrity(lib), "library")
        raise Failed("the app did not quit within 300 s")
    err = app_run.err
    t.note(f"app {time.monotonic() - t0:.0f} s")
    raise_if(Lost, check_originals(w.files, samples), "originals")
    raise_if(Lost, integrity(lib), "library")
    snap = snapshot(lib)
    problems = compare(snap, w.ref.relocated(str(w.samples), str(samples)), labels=True)
    problems = [p for p in problems if not p.startswith("extra record")]
    raise_if(Lost, problems, "the reference content")
    if scan.rc == 0:
        for p in audio_files(cli_new):
            if snap.records.get(str(p), ("", 0))[0] != "ok":
                problems.append(f"CLI-scanned file not ok: {p.name} {snap.records.get(str(p))}")
    if label is not None and label.rc == 0 and \
            (TREE, "Drums/Snare", snare) not in snap.supports:
        problems.append("the CLI's example is gone")
    app_out: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    if app_out.get("job_failed"):
        t.note("the app's scan failed")
    elif app_out.get("job_started"):
        for p in audio_files(app_new):
            if snap.records.get(str(p), ("", 0))[0] != "ok":
                problems.append(f"app-scanned file not ok: {p.name} {snap.records.get(str(p))}")
    if "apptree" in app_out.get("tree_names", []) and "apptree" not in snap.trees:
        problems.append("the app's new tree is gone")
    raise_if(Lost, problems, "writes of both sides")
    raise_if(Lost, check_records_vs_disk(snap, [samples]), "records vs disk")
    bad = [run.brief() for run in cli_runs if run.traceback or run.rc != 0]
    if app_run.rc != 0 or TRACEBACK in err:
        bad.append(f"app exit {app_run.rc}: {last_line(err)}")
    if not app_out.get("job_started"):
        bad.append(f"the app's scan did not start: {app_out.get('problems')}")
    if app_out.get("job_failed"):
        bad.append(f"the app's scan failed: {app_out['job_failed'][:200]}")
    if app_out.get("problems"):
        bad.append(f"the app reported: {app_out['problems'][:2]}")
    raise_if(Failed, bad, "commands")


DAMAGE = ("garbage at 4 KiB", "garbage mid-file", "truncated")


def damage(db: Path, variant: int) -> None:
    size = db.stat().st_size
    junk = bytes(random.Random(variant).getrandbits(8) for _ in range(4096))
    if variant == 2:
        os.truncate(db, size // 2)
        return
    offset = 4096 if variant == 0 else (size // 2) // 4096 * 4096
    with open(db, "r+b") as f:
        f.seek(offset)
        f.write(junk)


@case
def damaged_library(w: World, r: int, rng: random.Random, t: Tally) -> None:
    """A damaged library (garbage at 4 KiB, mid-file, truncated): every command says
    "damaged" in one line and writes nothing; `check` exits 1; `restore` brings back the
    last backup and `check` then exits 0."""
    d = w.scratch(f"damaged_library-{r}")
    samples, lib = w.clone(d)
    must(cli(lib, "scan", str(samples), "--quiet"), "scan (makes the backup)")
    for suffix in ("-wal", "-shm"):
        Path(str(lib) + suffix).unlink(missing_ok=True)  # closed cleanly: nothing in them
    variant = r % len(DAMAGE)
    damage(lib, variant)
    t.note(DAMAGE[variant])
    digest = sha256(lib)
    probe = d / "probe.sqlite"  # a copy, so that looking at it cannot touch the damaged file
    shutil.copyfile(lib, probe)
    harmless = not integrity(probe)
    for suffix in ("", "-wal", "-shm"):
        Path(str(probe) + suffix).unlink(missing_ok=True)
    if harmless:
        raise Skipped(f"{DAMAGE[variant]}: the damage hit unused space (integrity_check clean)")
    bad = []
    commands = [["status"], ["ls"], ["classify", TREE], ["tree", "list"],
                ["relabel", TREE, "--mode", "move", "--dest", str(d / "sorted"), "--dry-run"],
                ["scan", str(samples), "--quiet"]]
    for args in commands:
        run = cli(lib, *args)
        if sha256(lib) != digest:
            raise Lost(f"`{' '.join(args[:2])}` wrote to the damaged library")
        if run.rc == 0 or run.traceback or not any("damaged" in ln.lower()
                                                   for ln in run.error_lines()):
            bad.append(run.brief())
        elif len([ln for ln in run.err.splitlines() if ln.strip()]) > 2:
            bad.append(f"{run.brief()} (more than one line)")
    raise_if(Lost, check_originals(w.files, samples), "originals")
    check = cli(lib, "check")
    if check.rc != 1 or check.traceback:
        bad.append(f"check on the damaged library: {check.brief()}")
    restore = cli(lib, "restore")
    check2 = cli(lib, "check")
    # after restore the library must hold everything the reference did
    problems = integrity(lib)
    if not problems:
        problems = compare(snapshot(lib), w.ref.relocated(str(w.samples), str(samples)))
    raise_if(Lost, problems, f"after restore ({restore.brief()})")
    if restore.rc != 0 or restore.traceback:
        bad.append(f"restore: {restore.brief()}")
    if check2.rc != 0 or check2.traceback:
        bad.append(f"check after restore: {check2.brief()}")
    raise_if(Failed, bad, "commands on a damaged library")


@contextlib.contextmanager
def tmpfs(where: Path, size_mb: int) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise Skipped("mounting a tmpfs needs root")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise Skipped(f"cannot mount a tmpfs: {last_line(p.stderr)}")
    try:
        yield where
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(where)], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)


def fill(mount: Path, leave_bytes: int) -> Path:
    """Fill a file system until ``leave_bytes`` are left."""
    filler = mount / "filler.bin"
    free = shutil.disk_usage(mount).free
    with open(filler, "wb") as f:
        left = max(0, free - leave_bytes)
        block = b"\0" * (1 << 20)
        while left > 0:
            n = min(left, len(block))
            try:
                f.write(block[:n])
            except OSError:
                break
            left -= n
    return filler


@case
def disk_full(w: World, r: int, rng: random.Random, t: Tally) -> None:
    """The library (or the relabel destination) on a small full tmpfs: a clear message, an
    intact library, nothing lost; after freeing space the scan (or undo) completes."""
    d = w.scratch(f"disk_full-{r}")
    on_dest = r % 2 == 1
    with tmpfs(d / "small", 24) as mnt:
        if not on_dest:
            t.note("library on the full disk")
            lib = mnt / "library.sqlite"  # created by the scan, on the full disk
            leave = rng.choice([64 << 10, 256 << 10, 768 << 10, 2 << 20])
            filler = fill(mnt, leave)
            t.details.append(f"round {r}: library on a disk with {leave >> 10} KiB free")
            run = cli(lib, "scan", str(w.samples), "--quiet")
            raise_if(Lost, integrity(lib), "library on the full disk")
            bad = []
            if run.rc == 0:
                t.note("scan fit")
            elif run.traceback or not any(re.search(r"space|full", ln, re.I)
                                          for ln in run.error_lines()):
                bad.append(f"full disk: {run.brief()}")
            filler.unlink()
            again = cli(lib, "scan", str(w.samples), "--quiet")
            if again.rc != 0 or again.traceback:
                raise_if(Lost, integrity(lib), "library after freeing space")
                raise Failed(f"rescan after freeing space: {again.brief()}")
            checks_after(w, lib, w.samples, w.scan_only)
            raise_if(Failed, bad, "message")
            return
        t.note("relabel destination on the full disk")
        samples, lib = w.clone(d)
        dest = mnt / "sorted"
        filler = fill(mnt, rng.choice([256 << 10, 1 << 20, 3 << 20]))
        mode = "move" if r % 4 == 1 else "copy"
        run = cli(lib, "relabel", TREE, "--mode", mode, "--dest", str(dest))
        raise_if(Lost, check_originals(w.files, samples, elsewhere=dest), "files on a full disk")
        raise_if(Lost, integrity(lib), "library")
        bad = []
        if run.rc == 0:
            t.note("relabel fit")
        elif run.traceback or not any(re.search(r"space|full", ln, re.I) and str(mnt) in ln
                                      for ln in run.err.splitlines()):
            bad.append(f"full destination ({mode}): {run.brief()}")
        filler.unlink()
        batch = latest_batch(lib)
        if batch is not None:
            undo = cli(lib, "undo", str(batch))
            raise_if(Lost, check_originals(w.files, samples), "originals after undo")
            if undo.rc != 0 or undo.traceback:
                bad.append(f"undo: {undo.brief()}")
        checks_after(w, lib, samples, w.ref.relocated(str(w.samples), str(samples)))
        raise_if(Failed, bad, "message")


@case
def fifo_and_loops(w: World, r: int, rng: random.Random, t: Tally) -> None:
    """A FIFO named x.wav, a symlink loop, a link to the FIFO, a dangling link, a folder
    link loop: the scan (--jobs 0 and default) ends within 60 s and reports each."""
    d = w.scratch(f"fifo_and_loops-{r}")
    folder = d / "weird"
    folder.mkdir()
    real = sorted(audio_files(w.samples / "Drums" / "Kicks"))[:4]
    for p in real:
        shutil.copy2(p, folder / p.name)
    os.mkfifo(folder / "x.wav")
    os.symlink("cycle.wav", folder / "cycle.wav")
    os.symlink("x.wav", folder / "link to fifo.wav")
    os.symlink("nowhere.wav", folder / "dangling.wav")
    os.symlink(".", folder / "loop")
    (folder / "sub").mkdir()
    os.symlink("..", folder / "sub" / "up")
    odd = ["x.wav", "cycle.wav", "link to fifo.wav", "dangling.wav"]
    bad = []
    for jobs in (["--jobs", "0"], []):
        lib = d / f"library{len(jobs)}.sqlite"
        run = cli(lib, "scan", str(folder), "--json", *jobs, timeout=60)
        label = "--jobs 0" if jobs else "default jobs"
        if run.timed_out:
            bad.append(f"{label}: hung past 60 s")
            t.note(f"hung ({label})")
            raise_if(Lost, integrity(lib), "library after a hung scan")
            continue
        if run.traceback or run.rc not in (0,):
            bad.append(f"{label}: {run.brief()}")
            continue
        raise_if(Lost, integrity(lib), "library")
        try:
            report = json.loads(run.out)
        except ValueError:
            bad.append(f"{label}: no JSON report")
            continue
        said = " ".join(str(p.get("path", "")) for p in report.get("problems", []))
        snap = snapshot(lib)
        said += " ".join(p for p, (s, _n) in snap.records.items() if s == "error")
        unreported = [n for n in odd if n not in said]
        if unreported:
            bad.append(f"{label}: not reported: {unreported}")
        for p in real:
            rec = snap.records.get(str(folder / p.name))
            if rec is None or rec[0] != "ok":
                raise Lost(f"{label}: a real file next to the FIFO is {rec}")
        t.note(f"{label} {run.seconds:.0f} s")
    raise_if(Failed, bad, "scan")


@case
def readonly_library(w: World, r: int, rng: random.Random, t: Tally) -> None:
    """The library on a read-only mount (or without write permission): status and ls work,
    writes fail with one clear line, the file is untouched."""
    d = w.scratch(f"readonly_library-{r}")
    samples, lib_rw = w.clone(d)
    must(cli(lib_rw, "status"), "status")  # settles the copy; a closed library has no WAL
    ro_dir = d / "ro"
    ro_dir.mkdir()
    digest = sha256(lib_rw)
    prefix: list[str] = []
    mounted = False
    if os.geteuid() == 0 and subprocess.run(
            ["mount", "--bind", "-o", "ro", str(d), str(ro_dir)], capture_output=True
    ).returncode == 0:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro_dir)], capture_output=True)
        mounted = True
        lib = ro_dir / "library.sqlite"
        t.note("read-only bind mount")
        probe = ro_dir / ".probe"
        try:
            probe.write_text("x")
            probe.unlink()
            raise Skipped("the bind mount is writable")
        except OSError:
            pass
    else:
        lib = lib_rw
        os.chmod(lib, 0o444)
        os.chmod(d, 0o555)
        if os.geteuid() == 0:
            prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
        t.note("chmod, no write permission")
    try:
        bad = []
        for args in (["status"], ["ls"], ["tree", "list"]):
            run = cli(lib, *args, prefix=prefix)
            if run.rc != 0 or run.traceback:
                bad.append(f"read on a read-only library: {run.brief()}")
        for args in (["scan", str(samples), "--quiet"], ["tree", "create", "ro2"],
                     ["label", TREE, "Bass", w.labeled[0].replace(str(w.samples), str(samples))]):
            run = cli(lib, *args, prefix=prefix)
            if run.rc == 0:
                bad.append(f"`{args[0]}` succeeded on a read-only library")
            elif run.traceback or not any(re.search(r"read.only|permission|cannot write|"
                                                    r"not writable", ln, re.I)
                                          for ln in run.error_lines()):
                bad.append(f"write on a read-only library: {run.brief()}")
        if sha256(lib) != digest:
            raise Lost("the read-only library's file changed")
    finally:
        if mounted:
            subprocess.run(["umount", str(ro_dir)], capture_output=True)
        os.chmod(d, 0o755)
        with contextlib.suppress(OSError):
            os.chmod(lib_rw, 0o644)
    raise_if(Lost, integrity(lib_rw), "library")
    raise_if(Failed, bad, "commands")


@case
def odd_names(w: World, r: int, rng: random.Random, t: Tally) -> None:
    """Files with a newline, unicode, a non-UTF-8 byte, a leading dash, a 1,000-byte path:
    scanned ok, listed one per line, relabeled (move) and undone byte-identical."""
    d = w.scratch(f"odd_names-{r}")
    samples, lib = w.clone(d)
    odd_paths = [str(samples / ODD_FOLDER / n) for n in odd_file_names()]
    snap = snapshot(lib)
    bad = []
    for p in odd_paths:
        rec = snap.records.get(p)
        if rec is None or rec[0] != "ok" or rec[1] < 1:
            bad.append(f"not scanned ok: {p[-60:]!r} {rec}")
    ls = cli(lib, "ls")
    if ls.rc != 0 or ls.traceback:
        bad.append(f"ls: {ls.brief()}")
    elif len(ls.out.splitlines()) != len(snap.records):
        bad.append(f"ls printed {len(ls.out.splitlines())} lines for {len(snap.records)} files")
    lab = cli(lib, "label", TREE, "Drums/Percussion", *odd_paths[:4])
    if lab.rc != 0 or lab.traceback:
        bad.append(f"label: {lab.brief()}")
    dest = d / "sorted"
    mode = "move" if r % 2 == 0 else "rename"
    args = ["relabel", TREE, "--mode", mode, "--folder", str(samples / ODD_FOLDER)]
    if mode == "move":
        args += ["--dest", str(dest)]
    t.note(mode)
    rel = cli(lib, *args)
    raise_if(Lost, check_originals(w.files, samples, elsewhere=dest if mode == "move"
                                   else samples), "files after relabel")
    if rel.rc != 0 or rel.traceback:
        bad.append(f"relabel: {rel.brief()}")
    else:
        left = [p for p in odd_paths if os.path.exists(p)]
        t.details.append(f"round {r}: relabel {mode} left {len(left)} of {len(odd_paths)} odd "
                         "files in place (labels too unsure, or unknown)")
    batch = latest_batch(lib)
    if batch is not None:
        undo = cli(lib, "undo", str(batch))
        if undo.rc != 0 or undo.traceback:
            bad.append(f"undo: {undo.brief()}")
    raise_if(Lost, check_originals(w.files, samples), "originals after undo")
    rescan = cli(lib, "scan", str(samples), "--quiet")
    if rescan.rc != 0 or rescan.traceback:
        bad.append(f"rescan: {rescan.brief()}")
    raise_if(Lost, integrity(lib), "library")
    snap2 = snapshot(lib)
    raise_if(Lost, check_records_vs_disk(snap2, [samples]), "records vs disk")
    want = w.ref.relocated(str(w.samples), str(samples))
    raise_if(Lost, compare(snap2, want, labels=False), "against the clean scan")
    raise_if(Failed, bad, "odd names")


# -- main ---------------------------------------------------------------------------------

def table(tallies: dict[str, Tally]) -> str:
    lines = ["| case | tried | survived | lost | failed | notes |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name, t in tallies.items():
        notes = ", ".join(f"{k} ×{v}" if v > 1 else k for k, v in t.notes.items())
        if t.skipped:
            notes = f"skipped ×{t.skipped}; " + notes
        lines.append(f"| {name} | {t.tried} | {t.survived} | {t.lost} | {t.failed} | "
                     f"{notes.replace('|', '/')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/fault_suite.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="rounds per case (3)")
    p.add_argument("--files", type=int, default=160, help="audio files in the sample folder")
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--workdir", type=Path, default=None, help="work here (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    args = p.parse_args(argv)
    if args.list:
        for c in CASES.values():
            print(f"{c.name:<22} {c.doc}")
        return 0
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown or args.rounds < 1 or args.files < 20:
        p.error(f"unknown case(s): {unknown}" if unknown else "--rounds >= 1, --files >= 20")
    base = Path(tempfile.mkdtemp(prefix="sampletree-faults-", dir=args.workdir))
    started = time.monotonic()
    tallies = {n: Tally() for n in names}
    try:
        print(f"fault suite: {len(names)} case(s) × {args.rounds} round(s), {args.files} files, "
              f"in {base}", file=sys.stderr)
        try:
            world = build_world(base, args)
        except (Failed, RuntimeError) as exc:
            print(f"fault suite: cannot build the reference library: {exc}", file=sys.stderr)
            return 2
        rng = random.Random(args.seed)
        for name in names:
            tally = tallies[name]
            for r in range(args.rounds):
                t0 = time.monotonic()
                outcome, why = "survived", ""
                try:
                    CASES[name].func(world, r, rng, tally)
                except Skipped as exc:
                    outcome, why = "skipped", str(exc)
                except Lost as exc:
                    outcome, why = "lost", str(exc)
                except Failed as exc:
                    outcome, why = "failed", str(exc)
                except Exception as exc:  # the harness's own bug: say so, count it failed
                    outcome, why = "failed", f"harness error: {type(exc).__name__}: {exc}"
                dt = time.monotonic() - t0
                tally.seconds += dt
                if outcome == "skipped":
                    tally.skipped += 1
                    tally.note(why)
                else:
                    tally.tried += 1
                    setattr(tally, outcome, getattr(tally, outcome) + 1)
                if why:
                    tally.details.append(f"round {r}: {outcome}: {why}")
                print(f"  {name} round {r}: {outcome} ({dt:.0f} s)"
                      + (f": {why}" if why else ""), file=sys.stderr, flush=True)
                if not args.keep:
                    with contextlib.suppress(OSError):
                        force_rmtree(base / "rounds" / f"{name}-{r}")
    finally:
        if not args.keep:
            force_rmtree(base)
    elapsed = time.monotonic() - started
    print(table(tallies))
    print(f"\n{sum(t.tried for t in tallies.values())} rounds in {elapsed:.0f} s "
          f"({args.files} files, seed {args.seed})")
    for name, t in tallies.items():
        for line in t.details[:10]:
            print(f"- {name} {line}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "rounds": args.rounds, "files": args.files, "seed": args.seed,
            "seconds": round(elapsed, 1),
            "cases": {n: {**{k: v for k, v in t.__dict__.items()}, "seconds": round(t.seconds, 1)}
                      for n, t in tallies.items()}}, indent=1) + "\n", encoding="utf-8")
    bad = sum(t.lost + t.failed for t in tallies.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
