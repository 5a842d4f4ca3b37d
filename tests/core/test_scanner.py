"""Scanning folders into the library: what is stored, what a rescan touches, and how a scan
survives cancellation, a kill -9, files changing under it, unreadable folders and a decoder
process dying."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import core.scanner
import core.walk
from core.audio import WindowParams, load_windows
from core.jobs import CancelToken, Progress
from core.library import Library
from core.scanner import ScanOptions, scan

INLINE = ScanOptions(jobs=0)
REPO = Path(__file__).resolve().parents[2]


# -- helpers: read the library file directly -----------------------------------------------

def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), timeout=10)


def _path(value: str | bytes) -> str:
    return value if isinstance(value, str) else os.fsdecode(value)


def samples(path: Path) -> dict[str, dict]:
    """Every sample row by path, straight from SQLite."""
    with raw(path) as conn:
        conn.row_factory = sqlite3.Row
        return {_path(r["path"]): dict(r) for r in conn.execute("SELECT * FROM samples")}


def windows_of(path: Path, sample_id: int) -> list[dict]:
    with raw(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(
            "SELECT * FROM windows WHERE sample_id = ? ORDER BY idx", (sample_id,))]


def model_key(path: Path, model_id: str) -> int:
    with raw(path) as conn:
        return conn.execute("SELECT id FROM models WHERE model_id = ?",
                            (model_id,)).fetchone()[0]


def assert_consistent(path: Path) -> None:
    """Integrity ok; every ok sample has exactly n_windows (>= 1) windows rows."""
    with raw(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(
            "SELECT s.path, s.status, s.n_windows, count(w.idx), "
            "coalesce(max(w.idx), -1) FROM samples s "
            "LEFT JOIN windows w ON w.sample_id = s.id GROUP BY s.id").fetchall()
    for p, status, n_windows, n_rows, max_idx in rows:
        assert n_rows == n_windows and max_idx == n_windows - 1, p
        if status == "ok":
            assert n_windows >= 1, p


def embeddings_of(path: Path, sample_id: int) -> np.ndarray:
    return np.stack([np.frombuffer(w["embedding"], np.float16)
                     for w in windows_of(path, sample_id)])


def bump_mtime(path: Path, seconds: int = 10) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 10**9))


# -- what a scan stores ------------------------------------------------------------------

MIXED = [  # (relative path, seconds, rate, channels, subtype, format soundfile reports)
    ("a.wav", 1.5, 44_100, 1, "PCM_16", "WAV"),
    ("b.flac", 2.2, 48_000, 2, None, "FLAC"),
    ("c.ogg", 1.0, 22_050, 1, None, "OGG"),
    ("d.aiff", 0.4, 32_000, 2, None, "AIFF"),  # a one-shot shorter than a window
    ("sub/e.wav", 5.0, 96_000, 1, "FLOAT", "WAV"),  # several decode segments
    ("sub/f.caf", 1.2, 8_000, 1, None, "CAF"),
    ("sub/deeper/g.mp3", 2.0, 44_100, 2, None, "MP3"),
]


def write_mixed(write_audio) -> dict[str, Path]:
    out = {}
    for i, (rel, seconds, sr, ch, subtype, _fmt) in enumerate(MIXED):
        out[rel] = write_audio(rel, seconds=seconds, sr=sr, channels=ch, subtype=subtype,
                               freq=220.0 * (i + 1), seed=i)
    return out


def test_scan_stores_every_file_and_a_rescan_decodes_nothing(
        library: Library, library_path: Path, write_audio, untrained_model,
        tmp_path: Path) -> None:
    files = write_mixed(write_audio)
    (tmp_path / "samples" / "notes.txt").write_text("not audio")
    write_audio(".hidden.wav")  # skipped
    params = WindowParams(segment_s=2.0)  # 4 windows a segment: e.wav takes 3 tasks
    opts = ScanOptions(jobs=0, window=params, batch_windows=16)

    report = scan(library, [str(tmp_path / "samples")], untrained_model, options=opts)

    n = len(MIXED)
    assert (report.found, report.new, report.decoded, report.failed) == (n, n, n, 0)
    assert not report.problems and not report.cancelled
    assert report.model_id == untrained_model.info.model_id
    key = model_key(library_path, untrained_model.info.model_id)
    rows = samples(library_path)
    assert set(rows) == {str(p) for p in files.values()}
    total_windows = 0
    for rel, seconds, sr, ch, _subtype, fmt in MIXED:
        row = rows[str(files[rel])]
        assert row["status"] == "ok" and row["error"] is None, rel
        assert row["duration_s"] == pytest.approx(seconds, abs=0.06 if fmt == "MP3" else 1e-3)
        assert (row["sample_rate"], row["channels"], row["format"]) == (sr, ch, fmt), rel
        assert row["model_id"] == key and row["content_hash"]
        assert row["size"] == files[rel].stat().st_size
        assert row["mtime_ns"] == files[rel].stat().st_mtime_ns
        # The windows are what the decoder makes of the file, embedded by the model.
        expected = load_windows(files[rel], params)
        wins = windows_of(library_path, row["id"])
        assert row["n_windows"] == len(wins) == len(expected.starts) >= 1, rel
        assert [w["idx"] for w in wins] == list(range(len(wins)))
        np.testing.assert_allclose([w["start_s"] for w in wins], expected.starts, atol=1e-6)
        assert all(w["model_id"] == key for w in wins)
        assert all(len(w["embedding"]) == 2 * untrained_model.info.dim for w in wins)
        stored = embeddings_of(library_path, row["id"]).astype(np.float32)
        want = untrained_model.embed_audio(torch.from_numpy(expected.audio)).numpy()
        np.testing.assert_allclose(stored, want, rtol=2e-2, atol=2e-2 * np.abs(want).max())
        total_windows += len(wins)
    assert rows[str(files["d.aiff"])]["n_windows"] == 1
    assert rows[str(files["sub/e.wav"])]["n_windows"] == 9  # 0, 0.5, … 4.0 s
    assert report.windows == report.embedded_windows == total_windows
    assert_consistent(library_path)

    again = scan(library, [str(tmp_path / "samples")], untrained_model, options=opts)
    assert (again.unchanged, again.decoded, again.new, again.changed) == (n, 0, 0, 0)
    assert samples(library_path) == rows  # not even scanned_at moved
    assert library.stats()["last_scan"]["state"] == "done"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_process_pool_scan_matches_the_in_process_scan(
        tmp_path: Path, write_audio, untrained_model) -> None:
    files = write_mixed(write_audio)
    for i in range(6):
        write_audio(f"more/m{i}.wav", seconds=1.0 + i * 0.7, seed=10 + i, freq=300 + 40 * i)
    params = WindowParams(segment_s=2.0)
    folder = str(tmp_path / "samples")
    libs = {}
    for jobs in (0, 2):
        path = tmp_path / f"lib{jobs}.sqlite"
        with Library(path) as lib:
            report = scan(lib, [folder], untrained_model,
                          options=ScanOptions(jobs=jobs, window=params, batch_windows=16))
        assert (report.decoded, report.failed) == (len(files) + 6, 0)
        libs[jobs] = path
        assert_consistent(path)
    inline, pooled = samples(libs[0]), samples(libs[2])
    assert set(inline) == set(pooled)
    for p, row in inline.items():
        other = pooled[p]
        for col in ("status", "n_windows", "duration_s", "sample_rate", "channels",
                    "format", "content_hash", "size", "mtime_ns"):
            assert row[col] == other[col], (p, col)
        a, b = windows_of(libs[0], row["id"]), windows_of(libs[2], other["id"])
        assert [w["start_s"] for w in a] == [w["start_s"] for w in b]
        np.testing.assert_allclose(embeddings_of(libs[0], row["id"]).astype(np.float32),
                                   embeddings_of(libs[2], other["id"]).astype(np.float32),
                                   rtol=1e-2, atol=1e-2)
    # The pool also does a no-op rescan.
    with Library(libs[2]) as lib:
        again = scan(lib, [folder], untrained_model, options=ScanOptions(jobs=2, window=params))
    assert (again.unchanged, again.decoded) == (len(inline), 0)


# -- what a rescan does with changed, moved, renamed, deleted and restored files ---------

def test_rescan_handles_changed_moved_renamed_deleted_and_restored_files(
        library: Library, library_path: Path, write_audio, untrained_model,
        tmp_path: Path) -> None:
    root = tmp_path / "samples"
    paths = {name: write_audio(name, seconds=1.5, seed=i, freq=200 + 100 * i)
             for i, name in enumerate(["keep.wav", "change.wav", "a/move.wav", "rename.wav",
                                       "gone.wav", "back_changed.wav"])}
    first = scan(library, [str(root)], untrained_model, options=INLINE)
    assert first.new == 6
    before = samples(library_path)
    emb_before = {p: embeddings_of(library_path, r["id"]) for p, r in before.items()}

    write_audio("change.wav", seconds=3.0, seed=42)  # new content, new length
    bump_mtime(paths["change.wav"])
    (root / "b").mkdir()
    os.rename(paths["a/move.wav"], root / "b" / "move.wav")
    os.rename(paths["rename.wav"], root / "renamed.wav")
    gone_bytes, gone_stat = paths["gone.wav"].read_bytes(), paths["gone.wav"].stat()
    paths["gone.wav"].unlink()
    back_bytes = paths["back_changed.wav"].read_bytes()
    paths["back_changed.wav"].unlink()

    second = scan(library, [str(root)], untrained_model, options=INLINE)
    assert (second.changed, second.moved, second.missing, second.unchanged) == (1, 2, 2, 1)
    assert (second.new, second.decoded, second.restored) == (0, 1, 0)
    rows = samples(library_path)
    assert len(rows) == 6  # nothing duplicated, nothing dropped
    for old, new in ((paths["a/move.wav"], root / "b" / "move.wav"),
                     (paths["rename.wav"], root / "renamed.wav")):
        row = rows[str(new)]
        assert str(old) not in rows
        assert row["id"] == before[str(old)]["id"] and row["status"] == "ok"
        np.testing.assert_array_equal(embeddings_of(library_path, row["id"]),
                                      emb_before[str(old)])
    changed = rows[str(paths["change.wav"])]
    assert changed["id"] == before[str(paths["change.wav"])]["id"]
    assert changed["duration_s"] == pytest.approx(3.0)
    assert changed["n_windows"] == 5 != before[str(paths["change.wav"])]["n_windows"]
    assert changed["size"] == paths["change.wav"].stat().st_size
    for name in ("gone.wav", "back_changed.wav"):
        row = rows[str(paths[name])]
        assert row["status"] == "missing" and row["id"] == before[str(paths[name])]["id"]
        assert row["n_windows"] == before[str(paths[name])]["n_windows"]  # labels survive
    assert_consistent(library_path)

    # Both come back: one exactly as it was (a restore), one rewritten (decoded again).
    paths["gone.wav"].write_bytes(gone_bytes)
    os.utime(paths["gone.wav"], ns=(gone_stat.st_atime_ns, gone_stat.st_mtime_ns))
    paths["back_changed.wav"].write_bytes(back_bytes)
    bump_mtime(paths["back_changed.wav"], 100)
    third = scan(library, [str(root)], untrained_model, options=INLINE)
    assert (third.restored, third.changed, third.decoded, third.new) == (1, 1, 1, 0)
    rows = samples(library_path)
    for name in ("gone.wav", "back_changed.wav"):
        row = rows[str(paths[name])]
        assert row["status"] == "ok" and row["error"] is None
        assert row["id"] == before[str(paths[name])]["id"]
    assert all(r["status"] == "ok" for r in rows.values())
    assert_consistent(library_path)


def test_an_unreadable_file_that_comes_back_stays_an_error(
        library: Library, library_path: Path, tmp_path: Path, write_audio) -> None:
    """Without a model a file that went missing is restored as it was; an unreadable file
    must not come back as a decoded one (status ok, no windows)."""
    root = tmp_path / "samples"
    write_audio("good.wav")
    bad = root / "bad.wav"
    bad.write_text("just some text\n" * 20)
    scan(library, [str(root)], None, options=INLINE)
    stat = bad.stat()
    bad.rename(tmp_path / "aside")
    scan(library, [str(root)], None, options=INLINE)
    assert samples(library_path)[str(bad)]["status"] == "missing"
    (tmp_path / "aside").rename(bad)
    os.utime(bad, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    scan(library, [str(root)], None, options=INLINE)
    row = samples(library_path)[str(bad)]
    assert row["status"] == "error" and "text" in row["error"]
    assert_consistent(library_path)


# -- embedding later, and changing the model ------------------------------------------------

def test_scan_without_model_then_embed_then_change_model(
        library: Library, library_path: Path, write_audio, untrained_model,
        tmp_path: Path) -> None:
    from models import NetworkConfig, build_untrained

    root = str(tmp_path / "samples")
    for i in range(4):
        write_audio(f"s{i}.wav", seconds=1.0 + i, seed=i, freq=300 + 100 * i)
    bare = scan(library, [root], None, options=INLINE)
    assert (bare.decoded, bare.embedded_windows, bare.model_id) == (4, 0, None)
    rows = samples(library_path)
    assert all(r["status"] == "ok" and r["model_id"] is None for r in rows.values())
    for r in rows.values():
        wins = windows_of(library_path, r["id"])
        assert len(wins) == r["n_windows"] >= 1
        assert all(w["embedding"] is None and w["model_id"] is None for w in wins)
    assert all(r["embedded_by"] is None for r in library.list_samples())
    assert scan(library, [root], None, options=INLINE).decoded == 0

    embedded = scan(library, [root], untrained_model, options=INLINE)
    assert embedded.decoded == 4 and embedded.embedded_windows == embedded.windows > 0
    key1 = model_key(library_path, untrained_model.info.model_id)
    ids = {p: r["id"] for p, r in samples(library_path).items()}
    assert ids == {p: r["id"] for p, r in rows.items()}
    first = {p: embeddings_of(library_path, i) for p, i in ids.items()}
    assert library.stats()["embedded_windows"] == {untrained_model.info.model_id:
                                                   embedded.windows}

    # A scan without a model leaves the embeddings alone.
    assert scan(library, [root], None, options=INLINE).decoded == 0
    assert library.stats()["embedded_windows"] == {untrained_model.info.model_id:
                                                   embedded.windows}

    other = build_untrained(network=NetworkConfig(channels=16), device="cpu", seed=1)
    assert other.info.model_id != untrained_model.info.model_id
    redone = scan(library, [root], other, options=INLINE)
    assert redone.decoded == 4 and redone.embedded_windows == embedded.windows
    assert redone.reembedded == 4 and embedded.reembedded == 0  # the scan output says why
    key2 = model_key(library_path, other.info.model_id)
    with raw(library_path) as conn:
        by_model = dict(conn.execute(
            "SELECT model_id, count(*) FROM windows GROUP BY model_id").fetchall())
        assert {r[0] for r in conn.execute("SELECT model_id FROM samples")} == {key2}
    assert by_model == {key2: embedded.windows} and key1 != key2  # never mixed
    for p, i in ids.items():
        assert not np.array_equal(embeddings_of(library_path, i), first[p])
    assert scan(library, [root], other, options=INLINE).decoded == 0


# -- progress and cancellation ---------------------------------------------------------------

def test_progress_then_cancel_then_resume(library: Library, library_path: Path,
                                          write_audio, untrained_model,
                                          tmp_path: Path) -> None:
    root = str(tmp_path / "samples")
    n = 12
    for i in range(n):
        write_audio(f"s{i:02}.wav", seconds=1.0, sr=16_000, seed=i, freq=200 + 30 * i)
    opts = ScanOptions(jobs=0, batch_windows=4, commit_files=2)
    token = CancelToken()
    seen: list[Progress] = []

    def cancel_after_a_few(p: Progress) -> None:
        seen.append(p)
        if p.stage == "decode":
            if p.done >= 3:
                token.cancel()
            time.sleep(0.11)  # every loop turn reports: the cancel lands after a few files

    first = scan(library, [root], untrained_model, options=opts, progress=cancel_after_a_few,
                 cancel=token)
    assert first.cancelled
    decode = [p for p in seen if p.stage == "decode"]
    assert decode and all(p.total == n for p in decode)
    rows = samples(library_path)
    committed = len(rows)
    assert 3 <= committed < n
    assert first.decoded == committed
    assert all(r["status"] == "ok" for r in rows.values())
    assert_consistent(library_path)
    last = library.stats()["last_scan"]
    assert last["state"] == "cancelled" and last["files_done"] == committed

    seen.clear()
    second = scan(library, [root], untrained_model, options=opts, progress=seen.append)
    assert not second.cancelled
    assert (second.unchanged, second.decoded, second.new) == (committed, n - committed,
                                                              n - committed)
    after = samples(library_path)
    assert all(after[p] == r for p, r in rows.items())  # the committed ones untouched
    assert len(after) == n and all(r["status"] == "ok" for r in after.values())
    decode = [p for p in seen if p.stage == "decode"]
    assert decode, "no progress reported"
    assert all(p.total == n - committed for p in decode)
    dones = [p.done for p in decode]
    assert dones == sorted(dones) and all(0 <= d <= n - committed for d in dones)
    assert decode[-1].done == decode[-1].total and decode[-1].message == "done"
    assert library.stats()["last_scan"]["state"] == "done"
    assert_consistent(library_path)


def test_cancel_before_decoding_is_a_clean_stop(library: Library, library_path: Path,
                                                write_audio, tmp_path: Path) -> None:
    for i in range(3):
        write_audio(f"s{i}.wav", seed=i)
    token = CancelToken()

    def cancel_at_diff(p: Progress) -> None:
        if p.stage == "diff":
            token.cancel()

    report = scan(library, [str(tmp_path / "samples")], None, options=INLINE,
                  progress=cancel_at_diff, cancel=token)
    assert report.cancelled and report.decoded == 0 and report.found == 3
    assert samples(library_path) == {}
    done = scan(library, [str(tmp_path / "samples")], None, options=INLINE)
    assert done.decoded == 3 and not done.cancelled


# -- kill -9 in the middle of a scan -------------------------------------------------------

KILLED_SCAN = textwrap.dedent("""
    import sys, time
    from core.library import Library
    from core.scanner import ScanOptions, scan
    from models import NetworkConfig, build_untrained

    model = build_untrained(network=NetworkConfig(channels=16), device="cpu")
    library = Library(sys.argv[1])

    def slowly(progress):
        time.sleep(0.2)  # a slow disk: gives the parent time to kill us mid-scan

    scan(library, [sys.argv[2]], model,
         options=ScanOptions(jobs=0, commit_files=5, batch_windows=8), progress=slowly)
    print("finished", flush=True)
