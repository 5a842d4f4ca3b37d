""""Try the demo library" scans a copy in the user's data folder, never the app's own
resources/demo (a relabel or a quarantine from the app would move the installed files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.demo import COPY_NAME, bundled_demo


@pytest.fixture
def window(qtbot, session, tmp_path, monkeypatch):
    import app.paths
    from app.gui.main_window import MainWindow

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    monkeypatch.setattr(app.paths, "demo_copy_parent", lambda: tmp_path / "data")
    w = MainWindow(session)
    qtbot.addWidget(w)
    scanned: list[str] = []
    monkeypatch.setattr(session, "add_folder", scanned.append)
    return w, scanned


def test_the_demo_button_scans_a_copy_and_reuses_it(window, tmp_path: Path) -> None:
    w, scanned = window
    w.welcome.demo_button.click()
    copy = tmp_path / "data" / COPY_NAME
    assert scanned == [str(copy)]  # was: the bundled resources/demo itself
    demo = bundled_demo()
    files = sorted(p.relative_to(demo) for p in demo.rglob("*") if p.is_file())
    assert len(files) > 40
    assert sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file()) == files
    assert not Path(scanned[0]).resolve().is_relative_to(demo.resolve())
    marker = os.stat(copy / files[0]).st_ino
    w.scan_demo()  # intact: the same copy again, not copied anew
    assert scanned[-1] == str(copy) and os.stat(copy / files[0]).st_ino == marker
    assert sorted(p.name for p in copy.parent.iterdir()) == [COPY_NAME]  # no leftovers
    # a copy the user relabeled (a file renamed) stays theirs: a fresh one beside it
    (copy / files[0]).rename(copy / files[0].with_name("renamed.wav"))
    w.scan_demo()
    assert scanned[-1] == str(tmp_path / "data" / f"{COPY_NAME} (2)")


def test_a_demo_copy_that_fails_says_why_and_scans_nothing(window, tmp_path: Path) -> None:
    w, scanned = window
    (tmp_path / "data").write_text("a file where the data folder should be")
    w.scan_demo()
    assert scanned == []
    text = w.status_text.text()
    assert "could not copy the demo library" in text and COPY_NAME in text, text
