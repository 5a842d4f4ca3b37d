"""What the app shows must be true: the waveform, an unreadable file, confidences and
distances, the relabel dialog, formats, playback state, shortcuts, title, map choice
(issue #13, "trust bugs"; offscreen)."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

COLUMNS = 1200


def _column_peaks(signal: np.ndarray, columns: int = COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """Min and max per column, as core.inspect_audio.waveform_peaks computes them."""
    edges = np.linspace(0, len(signal), columns + 1).astype(np.int64)
    mins = np.array([signal[a:b].min() for a, b in itertools.pairwise(edges)])
    maxs = np.array([signal[a:b].max() for a, b in itertools.pairwise(edges)])
    return mins.astype(np.float32), maxs.astype(np.float32)


@pytest.mark.parametrize("width", [1, 2, 7, 97, 300, 301, 380, 599, 600, 1199, 1200, 1500])
def test_a_single_spike_is_drawn_at_any_width(width) -> None:
    from app.gui.inspector import pixel_extents

    mins = np.full(COLUMNS, -0.05, np.float32)
    maxs = np.full(COLUMNS, 0.05, np.float32)
    maxs[601], mins[977] = 1.0, -0.9  # a kick's attack, a negative peak later
    lo, hi = pixel_extents(mins, maxs, width)
    assert len(lo) == len(hi) == width
    assert hi.max() == pytest.approx(1.0) and lo.min() == pytest.approx(-0.9)
    # where it is: the spike's pixel is where its column lies on the time axis
    assert abs(int(np.argmax(hi)) - 601 * width // COLUMNS) <= 1


@pytest.mark.parametrize("width", [120, 380, 500, 799, 1000, 1200, 1600])
def test_a_steady_sine_is_drawn_without_gaps(width) -> None:
    from app.gui.inspector import pixel_extents

    sr = 44100
    t = np.arange(2 * sr) / sr
    mins, maxs = _column_peaks(0.8 * np.sin(2 * np.pi * 55 * t))  # a 55 Hz bass, 2 s
    lo, hi = pixel_extents(mins, maxs, width)
    # every pixel's stroke touches the next one: one continuous shape, no dashes
    # (picking one column per pixel left 279 of 380 neighbours apart)
    assert np.all(np.maximum(lo[1:], lo[:-1]) <= np.minimum(hi[1:], hi[:-1]))
    # and the envelope stays the sine's: nothing drawn beyond its peaks
    assert hi.max() <= 0.8 + 1e-6 and lo.min() >= -0.8 - 1e-6


def test_the_painted_waveform_shows_the_spike(qtbot) -> None:
    from app.gui.inspector import WaveformView
    from core.inspect_audio import Peaks

    view = WaveformView()
    qtbot.addWidget(view)
    view.resize(300, 110)  # 1,200 columns on 300 px: sampling one per pixel skips 601
    mins = np.full(COLUMNS, -0.05, np.float32)
    maxs = np.full(COLUMNS, 0.05, np.float32)
    maxs[601] = 1.0
    view.set_peaks(Peaks(mins, maxs, 2.0, 44100, 1))
    image = view.grab().toImage()
    ink = QColor(view.palette().highlight().color()).rgb()
    top = min((y for x in range(image.width()) for y in range(image.height())
               if image.pixel(x, y) == ink), default=image.height())
    assert top < image.height() * 0.1  # the peak reaches (nearly) the top


# -- the inspector on an unreadable file -----------------------------------------------------

OLD_ERROR = ("damaged or unsupported audio file (Error opening b'/lib/broken/bad kick.wav': "
             "Format not recognised)")  # as libraries scanned before the fix store it


@pytest.fixture
def mixed_session(qtbot, tmp_path, settings, monkeypatch):
    """The synthetic library plus a real 48 kHz stereo WAV and a file that could not be
    read; the tree has examples in all three classes."""
    import soundfile as sf

    from app.gui.session import Session
    from core.library import Library, SampleRecord
    from tests.gui.conftest import synthetic_library

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    db = tmp_path / "library.sqlite"
    ids = synthetic_library(db)
    good = tmp_path / "good tone.wav"
    t = np.arange(48000) / 48000
    sf.write(good, np.stack([np.sin(2 * np.pi * 110 * t)] * 2, 1) * 0.5, 48000)
    with Library(db) as lib:
        model = lib.ensure_model("m-1-abc", name="m", version="1", sha256="abc", dim=8,
                                 trained=True, features={})
        lib.write_batch([
            SampleRecord(path=str(good), root_id=None, size=1, mtime_ns=1, status="ok",
                         starts=np.zeros(1), loudness=np.zeros(1),
                         embeddings=np.full((1, 8), 0.5, np.float32), model_id=model,
                         duration_s=1.0, sample_rate=48000, channels=2, format="wav"),
            SampleRecord(path="/lib/broken/bad kick.wav", root_id=None, size=10, mtime_ns=1,
                         status="error", error=OLD_ERROR)])
        known = {p: k.id for p, k in lib.known_samples().items()}
    s = Session(db, settings)
    s.reload()
    qtbot.waitUntil(lambda: s.loaded and s.tree is not None, timeout=10_000)
    for node, kind in (("Drums/Kick", "kick"), ("Drums/Snare", "snare"), ("Bass", "bass")):
        s.teach(s.tree.find(node).id, [ids[f"{kind}{i:02d}.wav"] for i in range(5)])
    qtbot.waitUntil(lambda: int(s.rows.support.sum()) == 15 and s.rows.label.any(),
                    timeout=20_000)
    yield s, known[str(good)], known["/lib/broken/bad kick.wav"], ids
    s.close()


@pytest.fixture
def inspector(qtbot, mixed_session):
    from app.gui.inspector import Inspector
    from app.gui.player import Player

    s = mixed_session[0]
    w = Inspector(s, Player())
    qtbot.addWidget(w)
    w.resize(380, 800)
    w.autoplay.setChecked(False)
    w.show()
    return w


def _details(inspector) -> str:
    """The Details line with its non-breaking spaces (kept inside values) as plain ones."""
    return inspector.info.text().replace("\u00a0", " ")


def test_an_unreadable_file_resets_the_inspector_and_says_why(qtbot, mixed_session,
                                                             inspector) -> None:
    s, good, bad, _ids = mixed_session
    s.select([good], None)
    qtbot.waitUntil(lambda: inspector.wave.peaks is not None, timeout=10_000)
    assert "48000 Hz · 2 ch" in _details(inspector)
    s.select([bad], None)
    # nothing of the previous file stays
    assert inspector.wave.peaks is None
    assert "Hz" not in _details(inspector)
    assert "ch" not in [v.strip() for v in _details(inspector).split("·")]
    assert _details(inspector) == "WAV · could not be read"
    # the label says what is true: the tree has examples, this file cannot be placed
    label = inspector.label.text()
    assert "give the tree a few examples" not in label
    assert "could not be read" in label and "15 examples" in label
    assert inspector.confidence.text() == "—"
    # the reason: wrapped, visible, without Python's bytes literal or a repeated path
    problem = inspector.problem
    assert problem.isVisibleTo(inspector) and problem.wordWrap()
    assert problem.text() == ("This file could not be read: damaged or unsupported audio "
                              "file (Format not recognised)")
    assert "b'" not in problem.text()
    assert not inspector.play_button.isEnabled()
    # back on a readable file: the problem goes away
    s.select([good], None)
    qtbot.waitUntil(lambda: inspector.wave.peaks is not None, timeout=10_000)
    assert not problem.isVisibleTo(inspector) and "48000 Hz" in _details(inspector)


def test_a_file_that_fails_to_read_now_drops_the_previous_rate(qtbot, mixed_session,
                                                               inspector) -> None:
    s, good, _bad, ids = mixed_session
    s.select([good], None)
    qtbot.waitUntil(lambda: inspector.wave.peaks is not None, timeout=10_000)
    s.select([ids["bass03.wav"]], None)  # scanned fine, gone from disk since
    qtbot.waitUntil(lambda: inspector.problem.isVisibleTo(inspector), timeout=10_000)
    assert "Hz" not in inspector.info.text()
    assert inspector.problem.text().startswith("This file could not be read: ")
    assert inspector.wave.peaks is None


def test_sndfile_errors_name_no_bytes_path(tmp_path) -> None:
    from app.gui.text import plain_error
    from core.audio import probe
    from core.errors import AudioError

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + bytes(100))
    with pytest.raises(AudioError) as got:
        probe(bad)
    assert "b'" not in str(got.value) and str(bad) not in str(got.value)
    assert "Format not recognised" in str(got.value)
    assert plain_error(OLD_ERROR) == "damaged or unsupported audio file (Format not recognised)"


# -- confidences, suggestions, distances, plurals -----------------------------------------------

def _teach(qtbot, session, ids, nodes: dict[str, str], n: int = 3) -> None:
    for node, kind in nodes.items():
        session.teach(session.tree.find(node).id, [ids[f"{kind}{i:02d}.wav"] for i in range(n)])
    want = n * len(nodes)
    qtbot.waitUntil(lambda: int(session.rows.support.sum()) == want
                    and session.rows.label.all(), timeout=20_000)


def test_unknown_files_show_no_confidence_and_far_distances(qtbot, session, synth_library,
                                                            monkeypatch) -> None:
    from app.gui.inspector import Inspector
    from app.gui.library_table import LibraryView
    from app.gui.player import Player
    from core.browse import COLUMNS

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    ids = synth_library[1]
    # kicks and snares only: the bass cluster, far away, is unknown
    _teach(qtbot, session, ids, {"Drums/Kick": "kick", "Drums/Snare": "snare"})
    r = session.row_index()[ids["bass05.wav"]]
    assert session.rows.label[r] == "unknown"
    view = LibraryView(session)
    qtbot.addWidget(view)
    view.table.set_rows(session.rows)
    model = view.table
    conf = COLUMNS.index("confidence")
    shown = {model.data(model.index(i, 0)): model.data(model.index(i, conf))
             for i in range(model.rowCount())}
    assert shown["bass05.wav"] == "—"  # was "100 %"
    assert shown["kick07.wav"].endswith(" %")
    # nor in "Label these next"
    from app.gui.panels import SuggestionsPanel

    panel = SuggestionsPanel(session)
    qtbot.addWidget(panel)
    panel.refresh()
    qtbot.waitUntil(lambda: panel.list.count() > 0, timeout=10_000)
    items = [panel.list.item(i).text() for i in range(panel.list.count())]
    bass = [t for t in items if t.startswith("bass")]
    assert bass and all("unknown (nearest: " in t and "%" not in t for t in bass), items

    inspector = Inspector(session, Player())
    qtbot.addWidget(inspector)
    inspector.autoplay.setChecked(False)
    session.select([ids["bass05.wav"]], None)
    assert inspector.confidence.text() == "—"
    qtbot.waitUntil(lambda: inspector.nearest.count() > 0, timeout=10_000)
    texts = [inspector.nearest.item(i).text() for i in range(inspector.nearest.count())]
    assert all(t.split("\n")[0].endswith(" · far") for t in texts), texts
    # a kick's nearest examples are kicks, and close (or a finer grade of close)
    session.select([ids["kick07.wav"]], None)
    qtbot.waitUntil(lambda: inspector.nearest.count() > 0
                    and "kick" in inspector.nearest.item(0).text(), timeout=10_000)
    first = inspector.nearest.item(0).text()
    assert first.startswith("Drums › Kick · ") and "\n    kicks/kick0" in first, first
    assert first.split("\n")[0].rsplit(" · ", 1)[1] in ("almost the same", "very close",
                                                          "close"), first


def test_nearness_words() -> None:
    from app.gui.text import distance_detail, nearness

    assert nearness(1.0, 1.2, 4.0) == "close"  # no farther than two examples of a class
    assert nearness(2.0, 1.2, 4.0) == "related"  # within the tree's reach
    assert nearness(4.5, 1.2, 4.0) == "far"  # beyond where the tree says unknown
    assert nearness(2.0, None, float("inf")) == ""  # no scale: no word
    assert nearness(3.0, 1.2, None) == "far" and nearness(2.0, 1.2, None) == "related"
    assert distance_detail(1.07, 1.2, 4.0) == ("Distance 1.07 (close). Two examples of a "
                                               "class usually lie 1.20 apart; the tree says "
                                               "unknown beyond 4.00.")
    assert distance_detail(1.07, None, None) == "Distance 1.07."


def test_suggestions_with_one_class_say_why_they_are_empty(qtbot, session, synth_library) -> None:
    from app.gui.panels import SuggestionsPanel

    ids = synth_library[1]
    panel = SuggestionsPanel(session)
    qtbot.addWidget(panel)
    _teach(qtbot, session, ids, {"Bass": "bass"})
    session.engine.wait_idle()
    qtbot.wait(50)
    assert panel.list.count() == 0  # was: all 27 other files, each "Bass? 100 %"
    assert "one class (Bass)" in panel.note.text() and "second class" in panel.note.text()
    _teach(qtbot, session, ids, {"Bass": "bass", "Drums/Kick": "kick"})
    qtbot.waitUntil(lambda: panel.list.count() > 0, timeout=10_000)
    assert "Least certain" in panel.note.text()


def test_counts_have_the_right_plural(qtbot, session, synth_library) -> None:
    from app.gui.text import plural

    assert plural(1, "class", "classes") == "1 class"
    assert plural(2, "class", "classes") == "2 classes"
    assert plural(1392, "file") == "1,392 files" and plural(0, "file") == "0 files"
    messages: list[str] = []
    session.message.connect(messages.append)
    _teach(qtbot, session, synth_library[1], {"Bass": "bass"}, n=1)
    qtbot.waitUntil(lambda: any(m.startswith("Labeled") for m in messages), timeout=10_000)
    labeled = next(m for m in messages if m.startswith("Labeled"))
    assert "with 1 class from 1 example in" in labeled, labeled
    assert "1 example added to Bass" in messages


# -- the relabel dialog ----------------------------------------------------------------------

@pytest.fixture
def files_session(qtbot, tmp_path, settings):
    """Twelve real WAV files (kicks, snares, basses) with synthetic embeddings, two examples
    per class, every file labeled."""
    import soundfile as sf

    from app.gui.session import Session
    from core.library import Library, SampleRecord
    from core.trees import add_node, create_tree
    from tests.gui.conftest import CENTERS

    rng = np.random.default_rng(1)
    src = tmp_path / "Samples"
    src.mkdir()
    db = tmp_path / "library.sqlite"
    with Library(db) as lib:
        model = lib.ensure_model("m-1-abc", name="m", version="1", sha256="abc", dim=8,
                                 trained=True, features={})
        recs = []
        for kind, center in CENTERS.items():
            for i in range(4):
                path = src / f"{kind}{i:02d}.wav"
                sf.write(path, rng.uniform(-0.3, 0.3, 4410).astype(np.float32), 44100)
                recs.append(SampleRecord(
                    path=str(path), root_id=None, size=path.stat().st_size,
                    mtime_ns=path.stat().st_mtime_ns,
                    status="ok", starts=np.zeros(1), loudness=np.zeros(1),
                    embeddings=(center + 0.3 * rng.standard_normal((1, 8))).astype(np.float32),
                    model_id=model, duration_s=0.1, format="wav"))
        lib.write_batch(recs)
        create_tree(lib, "mine")
        for node in ("Drums/Kick", "Drums/Snare", "Bass"):
            add_node(lib, "mine", node)
        ids = {p.rsplit("/", 1)[-1]: k.id for p, k in lib.known_samples().items()}
    s = Session(db, settings)
    s.reload()
    qtbot.waitUntil(lambda: s.loaded and s.tree is not None, timeout=10_000)
    for node, kind in (("Drums/Kick", "kick"), ("Drums/Snare", "snare"), ("Bass", "bass")):
        s.teach(s.tree.find(node).id, [ids[f"{kind}{i:02d}.wav"] for i in range(2)])
    qtbot.waitUntil(lambda: int(s.rows.support.sum()) == 6 and s.rows.label.all(),
                    timeout=20_000)
    yield s, src
    s.close()


def _dialog(qtbot, session):
    from app.gui.relabel_dialog import RelabelDialog

    dialog = RelabelDialog(session)
    qtbot.addWidget(dialog)
    dialog.resize(1400, 900)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_relabel_starts_on_copy_and_its_layout_does_not_jump(qtbot, files_session) -> None:
    dialog = _dialog(qtbot, files_session[0])
    assert dialog.mode.currentData() == "copy"  # the safe default: originals stay
    for size in ((1400, 900), (980, 640), (600, 640)):
        dialog.resize(*size)
        places = set()
        for i in range(dialog.mode.count()):
            dialog.mode.setCurrentIndex(i)
            qtbot.wait(1)
            assert dialog.dest.isVisible() and dialog.browse.isVisible()
            places.add(tuple(w.mapTo(dialog, w.rect().topLeft()).y() for w in (
                dialog.dest, dialog.min_conf, dialog.nodes, dialog.preview_button)))
            assert dialog.dest.isEnabled() == (dialog.mode.currentData() != "rename")
        assert len(places) == 1, (size, places)  # Copy's text pushed everything 10 px down


def test_relabel_paths_stretch_and_undo_refreshes_the_rows(qtbot, files_session,
                                                           tmp_path) -> None:
    session, src = files_session
    dialog = _dialog(qtbot, session)
    dest = tmp_path / "Sorted"
    dialog.dest.setText(str(dest))
    dialog.min_conf.setValue(0)
    dialog.preview()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=30_000)
    n = dialog.preview_model.rowCount()
    assert n == 12
    view = dialog.preview_view
    width = view.viewport().width()
    now, becomes = view.columnWidth(0), view.columnWidth(1)
    assert now > width * 0.25 and becomes > width * 0.25, (now, becomes, width)  # was ~85 px
    # a long path gives way in the middle: its file name, the part that differs, stays
    assert view.textElideMode() == Qt.TextElideMode.ElideMiddle
    dialog.apply()
    qtbot.waitUntil(lambda: dialog.last_report is not None, timeout=30_000)
    assert {r["state"] for r in dialog.preview_model.rows} == {"done"}
    assert len(list(dest.rglob("*.wav"))) == 12 and len(list(src.glob("*.wav"))) == 12
    batch = dialog.last_batch_id
    dialog.undo_now(batch)
    qtbot.waitUntil(lambda: getattr(dialog.last_report, "removed", 0) == 12, timeout=30_000)
    # the rows say what happened, and the message says it once
    assert {r["state"] for r in dialog.preview_model.rows} == {"undone"}
    text = dialog.summary.text()
    assert text.startswith(f"Batch {batch} undone: 12 copies or links removed"), text
    assert "(undone)" not in text
    assert not list(dest.rglob("*.wav")) and len(list(src.glob("*.wav"))) == 12


def test_relabel_layout_is_checked_live_and_the_preview_shows_its_paths(
        qtbot, files_session, tmp_path) -> None:
    """Issue #15: the dialog's Layout field, its one-line error, and the paths it gives."""
    from core.relabel import DEFAULT_LAYOUT

    session, _src = files_session
    dialog = _dialog(qtbot, session)
    dest = tmp_path / "Sorted"
    dialog.dest.setText(str(dest))
    dialog.min_conf.setValue(0)
    assert dialog.layout_edit.text() == DEFAULT_LAYOUT
    # no problem: the line says where a file goes, the pack's folders kept
    assert dialog.layout_error.text() == "e.g. Drums/Kick/Analog Pack/Kicks/BD 01.wav"
    assert dialog.layout_preset.currentText() == "By class, keeping each pack's folders"
    dialog.layout_edit.setText("{label}/{mood}")
    assert dialog.layout_preset.currentText() == "Custom layout"
    assert "field {mood} is unknown; valid fields: {label}" in dialog.layout_error.text()
    dialog.preview()  # refused before any job starts
    assert dialog.plan is None and dialog.summary.text().startswith("Fix the layout first")
    dialog.layout_edit.setText("{label}/")
    assert "no file name part" in dialog.layout_error.text()
    dialog.layout_edit.setText("{leaf}/{confidence} {name}")
    assert dialog.layout_error.text() == "e.g. Kick/87 BD 01.wav"
    dialog.preview()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=30_000)
    assert dialog.plan.layout == "{leaf}/{confidence} {name}"
    dsts = {os.path.relpath(r["dst"], dest) for r in dialog.preview_model.rows}
    assert os.path.join("Kick", "100 kick00.wav") in dsts and len(dsts) == 12
    assert "as {leaf}/{confidence} {name}" in dialog.summary.text()
    # editing the layout drops the plan: Apply never runs what the preview did not show
    dialog.layout_edit.setText(DEFAULT_LAYOUT)
    assert dialog.plan is None and not dialog.apply_button.isEnabled()
    for mode in ("rename", "sidecar"):
        dialog.mode.setCurrentIndex(dialog.mode.findData(mode))
        assert not dialog.layout_edit.isEnabled()
        assert dialog.layout_error.text() == f"{mode.capitalize()} takes no layout"
    dialog.mode.setCurrentIndex(dialog.mode.findData("move"))
    assert dialog.layout_edit.isEnabled() and dialog.layout_error.text().startswith("e.g. ")


