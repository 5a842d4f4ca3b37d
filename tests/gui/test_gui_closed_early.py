"""Answers that arrive after their window closed.

Engine requests and jobs run off the UI thread; the dialog or panel that asked may be closed
(and deleted: the dialogs are WA_DeleteOnClose) before the answer comes back. Each test holds
the engine (or the job) until the asker is gone, then lets the answer arrive: it must be
dropped, never delivered to the deleted widgets (a RuntimeError "already deleted" raised in
the event loop, or a crash)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QWidget


def _hold(engine) -> threading.Event:
    """Keep the engine's thread busy until the event returned is set."""
    gate = threading.Event()
    started = threading.Event()

    def wait(_state) -> None:
        started.set()
        gate.wait(20)

    engine.call(wait)
    assert started.wait(10)
    return gate


def _destroy(qtbot, widget: QWidget) -> None:
    """Close the widget and delete it now, as WA_DeleteOnClose or a closed window does."""
    import shiboken6

    widget.close()
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(widget)


def _release(qtbot, engine, gate: threading.Event) -> None:
    """Let the held engine go and deliver every answer it sends back."""
    gate.set()
    assert engine.wait_idle()
    qtbot.waitUntil(lambda: not engine.pending(), timeout=10_000)
    qtbot.wait(50)  # queued answers delivered


class FakePlayer:
    def play(self, *a, **k) -> bool:
        return True


def test_duplicates_dialog_closed_before_its_answer(qtbot, session) -> None:
    from app.gui.duplicates_dialog import DuplicatesDialog

    dialog = DuplicatesDialog(session, None)
    dialog.show()
    gate = _hold(session.engine)
    dialog.find()
    _destroy(qtbot, dialog)
    _release(qtbot, session.engine, gate)


def test_relabel_dialog_closed_before_its_answers(qtbot, session) -> None:
    from app.gui.relabel_dialog import RelabelDialog

    gate = _hold(session.engine)
    dialog = RelabelDialog(session)  # asks for the batch history at once
    dialog.show()
    dialog.shown_dest = None
    dialog.history_model.set_rows([{"id": 1, "dest": None}])
    dialog.history_view.selectRow(0)
    dialog._show_batch()  # asks for a batch's files
    _destroy(qtbot, dialog)
    _release(qtbot, session.engine, gate)


def _held_job():
    """A job function that waits for the event returned, then gives ``answer``."""
    gate = threading.Event()

    def fn(lib, progress, cancel):
        gate.wait(20)
        return "answer"

    return gate, fn


def _job_release(qtbot, session, gate: threading.Event) -> None:
    gate.set()
    assert session.jobs.wait(20)
    qtbot.wait(50)


def test_relabel_dialog_closed_while_its_job_runs(qtbot, session) -> None:
    """Closing cancels the job; its end (cancelled or done) arrives after the dialog."""
    from app.gui.relabel_dialog import RelabelDialog

    dialog = RelabelDialog(session)
    dialog.show()
    assert session.engine.wait_idle()
    qtbot.wait(20)
    gate, fn = _held_job()
    seen: list[object] = []
    assert dialog._run("Relabel preview", fn, lambda result, problem: seen.append(result))
    _destroy(qtbot, dialog)
    _job_release(qtbot, session, gate)
    assert seen == []


def test_duplicates_dialog_closed_while_its_move_runs(qtbot, session) -> None:
    from app.gui.duplicates_dialog import DuplicatesDialog

    dialog = DuplicatesDialog(session, None)
    dialog.show()
    gate, fn = _held_job()
    job = session.start_job("Quarantine duplicates", fn)
    seen: list[object] = []
    dialog._follow(job, seen.append, seen.append)
    _destroy(qtbot, dialog)
    _job_release(qtbot, session, gate)
    assert seen == []


def test_map_closed_before_its_projection(qtbot, session, monkeypatch) -> None:
    from app.gui import map_view
    from app.gui.map_view import MapView

    view = MapView(session, FakePlayer())
    gate = _hold(session.engine)
    view.method.setCurrentIndex(view.method.findData("pca"))
    view.recompute()  # PCA: an engine request
    _destroy(qtbot, view)
    _release(qtbot, session.engine, gate)

    view = MapView(session, FakePlayer())
    jgate, fn = _held_job()
    monkeypatch.setattr(map_view, "_tsne_job", fn)
    view.method.setCurrentIndex(view.method.findData("tsne"))
    view.recompute()  # t-SNE: a job
    _destroy(qtbot, view)
    _job_release(qtbot, session, jgate)


