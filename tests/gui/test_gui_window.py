"""The main window and its dialogs, on real audio: scan, teach, relabel and undo,
settings, keyboard and accessible names (offscreen)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QWidget,
)

from app.gui.panels import SAMPLE_ID

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_library(tmp_path_factory) -> tuple[Path, Path]:
    """The demo folder copied and scanned with the bundled network (once per module)."""
    from app.gui.session import run_scan
    from core.jobs import CancelToken
    from core.library import Library

    base = tmp_path_factory.mktemp("demo")
    folder = base / "Samples"
    shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("*.json", "*.md"))
    db = base / "library.sqlite"
    with Library(db) as lib:
        run_scan(lib, [str(folder)], lambda _p: None, CancelToken(), device="cpu", jobs=0)
    return db, folder


@pytest.fixture
def window(qtbot, demo_library, tmp_path, monkeypatch):
    from app.gui import open_window
    from app.gui.settings import Settings

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    db = tmp_path / "library.sqlite"
    shutil.copy(demo_library[0], db)
    settings = Settings(tmp_path / "settings.ini")
    w = open_window(db, settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.session.loaded and w.library.table.rowCount() > 0, timeout=20_000)
    yield w
    w.session.close()


def _teach_demo(qtbot, w) -> None:
    """A tree with Drums/Kick, Drums/Snare and Bass, two examples each, by the engine."""
    from core import trees

    s = w.session
    s.create_tree("kit")
    qtbot.waitUntil(lambda: s.tree_name == "kit" and s.tree is not None, timeout=10_000)
    for node in ("Drums/Kick", "Drums/Snare", "Bass"):
        s.edit_tree(trees.add_node, node)
    qtbot.waitUntil(lambda: s.tree is not None and s.tree.find("Bass") is not None,
                    timeout=10_000)
    rows = s.rows
    for node, folder in (("Drums/Kick", "Kick"), ("Drums/Snare", "Snare"), ("Bass", "Bass")):
        ids = [int(i) for i, p in zip(rows.ids, rows.path, strict=True)
               if f"/{folder}/" in p][:2]
        s.teach(s.tree.find(node).id, ids)
    qtbot.waitUntil(lambda: int(s.rows.support.sum()) == 6, timeout=20_000)


def test_window_opens_on_the_library_with_its_panels(qtbot, window) -> None:
    s = window.session
    assert window.center.currentWidget() is window.tabs  # not the first-run guide
    assert window.library.table.rowCount() == len(s.rows) > 40
    assert len(s.roots) == 1
    assert window.sources.list.count() == 1
    window.library.selectRow(0)
    qtbot.waitUntil(lambda: bool(s.selected), timeout=5_000)
    qtbot.waitUntil(lambda: window.inspector.wave.peaks is not None, timeout=10_000)
    assert window.inspector.title.text() == str(s.rows.name[window.library.table.view[0]])


def test_first_run_shows_the_guide(qtbot, tmp_path, monkeypatch) -> None:
    from app.gui import open_window
    from app.gui.settings import Settings

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    w = open_window(tmp_path / "new.sqlite", Settings(tmp_path / "s.ini"))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.session.loaded, timeout=10_000)
    assert w.center.currentWidget() is w.welcome
    assert "Add a folder" in w.welcome.add_button.text()
    assert "Create a class tree" in w.tree_panel.hint.text()
    w.session.close()


def test_teaching_labels_the_demo_and_find_similar_and_map_follow(qtbot, window) -> None:
    s = window.session
    _teach_demo(qtbot, window)
    rows = s.rows
    kicks = [lab for lab, p in zip(rows.label, rows.path, strict=True) if "/Kick/" in p]
    assert all(lab for lab, st in zip(rows.label, rows.status, strict=True)
               if st == "ok")  # every readable file has a label now
    assert sum(lab.startswith("Drums") for lab in kicks) >= len(kicks) - 1
    assert "Drag a few examples" not in window.tree_panel.hint.text()
    # find similar for a kick: the nearest are drums
    r = next(i for i, p in enumerate(rows.path) if "/Kick/" in p)
    s.select([int(rows.ids[r])], None)
    window.find_similar()
    lst = window.inspector.similar_list

    def files() -> list:  # the rows with a file (a header over each grade has none)
        return [lst.item(i) for i in range(lst.count()) if lst.item(i).data(SAMPLE_ID) is not None]

    qtbot.waitUntil(lambda: len(files()) == 20, timeout=10_000)
    first = files()[0].text()
    assert "Drums" in first or "Kick" in first
    mime = lst.mimeData([files()[0]])
    assert mime.urls() and mime.urls()[0].toLocalFile().startswith(str(Path(rows.path[r]).anchor))
    # the map: computed when shown, a click on a point selects its file
    window.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: window.map.projection is not None, timeout=20_000)
    proj = window.map.projection
    assert len(proj.sample_ids) == int((rows.status == "ok").sum())
    pt = window.map.canvas.to_screen(proj.xy[5:6])[0]
    qtbot.mouseClick(window.map.canvas, Qt.MouseButton.LeftButton,
                     pos=QPointF(pt[0], pt[1]).toPoint())
    assert s.selected == [int(proj.sample_ids[5])]
    assert "Drums" in window.map.legend.text()
    # one colour per top-level class, in tree order, all different; the map uses them
    tops = [s.tree.node(i).name for i in s.tree.children[s.tree.root_id]]
    assert list(s.colors) == tops and len({c.name() for c in s.colors.values()}) == len(tops)
    drums = s.colors["Drums"].name()
    assert f"color:{drums}'>●</span>\u00a0Drums" in window.map.legend.text()


def test_keyboard_teaching_and_search(qtbot, window) -> None:
    s = window.session
    _teach_demo(qtbot, window)
    window.focus_search()
    qtbot.keyClicks(window.filters.search, "snare")
    n = len(s.rows)
    qtbot.waitUntil(lambda: 0 < window.library.table.rowCount() < n, timeout=5_000)
    assert all("snare" in str(s.rows.path[r]).lower() or "snare" in s.rows.label[r].lower()
               for r in window.library.table.view)
    window.filters.search.clear()
    qtbot.waitUntil(lambda: window.library.table.rowCount() == n, timeout=5_000)
    # select a file in the table, a class in the tree, Ctrl+L: it becomes an example there
    hat = next(r for r in range(n) if "/Hi-hat/" in str(
        s.rows.path[window.library.table.view[r]]))
    window.library.selectRow(hat)
    qtbot.waitUntil(lambda: len(s.selected) == 1, timeout=5_000)
    panel = window.tree_panel
    panel.view.setCurrentIndex(panel.model.index_of(s.tree.find("Drums/Snare").id))
    window.teach_selected()
    qtbot.waitUntil(lambda: int(s.rows.support.sum()) == 7, timeout=10_000)


def test_relabel_dialog_previews_applies_and_undoes(qtbot, window, tmp_path) -> None:
    from app.gui.relabel_dialog import RelabelDialog

    s = window.session
    _teach_demo(qtbot, window)
    before = {Path(p): _sha(Path(p)) for p in s.rows.path}
    dialog = RelabelDialog(s, window)
    qtbot.addWidget(dialog)
    dialog.mode.setCurrentIndex(dialog.mode.findData("move"))
    dest = tmp_path / "Sorted"
    dest.mkdir()
    dialog.dest.setText(str(dest))
    dialog.min_conf.setValue(0)
    dialog.preview()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=60_000)
    n = dialog.preview_model.rowCount()
    assert n == dialog.plan.files > 0
    row = dialog.preview_model.rows[0]
    assert row["dst"].startswith(str(dest)) and row["src"] != row["dst"]
    assert all(p.exists() for p in before)  # a preview changes nothing
    dialog.apply()
    qtbot.waitUntil(lambda: dialog.last_report is not None, timeout=60_000)
    assert dialog.last_report.state == "applied"
    moved = [r for r in dialog.preview_model.rows if r["state"] == "done"]
    assert len(moved) == n
    assert all(Path(r["dst"]).exists() and not Path(r["src"]).exists() for r in moved)
    # the history is re-read after the apply (the preview's refresh left it "planned")
    qtbot.waitUntil(lambda: dialog.history_model.rowCount() == 1
                    and dialog.history_model.rows[0]["state"] == "applied", timeout=10_000)
    # the library follows the moved files
    qtbot.waitUntil(lambda: any(str(dest) in p for p in s.rows.path), timeout=10_000)
    dialog.undo_now(dialog.last_batch_id)
    qtbot.waitUntil(lambda: getattr(dialog.last_report, "restored", 0) == n, timeout=60_000)
    assert {p: _sha(p) for p in before} == before  # every file back, byte-identical
    qtbot.waitUntil(lambda: dialog.history_model.rows[0]["state"] == "undone", timeout=10_000)


def test_settings_persist_and_apply(qtbot, window, tmp_path) -> None:
    from app.gui.settings import Settings
    from app.gui.settings_dialog import SettingsDialog

    s = window.session
    dialog = SettingsDialog(s.settings, window)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "CUDA" in dialog.device_note.text(), timeout=30_000)
    import torch

    cuda = dialog.device.model().item(dialog.device.findData("cuda"))
    assert cuda.isEnabled() == torch.cuda.is_available()
    dialog.hop.setValue(0.25)
    dialog.min_conf.setValue(70)
    dialog.autoplay.setChecked(False)
    dialog.accept()
    assert set(dialog.changed_keys()) == {"engine/hop", "labels/min_confidence",
                                          "audio/autoplay"}
    again = Settings(tmp_path / "settings.ini")
    assert again.hop() == 0.25 and again.thresholds().min_confidence == 0.7
    assert not again.autoplay()
    # layout and recent libraries persist too
    window.save_layout()
    again = Settings(tmp_path / "settings.ini")
    assert again.value("window/geometry") is not None
    assert again.recent_libraries()[0] == str(s.library_path)
    # nonsense in the file falls back to the defaults
    again.setValue("engine/hop", "fast")
    again.setValue("engine/device", "tpu")
    assert again.hop() == 0.5 and again.device() == "auto"


def test_every_control_has_an_accessible_name(qtbot, window) -> None:
    kinds = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QAbstractItemView)
    unnamed = []
    for w in window.findChildren(QWidget):
        if not isinstance(w, kinds) or not w.isVisibleTo(window):
            continue
        if type(w).__name__ == "QHeaderView" or isinstance(w.parent(), QAbstractSpinBox):
            continue  # Qt's own parts of a table or a spin box
        name = w.accessibleName() or (w.text() if isinstance(w, QAbstractButton) else "")
        if not name.strip() and type(w).__name__ not in ("QToolButton",):
            unnamed.append(f"{type(w).__name__} {w.objectName()!r} in "
                           f"{type(w.parent()).__name__}")
    assert not unnamed, unnamed


def test_space_plays_and_no_audio_device_is_a_message(qtbot, window) -> None:
    window.library.selectRow(0)
    qtbot.waitUntil(lambda: bool(window.session.selected), timeout=5_000)
    window.library.setFocus()
    with qtbot.waitSignal(window.player.problem, timeout=5_000) as got:
        qtbot.keyClick(window.library, Qt.Key.Key_Space)
    assert "playback is off" in got.args[0].lower()
    assert "playback is off" in window.status_text.text().lower()


def test_a_header_saved_before_the_wave_column_does_not_move_it_last(qtbot, window) -> None:
    from app.gui.library_table import TABLE_COLUMNS
    from app.gui.thumbs import WAVE
    from core.browse import COLUMNS

    header = window.library.horizontalHeader()
    wave = TABLE_COLUMNS.index(WAVE)
    after = header.visualIndex(COLUMNS.index("confidence")) + 1
    assert header.visualIndex(wave) == after
    s = window.session.settings
    # an older version saved its header with the Wave column last, keyed by COLUMNS only
    header.moveSection(header.visualIndex(wave), header.count() - 1)
    s.setValue("window/table_header", header.saveState())
    s.setValue("window/table_columns", ",".join(COLUMNS))
    header.moveSection(header.visualIndex(wave), after)
    window._restore_layout()
    assert header.visualIndex(wave) == after
    # the app's own saved layout still comes back
    header.moveSection(header.visualIndex(wave), 1)
    window.save_layout()
    header.moveSection(header.visualIndex(wave), after)
    window._restore_layout()
    assert header.visualIndex(wave) == 1


def test_the_first_window_fits_the_screen(window) -> None:
    """A first run on a small screen (1024 x 700) must not put the inspector off its
    edge; on a large one the window opens at its usual size."""
    from PySide6.QtCore import QRect

    from app.gui.main_window import FIRST_SIZE, first_size

    assert first_size(QRect(0, 0, 1024, 700)) == (1024, 700)
    assert first_size(QRect(0, 0, 2560, 1440)) == FIRST_SIZE
    assert first_size(QRect(0, 30, 1366, 738)) == (1366, 738)
    assert first_size(None) == FIRST_SIZE
    # offscreen's screen is 800 x 800: the window opened narrower than its usual size,
    # (as narrow as its contents allow) and it does fit a 1024 x 700 laptop screen
    assert window.screen().availableGeometry().width() < FIRST_SIZE[0]
    assert window.width() < FIRST_SIZE[0] and window.height() <= 800
    window.resize(1024, 700)
    assert (window.width(), window.height()) == (1024, 700)
