"""`sampletree relabel` end to end (issue #10): --resume finishes a batch a kill -9 cut
short, the same relabel run again changes nothing, an empty --dest is an error, a dry run
stores nothing, a scan during a relabel gets a busy message."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import insert

from app.cli import main
from core.library import Library
from core.scanner import ScanOptions, scan
from core.schema import nodes, predictions, trees
from tests.cli_run import run

REPO = Path(__file__).resolve().parents[2]
N = 120


def snapshot(*folders: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for f in folders for p in f.rglob("*") if p.is_file()}


@pytest.fixture
def labeled(write_audio, untrained_model, tmp_path: Path) -> tuple[Path, Path]:
    """``N`` small files scanned into a library, each predicted in tree "kit"."""
    for i in range(N):
        write_audio(f"d{i % 7}/f{i:03}.wav", seconds=0.1, sr=8_000, seed=i, freq=100.0 + 7 * i)
    lib_path, root = tmp_path / "lib.sqlite", tmp_path / "samples"
    with Library(lib_path) as lib:
        assert scan(lib, [str(root)], untrained_model, options=ScanOptions(jobs=0)).decoded == N
        known = sorted(lib.known_samples().values(), key=lambda k: k.path)
        with lib.transaction() as conn:
            tid = conn.execute(insert(trees).values(name="kit", created_at=time.time())
                               ).inserted_primary_key[0]
            top = conn.execute(insert(nodes).values(tree_id=tid, parent_id=None, name="")
                               ).inserted_primary_key[0]
            leaves = [conn.execute(insert(nodes).values(tree_id=tid, parent_id=top, name=name,
                                                        position=i)).inserted_primary_key[0]
                      for i, name in enumerate(("Drums", "Noise", "Tones"))]
            conn.execute(insert(predictions), [
                {"tree_id": tid, "sample_id": k.id, "leaf_id": leaves[i % 3],
                 "node_id": leaves[i % 3], "leaf_confidence": 0.9, "confidence": 0.9,
                 "distance": 0.5, "backed_off": False, "unknown": False}
                for i, k in enumerate(known)])
    return lib_path, root


@pytest.mark.timeout(180)
def test_resume_finishes_a_killed_relabel_and_a_second_run_changes_nothing(
        labeled, capsys, tmp_path: Path, weights: Path) -> None:
    lib, root = labeled
    dest = tmp_path / "sorted"
    original = {Path(p).name: digest for p, digest in snapshot(root).items()}
    rc, out, err = run(capsys, "--library", lib, "relabel", "kit", "--mode", "move", "--dest",
                       dest, "--dry-run", "--json")
    assert rc == 0, err
    assert json.loads(out)["batch"] is None  # a dry run stores nothing
    rc, out, _ = run(capsys, "--library", lib, "batches", "--json")
    assert json.loads(out) == []

    # The batch is planned, then applied by a child killed (SIGKILL) part-way.
    from core.relabel import plan_relabel

    with Library(lib) as library:
        batch = plan_relabel(library, "kit", "move", str(dest)).batch_id
    assert batch == 1  # the dry run did not use up a number
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    child = subprocess.Popen([sys.executable, str(REPO / "tests/core/relabel_child.py"),
                              str(lib), str(batch), "plain", "0.01"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            with closing(sqlite3.connect(str(lib), timeout=10)) as conn:
                (done,) = conn.execute("SELECT count(*) FROM relabel_ops WHERE state = 'done'"
                                       ).fetchone()
            if done >= 30:
                break
            time.sleep(0.005)
        assert child.poll() is None, child.communicate()
        # A scan now is refused, naming the relabel; nothing is touched.
        rc, _out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0",
                            "--model", weights, "--quiet")
        assert rc == 1 and err.strip().splitlines()[-1].startswith(
            "sampletree: error: busy: a relabel is running on this library "
            f"(process {child.pid})"), err
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    # The next command settles the kill; a new relabel points at the unfinished batch.
    rc, out, err = run(capsys, "--library", lib, "relabel", "kit", "--mode", "move", "--dest",
                       dest, "--dry-run")
    assert rc == 0 and f"relabel batch {batch} was interrupted" in err, err
    assert (f"note: batch {batch} stopped with" in err
            and f"finish it with `sampletree relabel --resume {batch}`" in err), err
    assert "nothing changed, nothing stored" in out

    rc, out, err = run(capsys, "--library", lib, "relabel", "--resume", str(batch))

    assert rc == 0, err
    assert out.startswith(f"batch {batch}: {N} of {N} files moved")
    after = snapshot(dest)
    assert not snapshot(root) and len(after) == N
    assert {Path(p).name: d for p, d in after.items()} == original  # byte-identical
    assert not [p for p in after if " (" in p]  # no "name (2).wav"

    # The same relabel again: nothing to do, nothing moves.
    rc, out, err = run(capsys, "--library", lib, "relabel", "kit", "--mode", "move", "--dest",
                       dest)
    assert rc == 0, err
    assert f"{N} already where the plan puts it" in out
    assert "nothing to do: no file to relabel (no batch stored)" in out
    assert snapshot(dest) == after
    rc, out, err = run(capsys, "--library", lib, "relabel", "--resume", str(batch))
    assert rc == 1 and "only a planned (or failed, or cancelled) batch" in err
    assert not list(lib.parent.glob("*.lock"))


@pytest.mark.parametrize("mode", ["move", "copy", "hardlink", "symlink", "sidecar"])
def test_an_empty_or_missing_dest_is_one_line_error(labeled, capsys, tmp_path: Path,
                                                    monkeypatch, mode: str) -> None:
    lib, _root = labeled
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    for extra in (["--dest", ""], []):
        rc, out, err = run(capsys, "--library", lib, "relabel", "kit", "--mode", mode, *extra)
        lines = err.strip().splitlines()
        assert rc == 1 and len(lines) == 1 and not out, err
        assert lines[0].startswith("sampletree: error: ") and "destination" in lines[0]
    assert sorted(os.listdir(tmp_path)) == before
    rc, out, _ = run(capsys, "--library", lib, "batches", "--json")
    assert json.loads(out) == []


def test_resume_refuses_plan_options_and_a_plan_needs_tree_and_mode(labeled, capsys) -> None:
    lib, _root = labeled
    with pytest.raises(SystemExit) as exit_:
        main(["--library", str(lib), "relabel", "--resume", "1", "--mode", "move"])
    assert exit_.value.code == 2
    assert "--resume finishes a batch as it was planned; it takes no --mode" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit) as exit_:
        main(["--library", str(lib), "relabel", "kit"])
    assert exit_.value.code == 2
    assert "give the tree NAME and --mode" in capsys.readouterr().err
    rc, _out, err = run(capsys, "--library", lib, "relabel", "--resume", "7")
    assert rc == 1 and err.strip() == "sampletree: error: there is no relabel batch 7"


def test_layout_is_shown_by_a_dry_run_and_places_the_files(labeled, capsys,
                                                            tmp_path: Path) -> None:
    """Issue #15: --layout; the default keeps each file's folder (d0 … d6)."""
    lib, _root = labeled
    dest = tmp_path / "sorted"
    rc, out, err = run(capsys, "--library", lib, "relabel", "kit", "--mode", "copy", "--dest",
                       dest, "--dry-run")
    assert rc == 0, err
    assert f"layout: {{label}}/{{relfolder}}/{{name}} (under {dest})" in out
    assert f"→ {dest / 'Drums' / 'd0' / 'f000.wav'}" in out
    rc, out, err = run(capsys, "--library", lib, "relabel", "kit", "--mode", "copy", "--dest",
                       dest, "--layout", "{leaf}/{relfolder} {name}", "--json")
    assert rc == 0, err
    applied = json.loads(out)
    assert applied["layout"] == "{leaf}/{relfolder} {name}"
    assert (dest / "Drums" / "d0 f000.wav").is_file()
    assert len(snapshot(dest)) == N and not [p for p in snapshot(dest) if " (" in p]