""")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_kill_9_mid_scan_loses_only_the_batch_in_flight(
        library_path: Path, write_audio, untrained_model, tmp_path: Path) -> None:
    n = 60
    for i in range(n):
        write_audio(f"s{i:02}.wav", seconds=1.0, sr=16_000, seed=i, freq=100 + 20 * i)
    root = str(tmp_path / "samples")
    Library(library_path).close()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    child = subprocess.Popen([sys.executable, "-c", KILLED_SCAN, str(library_path), root],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 120
        committed = 0
        while time.monotonic() < deadline and child.poll() is None:
            with raw(library_path) as conn:
                committed = conn.execute(
                    "SELECT count(*) FROM samples WHERE status = 'ok'").fetchone()[0]
            if committed >= 5:
                break
            time.sleep(0.01)
        assert child.poll() is None, child.communicate()
        assert committed >= 5, "the scan never committed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    assert_consistent(library_path)
    before = samples(library_path)
    assert all(r["status"] == "ok" for r in before.values())
    committed = len(before)
    assert 5 <= committed < n, committed
    with raw(library_path) as conn:
        assert conn.execute("SELECT state FROM scans").fetchall() == [("running",)]

    with Library(library_path) as lib:
        report = scan(lib, [root], untrained_model, options=INLINE)
        states = [s for (s,) in lib.conn.exec_driver_sql(
            "SELECT state FROM scans ORDER BY id").fetchall()]
        lib.conn.commit()
    assert (report.unchanged, report.decoded, report.new) == (committed, n - committed,
                                                              n - committed)
    after = samples(library_path)
    assert len(after) == n and all(r["status"] == "ok" for r in after.values())
    assert all(after[p] == r for p, r in before.items())  # not one of them redone
    assert states == ["interrupted", "done"]
    assert_consistent(library_path)


# -- files that change under the scan ------------------------------------------------------

def test_files_deleted_or_changed_between_walk_and_decode(
        library: Library, library_path: Path, write_audio, untrained_model,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "samples"
    known = write_audio("known.wav", seconds=1.0, seed=1)
    scan(library, [str(root)], untrained_model, options=INLINE)
    known_id = samples(library_path)[str(known)]["id"]
    write_audio("known.wav", seconds=2.0, seed=2)  # changed: it will be decoded again
    bump_mtime(known)
    new_gone = write_audio("new_gone.wav", seconds=1.0, seed=3)
    grows = write_audio("grows.wav", seconds=1.5, seed=4)
    stays = write_audio("stays.wav", seconds=1.0, seed=5)

    real_walk = core.scanner.walk

    def walk_then_tamper(roots, on_error, *more, **named):
        yield from real_walk(roots, on_error, *more, **named)
        # The walk has stat'ed everything; now the files change before they are read.
        new_gone.unlink()
        known.unlink()
        with grows.open("ab") as fh:
            fh.write(b"\0" * 4096)

    monkeypatch.setattr(core.scanner, "walk", walk_then_tamper)
    report = scan(library, [str(root)], untrained_model, options=INLINE)
    assert report.vanished == 2 and not report.cancelled
    assert report.decoded == 2  # grows and stays
    assert {p for p, _ in report.problems} == {str(new_gone), str(known)}
    assert all("disappeared" in why for _, why in report.problems)
    rows = samples(library_path)
    assert str(new_gone) not in rows  # a new file that vanished is simply not added
    assert rows[str(known)]["status"] == "missing" and rows[str(known)]["id"] == known_id
    for p in (grows, stays):
        assert rows[str(p)]["status"] == "ok"
    # The grown file is stored with what was read, so the next scan sees it unchanged.
    assert rows[str(grows)]["size"] == grows.stat().st_size
    assert rows[str(grows)]["mtime_ns"] == grows.stat().st_mtime_ns
    assert_consistent(library_path)

    monkeypatch.setattr(core.scanner, "walk", real_walk)
    again = scan(library, [str(root)], untrained_model, options=INLINE)
    assert (again.unchanged, again.decoded, again.new, again.missing) == (2, 0, 0, 0)


def test_unreadable_folder_is_reported_and_its_files_are_not_missing(
        library: Library, library_path: Path, write_audio, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "samples"
    locked_files = [write_audio(f"locked/l{i}.wav", seed=i) for i in range(2)]
    write_audio("open/o.wav", seed=7)
    scan(library, [str(root)], None, options=INLINE)
    write_audio("open/new.wav", seed=8)
    locked = str(root / "locked")

    if os.geteuid() == 0:  # root reads any folder: make this one fail as it would for a user
        from tests.core.test_source_folders import _deny

        _deny(monkeypatch, locked)
    else:
        os.chmod(locked, 0)
    try:
        report = scan(library, [str(root)], None, options=INLINE)
    finally:
        monkeypatch.undo()
        os.chmod(locked, 0o755)
    assert (locked, "cannot read folder: Permission denied") in report.problems
    assert report.missing == 0 and report.new == 1
    rows = samples(library_path)
    assert all(rows[str(p)]["status"] == "ok" for p in locked_files)
    assert rows[str(root / "open" / "new.wav")]["status"] == "ok"
    again = scan(library, [str(root)], None, options=INLINE)
    assert (again.unchanged, again.decoded, again.problems) == (4, 0, [])


# -- a decoder process dies ------------------------------------------------------------------

def _pool_workers() -> list:
    """Processes forked by multiprocessing's forkserver for this process: pool workers."""
    import psutil

    me = psutil.Process()
    workers = []
    for child in me.children(recursive=True):
        try:
            if "forkserver" in " ".join(child.cmdline()) and child.ppid() != me.pid:
                workers.append(child)
        except psutil.Error:
            continue
    return workers


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forkserver pool on Linux")
def test_scan_survives_a_decoder_process_dying(
        library: Library, library_path: Path, write_audio, untrained_model,
        tmp_path: Path) -> None:
    """A worker is SIGKILLed mid-scan (as the OOM killer would): the files in flight are
    retried in a fresh pool and every file still ends up decoded."""
    pytest.importorskip("psutil")
    n = 16
    for i in range(n):
        write_audio(f"s{i:02}.wav", seconds=4.0, seed=i, freq=150 + 40 * i)
    killed: list[int] = []

    def kill_a_worker(p: Progress) -> None:
        if p.stage == "decode" and not killed and p.done < p.total // 2:
            workers = _pool_workers()
            if workers:
                workers[0].send_signal(signal.SIGKILL)
                killed.append(workers[0].pid)

    report = scan(library, [str(tmp_path / "samples")], untrained_model,
                  options=ScanOptions(jobs=2, batch_windows=16), progress=kill_a_worker)
    assert killed, "no decoder process was running to be killed"
    assert (report.decoded, report.failed, report.cancelled) == (n, 0, False)
    rows = samples(library_path)
    assert len(rows) == n and all(r["status"] == "ok" for r in rows.values())
    assert_consistent(library_path)


