"""Scanning from the app: progress reaches the UI, cancel leaves a consistent library."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.gui.session import Session
from core.library import Library

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "samples"
    for i, f in enumerate(sorted(p for p in DEMO.rglob("*") if p.suffix in (".wav", ".flac",
                                                                             ".ogg"))[:12]):
        dst = out / f.parent.name / f"{i:02d}{f.suffix}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dst)
    (out / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return out


@pytest.fixture
def big_folder(folder: Path) -> Path:
    """150 files: long enough a scan for a cancel from the UI to land mid-way."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "broken.wav")
    for i in range(150 - 13):
        src = files[i % len(files)]
        shutil.copy(src, src.with_name(f"copy{i:03d}{src.suffix}"))
    return folder


def _session(tmp_path: Path, settings) -> Session:
    settings.setValue("engine/decoders", 0)  # decode in-process: deterministic
    settings.setValue("engine/device", "cpu")
    s = Session(tmp_path / "lib.sqlite", settings)
    s.reload()
    return s


def test_scan_reports_progress_and_fills_the_table(qtbot, tmp_path, settings, folder) -> None:
    s = _session(tmp_path, settings)
    qtbot.waitUntil(lambda: s.loaded, timeout=10_000)
    assert len(s.rows) == 0
    seen = []
    job = s.add_folder(str(folder))
    assert job is not None
    job.progress.connect(seen.append)
    with qtbot.waitSignal(job.finished, timeout=120_000) as done:
        pass
    report = done.args[0]
    assert report.found == 13 and report.failed == 1
    qtbot.waitUntil(lambda: len(s.rows) == 13, timeout=20_000)
    assert any(p.total == 13 for p in seen)
    assert s.roots == [str(folder)]
    err = [str(e) for e, st in zip(s.rows.error, s.rows.status, strict=True) if st == "error"]
    assert len(err) == 1 and err[0]
    s.close()


def test_cancelled_scan_keeps_a_consistent_library_and_resumes(qtbot, tmp_path, settings,
                                                               big_folder) -> None:
    folder = big_folder
    s = _session(tmp_path, settings)
    qtbot.waitUntil(lambda: s.loaded, timeout=10_000)
    job = s.add_folder(str(folder))
    assert job is not None
    job.progress.connect(lambda p: job.cancel() if p.stage != "walk" and p.done >= 1 else None)
    with qtbot.waitSignal(job.cancelled, timeout=120_000):
        pass
    assert s.jobs.wait(30)
    with Library(tmp_path / "lib.sqlite") as lib:
        files = list(lib.list_samples())
        assert 0 < len(files) < 150
        # every file written is whole: windows and embeddings, or an error
        assert all(f["status"] == "error" or (f["windows"] and f["embedded_by"]) for f in files)
    # a second job is refused while one runs, then the scan resumes
    qtbot.waitUntil(lambda: s.roots == [str(folder)], timeout=10_000)
    job2 = s.rescan()
    assert job2 is not None
    assert s.rescan() is None
    with qtbot.waitSignal(job2.finished, timeout=120_000) as done:
        pass
    assert done.args[0].unchanged == len(files)
    assert done.args[0].new == 150 - len(files)
    with Library(tmp_path / "lib.sqlite") as lib:
        assert len(list(lib.list_samples())) == 150
    s.close()
