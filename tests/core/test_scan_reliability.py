"""Issue #10, scanner side: files that are not files, scans killed with -9, files moved
between the library's folders, errors that can go away, very long paths."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio import probe
from core.errors import AudioError
from core.library import Library
from core.scanner import ScanOptions, scan
from core.supports import add_supports, list_supports
from core.trees import import_tree
from core.walk import walk

INLINE = ScanOptions(jobs=0)
REPO = Path(__file__).resolve().parents[2]


def rows_of(library_path: Path) -> dict[str, dict]:
    with sqlite3.connect(str(library_path)) as conn:
        conn.row_factory = sqlite3.Row
        return {(r["path"] if isinstance(r["path"], str) else os.fsdecode(r["path"])): dict(r)
                for r in conn.execute("SELECT * FROM samples")}


def embeddings(library_path: Path, sample_id: int) -> np.ndarray:
    with sqlite3.connect(str(library_path)) as conn:
        blobs = [r[0] for r in conn.execute(
            "SELECT embedding FROM windows WHERE sample_id = ? ORDER BY idx", (sample_id,))]
    return np.stack([np.frombuffer(b, np.float16) for b in blobs])


def wav_bytes(seconds: float = 1.0, sr: int = 16_000, freq: float = 440.0) -> bytes:
    buf = io.BytesIO()
    t = np.arange(round(seconds * sr)) / sr
    sf.write(buf, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV",
             subtype="PCM_16")
    return buf.getvalue()


# -- 1. FIFOs, sockets, devices and links to them ----------------------------------------------

def _not_files(folder: Path) -> dict[str, str]:
    """Audio-named entries that are no regular file → the words their reason must hold."""
    os.mkfifo(folder / "x.wav")
    os.symlink("x.wav", folder / "link_to_fifo.flac")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock.wav"))
    sock.close()
    os.symlink(os.devnull, folder / "device.mp3")
    os.symlink("loop_b.wav", folder / "loop_a.wav")
    os.symlink("loop_a.wav", folder / "loop_b.wav")
    os.symlink(folder / "nowhere.wav", folder / "dangling.wav")
    return {"x.wav": "not a regular file (a FIFO)",
            "link_to_fifo.flac": "not a regular file (a FIFO)",
            "sock.wav": "not a regular file (a socket)",
            "device.mp3": "not a regular file (a character device)",
            "loop_a.wav": "symbolic link loop", "loop_b.wav": "symbolic link loop",
            "dangling.wav": "broken symbolic link"}


@pytest.mark.timeout(60)
def test_walk_reports_fifos_sockets_devices_and_link_loops_without_opening_them(
        tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "ok.wav").write_bytes(wav_bytes())
    expected = _not_files(folder)
    problems: dict[str, str] = {}
    t0 = time.perf_counter()
    entries = list(walk([str(folder)], lambda p, why: problems.setdefault(p, why),
                        on_file_error=lambda p, why, root: problems.setdefault(p, why)))
    assert time.perf_counter() - t0 < 5
    assert [os.path.basename(e.path) for e in entries] == ["ok.wav"]
    assert set(problems) == {str(folder / n) for n in expected}
    for name, words in expected.items():
        assert words in problems[str(folder / name)], (name, problems[str(folder / name)])


@pytest.mark.timeout(60)
def test_the_decoder_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.wav")
    t0 = time.perf_counter()
    with pytest.raises(AudioError, match=r"not a regular file \(a FIFO\)"):
        probe(tmp_path / "x.wav")  # opening it for reading used to wait for a writer
    assert time.perf_counter() - t0 < 2


@pytest.mark.timeout(120)
@pytest.mark.parametrize("jobs", [0, 2])
def test_a_fifo_named_like_audio_is_reported_at_once_and_never_hangs_the_scan(
        jobs: int, tmp_path: Path, library: Library, library_path: Path) -> None:
    """Was: 10 min 38 s, then "the decoder crashed on this file"; with --jobs 0, for ever."""
    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "good.wav").write_bytes(wav_bytes())
    expected = _not_files(folder)
    t0 = time.perf_counter()
    report = scan(library, [str(folder)], None, options=ScanOptions(jobs=jobs))
    took = time.perf_counter() - t0
    assert took < 30, took
    problems = dict(report.problems)
    rows = rows_of(library_path)
    assert rows[str(folder / "good.wav")]["status"] == "ok"
    for name, words in expected.items():
        path = str(folder / name)
        assert words in problems[path]
        assert "crashed" not in problems[path]
        assert rows[path]["status"] == "error" and words in rows[path]["error"]
    assert report.failed == len(expected) and report.decoded == 1

    # The FIFO becomes a real file: the next scan reads it (such errors are retried).
    (folder / "x.wav").unlink()
    (folder / "x.wav").write_bytes(wav_bytes(freq=220.0))
    again = scan(library, [str(folder)], None, options=ScanOptions(jobs=jobs))
    rows = rows_of(library_path)
    assert rows[str(folder / "x.wav")]["status"] == "ok"
    assert rows[str(folder / "x.wav")]["n_windows"] >= 1
    assert again.decoded == 2  # x.wav, and the link to it, now a link to a regular file


# -- 3. a scan killed with -9 leaves no process behind ---------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(240)
def test_kill_9_of_a_scan_takes_its_decoders_forkserver_and_tracker_with_it(
        tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    folder = tmp_path / "samples"
    folder.mkdir()
    sr = 44_100
    t = np.arange(4 * sr) / sr
    for i in range(160):  # ~5 s of decoding with 2 workers on 2 cores
        sf.write(str(folder / f"f{i:03}.wav"),
                 (0.3 * np.sin(2 * np.pi * (100 + 7 * i) * t)).astype(np.float32), sr)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    child = subprocess.Popen(
        [sys.executable, "-m", "app", "--library", str(tmp_path / "lib.sqlite"), "scan",
         "--jobs", "2", "--quiet", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    proc = psutil.Process(child.pid)
    try:
        # Wait for decoding to be under way: the tracker, the forkserver, two workers.
        deadline = time.monotonic() + 120
        kids: list = []
        while time.monotonic() < deadline and child.poll() is None:
            kids = proc.children(recursive=True)
            if len(kids) >= 4:
                break
            time.sleep(0.05)
        time.sleep(0.5)
        kids = proc.children(recursive=True)
        assert child.poll() is None, child.communicate()[1]
        assert len(kids) >= 4, [k.cmdline() for k in kids]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        t_kill = time.monotonic()
        _gone, alive = psutil.wait_procs(kids, timeout=10)
        took = time.monotonic() - t_kill
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for kid in kids:  # orphans are no children of ours any more: end them by pid
            with contextlib.suppress(psutil.Error):
                kid.kill()
    assert not alive, [(k.pid, " ".join(k.cmdline())[:80]) for k in alive]
    print(f"{len(kids)} descendants gone {took:.2f} s after kill -9")


# -- 4. moves between the library's folders ----------------------------------------------------

KIT = {"format": "sampletree-tree", "version": 1, "name": "kit",
       "nodes": [{"name": "Kick"}, {"name": "Snare"}]}


@pytest.fixture
def two_folders(tmp_path: Path, library: Library, untrained_model, write_audio):
    """Folders A and B, both scanned; A/kick.wav labeled Kick."""
    a, b = tmp_path / "A", tmp_path / "B"
    kick = write_audio("kick.wav", seconds=1.5, seed=1, freq=90.0, root=a)
    write_audio("other.wav", seconds=1.0, seed=2, root=a)
    write_audio("snare.wav", seconds=1.0, seed=3, freq=300.0, root=b)
    scan(library, [str(a)], untrained_model, options=INLINE)
    scan(library, [str(b)], untrained_model, options=INLINE)
    from core.trees import FORMAT

    import_tree(library, dict(KIT, format=FORMAT))
    assert add_supports(library, "kit", "Kick", [str(kick)]) == 1
    return a, b, kick


@pytest.mark.parametrize("order", ["moved, then B scanned alone",
                                   "A scanned (missing), then moved into B"])
def test_a_labeled_file_moved_to_another_folder_keeps_its_id_label_and_embeddings(
        order: str, two_folders, library: Library, library_path: Path,
        untrained_model) -> None:
    a, b, kick = two_folders
    before = rows_of(library_path)[str(kick)]
    emb_before = embeddings(library_path, before["id"])
    moved = b / "drums" / "kick.wav"
    moved.parent.mkdir()
    if order.startswith("A scanned"):
        data, st = kick.read_bytes(), kick.stat()
        kick.unlink()
        report = scan(library, [str(a)], untrained_model, options=INLINE)
        assert report.missing == 1 and rows_of(library_path)[str(kick)]["status"] == "missing"
        moved.write_bytes(data)
        os.utime(moved, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        shutil.move(kick, moved)

    report = scan(library, [str(b)], untrained_model, options=INLINE)

    assert (report.moved, report.new, report.decoded) == (1, 0, 0)
    rows = rows_of(library_path)
    assert str(kick) not in rows
    row = rows[str(moved)]
    assert row["id"] == before["id"] and row["status"] == "ok" and row["error"] is None
    assert row["n_windows"] == before["n_windows"]
    np.testing.assert_array_equal(embeddings(library_path, row["id"]), emb_before)
    with sqlite3.connect(str(library_path)) as conn:
        root_of = dict(conn.execute("SELECT id, path FROM roots").fetchall())
    assert root_of[row["root_id"]] == str(b)
    (support,) = [s for s in list_supports(library, "kit") if s.node_path == "Kick"]
    assert support.path == str(moved)
    # A is scanned again later: nothing there is missing or new any more.
    again = scan(library, [str(a)], untrained_model, options=INLINE)
    assert (again.missing, again.new, again.unchanged) == (0, 0, 1)
    assert len(rows_of(library_path)) == 3


def test_a_copy_does_not_take_the_record_of_a_file_that_is_still_there(
        two_folders, library: Library, library_path: Path, untrained_model) -> None:
    _a, b, kick = two_folders
    shutil.copy2(kick, b / "kick copy.wav")
    report = scan(library, [str(b)], untrained_model, options=INLINE)
    assert (report.moved, report.new) == (0, 1)
    rows = rows_of(library_path)
    assert rows[str(kick)]["status"] == "ok"
    assert rows[str(b / "kick copy.wav")]["id"] != rows[str(kick)]["id"]


def test_files_of_an_unreachable_folder_are_not_taken_for_moved(
        two_folders, library: Library, library_path: Path, untrained_model,
        tmp_path: Path) -> None:
    """A's drive is unplugged (its folder gone) while a copy of its kick sits in B."""
    a, b, kick = two_folders
    shutil.copy2(kick, b / "kick.wav")
    a.rename(tmp_path / "A unplugged")
    report = scan(library, [str(b)], untrained_model, options=INLINE)
    assert (report.moved, report.new) == (0, 1)
    rows = rows_of(library_path)
    assert rows[str(kick)]["status"] == "ok"  # untouched until A is scanned