def test_relabel_layouts_are_offered_in_words(qtbot, files_session, tmp_path) -> None:
    """The Sort choice fills the layout; typing one of them picks its words again; the
    example line follows (a field with no value leaves no folder); the summary says it."""
    session, _src = files_session
    dialog = _dialog(qtbot, session)
    dialog.dest.setText(str(tmp_path / "Sorted"))
    dialog.min_conf.setValue(0)
    want = {"By class only": "Drums/Kick/BD 01.wav",
            "By class, loops apart from one-shots": "Drums/Kick/one-shot/BD 01.wav",
            "By class, then key": "Drums/Kick/F#2/BD 01.wav",
            "Loops apart from one-shots, then by class": "one-shot/Drums/Kick/BD 01.wav"}
    for name, example in want.items():
        i = dialog.layout_preset.findText(name)
        assert i >= 0, name
        dialog.layout_preset.setCurrentIndex(i)
        dialog.layout_preset.activated.emit(i)
        assert dialog.layout_error.text() == f"e.g. {example}"
    dialog.layout_edit.setText(" {label} / {name} ")  # typed with spaces: still the preset
    assert dialog.layout_preset.currentText() == "By class only"
    dialog.layout_edit.setText("{label}/{bpm}/{name}")  # the example has no tempo
    assert dialog.layout_preset.currentText() == "Custom layout"
    assert dialog.layout_error.text() == "e.g. Drums/Kick/BD 01.wav"
    custom = dialog.layout_preset.findText("Custom layout")
    dialog.layout_preset.setCurrentIndex(custom)
    dialog.layout_preset.activated.emit(custom)  # keeps what was typed
    assert dialog.layout_edit.text() == "{label}/{bpm}/{name}"
    i = dialog.layout_preset.findText("By class only")
    dialog.layout_preset.setCurrentIndex(i)
    dialog.layout_preset.activated.emit(i)
    dialog.preview()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=30_000)
    assert dialog.plan.layout == "{label}/{name}"
    assert "will be copied, by class only;" in dialog.summary.text() or \
        dialog.summary.text().endswith("will be copied, by class only. Nothing has changed yet.")
    dialog.mode.setCurrentIndex(dialog.mode.findData("rename"))
    assert not dialog.layout_preset.isEnabled()


