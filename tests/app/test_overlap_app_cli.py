"""The app and the CLI on one library at the same time, truly overlapping: the app's
relabel (its JobRunner thread, the engine holding the library open) held half way at a
barrier while ``sampletree scan`` runs, and the app's scan held so while ``sampletree
relabel``, ``duplicates --apply``, ``undo`` and ``scan`` run. The second job is refused
with one clear line naming the first; nothing is lost, no row goes wrong, the log the
app has open is never deleted under it, and the refused command leaves no batch behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from core.library import Library
from core.relabel import plan_relabel
from core.schema import samples
from core.supports import add_supports
from core.trees import add_node, create_tree
from tests.cli_run import run

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("overlap_app_child.py")
FILES, COPIES = 16, 4


def _write(path: Path, seed: int) -> None:
    x = (np.random.default_rng(seed).standard_normal((6_000, 1)) * 3000).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, 16_000, subtype="PCM_16")


def _contents(*folders: Path) -> list[bytes]:
    return sorted(p.read_bytes() for f in folders if f.exists() for p in f.rglob("*.wav"))


@pytest.fixture
def kit(tmp_path: Path, capsys, weights: Path) -> tuple[Path, Path]:
    """FILES files (the first COPIES also copied into dups/), scanned, each an example of
    mine/Drums."""
    root = tmp_path / "samples"
    for i in range(FILES):
        _write(root / "a" / f"f{i:02}.wav", i)
    for i in range(COPIES):
        _write(root / "dups" / f"f{i:02} copy.wav", i)
    lib = tmp_path / "lib.sqlite"
    rc, _out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0",
                        "--model", weights, "--quiet")
    assert rc == 0, err
    with Library(lib) as library:
        create_tree(library, "mine")
        add_node(library, "mine", "Drums")
        add_supports(library, "mine", "Drums", sorted(str(p) for p in root.rglob("*.wav")))
    return lib, root


def _start(tmp_path: Path, *args: str | Path) -> tuple[subprocess.Popen, Path]:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        QT_QPA_PLATFORM="offscreen")
    child = subprocess.Popen([sys.executable, str(CHILD), *map(str, args[:1]), str(barrier),
                              *map(str, args[1:])],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 240
    while not (barrier / "inside").exists():
        if child.poll() is not None or time.monotonic() > deadline:
            out, err = child.communicate(timeout=30) if child.poll() is not None else (b"", b"")
            child.kill()
            pytest.fail(f"the app's job never reached the barrier: {out!r} {err!r}")
        time.sleep(0.02)
    return child, barrier


def _finish(child: subprocess.Popen, barrier: Path) -> dict:
    (barrier / "go").write_text("")
    try:
        out, err = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])


def _refused(err: str, job: str, pid: int, wanted: str) -> None:
    last = err.strip().splitlines()[-1]
    assert last == (f"sampletree: error: busy: {job} is running on this library (process "
                    f"{pid}); {wanted} cannot start until it has finished, try again then"), err
    assert "Traceback" not in err


def _batch_ids(capsys, lib: Path) -> list[int]:
    rc, out, err = run(capsys, "--library", lib, "batches", "--json")
    assert rc == 0, err
    return sorted(b["id"] for b in json.loads(out))


def _wal_inode(lib: Path) -> int:
    return os.stat(lib.with_name(lib.name + "-wal")).st_ino


def _library_is_the_disk(lib: Path, *folders: Path) -> None:
    with Library(lib, create=False, read_only=True) as library, library.reading() as conn:
        ok = sorted(p for p, s in conn.execute(select(samples.c.path, samples.c.status))
                    if s == "ok")
        bad = conn.exec_driver_sql("PRAGMA integrity_check").scalar_one()
    assert bad == "ok"
    assert ok == sorted(str(p) for f in folders if f.exists() for p in f.rglob("*.wav"))


@pytest.mark.timeout(600)
def test_a_cli_scan_while_the_app_relabels_is_refused_and_nothing_is_lost(
        capsys, kit: tuple[Path, Path], tmp_path: Path, weights: Path) -> None:
    lib, root = kit
    dest = tmp_path / "sorted"
    before = _contents(root)
    with Library(lib) as library:
        plan = plan_relabel(library, "mine", "move", dest)
    assert len(plan.ops) == FILES + COPIES
    child, barrier = _start(tmp_path, lib, "relabel", plan.batch_id, 5)
    try:
        wal = _wal_inode(lib)
        rc, _out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0",
                            "--model", weights, "--quiet")
        assert rc == 1
        _refused(err, "a relabel", child.pid, "a scan")
        rc, _out, err = run(capsys, "--library", lib, "relabel", "mine", "--mode", "copy",
                            "--dest", tmp_path / "copies")
        assert rc == 1
        _refused(err, "a relabel", child.pid, "a relabel")
        rc, _out, err = run(capsys, "--library", lib, "duplicates", "--quarantine",
                            tmp_path / "q", "--apply")
        assert rc == 1
        _refused(err, "a relabel", child.pid, "a relabel")
        # the very batch the app is applying: neither finished nor undone from here
        rc, _out, err = run(capsys, "--library", lib, "relabel", "--resume",
                            str(plan.batch_id))
        assert rc == 1
        _refused(err, "a relabel", child.pid, "a relabel")
        rc, _out, err = run(capsys, "--library", lib, "undo", str(plan.batch_id))
        assert rc == 1
        _refused(err, "a relabel", child.pid, "an undo of a relabel")
        assert _batch_ids(capsys, lib) == [plan.batch_id]  # the refused ones left nothing
        # reading goes on beside it, and says what it leaves alone
        rc, out, err = run(capsys, "--library", lib, "status")
        assert rc == 0 and "being carried out by another process; left alone" in err, err
        assert child.poll() is None and _wal_inode(lib) == wal  # the app's log is intact
    finally:
        got = _finish(child, barrier)
    assert got["state"] == "finished", got
    assert got["result"]["state"] == "applied" and got["result"]["done"] == FILES + COPIES
    assert got["engine_reads"] == 2
    assert not list(dest.rglob(".sampletree-*")) and not list(root.rglob("*.wav"))
    assert _contents(root, dest) == before
    _library_is_the_disk(lib, root, dest)
    # the scan refused above, run now: nothing missing, nothing new (the library followed)
    rc, out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0", "--model",
                       weights, "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert (report["new"], report["missing"]) == (0, 0), report
    rc, _out, err = run(capsys, "--library", lib, "check")
    assert rc == 0, err
    assert not list(lib.parent.glob("*.lock"))


@pytest.mark.timeout(600)
def test_a_cli_relabel_quarantine_undo_or_scan_while_the_app_scans_is_refused(
        capsys, kit: tuple[Path, Path], tmp_path: Path, weights: Path) -> None:
    lib, root = kit
    rc, out, err = run(capsys, "--library", lib, "relabel", "mine", "--mode", "copy",
                       "--dest", tmp_path / "copies", "--json")
    assert rc == 0, err
    copied = json.loads(out)["batch"]
    for i in range(8):  # new files for the app's scan to decode
        _write(root / "new" / f"n{i}.wav", 100 + i)
    before_ids = _batch_ids(capsys, lib)
    child, barrier = _start(tmp_path, lib, "scan", root, weights, 3)
    try:
        wal = _wal_inode(lib)
        for argv, wanted in (
                (("relabel", "mine", "--mode", "move", "--dest", tmp_path / "sorted"),
                 "a relabel"),
                (("duplicates", "--quarantine", tmp_path / "q", "--apply"), "a relabel"),
                (("undo", str(copied)), "an undo of a relabel"),
                (("scan", root, "--jobs", "0", "--model", weights, "--quiet"), "a scan")):
            rc, _out, err = run(capsys, "--library", lib, *argv)
            assert rc == 1, (argv, err)
            _refused(err, "a scan", child.pid, wanted)
        # the refused relabel and quarantine stored no batch
        assert _batch_ids(capsys, lib) == before_ids
        rc, _out, err = run(capsys, "--library", lib, "duplicates")
        assert rc == 0 and f"{COPIES} groups of exact duplicates" in err, err
        assert child.poll() is None and _wal_inode(lib) == wal
    finally:
        got = _finish(child, barrier)
    assert got["state"] == "finished", got
    assert got["result"]["new"] == 8 and got["result"]["missing"] == 0
    _library_is_the_disk(lib, root)  # (copies are not library files)
    # now the refused quarantine runs, and undoes
    rc, out, err = run(capsys, "--library", lib, "duplicates", "--quarantine", tmp_path / "q",
                       "--apply", "--json")
    assert rc == 0, err
    q = json.loads(out)["quarantine"]
    assert q["report"]["done"] == COPIES
    assert _batch_ids(capsys, lib) == [*before_ids, q["batch"]]
    rc, _out, err = run(capsys, "--library", lib, "undo", str(q["batch"]))
    assert rc == 0, err
    rc, _out, err = run(capsys, "--library", lib, "check")
    assert rc == 0, err


def test_the_apps_quarantine_refused_by_a_running_job_leaves_no_batch(
        kit: tuple[Path, Path], tmp_path: Path) -> None:
    """The duplicates dialog's path (core.duplicates.quarantine) planned its batch, was
    refused, and left the planned batch in the history."""
    from core.duplicates import find_duplicates, quarantine
    from core.joblock import JobBusy, job_lock
    from core.relabel import list_batches

    lib, root = kit
    before = _contents(root)
    with Library(lib) as library:
        groups = find_duplicates(library).groups
        assert len(groups) == COPIES
        with job_lock(lib, "scan"), pytest.raises(JobBusy, match="busy: a scan is running"):
            quarantine(library, groups, tmp_path / "q")
        assert list_batches(library) == []
        assert quarantine(library, groups, tmp_path / "q").state == "applied"
    assert _contents(root, tmp_path / "q") == before