def test_inspector_closed_before_its_answers(qtbot, session, monkeypatch) -> None:
    """The answers last session's teardown crash came from: the waveform (a thread of its
    own), the nearest examples, the timeline and similar sounds (engine requests)."""
    from app.gui import inspector as inspector_module
    from app.gui.inspector import Inspector
    from app.gui.player import Player

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    ids = {str(session.rows.name[i]): int(session.rows.ids[i])
           for i in range(len(session.rows))}
    session.teach(session.tree.find("Drums/Kick").id, [ids["kick00.wav"], ids["kick01.wav"]])
    session.teach(session.tree.find("Bass").id, [ids["bass00.wav"], ids["bass01.wav"]])
    qtbot.waitUntil(lambda: int(session.rows.support.sum()) == 4, timeout=20_000)
    peaks_gate = threading.Event()
    real_peaks = inspector_module.waveform_peaks

    def slow_peaks(path, n):
        peaks_gate.wait(20)
        return real_peaks(path, n)

    monkeypatch.setattr(inspector_module, "waveform_peaks", slow_peaks)
    inspector = Inspector(session, Player())
    inspector.autoplay.setChecked(False)
    inspector.show()
    gate = _hold(session.engine)
    session.select([ids["kick05.wav"]], None)  # waveform + nearest examples
    inspector.find_similar()
    _destroy(qtbot, inspector)
    peaks_gate.set()
    _release(qtbot, session.engine, gate)
    for t in threading.enumerate():
        if t.name == "sampletree-peaks":
            t.join(10)
    qtbot.wait(50)


def test_suggestions_and_wave_thumbnails_closed_before_their_answers(qtbot, session) -> None:
    from app.gui.library_table import LibraryView
    from app.gui.panels import SuggestionsPanel

    ids = {str(session.rows.name[i]): int(session.rows.ids[i])
           for i in range(len(session.rows))}
    session.teach(session.tree.find("Drums/Kick").id, [ids["kick00.wav"], ids["kick01.wav"]])
    session.teach(session.tree.find("Bass").id, [ids["bass00.wav"], ids["bass01.wav"]])
    qtbot.waitUntil(lambda: int(session.rows.support.sum()) == 4, timeout=20_000)
    panel = SuggestionsPanel(session)
    view = LibraryView(session)
    gate = _hold(session.engine)
    panel.refresh()
    from app.gui.thumbs import PeakStore

    stores = view.findChildren(PeakStore)
    for s in stores:
        s.get(ids["kick03.wav"])
        s._fetch()
    _destroy(qtbot, panel)
    _destroy(qtbot, view)
    _release(qtbot, session.engine, gate)


def test_settings_dialog_closed_before_the_device_probe_answers(qtbot, settings,
                                                                 monkeypatch) -> None:
    from app.gui import settings_dialog
    from app.gui.settings_dialog import SettingsDialog

    gate = threading.Event()
    answered = threading.Event()

    def slow_probe() -> str:
        gate.wait(20)
        answered.set()
        return "Test GPU"

    monkeypatch.setattr(settings_dialog, "detect_devices", slow_probe)
    dialog = SettingsDialog(settings)
    dialog.show()
    _destroy(qtbot, dialog)
    gate.set()
    assert answered.wait(10)
    for t in threading.enumerate():
        if t.name == "sampletree-devices":
            t.join(10)
    qtbot.wait(50)


def test_job_bar_closed_while_its_job_runs(qtbot, session) -> None:
    from app.gui.panels import JobBar

    bar = JobBar(session)
    gate, fn = _held_job()
    assert session.start_job("Scan", fn) is not None  # the bar attaches to it
    assert bar.job is not None
    _destroy(qtbot, bar)
    _job_release(qtbot, session, gate)


def test_a_bound_method_answer_is_dropped_with_its_object(qtbot, session) -> None:
    """Engine.call takes a bound method's own Qt object as the owner when none is named."""
    from PySide6.QtCore import QObject

    from app.gui.engine import owned

    got: list[object] = []

    class Asker(QObject):
        def take(self, value) -> None:
            got.append(value)

    asker, other = Asker(), Asker()
    gate = _hold(session.engine)
    session.engine.call(lambda _state: "answer", done=asker.take)
    session.engine.call(lambda _state: "kept", done=other.take)
    late = owned(asker, got.append)
    asker.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    _release(qtbot, session.engine, gate)
    late("late")
    assert got == ["kept"]