# -- formats, playback state, shortcuts, title, map ---------------------------------------------

def test_formats_have_the_names_producers_use(qtbot, tmp_path, settings) -> None:
    from app.gui.library_table import LibraryModel
    from app.gui.panels import FilterBar
    from app.gui.session import Session
    from app.gui.text import format_name
    from core.browse import COLUMNS
    from core.library import Library, SampleRecord

    assert [format_name(f) for f in ("wavex", "wav", "aiff", "flac", "ogg", "mp3", "caf")] == \
        ["WAV", "WAV", "AIFF", "FLAC", "OGG", "MP3", "CAF"]
    assert format_name(None, "/x/broken.aif") == "AIFF" and format_name("", "/x/raw") == "?"
    db = tmp_path / "library.sqlite"
    with Library(db) as lib:
        lib.write_batch([SampleRecord(path=f"/lib/{n}", root_id=None, size=1, mtime_ns=1,
                                      status="ok", duration_s=1.0, format=fmt)
                         for n, fmt in (("a.wav", "wav"), ("b.wav", "wavex"),
                                        ("c.aif", "aiff"), ("d.flac", "flac"))])
    s = Session(db, settings)
    s.reload()
    qtbot.waitUntil(lambda: s.loaded, timeout=10_000)
    try:
        model = LibraryModel()
        model.set_rows(s.rows)
        col = COLUMNS.index("format")
        shown = {model.data(model.index(r, 0)): model.data(model.index(r, col))
                 for r in range(model.rowCount())}
        assert shown == {"a.wav": "WAV", "b.wav": "WAV", "c.aif": "AIFF", "d.flac": "FLAC"}
        # the filter offers WAV once, and it keeps both kinds of WAV
        bar = FilterBar(s)
        qtbot.addWidget(bar)
        names = [bar.format.itemText(i) for i in range(bar.format.count())]
        assert names == ["All formats", "AIFF", "FLAC", "WAV"]
        bar.format.setCurrentIndex(names.index("WAV"))
        model.set_filter(bar.current())
        assert model.rowCount() == 2
    finally:
        s.close()