_HALF_A_RESULT = '''
import os, signal, sys, time
from multiprocessing import connection

from core.scanner import _close_pool, _make_pool


def dies_mid_send(n):
    """Runs in a pool worker: sends the result's length, then dies as if SIGKILLed by
    the OOM killer before the rest of the message is written."""
    send = connection.Connection._send

    def _send(self, buf, write=None):
        if write is None:
            send(self, buf)
        else:
            send(self, buf, write)
        if len(buf) == 4:  # the length header of a large message
            os.kill(os.getpid(), signal.SIGKILL)

    connection.Connection._send = _send
    return b"x" * n


if __name__ == "__main__":
    pool = _make_pool(1)
    fut = pool.submit(dies_mid_send, 1_000_000)
    while pool._executor_manager_thread is None or not any(
            p.exitcode is not None for p in pool._processes.values()):
        time.sleep(0.05)
    time.sleep(0.5)  # the manager thread is now blocked reading the rest
    manager = pool._executor_manager_thread
    t0 = time.monotonic()
    _close_pool(pool, timeout_s=2.0)
    print(f"closed in {time.monotonic() - t0:.1f} s; manager alive: {manager.is_alive()}")
'''


@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forkserver pool on Linux")
def test_a_worker_killed_mid_result_does_not_hang_the_process(tmp_path: Path) -> None:
    """Half a result left in the pipe blocks the pool's manager thread in a read, and the
    interpreter joins that thread at exit: without _close_pool waking it, a scan in which
    a decoder process was killed at the wrong moment would never let the CLI exit."""
    script = tmp_path / "half_a_result.py"
    script.write_text(_HALF_A_RESULT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(script)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "manager alive: False" in proc.stdout, proc.stdout


def test_an_example_whose_audio_changed_is_named_by_the_scan(
        library: Library, write_audio, untrained_model, tmp_path: Path) -> None:
    """A file taught as an example whose audio is replaced keeps teaching its node with the
    new audio: the scan names it (tree and node) so the user can check it; a file touched
    without new audio, or a changed file that is no example, is not named."""
    import os

    from core.supports import add_supports
    from core.trees import add_node, create_tree

    root = str(tmp_path / "samples")
    piano = write_audio("piano.wav", seconds=1.0, freq=262)
    other = write_audio("other.wav", seconds=1.0, freq=330)
    scan(library, [root], untrained_model, options=INLINE)
    create_tree(library, "mine")
    add_node(library, "mine", "Keys/Piano")
    add_supports(library, "mine", "Keys/Piano", [str(piano)])
    write_audio("piano.wav", seconds=1.2, freq=150, seed=3)  # now another sound
    write_audio("other.wav", seconds=1.3, freq=500)
    report = scan(library, [root], untrained_model, options=INLINE)
    assert report.examples_changed == [{"path": str(piano), "tree": "mine",
                                        "node": "Keys/Piano"}]
    st = piano.stat()
    os.utime(piano, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, same audio
    assert scan(library, [root], untrained_model, options=INLINE).examples_changed == []
    assert other.exists()


# -- torch's threads beside the decode workers --------------------------------------------

def test_the_main_process_embeds_on_the_cores_the_decode_workers_leave(
        library: Library, untrained_model, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two decode workers and two torch threads on two cores: torch's waiting threads spin
    on the cores the workers need. While any worker decodes, the batches run on the cores
    left (at least one); when none does, on the caller's threads, which the scan restores."""
    monkeypatch.setattr(core.scanner, "_usable_cpus", lambda: 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        s = core.scanner.Scanner(library, untrained_model, ScanOptions(jobs=2),
                                 lambda p: None, CancelToken())
        s._embed_threads(2)  # both workers busy
        assert torch.get_num_threads() == 1
        s._embed_threads(1)  # one busy: one core left
        assert torch.get_num_threads() == 1
        s._embed_threads(0)  # none busy: the caller's
        assert torch.get_num_threads() == 2
        s._embed_threads(2)
        s._restore_threads()
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(core.scanner, "_usable_cpus", lambda: 8)
        s._embed_threads(2)  # six cores left: never more than the caller set
        assert torch.get_num_threads() == 2
        s._restore_threads()
        # no model (an index-only scan): torch is left alone
        torch.set_num_threads(2)
        core.scanner.Scanner(library, None, ScanOptions(jobs=2), lambda p: None,
                             CancelToken())._embed_threads(2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_pooled_scan_leaves_torchs_threads_as_they_were(
        library: Library, write_audio, untrained_model, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.scanner, "_usable_cpus", lambda: 2)
    seen: list[int] = []
    embed = untrained_model.embed_audio

    def recording(batch):
        seen.append(torch.get_num_threads())
        return embed(batch)

    monkeypatch.setattr(untrained_model, "embed_audio", recording)
    for i in range(8):
        write_audio(f"f{i}.wav", seconds=1.2, seed=i, freq=150 + 40 * i)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        rep = scan(library, [str(tmp_path / "samples")], untrained_model,
                   options=ScanOptions(jobs=2, batch_windows=2))
        assert (rep.decoded, rep.failed) == (8, 0)
        assert seen and set(seen) <= {1, 2}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_decode_workers_run_ahead_of_the_embedding(
        library: Library, write_audio, untrained_model, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """INFLIGHT_PER_JOB tasks a worker may be in flight, so that the workers decode on
    while the main process embeds a batch and commits (3 a worker left them idle)."""
    import threading
    from concurrent.futures import Executor, Future

    class Held(Executor):
        """Runs each task at once but completes the futures only once the scanner has
        INFLIGHT_PER_JOB x 2 in flight (or 2 s after a submit, for the last files): the
        most it keeps in flight."""

        def __init__(self) -> None:
            self.held: list[tuple[Future, object]] = []
            self.most = 0
            self.lock = threading.Lock()

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            fut: Future = Future()
            with self.lock:
                self.held.append((fut, fn(*args, **kwargs)))
                self.most = max(self.most, len(self.held))
                full = len(self.held) >= 2 * core.scanner.INFLIGHT_PER_JOB
            if full:
                self.release()
            else:
                timer = threading.Timer(2.0, self.release)
                timer.daemon = True
                timer.start()
            return fut

        def release(self) -> None:
            with self.lock:
                held, self.held = self.held, []
            for fut, res in held:
                if not fut.done():
                    fut.set_result(res)

    pool = Held()
    monkeypatch.setattr(core.scanner, "_make_pool", lambda jobs: pool)
    for i in range(40):
        write_audio(f"f{i:02d}.wav", seconds=0.3, seed=i, freq=150 + 10 * i)
    rep = scan(library, [str(tmp_path / "samples")], untrained_model,
               options=ScanOptions(jobs=2))
    assert (rep.decoded, rep.failed) == (40, 0)
    assert pool.most == core.scanner.INFLIGHT_PER_JOB * 2 >= 16


def test_the_decode_workers_never_import_the_library(write_audio) -> None:
    """A worker imports core.scanner for its task, not the library's code: SQLAlchemy cost
    each worker ~0.13 s of CPU at the start of every scan, before its first file."""
    path = write_audio("a.wav", seconds=1.2)
    code = ("import sys; from core.audio import WindowParams; import core.scanner as s; "
            f"r = s._decode_task(0, 0, {str(path)!r}, WindowParams(), None, None); "
            "assert r.error is None and r.analysis is not None, r.error; "
            "print(sorted(m for m in ('sqlalchemy', 'core.library', 'core.dupstore', "
            "'core.schema') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