@pytest.mark.parametrize(("argv", "says"), [
    (["--mode", "copy", "--layout", "{label}/{mood}"],
     "field {mood} is unknown; valid fields: {label}, {leaf}"),
    (["--mode", "copy", "--layout", "../{name}"], "would leave the destination"),
    (["--mode", "copy", "--layout", "{label}/"], "no file name part"),
    (["--mode", "rename", "--layout", "{name}"], "rename puts the label before each name"),
    (["--mode", "sidecar", "--layout", "{name}"], "sidecar places no file"),
])
def test_a_bad_layout_is_a_one_line_error(labeled, capsys, tmp_path: Path, argv: list[str],
                                          says: str) -> None:
    lib, _root = labeled
    dest = [] if "rename" in argv else ["--dest", str(tmp_path / "sorted")]
    rc, out, err = run(capsys, "--library", lib, "relabel", "kit", *argv, *dest)
    lines = err.strip().splitlines()
    assert rc == 1 and len(lines) == 1 and not out, err
    assert lines[0].startswith("sampletree: error: ") and says in lines[0], lines
    assert not (tmp_path / "sorted").exists()
    with pytest.raises(SystemExit):
        main(["--library", str(lib), "relabel", "--resume", "1", "--layout", "{name}"])
    assert "it takes no --layout" in capsys.readouterr().err


