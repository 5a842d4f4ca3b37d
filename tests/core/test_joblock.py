"""The library's job lock (core.joblock): one job at a time, a busy message naming the job
that holds it, the lock file removed afterwards without letting two jobs in at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core import joblock
from core.joblock import JobBusy, job_lock, lock_path


def test_a_second_job_is_refused_with_the_holders_kind_and_pid(tmp_path: Path) -> None:
    lib = tmp_path / "lib.sqlite"
    with job_lock(lib, "relabel"):
        assert lock_path(lib).read_text().split() == ["relabel", str(os.getpid())]
        with pytest.raises(JobBusy, match="busy: a relabel is running on this library in "
                                          "this program; a scan cannot start") as busy, \
                job_lock(lib, "scan"):
            pass
        assert (busy.value.kind, busy.value.pid) == ("relabel", os.getpid())
    assert not lock_path(lib).exists()  # nothing left beside the library
    old = tmp_path / "lib.sqlite-relabel.lock"  # what earlier versions left (issue #15)
    old.touch()
    with job_lock(lib, "scan"):
        pass
    assert not lock_path(lib).exists() and not old.exists()


def test_another_process_holding_it_is_named_and_its_death_frees_it(tmp_path: Path) -> None:
    lib = tmp_path / "lib.sqlite"
    code = ("import sys, time; from core.joblock import job_lock\n"
            "with job_lock(sys.argv[1], 'relabel'):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    child = subprocess.Popen([sys.executable, "-c", code, str(lib)], stdout=subprocess.PIPE,
                             env=env, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(JobBusy, match=f"a relabel is running on this library "
                                          rf"\(process {child.pid}\)"), job_lock(lib, "scan"):
            pass
    finally:
        child.kill()  # SIGKILL: the kernel drops the lock, the stale file stays
        child.wait()
    assert lock_path(lib).exists()
    with job_lock(lib, "scan"):
        assert lock_path(lib).read_text().split() == ["scan", str(os.getpid())]
    assert not lock_path(lib).exists()


def test_waiting_gets_the_lock_when_the_holder_ends(tmp_path: Path) -> None:
    lib = tmp_path / "lib.sqlite"
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with job_lock(lib, "scan"):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    threading.Timer(0.3, release.set).start()
    t0 = time.monotonic()
    with job_lock(lib, "relabel", wait_s=10):
        waited = time.monotonic() - t0
    t.join()
    assert 0.2 < waited < 5


@pytest.mark.timeout(120)
def test_removing_the_lock_file_never_lets_two_jobs_in(tmp_path: Path, monkeypatch) -> None:
    """Many threads take and release the lock (removing its file each time): the one
    that locked a file just removed must notice and start again, else two are inside."""
    lib = tmp_path / "lib.sqlite"
    inside, worst, rounds = [0], [0], 150
    guard = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(rounds):
                with job_lock(lib, "scan", wait_s=60):
                    with guard:
                        inside[0] += 1
                        worst[0] = max(worst[0], inside[0])
                    time.sleep(0.0005)
                    with guard:
                        inside[0] -= 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    # Retry at once, so that openers race with the holder's unlink as often as possible.
    monkeypatch.setattr(joblock, "_RETRY_S", 0.0)
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and worst[0] == 1
    assert not lock_path(lib).exists()
