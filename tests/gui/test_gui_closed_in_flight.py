"""The relabel and duplicates dialogs closed while their requests and jobs are in flight,
on a real library of real files, several rounds with the close landing at a different
moment each time (``dialogs_closed_child.py``, in a process of its own so that a crash is
an exit status): no crash, no error in the event loop, and every file where it was once
each interrupted batch is undone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from core.library import Library
from core.schema import samples
from core.supports import add_supports
from core.trees import add_node, create_tree

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("dialogs_closed_child.py")
ROUNDS = 5


def _disk(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*.wav"))}


@pytest.fixture
def real_library(tmp_path: Path) -> tuple[Path, Path]:
    from app.cli import main
    from models import NetworkConfig, build_untrained, save_model

    weights = tmp_path / "testnet.pt"
    save_model(build_untrained(network=NetworkConfig(channels=16)), weights, name="testnet",
               version="1")
    root = tmp_path / "samples"
    rng = np.random.default_rng(3)
    for i in range(10):
        x = (rng.standard_normal((6_000, 1)) * 3000).astype(np.int16)
        (root / "a").mkdir(parents=True, exist_ok=True)
        sf.write(str(root / "a" / f"f{i}.wav"), x, 16_000, subtype="PCM_16")
        if i < 4:
            (root / "b").mkdir(exist_ok=True)
            sf.write(str(root / "b" / f"f{i} copy.wav"), x, 16_000, subtype="PCM_16")
    lib = tmp_path / "lib.sqlite"
    assert main(["--library", str(lib), "scan", str(root), "--jobs", "0", "--model",
                 str(weights), "--quiet"]) == 0
    with Library(lib) as library:
        create_tree(library, "mine")
        add_node(library, "mine", "Drums")
        add_supports(library, "mine", "Drums", sorted(str(p) for p in root.rglob("*.wav")))
    return lib, root


@pytest.mark.timeout(900)
def test_dialogs_closed_with_requests_and_jobs_in_flight_never_crash(
        real_library: tuple[Path, Path], tmp_path: Path) -> None:
    lib, root = real_library
    before = _disk(root)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", str(CHILD), str(lib),
         str(tmp_path / "settings.ini"), str(tmp_path / "sorted"), str(tmp_path / "q"),
         str(ROUNDS)], capture_output=True, env=env, timeout=850)
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 0, (done.returncode, err[-4000:])
    for bad in ("Traceback", "RuntimeError", "already deleted", "Internal C++ object",
                "Fatal Python error"):
        assert bad not in err, err[-4000:]
    caught = json.loads(done.stdout.decode().strip().splitlines()[-1])
    print("closed with something in flight, per kind of close:", caught)
    # the closes did land while something was in flight (not only after it ended)
    assert caught["relabel preview"] >= 1 and caught["relabel apply"] >= 1, caught
    assert caught["duplicates move"] >= 1, caught
    # every interrupted batch undone: the files are all back, the library says so
    assert _disk(root) == before
    with Library(lib, create=False, read_only=True) as library, library.reading() as conn:
        ok = sorted(p for p, s in conn.execute(select(samples.c.path, samples.c.status))
                    if s == "ok")
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    assert ok == sorted(before)
    from collections import Counter

    from core.relabel import list_batches

    with Library(lib, create=False, read_only=True) as library:
        print("batches left:", Counter(b["state"] for b in list_batches(library)))


def test_a_relabel_refused_by_a_running_job_leaves_no_planned_batch(
        qtbot, disk_session, tmp_path: Path) -> None:
    """The dialog's Apply refused (a scan runs: here, or a `sampletree` command): the
    dialog said so only when the refusal came after it connected to the job (else it
    showed a running job for ever), and the planned batch stayed in the history (the
    CLI discards it)."""
    from app.gui.relabel_dialog import RelabelDialog
    from core.joblock import job_lock
    from core.relabel import list_batches

    session, lib = disk_session
    ids = {session.rows.name[i]: int(session.rows.ids[i]) for i in range(len(session.rows))}
    session.teach(session.tree.find("Drums/Kick").id, [ids[f"kick{i:02d}.wav"] for i in range(3)])
    qtbot.waitUntil(lambda: int(session.rows.support.sum()) == 3, timeout=20_000)
    session.roots = [str(lib)]
    dialog = RelabelDialog(session)
    qtbot.addWidget(dialog)
    dialog.mode.setCurrentIndex(dialog.mode.findData("copy"))
    dialog.dest.setText(str(tmp_path / "Sorted"))
    dialog.preview()
    qtbot.waitUntil(lambda: dialog.plan is not None and dialog.job is None, timeout=30_000)
    with Library(session.library_path) as library:
        assert [b["state"] for b in list_batches(library)] == ["planned"]
    with job_lock(session.library_path, "scan"):
        dialog.apply()
        # refused at once: the dialog hears the end even so (it waited for ever, its
        # progress bar running, when the refusal came before it connected to the job)
        qtbot.waitUntil(lambda: dialog.job is None, timeout=30_000)
    assert "busy: a scan is running on this library" in dialog.summary.text()
    with Library(session.library_path) as library:
        assert list_batches(library) == []
    assert not (tmp_path / "Sorted").exists() or not any((tmp_path / "Sorted").rglob("*.wav"))


def test_a_job_that_ends_before_its_dialog_connects_is_still_heard(
        qtbot, session, monkeypatch) -> None:
    """Deterministic form of the race above: the job's thread ends (refused) before the
    dialog that started it has connected to it."""
    from app.gui.relabel_dialog import RelabelDialog
    from core.joblock import JobBusy

    dialog = RelabelDialog(session)
    qtbot.addWidget(dialog)
    assert session.engine.wait_idle()
    real_start = session.start_job

    def start_and_let_it_end(name, fn, on_end=None):
        job = real_start(name, fn, on_end)
        assert session.jobs.wait(20)  # ended (and signalled) before anyone connected
        return job

    monkeypatch.setattr(session, "start_job", start_and_let_it_end)

    def refused(_lib, _progress, _cancel):
        raise JobBusy("busy: a scan is running on this library (process 1)")

    seen: list[object] = []
    assert dialog._run("Relabel", refused, lambda _result, problem: seen.append(problem))
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert seen == ["busy: a scan is running on this library (process 1)"]
    assert dialog.job is None and not dialog.cancel_button.isEnabled()
