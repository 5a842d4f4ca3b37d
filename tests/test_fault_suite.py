"""The long fault suite (scripts/fault_suite.py): its evidence checks catch real loss, and a
short run of two cases passes (issue #10, "never lose a library")."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "fault_suite.py"


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("fault_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_suite"] = module
    spec.loader.exec_module(module)
    return module


def test_evidence_checks_catch_changed_bytes_and_vanished_files(suite, tmp_path) -> None:
    folder = tmp_path / "samples"
    suite.make_samples(folder, 20, seed=1)
    files = suite.manifest(folder)
    assert len(files) >= 20
    assert any("\n" in rel for rel in files) and any(len(rel) > 1000 for rel in files)
    assert suite.check_originals(files, folder) == []
    victim, gone = sorted(files)[:2]
    with open(folder / victim, "r+b") as f:
        f.seek(200)
        f.write(b"\x01")
    os.remove(folder / gone)
    problems = suite.check_originals(files, folder)
    assert len(problems) == 2
    assert any(p.startswith("changed") for p in problems)
    assert any(p.startswith("gone") for p in problems)


def test_integrity_and_record_checks_see_a_broken_library(suite, tmp_path) -> None:
    db = tmp_path / "lib.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "v" * 500) for i in range(2000)])
    assert suite.integrity(db) == []
    with open(db, "r+b") as f:
        f.seek(4096 * 3)
        f.write(os.urandom(4096))
    assert suite.integrity(db) != []

    real = tmp_path / "a.wav"
    real.write_bytes(b"x")
    snap = suite.Snapshot(records={str(real): ("missing", 0), str(tmp_path / "b.wav"): ("ok", 1)},
                          supports=set(), labels={}, trees=set(), batches={})
    problems = suite.check_records_vs_disk(snap, [])
    assert len(problems) == 2
    clean = suite.Snapshot(records={str(real): ("ok", 1)}, supports={("t", "Bass", str(real))},
                           labels={("t", str(real)): "Bass"}, trees={"t"}, batches={})
    lost = suite.compare(suite.Snapshot({}, set(), {}, set(), {}), clean)
    assert len(lost) == 3  # the record, the example, the label


@pytest.mark.slow
def test_short_run_of_the_fault_suite_passes(tmp_path) -> None:
    """kill -9 of a scan and a folder of FIFOs and link loops, one round each: nothing
    lost, nothing hangs, no decoder process outlives the kill (fails before the fixes of
    issue #10: the FIFO hangs the scan, the killed scan's decoders stay)."""
    out = tmp_path / "faults.json"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "1", "--files", "20",
         "--cases", "kill9_scan,fifo_and_loops", "--json", str(out), "--workdir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=900)
    assert out.exists(), proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["cases"]) == {"kill9_scan", "fifo_and_loops"}
    assert "| case | tried | survived | lost | failed | notes |" in proc.stdout
    for name, tally in result["cases"].items():
        assert tally["tried"] == 1, (name, tally)
        assert tally["lost"] == 0 and tally["failed"] == 0, (name, tally["details"])
    assert proc.returncode == 0, proc.stdout[-3000:]