# -- 9a. errors that can go away are retried ---------------------------------------------------

_SCAN_CHILD = (
    "import sys; from core.library import Library; from core.scanner import scan, ScanOptions\n"
    "with Library(sys.argv[1]) as lib:\n"
    "    scan(lib, [sys.argv[2]], None, options=ScanOptions(jobs=0))\n")


def _scan_without_root_powers(library_path: Path, folder: Path) -> None:
    """Root reads any file: drop the capabilities that let it, for this scan only."""
    cmd = [sys.executable, "-c", _SCAN_CHILD, str(library_path), str(folder)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot deny a read")
        cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *cmd]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    subprocess.run(cmd, check=True, env=env, timeout=120)


@pytest.mark.timeout(300)
def test_a_file_whose_permission_is_fixed_is_read_on_the_next_scan(
        tmp_path: Path, library_path: Path) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    locked = folder / "locked.wav"
    locked.write_bytes(wav_bytes())
    (folder / "text.wav").write_text("not audio at all\n" * 20)
    Library(library_path).close()
    locked.chmod(0)
    try:
        _scan_without_root_powers(library_path, folder)
        row = rows_of(library_path)[str(locked)]
        assert row["status"] == "error" and "permission denied" in row["error"].lower()
        mtime = locked.stat().st_mtime_ns
    finally:
        locked.chmod(0o644)  # fixed; the mtime does not change
    assert locked.stat().st_mtime_ns == mtime
    _scan_without_root_powers(library_path, folder)
    rows = rows_of(library_path)
    assert rows[str(locked)]["status"] == "ok" and rows[str(locked)]["n_windows"] >= 1
    # A verdict on bytes that were read stands while they stay the same: not retried.
    text = rows[str(folder / "text.wav")]
    assert text["status"] == "error" and text["content_hash"] is not None
    with Library(library_path) as lib:
        report = scan(lib, [str(folder)], None, options=INLINE)
    assert (report.unchanged, report.decoded, report.failed) == (2, 0, 0)