def test_play_is_disabled_with_a_reason_when_playback_is_off(qtbot, mixed_session,
                                                             inspector) -> None:
    s, good, _bad, _ids = mixed_session  # SAMPLETREE_NO_AUDIO is set
    s.select([good], None)
    qtbot.waitUntil(lambda: inspector.wave.peaks is not None, timeout=10_000)
    assert not inspector.play_button.isEnabled()  # was enabled, then a beep and a message
    assert "SAMPLETREE_NO_AUDIO" in inspector.play_button.toolTip()
    assert "Playback is off" in inspector.audio_note.text()


def test_playable_file_enables_play_when_playback_is_on(qtbot, mixed_session,
                                                        inspector, monkeypatch) -> None:
    from app.gui.player import Player

    s, good, _bad, _ids = mixed_session
    monkeypatch.setattr(Player, "available", property(lambda self: True))
    s.select([good], None)
    assert inspector.play_button.isEnabled()
    assert "Space" in inspector.play_button.toolTip()


@pytest.fixture
def main_window(qtbot, session, monkeypatch):
    from app.gui.main_window import MainWindow

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    w = MainWindow(session)
    qtbot.addWidget(w)
    return w


def test_shortcuts_are_a_two_column_table(qtbot, main_window, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.gui.main_window import SHORTCUTS

    boxes: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: boxes.append(a[2]))
    main_window.show_shortcuts()
    assert not boxes  # was a message box of space-padded text, misaligned in any
    dialog = main_window.shortcuts_dialog  # proportional font
    qtbot.waitExposed(dialog)
    table = dialog.table
    assert table.columnCount() == 2 and table.rowCount() == len(SHORTCUTS) >= 10
    assert [table.horizontalHeaderItem(c).text() for c in range(2)] == ["Keys", "Action"]
    for r, (keys, action) in enumerate(SHORTCUTS):
        assert table.item(r, 0).text() == keys and table.item(r, 1).text() == action
        # every action starts at the same x: one column
        assert table.visualItemRect(table.item(r, 1)).left() == \
            table.visualItemRect(table.item(0, 1)).left()
        assert table.rowHeight(r) == table.rowHeight(0)  # one line each
    assert ("Ctrl+R", "Relabel folders (preview, apply, undo)") in SHORTCUTS
    dialog.close()