def test_a_relabel_refused_as_busy_leaves_no_batch_behind(labeled, capsys,
                                                          tmp_path: Path) -> None:
    """Found by the fault suite: a relabel refused because a scan was running left its
    plan stored as a 'planned' batch for ever (and `undo` of it then failed)."""
    from core.joblock import job_lock

    lib, root = labeled
    before = snapshot(root)
    with job_lock(lib, "scan"):
        rc, out, err = run(capsys, "--library", lib, "relabel", "kit", "--mode", "move",
                           "--dest", tmp_path / "sorted")
    assert rc == 1 and "busy: a scan is running" in err and err.count("\n") == 1
    assert snapshot(root) == before and not (tmp_path / "sorted").exists()
    rc, out, err = run(capsys, "--library", lib, "batches", "--json")
    assert rc == 0 and json.loads(out) == []


def test_the_same_relabel_again_stores_no_empty_batch(labeled, capsys, tmp_path: Path) -> None:
    lib, _root = labeled
    dest = tmp_path / "sorted"
    argv = ("--library", lib, "relabel", "kit", "--mode", "copy", "--dest", dest)
    rc, _out, err = run(capsys, *argv)
    assert rc == 0, err
    rc, out, _err = run(capsys, "--library", lib, "batches")
    before = out.count("\n")
    rc, out, err = run(capsys, *argv)  # everything is in place already
    assert rc == 0 and "nothing to do: no file to relabel (no batch stored)" in out, (out, err)
    assert "undo with" not in out
    rc, out, _err = run(capsys, "--library", lib, "batches")
    assert out.count("\n") == before


def test_a_relabel_a_full_disk_stops_does_not_say_every_file_was_applied(
        labeled, capsys, tmp_path: Path, monkeypatch) -> None:
    import errno

    from core.relabel import disksteps

    lib, _root = labeled
    real, calls = disksteps._copy, []

    def copy(src: str, dst: str, **kwargs) -> None:
        calls.append(dst)
        if len(calls) == 36:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)
        real(src, dst, **kwargs)

    monkeypatch.setattr(disksteps, "_copy", copy)
    rc, out, err = run(capsys, "--library", lib, "relabel", "kit", "--mode", "copy",
                       "--dest", tmp_path / "sorted")
    assert rc == 1 and "no space left" in err, (out, err)
    assert f"{N} files applied" not in out
    first = next(line for line in out.splitlines() if line.startswith("batch "))
    assert f"stopped after 35 of {N} files" in first, out
    assert f"35 of {N} done, 0 skipped, 1 failed" in out
    assert "sampletree relabel --resume 1" in first, first  # the way to finish, by name
    # room again: the resumed batch counts what it did now and in all (it said
    # "N - 35 of N done", as if the first 35 were not)
    monkeypatch.setattr(disksteps, "_copy", real)
    rc, out, err = run(capsys, "--library", lib, "relabel", "--resume", "1")
    assert rc == 0, (out, err)
    assert f"{N - 35} done now, {N} of {N} in all, 0 skipped, 0 failed" in out, out


def fill_library_drive(monkeypatch, full: dict[str, bool]) -> None:
    """While ``full["now"]``, every write to a library fails as SQLite fails on a full
    drive (SQLITE_FULL, rolled back), through the library's own error handling."""
    real = Library.transaction

    @contextmanager
    def transaction(self, *, write=True):
        if write and full["now"]:
            raise self._failure(sqlite3.OperationalError("database or disk is full"))
        with real(self, write=write) as conn:
            yield conn

    monkeypatch.setattr(Library, "transaction", transaction)


