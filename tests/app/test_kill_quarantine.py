"""``kill -9`` of ``sampletree duplicates --quarantine DIR --apply`` (and of ``undo``) at
every kind of point of a real batch, then the next command: no file lost, each copy at
its old or its new place and nowhere else, the library's paths what the disk holds, and
``undo`` brings every copy back.

The CLI runs in a child process that SIGKILLs itself at the chosen point
(``kill_cli_child.py``): the kill lands exactly there, whatever the machine's load.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from core.library import Library
from core.schema import relabel_ops, samples
from tests.cli_run import run

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("kill_cli_child.py")
PAIRS = 16


def _sha(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _files(*folders: Path) -> dict[str, str]:
    """Every file under ``folders`` (absolute path → sha256)."""
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if p.is_file() or p.is_symlink():
                out[str(p)] = _sha(p)
    return out


def _library_paths(db: Path) -> dict[int, tuple[str, str]]:
    with Library(db, create=False, read_only=True) as lib, lib.reading() as conn:
        return {int(i): (p, s) for i, p, s in conn.execute(
            select(samples.c.id, samples.c.path, samples.c.status))}


def _ops(db: Path, batch: int) -> list[tuple[str, str, str]]:
    with Library(db, create=False, read_only=True) as lib, lib.reading() as conn:
        return [tuple(r) for r in conn.execute(
            select(relabel_ops.c.src, relabel_ops.c.dst, relabel_ops.c.state)
            .where(relabel_ops.c.batch_id == batch).order_by(relabel_ops.c.seq))]


@pytest.fixture
def scanned(tmp_path: Path, capsys, weights: Path) -> tuple[Path, Path, Path]:
    """PAIRS exact duplicate pairs: ``a/pNN.wav`` (kept) and ``b/deep/pNN copy.wav``."""
    root = tmp_path / "samples"
    (root / "a").mkdir(parents=True)
    (root / "b" / "deep").mkdir(parents=True)
    rng = np.random.default_rng(7)
    for i in range(PAIRS):
        x = (rng.standard_normal((6_000, 1)) * 3000).astype(np.int16)
        sf.write(str(root / "a" / f"p{i:02}.wav"), x, 16_000, subtype="PCM_16")
        sf.write(str(root / "b" / "deep" / f"p{i:02} copy.wav"), x, 16_000, subtype="PCM_16")
    lib = tmp_path / "lib.sqlite"
    rc, _out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0",
                        "--model", weights, "--quiet")
    assert rc == 0, err
    return lib, root, tmp_path / "quarantine"


def _killed(lib: Path, point: str, n: int, *argv: str | Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.pop("SAMPLETREE_PROGRESS", None)
    done = subprocess.run([sys.executable, str(CHILD), point, str(n), "--library", str(lib),
                           *map(str, argv)], capture_output=True, env=env, timeout=300)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr.decode())


def _newest_batch(capsys, lib: Path) -> tuple[dict, str]:
    """``sampletree batches --json``: the next command after the kill (it recovers)."""
    rc, out, err = run(capsys, "--library", lib, "batches", "--json")
    assert rc == 0, err
    assert "Traceback" not in err
    return max(json.loads(out), key=lambda b: b["id"]), err


def _check_consistent(lib: Path, root: Path, dest: Path, before: dict[str, str],
                      batch: int, *, applying: bool) -> Counter:
    """No file lost or doubled, each copy at its old or new place, the library right."""
    now = _files(root, dest)
    assert not [p for p in now if ".sampletree-" in p], "a temporary file was left"
    assert Counter(now.values()) == Counter(before.values()), "a file was lost or doubled"
    states: Counter = Counter()
    for src, dst, state in _ops(lib, batch):
        states[state] += 1
        assert state in (("done", "planned") if applying else ("done", "undone")), state
        here, gone = (dst, src) if state == "done" else (src, dst)
        assert os.path.isfile(here) and not os.path.lexists(gone), (state, src, dst)
    # the library's paths are the disk's: every ok record is a file, every file a record
    paths = _library_paths(lib)
    ok = {p for p, s in paths.values() if s == "ok"}
    assert ok == set(now), (sorted(ok ^ set(now)))[:5]
    return states


def _back_as_before(lib: Path, root: Path, dest: Path, before: dict[str, str],
                    lib_before: dict[int, tuple[str, str]]) -> None:
    assert _files(root) == before
    assert not [p for p in dest.rglob("*") if p.is_file()] if dest.exists() else True
    assert _library_paths(lib) == lib_before


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("point", "n"), [("started", 3), ("linked", 6), ("moved", 9),
                                          ("done", 12), ("copied", 4)])
def test_kill_9_during_a_quarantine_loses_nothing_and_undo_brings_every_copy_back(
        capsys, scanned: tuple[Path, Path, Path], point: str, n: int) -> None:
    lib, root, dest = scanned
    before, lib_before = _files(root), _library_paths(lib)

    _killed(lib, point, n, "duplicates", "--quarantine", dest, "--apply")

    batch, err = _newest_batch(capsys, lib)
    assert f"sampletree: relabel batch {batch['id']} was interrupted while being applied" \
        in err, err
    assert batch["state"] == "failed" and "resume it" in batch["message"]
    # the way to finish it by name: running the quarantine again made a second batch
    assert f"sampletree relabel --resume {batch['id']}" in batch["message"]
    states = _check_consistent(lib, root, dest, before, batch["id"], applying=True)
    # killed before the Nth file was anywhere but its old place: it is planned again;
    # killed once it was at its new place too (linked, moved): recovery finishes it
    moved = n - 1 if point in ("started", "copied") else n
    assert states["done"] == moved and states["planned"] == PAIRS - moved, states
    # another command that opens the library finds it settled: nothing to recover
    rc, _out, err = run(capsys, "--library", lib, "status")
    assert rc == 0 and "interrupted" not in err, err
    # the search leaves out what the batch moved away, and still finds the rest
    rc, _out, err = run(capsys, "--library", lib, "duplicates")
    assert rc == 0 and f"{PAIRS - moved} groups of exact duplicates" in err, err

    rc, _out, err = run(capsys, "--library", lib, "undo", str(batch["id"]))
    assert rc == 0, err
    _back_as_before(lib, root, dest, before, lib_before)
    rc, _out, err = run(capsys, "--library", lib, "duplicates")
    assert f"{PAIRS} groups of exact duplicates" in err, err


@pytest.mark.timeout(900)
def test_a_killed_quarantine_can_be_finished_then_undone(
        capsys, scanned: tuple[Path, Path, Path], weights: Path) -> None:
    lib, root, dest = scanned
    before, lib_before = _files(root), _library_paths(lib)
    _killed(lib, "linked", 5, "duplicates", "--quarantine", dest, "--apply")
    # the next command is a scan: it settles the batch first, then finds the library
    # right (the copies moved away are not missing, nothing is new)
    rc, out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0", "--model",
                       weights, "--json")
    assert rc == 0, err
    assert "was interrupted while being applied" in err, err
    report = json.loads(out)
    assert (report["new"], report["missing"], report["moved"]) == (0, 0, 0), report
    batch, _err = _newest_batch(capsys, lib)
    rc, _out, err = run(capsys, "--library", lib, "relabel", "--resume", str(batch["id"]))
    assert rc == 0, err
    assert _check_consistent(lib, root, dest, before, batch["id"], applying=True) == \
        Counter(done=PAIRS)
    rc, _out, err = run(capsys, "--library", lib, "duplicates")
    assert "0 groups" in err
    rc, _out, err = run(capsys, "--library", lib, "undo", str(batch["id"]))
    assert rc == 0, err
    _back_as_before(lib, root, dest, before, lib_before)


@pytest.mark.timeout(900)
def test_kill_9_of_the_next_command_while_it_recovers(
        capsys, scanned: tuple[Path, Path, Path]) -> None:
    """The command that settles a killed batch is killed too, after it finished the move
    on disk and before the journal says so: the one after settles it."""
    lib, root, dest = scanned
    before, lib_before = _files(root), _library_paths(lib)
    _killed(lib, "linked", 6, "duplicates", "--quarantine", dest, "--apply")
    _killed(lib, "pre-done", 1, "batches")
    batch, err = _newest_batch(capsys, lib)
    assert "was interrupted while being applied" in err, err
    assert _check_consistent(lib, root, dest, before, batch["id"], applying=True) == \
        Counter(done=6, planned=PAIRS - 6)
    rc, _out, err = run(capsys, "--library", lib, "undo", str(batch["id"]))
    assert rc == 0, err
    _back_as_before(lib, root, dest, before, lib_before)


@pytest.mark.timeout(900)
def test_kill_9_during_the_backup_before_a_quarantine(
        capsys, scanned: tuple[Path, Path, Path]) -> None:
    from core.backup import backup_dir, list_backups

    lib, root, dest = scanned
    before, lib_before = _files(root), _library_paths(lib)
    # the library changed since the scan's backup: the quarantine makes one
    rc, _out, err = run(capsys, "--library", lib, "tree", "create", "mine")
    assert rc == 0, err
    _killed(lib, "backup", 1, "duplicates", "--quarantine", dest, "--apply")
    assert _files(root) == before and _library_paths(lib) == lib_before
    assert all(b.check == "ok" for b in list_backups(lib))
    left = list(backup_dir(lib).glob("*.part"))
    assert len(left) == 1  # the copy the kill cut short; swept once a minute old
    os.utime(left[0], (left[0].stat().st_atime, left[0].stat().st_mtime - 120))
    # the batch was only planned: nothing moved, and the next quarantine does the work
    rc, out, err = run(capsys, "--library", lib, "duplicates", "--quarantine", dest,
                       "--apply", "--json")
    assert rc == 0, err
    q = json.loads(out)["quarantine"]
    assert q["report"]["done"] == PAIRS
    assert _check_consistent(lib, root, dest, before, q["batch"], applying=True) == \
        Counter(done=PAIRS)
    assert not list(backup_dir(lib).glob("*.part")), "the killed backup's part file stayed"
    rc, _out, err = run(capsys, "--library", lib, "undo", str(q["batch"]))
    assert rc == 0, err
    _back_as_before(lib, root, dest, before, lib_before)


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("point", "n"), [("started", 4), ("moved", 7), ("undone", 10),
                                          ("linked", 2), ("copied", 3)])
def test_kill_9_during_the_undo_of_a_quarantine(
        capsys, scanned: tuple[Path, Path, Path], point: str, n: int) -> None:
    lib, root, dest = scanned
    before, lib_before = _files(root), _library_paths(lib)
    rc, out, err = run(capsys, "--library", lib, "duplicates", "--quarantine", dest,
                       "--apply", "--json")
    assert rc == 0, err
    batch_id = json.loads(out)["quarantine"]["batch"]

    _killed(lib, point, n, "undo", str(batch_id))

    batch, err = _newest_batch(capsys, lib)
    assert f"relabel batch {batch_id} was interrupted while being undone" in err, err
    assert batch["state"] == "failed" and "still relabeled" in batch["message"]
    states = _check_consistent(lib, root, dest, before, batch_id, applying=False)
    back = n - 1 if point in ("started", "copied") else n
    assert states["undone"] == back, states
    rc, _out, err = run(capsys, "--library", lib, "undo", str(batch_id))
    assert rc == 0, err
    _back_as_before(lib, root, dest, before, lib_before)