# -- 9b. very long paths decode, and every reason is short -------------------------------------

def _deep(folder: Path, length: int) -> Path:
    path = str(folder)
    i = 0
    while len(path) < length - 40:
        path = os.path.join(path, f"{i:02} a long folder name for a sample pack " + "x" * 150)
        i += 1
    os.makedirs(path)
    return Path(path)


def test_a_wav_at_a_2500_character_path_decodes_and_reasons_stay_short(
        tmp_path: Path, library: Library, library_path: Path) -> None:
    folder = tmp_path / "samples"
    deep = _deep(folder, 2_500)
    good = deep / "kick drum, long path.wav"
    good.write_bytes(wav_bytes(seconds=1.5))
    bad = deep / "damaged.wav"
    bad.write_bytes(wav_bytes()[:30])
    assert len(str(good)) >= 2_485
    report = scan(library, [str(folder)], None, options=INLINE)
    rows = rows_of(library_path)
    assert rows[str(good)]["status"] == "ok", rows[str(good)]["error"]
    assert rows[str(good)]["n_windows"] == 2 and report.decoded == 1
    why = rows[str(bad)]["error"]
    assert why.startswith("damaged WAV file") and len(why) <= 300, why
    assert "long folder name" not in why and dict(report.problems)[str(bad)] == why