def test_a_full_library_drive_mid_relabel_leaves_the_library_usable_and_nothing_lost(
        labeled, capsys, tmp_path: Path, monkeypatch) -> None:
    """Found by hand (library on a 3 MB tmpfs): the journal could not record a move, the
    relabel said "free some space and run the scan again", and from then on every
    command, `status` and `ls` too, failed with that line: each one's recovery of the
    batch had to write first."""
    from core.relabel import disksteps

    lib, root = labeled
    dest = tmp_path / "sorted"
    before = snapshot(root)
    full = {"now": False}
    fill_library_drive(monkeypatch, full)
    real, moved = disksteps._move, []

    def move(src: str, dst: str, tmp: str, checksum: str | None) -> None:
        real(src, dst, tmp, checksum)
        moved.append(dst)
        if len(moved) == 10:  # on disk, but the journal cannot say so
            full["now"] = True

    monkeypatch.setattr(disksteps, "_move", move)
    rc, out, err = run(capsys, "--library", lib, "relabel", "kit", "--mode", "move",
                       "--dest", dest)
    assert rc == 1 and err.count("\n") == 1, (out, err)
    assert "disk is full while writing the library" in err and "scan" not in err, err
    assert "relabel batch 1" in err and "sampletree relabel --resume 1" in err, err
    assert "sampletree undo 1" in err, err
    monkeypatch.setattr(disksteps, "_move", real)

    # still full: reading commands work and say why the batch is left as it is
    for argv in (("status",), ("ls",), ("batches",), ("tree", "list")):
        rc, out, err = run(capsys, "--library", lib, *argv)
        assert rc == 0, (argv, err)
        assert "left as it is for now" in err and "disk is full" in err, (argv, err)
    rc, out, err = run(capsys, "--library", lib, "undo", "1")
    assert rc == 1 and "Traceback" not in err and "disk is full" in err, err
    # every file is at its old place or its new one
    assert sorted(digest for digest in snapshot(root, dest).values()) == sorted(before.values())

    full["now"] = False  # space again: the next command settles it, resume and undo work
    rc, out, err = run(capsys, "--library", lib, "relabel", "--resume", "1")
    assert rc == 0 and "relabel batch 1 was interrupted while being applied" in err, err
    assert f"{N} of {N} in all" in out, out
    rc, out, err = run(capsys, "--library", lib, "undo", "1")
    assert rc == 0, err
    assert snapshot(root) == before and not dest.exists()


def test_a_full_library_drive_before_the_first_step_leaves_no_batch(
        labeled, capsys, tmp_path: Path, monkeypatch) -> None:
    lib, root = labeled
    before = snapshot(root)
    full = {"now": False}
    fill_library_drive(monkeypatch, full)
    from core.relabel import journal

    real = journal._Run.apply

    def apply(self, *args, **kwargs):
        full["now"] = True  # the plan is stored; its first write fails
        try:
            return real(self, *args, **kwargs)
        finally:
            full["now"] = False  # (the CLI then forgets the plan)

    monkeypatch.setattr(journal._Run, "apply", apply)
    rc, out, err = run(capsys, "--library", lib, "relabel", "kit", "--mode", "move",
                       "--dest", tmp_path / "sorted")
    assert rc == 1 and "disk is full" in err and "no file was touched" in err, err
    assert snapshot(root) == before and not (tmp_path / "sorted").exists()
    rc, out, err = run(capsys, "--library", lib, "batches", "--json")
    assert rc == 0 and json.loads(out) == [], out


def test_relabel_json_counts_skipped_files_under_stable_keys(labeled, capsys,
                                                             tmp_path: Path) -> None:
    """Before, --json's "skipped" keys were the English sentences of the plain output."""
    lib, _root = labeled
    argv = ("--library", lib, "relabel", "kit", "--mode", "copy", "--dest", tmp_path / "s",
            "--node", "Drums", "--min-confidence", "0.95", "--dry-run")
    rc, out, err = run(capsys, *argv, "--json")
    assert rc == 0, err
    drums = len(range(0, N, 3))
    assert json.loads(out)["skipped"] == {"other_nodes": N - drums, "low_confidence": drums}
    rc, out, err = run(capsys, *argv)
    assert rc == 0 and f"{N - drums} labeled outside the chosen nodes" in out, out
    assert f"{drums} below the minimum confidence" in out
