"""The app's "Add folder" follows the scan's rule for sources (core/sources.py): a link to
a source or a folder inside one rescans it; no second entry appears in Sources."""

from __future__ import annotations

from pathlib import Path

from tests.gui.test_gui_scan import _session


def _scanned(qtbot, tmp_path: Path, settings, folder: Path):
    """A session of a new library with ``folder`` added and scanned."""
    s = _session(tmp_path, settings)
    qtbot.waitUntil(lambda: s.loaded, timeout=10_000)
    job = s.add_folder(str(folder))
    with qtbot.waitSignal(job.finished, timeout=120_000):
        pass
    assert s.jobs.wait(30)
    return s


def test_adding_a_link_to_a_source_or_a_folder_inside_it_rescans_it(
        qtbot, tmp_path: Path, settings, write_audio) -> None:
    for i, rel in enumerate(["Drums/k.wav", "Bass/b.wav"]):
        write_audio(f"lib/{rel}", seconds=0.5, sr=16_000, seed=i, freq=150 + 200 * i)
    lib = tmp_path / "samples" / "lib"
    link = tmp_path / "samples" / "liblink"
    link.symlink_to("lib")
    s = _scanned(qtbot, tmp_path, settings, lib)
    qtbot.waitUntil(lambda: len(s.rows) == 2, timeout=20_000)
    messages: list[str] = []
    s.message.connect(messages.append)
    for folder, said in ((link, "already a source: rescanning it"),
                         (lib / "Drums", "inside the source")):
        job = s.add_folder(str(folder))
        assert job is not None
        assert s.roots == [str(lib)] and not s.scanning  # no second source, not even shown
        assert any(said in m for m in messages), messages
        with qtbot.waitSignal(job.finished, timeout=120_000) as done:
            pass
        assert done.args[0].new == 0
        assert s.jobs.wait(30)
    s.reload()
    qtbot.waitUntil(lambda: s.loaded, timeout=10_000)
    assert s.roots == [str(lib)] and len(s.rows) == 2
    s.close()


def test_the_status_bar_names_folders_a_scan_could_not_read(qtbot, tmp_path: Path, settings,
                                                            write_audio) -> None:
    """Trust review: `sampletree status` said a source's subfolder could not be read; the
    app's status bar said nothing."""
    from app.gui.main_window import MainWindow
    from core.library import Library
    from core.sources import record_folder_problems
    from tests.gui.test_gui_browse import RecordingPlayer

    write_audio("lib/Drums/k.wav", seconds=0.5, sr=16_000)
    lib = tmp_path / "samples" / "lib"
    s = _scanned(qtbot, tmp_path, settings, lib)
    window = MainWindow(s, RecordingPlayer())
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: len(s.rows) == 1, timeout=20_000)
    assert "not read" not in window.library_text.text()
    # what a scan keeps for a folder it could not open (root ignores permissions here)
    with Library(s.library_path) as db:
        record_folder_problems(db, [str(lib)],
                               [(str(lib / "Private"), "cannot read folder: Permission denied")])
    s.reload()
    qtbot.waitUntil(lambda: "1 folder not read" in window.library_text.text(), timeout=10_000)
    assert "Private: cannot read folder: Permission denied" in window.library_text.toolTip()
    s.close()