def test_the_title_names_the_library_once(main_window, session) -> None:
    # Qt appends the application's display name itself: "library.sqlite — Sampletree"
    assert main_window.windowTitle() == session.library_path.name
    assert "Sampletree" not in main_window.windowTitle()
    assert main_window.windowFilePath() == str(session.library_path)


def test_the_map_remembers_its_projection(qtbot, session, tmp_path) -> None:
    from app.gui.map_view import MapView
    from app.gui.settings import Settings

    first = MapView(session, None)
    qtbot.addWidget(first)
    assert first.method.currentData() == "pca"
    first.method.setCurrentIndex(first.method.findData("tsne"))
    session.settings.sync()
    # a restart: a new settings object on the same file, a new map
    again = Settings(tmp_path / "settings.ini")
    assert again.map_method() == "tsne"
    session.settings = again
    second = MapView(session, None)
    qtbot.addWidget(second)
    assert second.method.currentData() == "tsne"
    again.setValue("map/method", "umap")  # nonsense falls back to PCA
    assert again.map_method() == "pca"


def test_a_class_dot_keeps_its_colour_on_a_selected_row(qtbot) -> None:
    from PySide6.QtGui import QIcon

    from app.gui.library_table import class_dot

    color = QColor(40, 120, 220)
    icon = class_dot(color)
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected):
        image = icon.pixmap(12, 12, mode).toImage()
        centre = image.pixelColor(image.width() // 2, image.height() // 2)
        assert (centre.red(), centre.green(), centre.blue()) == (40, 120, 220), mode
        ring = image.pixelColor(image.width() // 2, max(1, image.height() // 12))
        assert ring.alpha() > 0 and ring.lightness() < 100  # a dark ring around it


def test_a_file_unknown_by_the_tone_guard_says_so(qtbot, session, synth_library,
                                                  monkeypatch) -> None:
    """Review of 2026-11-30: near-silence showed "unknown — far from every class" while
    `explain` said "Not musical material" and its nearest examples were "close"."""
    from app.gui.inspector import Inspector
    from app.gui.player import Player
    from core.classify import Classifier

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    ids = synth_library[1]
    _teach(qtbot, session, ids, {"Drums/Kick": "kick", "Drums/Snare": "snare"})
    real = Classifier.explain

    def explain(self, tree_name, sample_id, n_supports=5):  # as a calibrated model's
        got = real(self, tree_name, sample_id, n_supports)
        tone = 0.5 if sample_id == ids["bass05.wav"] else 5.0
        return {**got, "tone_distance": tone, "tone_reach": 1.0}

    monkeypatch.setattr(Classifier, "explain", explain)
    inspector = Inspector(session, Player())
    qtbot.addWidget(inspector)
    inspector.autoplay.setChecked(False)
    session.select([ids["bass05.wav"]], None)  # unknown, and within the tones' reach
    qtbot.waitUntil(lambda: "not musical material" in inspector.label.text(), timeout=10_000)
    session.select([ids["bass06.wav"]], None)  # unknown, far from the tones
    qtbot.waitUntil(lambda: inspector.nearest.count() > 0, timeout=10_000)
    assert inspector.label.text() == "unknown — far from every class"


def test_a_file_cut_short_says_so_in_the_inspector(qtbot, tmp_path, settings,
                                                   monkeypatch) -> None:
    """A file that reads but is damaged (a WAV cut short) shows what the scan noted."""
    import sqlite3

    from app.gui.inspector import Inspector
    from app.gui.player import Player
    from app.gui.session import Session
    from tests.gui.conftest import synthetic_library

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    path = tmp_path / "lib.sqlite"
    ids = synthetic_library(path)
    note = "truncated: its header promises 3.00 s, the file holds 1.00 s"
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE samples SET error = ? WHERE id = ?", (note, ids["kick01.wav"]))
    session = Session(path, settings)
    session.reload()
    qtbot.waitUntil(lambda: session.loaded, timeout=10_000)
    try:
        inspector = Inspector(session, Player())
        qtbot.addWidget(inspector)
        inspector.autoplay.setChecked(False)
        session.select([ids["kick01.wav"]], None)
        assert inspector.problem.text().startswith("Truncated: its header promises 3.00 s")
        session.select([ids["kick02.wav"]], None)
        assert inspector.problem.text() == ""
    finally:
        session.close()


def test_built_ins_of_one_node_make_one_line_in_the_inspector(qtbot, session, synth_library,
                                                               monkeypatch) -> None:
    """Review of 2026-11-30: "Nearest examples" was mostly three identical lines
    "Keys › Piano · … built-in example ◦", which cannot be auditioned or told apart."""
    from app.gui.inspector import Inspector
    from app.gui.player import Player
    from core.classify import Classifier

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    ids = synth_library[1]
    _teach(qtbot, session, ids, {"Drums/Kick": "kick", "Drums/Snare": "snare"})
    real = Classifier.explain

    def explain(self, tree_name, sample_id, n_supports=5):
        got = real(self, tree_name, sample_id, n_supports)
        return {**got, "nearest_builtins": [
            {"node": "Keys/Piano", "distance": 1.5}, {"node": "Keys/Piano", "distance": 1.2},
            {"node": "Keys/Organ", "distance": 1.7}, {"node": "Keys/Piano", "distance": 1.9}]}

    monkeypatch.setattr(Classifier, "explain", explain)
    inspector = Inspector(session, Player())
    qtbot.addWidget(inspector)
    inspector.autoplay.setChecked(False)
    session.select([ids["kick05.wav"]], None)
    qtbot.waitUntil(lambda: inspector.nearest.count() > 3, timeout=10_000)
    texts = [inspector.nearest.item(i).text() for i in range(inspector.nearest.count())]
    built = [t for t in texts if "built-in" in t]
    assert len(built) == 2, texts
    assert built[0].startswith("Keys › Piano · ") and "nearest of 3 built-in" in built[0]
    assert built[1].startswith("Keys › Organ · ") and "    built-in example" in built[1]
    items = [inspector.nearest.item(i) for i in range(inspector.nearest.count())]
    tips = [i.toolTip() for i in items if "built-in" in i.text()]
    assert "Distance 1.20 (" in tips[0] and "Distance 1.70 (" in tips[1], tips  # the nearest


def test_a_batch_stopped_part_way_resumes_from_the_history(qtbot, files_session, tmp_path,
                                                           monkeypatch) -> None:
    """A full disk (or a cancel, or the app closed mid-batch) stops a batch part way; the
    app could only undo it, where `sampletree relabel --resume` finishes it. Now the
    history's Resume does, counting what it did now and in all."""
    import errno

    from core.library import Library
    from core.relabel import apply_batch, disksteps, plan_relabel

    session, _src = files_session
    dest = tmp_path / "Sorted"
    real, calls = disksteps._copy, []

    def full_after_five(a: str, b: str, **kwargs) -> None:
        calls.append(b)
        if len(calls) == 6:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), b)
        real(a, b, **kwargs)

    with Library(session.library_path) as lib:
        plan = plan_relabel(lib, "mine", "copy", str(dest))
        monkeypatch.setattr(disksteps, "_copy", full_after_five)
        stopped = apply_batch(lib, plan.batch_id)
        monkeypatch.setattr(disksteps, "_copy", real)
    assert stopped.state == "failed" and stopped.done == 5
    dialog = _dialog(qtbot, session)
    dialog.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: dialog.history_model.rowCount() == 1, timeout=10_000)
    dialog.history_view.selectRow(0)
    assert dialog.resume_button.isEnabled()
    dialog.resume_button.click()
    qtbot.waitUntil(lambda: dialog.last_report is not None, timeout=30_000)
    assert dialog.last_report.state == "applied"
    assert len(list(dest.rglob("*.wav"))) == 12
    assert "7 done now, 12 of 12 files in all" in dialog.summary.text(), dialog.summary.text()
    qtbot.waitUntil(lambda: dialog.history_model.rows[0]["state"] == "applied",
                    timeout=10_000)
    assert not dialog.resume_button.isEnabled()  # an applied batch has nothing to resume
