"""The inspector: the selected file's waveform, label timeline, label, nearest examples
and similar sounds, with playback."""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.gui.colors import node_color
from app.gui.engine import EngineState, describe, poster
from app.gui.panels import SAMPLE_ID, FileList, PlaceholderList
from app.gui.player import Player
from app.gui.session import Session
from app.gui.text import (
    distance_detail,
    distance_scale,
    file_in_source,
    folder_in_source,
    format_name,
    nearness,
    plain_error,
    plural,
)
from app.gui.theme import tokens
from core.classify import ClassifyError
from core.inspect_audio import Peaks, Span, waveform_peaks, window_timeline
from core.labeltext import BUILTIN_MARK
from core.paths import display_path

#: files at least this long get a label timeline
TIMELINE_MIN_S = 3.0
#: what each word of the nearness scale means (app.gui.text.nearness)
NEARNESS_TIPS = {
    "almost the same": "as near as an edited copy of one recording usually is (within a "
                       "quarter of how far apart two examples of a class usually are)",
    "very close": "nearer each other than an example usually is to the middle of its class",
    "close": "no farther apart than two examples of one class usually are",
    "related": "farther apart than two examples of a class, but within the tree's reach",
    "far": "beyond the distance where the tree says unknown",
}
DISTANCE_TIP = "How near:\n" + "\n".join(f"  {w}: {t}" for w, t in NEARNESS_TIPS.items())


#: what the empty nearest-examples list says before the tree has examples (while they are
#: being compared with the file it says nothing and keeps its height: no jump each file)
NEAREST_PLACEHOLDER = "Shown once the tree has examples: drag files onto a class"
#: ... when the file cannot be compared with them (no embedding) or has none but itself
NEAREST_NO_EMBEDDING = ("None: this file has no embedding (unreadable, or not scanned with "
                        "the current model)")
NEAREST_ONLY_ITSELF = "None: this file is the tree's only example"
#: ... with no file selected, once the tree has examples
NEAREST_NO_FILE = "The examples nearest the selected file, with their classes"

#: what the empty similar-sounds list says
SIMILAR_PLACEHOLDER = ("Similar sounds to the selected file appear here: Find similar "
                       "(Ctrl+Shift+F)")

#: where a detected value came from, as the inspector says it
SOURCE_SHORT = {"tag": "tags", "name": "name", "audio": "audio"}
SOURCE_TIP = ("Where each value comes from: (tags) the file's metadata, (name) its file "
              "name, (audio) measured from the sound: a guess to check by ear")

#: a space and a hyphen a line may not break at; values are joined with ``VALUES``
NBSP, NBHY = "\u00a0", "\u2011"
VALUES = NBSP + "· "
_IN_WORD_HYPHEN = re.compile(r"(?<=\w)-(?=\w)")


def one_value(text: str) -> str:
    """``text`` as one unbreakable piece: "-7.2 LUFS", "A4 (audio)" and "One-shot" wrap as
    a whole (a minus sign stays: no hyphen before a number is replaced)."""
    return _IN_WORD_HYPHEN.sub(NBHY, text.replace(" ", NBSP))


def values_text(values: list[str]) -> str:
    """Values in one line that wraps only between them, after the "·" (no line starts
    with one)."""
    return VALUES.join(one_value(v) for v in values if v)


def detected_text(rows: Any, r: int) -> str:
    """Type, tempo, key and root note, each with where it came from: ``Loop (audio) ·
    120 BPM (name) · Am (name)``; "" when a scan found none of them. Each value keeps its
    unit and source on its line (:func:`values_text`)."""
    from app.gui.library_table import analysis_cell
    from core.analysis.keys import note_name
    from core.browse import sources_of

    src = sources_of(str(rows.column("sources")[r] or ""))

    def said(text: str, what: str) -> str:
        where = SOURCE_SHORT.get(src.get(what, ""), "")
        return f"{text} ({where})" if where else text

    out = []
    kind = analysis_cell(rows, r, "type")
    if kind:
        out.append(said(kind, "type"))
    bpm = analysis_cell(rows, r, "bpm")
    if bpm and bpm != "—":
        out.append(said(f"{bpm} BPM", "tempo"))
    key = str(rows.column("key")[r] or "")
    root = int(rows.column("root")[r])
    if key:
        out.append(said(key, "key"))
    if root >= 0:  # a one-shot's pitch (beside a key, when both were found)
        out.append(said(f"root {note_name(root)}" if key else note_name(root), "root note"))
    return values_text(out)


def analysis_details(rows: Any, r: int) -> list[str]:
    """The file's levels and bit depth (type, tempo and key: :func:`detected_text`), each
    a value with its unit (joined by :func:`values_text`)."""
    from app.gui.library_table import analysis_cell

    out = []
    lufs, peak = analysis_cell(rows, r, "lufs"), analysis_cell(rows, r, "peak")
    if lufs:
        out.append(f"{lufs} LUFS")
    if peak:
        out.append(f"peak {peak} dBFS")
    bits = analysis_cell(rows, r, "bits")
    if bits:
        out.append(f"{bits}-bit")
    return [t for t in out if t]


def pixel_extents(mins: np.ndarray, maxs: np.ndarray, width: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest value to draw in each of ``width`` pixel columns.

    Every peak column falls on exactly one pixel, and a pixel takes the min of the mins
    and the max of the maxes of its columns, so no peak is skipped at any width (picking
    one column per pixel missed a kick's attack and broke a steady bass into dashes).
    Neighbouring pixels are then joined halfway where their ranges do not touch, as the
    signal runs continuously from one to the next.
    """
    n, width = len(maxs), max(int(width), 1)
    if n == 0:
        return np.zeros(width, np.float32), np.zeros(width, np.float32)
    starts = np.arange(width, dtype=np.int64) * n // width
    lo = np.minimum.reduceat(np.asarray(mins, np.float32), starts)
    hi = np.maximum.reduceat(np.asarray(maxs, np.float32), starts)
    if width > 1:
        gap_up = lo[1:] > hi[:-1]  # the next pixel sits wholly above this one
        gap_down = hi[1:] < lo[:-1]
        mid_up = (lo[1:] + hi[:-1]) / 2
        mid_down = (hi[1:] + lo[:-1]) / 2
        new_hi, new_lo = hi.copy(), lo.copy()
        new_hi[:-1] = np.where(gap_up, mid_up, hi[:-1])
        new_lo[1:] = np.where(gap_up, mid_up, lo[1:])
        new_lo[:-1] = np.where(gap_down, np.minimum(new_lo[:-1], mid_down), new_lo[:-1])
        new_hi[1:] = np.where(gap_down, np.maximum(new_hi[1:], mid_down), new_hi[1:])
        lo, hi = new_lo, new_hi
    return lo, hi


class WaveformView(QWidget):
    """Min/max peaks, a playhead, and the label timeline under them."""

    seek = Signal(float)  # seconds: the user clicked there

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Waveform")
        self.setToolTip("Click to play from there")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.peaks: Peaks | None = None
        self.spans: list[Span] = []
        self.colors: dict[str, QColor] = {}  # top-level class → colour (the session's)
        self.position = 0.0
        self.text = "No file selected"

    def set_peaks(self, peaks: Peaks | None, text: str = "") -> None:
        self.peaks, self.text = peaks, text
        self.position = 0.0
        self.update()

    def set_spans(self, spans: list[Span]) -> None:
        self.spans = spans
        self.setMinimumHeight(140 if spans else 110)
        self.update()

    def set_position(self, seconds: float) -> None:
        self.position = seconds
        self.update()

    def _timeline_rect(self) -> QRectF:
        return QRectF(0, self.height() - 26, self.width(), 24)

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().base())
        wave_h = self.height() - (28 if self.spans else 0)
        if self.peaks is None:
            p.setPen(self.palette().placeholderText().color())
            p.drawText(QRectF(self.rect()).adjusted(8, 4, -8, -4),
                       int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.text)
            return
        mid = wave_h / 2
        w = max(self.width(), 1)
        p.setPen(QPen(self.palette().highlight().color(), 1))
        scale = mid * 0.95 / max(1e-6, float(max(self.peaks.maxs.max(), -self.peaks.mins.min())))
        lo, hi = pixel_extents(self.peaks.mins, self.peaks.maxs, w)
        for x in range(w):
            p.drawLine(QPointF(x + 0.5, mid - float(hi[x]) * scale),
                       QPointF(x + 0.5, mid - float(lo[x]) * scale))
        dur = max(self.peaks.duration_s, 1e-6)
        if self.spans:
            r = self._timeline_rect()
            for s in self.spans:
                x0, x1 = s.start_s / dur * w, min(s.end_s, dur) / dur * w
                color = node_color(s.node, self.colors)
                p.fillRect(QRectF(x0, r.top(), max(x1 - x0, 1), r.height()), color)
                if x1 - x0 > 40:
                    p.setPen(QColor(20, 20, 20))
                    p.drawText(QRectF(x0 + 3, r.top(), x1 - x0 - 6, r.height()),
                               Qt.AlignmentFlag.AlignVCenter,
                               s.node.rsplit("/", 1)[-1] if s.node else "uncertain")
        if self.position > 0:
            x = self.position / dur * w
            p.setPen(QPen(QColor(tokens().playhead), 2))
            p.drawLine(QPointF(x, 0), QPointF(x, self.height()))

    def span_at(self, x: float) -> Span | None:
        if self.peaks is None:
            return None
        t = x / max(self.width(), 1) * self.peaks.duration_s
        return next((s for s in self.spans if s.start_s <= t < s.end_s), None)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.peaks is not None:
            self.seek.emit(event.position().x() / max(self.width(), 1) * self.peaks.duration_s)

    def event(self, event: Any) -> bool:
        from PySide6.QtCore import QEvent
        from PySide6.QtWidgets import QToolTip

        if event.type() == QEvent.Type.ToolTip and self.spans:
            span = self.span_at(event.pos().x())
            if span is not None:
                QToolTip.showText(event.globalPos(), (
                    f"{span.start_s:.1f}–{span.end_s:.1f} s: "
                    f"{span.node.replace('/', ' › ') or 'uncertain'} "
                    f"({span.confidence * 100:.0f} %)"), self)
                return True
        return super().event(event)


class ElidedLabel(QLabel):
    """One line, elided in the middle to its width (a long file name keeps its start and
    its extension); the whole text in the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full = ""
        self.setMinimumWidth(40)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:
        self.full = text
        self.setToolTip(text)
        self._elide()

    def text(self) -> str:
        return self.full

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self.full, Qt.TextElideMode.ElideMiddle,
                                              max(self.width(), 40))
        super().setText(shown)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event: Any) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._elide()


class Inspector(QWidget):
    #: "Find similar" found these (the file searched from, its nearest, closest first)
    similarFound = Signal(int, list)

    def __init__(self, session: Session, player: Player, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.player = player
        self.setObjectName("inspector")
        self.sample_id: int | None = None
        #: what the status bar was told of the last similar sounds found ("" none)
        self.similar_message = ""
        self._generation = 0
        self._cache: OrderedDict[str, Peaks] = OrderedDict()

        self.title = ElidedLabel("No file selected", self)
        self.title.setObjectName("inspectorTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setAccessibleName("File name")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title.setFont(font)
        self.where = QLabel(self)
        self.where.setWordWrap(True)
        self.where.setAccessibleName("Folder")
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.wave = WaveformView(self)
        self.wave.seek.connect(self._seek)
        self.play_button = QPushButton("▶ Play", self)
        self.play_button.setObjectName("playButton")
        self.play_button.setAccessibleName("Play or stop")
        self.play_button.setToolTip("Play or stop the selected file (Space)")
        self.play_button.clicked.connect(self.play_selected)
        self.autoplay = QCheckBox("Auto-play", self)  # its full name: the tooltip
        self.autoplay.setAccessibleName("Auto-play on selection")
        self.autoplay.setToolTip("Play each file as you select it (arrow keys audition the list)")
        self.autoplay.setChecked(session.settings.autoplay())
        self.autoplay.toggled.connect(lambda on: session.settings.setValue("audio/autoplay", on))
        self.audio_note = QLabel(self)
        self.audio_note.setAccessibleName("Audio status")
        self.audio_note.setWordWrap(True)
        self.audio_note.setVisible(False)  # a line only when playback is off, saying why
        self.problem = QLabel(self)
        self.problem.setObjectName("fileProblem")
        self.problem.setAccessibleName("Why the file cannot be read")
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.setVisible(False)
        self._bound: float | None = None  # distance beyond which the tree says unknown
        self._spread: float | None = None  # usual distance between two examples of a class

        self.info = QLabel(self)
        self.info.setAccessibleName("File details")
        self.info.setWordWrap(True)
        self.detected = QLabel(self)
        self.detected.setObjectName("detected")
        self.detected.setAccessibleName("Type, tempo and key")
        self.detected.setWordWrap(True)
        self.detected.setToolTip(SOURCE_TIP)
        self.label = QLabel(self)
        self.label.setObjectName("predictedLabel")
        self.label.setAccessibleName("Label")
        self.label.setWordWrap(True)
        self.confidence = QLabel(self)
        self.confidence.setAccessibleName("Confidence")
        self.nearest = PlaceholderList(self, filled_height=150)
        self.nearest.setObjectName("nearestExamples")
        self.nearest.setAccessibleName("Nearest examples")
        self.nearest.setToolTip("Your examples closest to this file: why it got its label")
        self.nearest.set_placeholder(NEAREST_PLACEHOLDER)
        self.similar_button = QPushButton("Find similar", self)
        self.similar_button.setObjectName("findSimilar")
        self.similar_button.setAccessibleName("Find similar")
        self.similar_button.setToolTip("The 20 files that sound most like this one "
                                       "(Ctrl+Shift+F)")
        self.similar_button.clicked.connect(self.find_similar)
        self.similar_list = FileList(session, self)
        self.similar_list.setObjectName("similarList")
        self.similar_list.setAccessibleName("Similar sounds")
        self.similar_list.setToolTip("Drag files onto a class, or out of the app")
        self.similar_list.set_placeholder(SIMILAR_PLACEHOLDER)
        self.similar_list.emptied.connect(self._fit_similar)

        buttons = QHBoxLayout()
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.autoplay)
        buttons.addStretch(1)
        form = QFormLayout()
        form.addRow("Details", self.info)
        form.addRow("Detected", self.detected)
        self.form = form
        form.addRow("Label", self.label)
        form.addRow("Confidence", self.confidence)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.where)
        layout.addWidget(self.wave)
        layout.addLayout(buttons)
        layout.addWidget(self.audio_note)
        layout.addWidget(self.problem)
        layout.addLayout(form)
        layout.addWidget(QLabel("Nearest examples", self))
        layout.addWidget(self.nearest)
        layout.addWidget(self.similar_button)
        layout.addWidget(self.similar_list, 1)
        layout.addStretch(0)  # takes the room an empty similar list leaves (_fit_similar)
        self._fit_similar(self.similar_list.count() == 0)

        session.selectionChanged.connect(self._on_selection)
        session.rowsChanged.connect(self._on_rows)
        player.stateChanged.connect(self._on_play_state)
        player.positionChanged.connect(self.wave.set_position)
        self._show_nothing()

    def _fit_similar(self, empty: bool) -> None:
        """An empty similar list is as tall as its placeholder, the room below it left
        blank; a filled one takes the pane's spare height."""
        layout = self.layout()
        layout.setStretchFactor(self.similar_list, 0 if empty else 1)
        layout.setStretch(layout.count() - 1, 1 if empty else 0)

    # -- selection ------------------------------------------------------------------------

    def _show_nothing(self) -> None:
        self.sample_id = None
        self.title.setText("No file selected")
        self.where.setText("Select a file in the library (or the map) to see and hear it.")
        for w in (self.info, self.detected, self.label, self.confidence):
            w.setText("")
        self._show_detected("")
        self._set_problem("")
        self.wave.set_peaks(None, "No file selected")
        self.wave.set_spans([])
        self.nearest.clear()
        self.nearest.set_placeholder(NEAREST_NO_FILE if self._taught() else NEAREST_PLACEHOLDER)
        self.play_button.setEnabled(False)
        self.similar_button.setEnabled(False)
        for w in (self.info, self.label, self.confidence):  # no empty captioned rows
            self.form.setRowVisible(w, False)

    def _on_selection(self, ids: list[int], source: object) -> None:
        if not ids:
            self._show_nothing()
            return
        sid = ids[0]
        if sid == self.sample_id:
            return
        self.sample_id = sid
        self._show_file(sid, source)
        if self.autoplay.isChecked():
            self.player.play(self.session.path_of(sid), asked=False)

    def _on_rows(self) -> None:
        if self.sample_id is not None:
            self._show_label(self.sample_id)
            self._load_explain(self.sample_id)  # the examples may have changed

    def _show_file(self, sid: int, source: object) -> None:
        rows = self.session.rows
        r = self.session.row_index().get(sid)
        if r is None:
            self._show_nothing()
            return
        path = str(rows.path[r])
        status = rows.status[r]
        for w in (self.info, self.label, self.confidence):
            self.form.setRowVisible(w, True)
        self.title.setText(str(rows.name[r]))
        self.where.setText(folder_in_source(str(rows.folder[r]),
                                            [display_path(x) for x in self.session.roots]))
        self.where.setToolTip(path)
        self._enable_play(status == "ok")
        self.similar_button.setEnabled(status == "ok")
        if source is not self.similar_list:
            self.similar_list.clear()
        # nothing of the previous file may stay: its peaks (rate, channels), its timeline
        self._generation += 1
        self.wave.set_spans([])
        self._set_problem("")
        if status == "error":
            self.wave.set_peaks(None, "Cannot read this file")
            self._set_problem(f"This file could not be read: {plain_error(rows.error[r])}"
                              if rows.error[r] else "This file could not be read.")
        elif status == "missing":
            self.wave.set_peaks(None, "This file is missing")
            self._set_problem("This file is missing: moved or deleted since the scan "
                              "(File › Rescan all folders finds moved files).")
        else:
            self.wave.set_peaks(None, "Reading…")
            if rows.error[r]:  # it reads, but something is wrong with it (cut short)
                text = plain_error(rows.error[r])
                self._set_problem(text[:1].upper() + text[1:])
        self._show_label(sid)
        if status not in ("error", "missing"):
            self._load_peaks(path)
        self._load_explain(sid)

    def _set_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    def _enable_play(self, readable: bool) -> None:
        """Play works on a readable file with playback on; else disabled, saying why."""
        on = self.player.available
        self.play_button.setEnabled(readable and on)
        if not on:
            self.play_button.setToolTip(self.player.status_text or "Playback is off")
            self._say_audio(self.player.status_text)
        else:
            self.play_button.setToolTip("Play or stop the selected file (Space)" if readable
                                        else "This file cannot be played")

    def _show_label(self, sid: int) -> None:
        rows = self.session.rows
        r = self.session.row_index().get(sid)
        if r is None:
            return
        dur = rows.duration[r]
        status = rows.status[r]
        details = [format_name(rows.format[r], str(rows.path[r]))]
        if status == "error":
            details.append("could not be read")
        elif status == "missing":
            details.append("missing")
        else:
            if not math.isnan(dur):
                details.append(f"{dur:.2f} s")
            if self.wave.peaks is not None:
                details += [f"{self.wave.peaks.sample_rate} Hz",
                            f"{self.wave.peaks.channels} ch"]
            details += analysis_details(rows, r)
        self.info.setText(values_text(details))
        self._show_detected(detected_text(rows, r) if status == "ok" else "")
        label = rows.label[r]
        n_examples = int(rows.support.sum())
        self.confidence.setToolTip("")
        if self.session.tree_name is None:
            self.label.setText("No class tree yet")
            self.confidence.setText("")
        elif status in ("error", "missing") and not rows.support[r]:
            why = "could not be read" if status == "error" else "is missing"
            self.label.setText(f"unlabeled — this file {why}, so the tree cannot place it"
                               + (f" (the tree has {plural(n_examples, 'example')})"
                                  if n_examples else ""))
            self.confidence.setText("—")
        elif not label:
            if not n_examples:
                self.label.setText("unlabeled — no prediction yet (give the tree a few "
                                   "examples)")
            elif status == "pending":
                self.label.setText("unlabeled — the file is still being scanned")
            else:
                self.label.setText(f"unlabeled — the tree has "
                                   f"{plural(n_examples, 'example')}; labels are being "
                                   "updated")
            self.confidence.setText("")
        elif rows.support[r]:
            self.label.setText(f"{label.replace('/', ' › ')}  ★ your example")
            self.confidence.setText("—")
        else:
            text = label.replace("/", " › ")
            if label == "unknown":
                text = "unknown — far from every class"
            elif label == "uncertain":
                text = f"uncertain — best guess: {rows.leaf[r].replace('/', ' › ')}"
            elif rows.backed_off[r]:
                text = (f"~ {text} (uncertain below this level; best guess: "
                        f"{rows.leaf[r].replace('/', ' › ')})")
            self.label.setText(text)
            if label == "unknown":  # no class fits: a probability among them means nothing
                self.confidence.setText("—")
                self.confidence.setToolTip("Farther from every class than the tree's examples "
                                           "are from each other: no confidence to give")
            else:
                self.confidence.setText(f"{rows.confidence[r] * 100:.0f} %")

    def _show_detected(self, text: str) -> None:
        """The Detected row, hidden (with its label) when a scan found nothing."""
        self.detected.setText(text)
        self.form.setRowVisible(self.detected, bool(text))

    # -- waveform ---------------------------------------------------------------------------

    def _load_peaks(self, path: str) -> None:
        self._generation += 1
        gen = self._generation
        cached = self._cache.get(path)
        if cached is not None:
            self._take_peaks(gen, cached, "")
            return
        self.wave.set_peaks(None, "Reading…")
        post = poster()

        def work() -> None:
            try:
                peaks, problem = waveform_peaks(path, 1200), ""
            except Exception as exc:  # shown in the panel
                peaks, problem = None, describe(exc)
            # through a relay that outlives the inspector: dropped if it closed meanwhile
            post(self, self._take_peaks, gen, peaks, problem)

        threading.Thread(target=work, name="sampletree-peaks", daemon=True).start()

    def _take_peaks(self, gen: int, peaks: Peaks | None, problem: str) -> None:
        if gen != self._generation:
            return  # an older selection
        if peaks is None:
            self.wave.set_peaks(None, "Cannot read this file")
            self._set_problem(f"This file could not be read: {plain_error(problem)}")
            self._enable_play(False)
            return
        path = self.session.path_of(self.sample_id) if self.sample_id is not None else None
        if path:
            self._cache[path] = peaks
            while len(self._cache) > 64:
                self._cache.popitem(last=False)
        self.wave.set_peaks(peaks)
        if self.sample_id is not None:
            self._show_label(self.sample_id)
        self.wave.set_spans([])
        if peaks.duration_s >= TIMELINE_MIN_S and self.session.tree_name and \
                self.session.rows.support.any():
            self._load_timeline(self.sample_id)

    def _load_timeline(self, sid: int | None) -> None:
        name = self.session.tree_name
        if sid is None or name is None:
            return

        def work(state: EngineState) -> list[Span]:
            try:
                return window_timeline(state.classifier, name, sid)
            except ClassifyError:
                return []

        def done(spans: list[Span]) -> None:
            if sid == self.sample_id:
                self.wave.colors = self.session.colors
                self.wave.set_spans(spans)

        self.session.engine.call(work, done=done, key="timeline", owner=self)

    # -- explanation and similar ---------------------------------------------------------

    def _taught(self) -> bool:
        """Whether the current tree has examples to compare a file with (the user's, or
        the built-ins while they are on)."""
        builtins_on = self.session.builtins[0] is not None and not self.session.builtins[1]
        return self.session.tree_name is not None and bool(
            self.session.rows.support.any() or builtins_on)

    def _load_explain(self, sid: int) -> None:
        name = self.session.tree_name
        taught = self._taught()
        # while the examples are compared: no words, and the height it had (set before
        # the list empties, so that a filled list does not shrink and grow back)
        self.nearest.set_placeholder("" if taught else NEAREST_PLACEHOLDER)
        self.nearest.clear()
        if name is None or not taught:
            self._bound = self._spread = None
            return

        def work(state: EngineState) -> dict[str, Any] | None:
            try:
                return state.classifier.explain(name, sid, 5)
            except ClassifyError:
                return None

        def done(got: dict[str, Any] | None) -> None:
            if sid != self.sample_id:
                return
            if got is None:
                self.nearest.set_placeholder(NEAREST_NO_EMBEDDING)
                return
            self.nearest.clear()
            if not got["nearest_supports"] and not got.get("nearest_builtins"):
                self.nearest.set_placeholder(NEAREST_ONLY_ITSELF)
            r = self.session.row_index().get(sid)
            tone, reach = got.get("tone_distance"), got.get("tone_reach")
            if (r is not None and self.session.rows.label[r] == "unknown"
                    and tone is not None and reach is not None and tone < reach):
                # the tone guard, not the distance to the classes, made it unknown
                self.label.setText("unknown — a pure tone, hum or near-silence, not musical "
                                   "material")
                self.confidence.setToolTip("Nearer one of the reference tones, hum and "
                                           "near-silence than real recordings come: no "
                                           "class is given, however near its examples")
            bound = got.get("unknown_distance")  # explain's distances are plain
            self._bound = bound if bound is not None and bound > 0 else None
            self._spread = got.get("example_spread")
            roots = [display_path(r) for r in self.session.roots]
            for s in got["nearest_supports"]:
                # class and nearness first: a narrow dock still shows them
                where = file_in_source(display_path(s["path"]), roots) if s["path"] else "?"
                item = QListWidgetItem(f"{self._near_text(s['node'], s['distance'])}\n"
                                       f"    {where}")
                item.setToolTip(f"{s['path'] or ''}\n"
                                f"{self._distance_tip(s['distance'])}")
                self.nearest.addItem(item)
            # built-ins have no file to tell them apart: one line a node, its nearest
            by_node: dict[str, list[float]] = {}
            for s in got.get("nearest_builtins", []):
                by_node.setdefault(s["node"], []).append(s["distance"])
            for node, ds in by_node.items():
                d = min(ds)
                what = ("built-in example" if len(ds) == 1
                        else f"nearest of {len(ds)} built-in examples")
                item = QListWidgetItem(f"{self._near_text(node, d)}\n"
                                       f"    {what} {BUILTIN_MARK}")
                item.setToolTip("An example that ships with this bundled tree (the average "
                                "embedding of a group of similar training clips, no file)"
                                f"\n{self._distance_tip(d)}")
                self.nearest.addItem(item)

        self.session.engine.call(work, done=done, key="explain", owner=self)

    def _near_text(self, node: str, distance: float) -> str:
        """``Keys › Piano · very close``: the class, and how near in words (the number is
        in the tooltip, :meth:`_distance_tip`); the class alone without a scale."""
        word = nearness(distance, self._spread, self._bound)
        return node.replace("/", " › ") + (f" · {word}" if word else "")

    def _distance_tip(self, distance: float) -> str:
        return f"{distance_detail(distance, self._spread, self._bound)}\n{DISTANCE_TIP}"

    def _nearness_header(self, word: str) -> QListWidgetItem:
        """The similar list's header over a run of files equally near (``Very close``):
        neither selectable nor draggable, in the muted colour."""
        item = QListWidgetItem(word[:1].upper() + word[1:])
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        item.setForeground(self.palette().placeholderText())
        font = item.font()
        font.setBold(True)
        item.setFont(font)
        item.setToolTip(f"{item.text()}: {NEARNESS_TIPS.get(word, '')}.\n"
                         f"{distance_scale(self._spread, self._bound)}")
        return item

    def clear_similar(self) -> None:
        """No similar sounds listed (the table left their view): the placeholder again."""
        self.similar_list.clear()

    def find_similar(self) -> None:
        sid = self.sample_id
        if sid is None:
            return
        self.similar_list.clear()
        self.similar_list.addItem("Searching…")

        def work(state: Any) -> Any:
            from core.duplicates import similar_distinct

            # as the command line's similar: each recording once, its exact copies named
            return similar_distinct(state.lib, state.classifier, sid, 20)

        def done(answer: tuple[list[tuple[int, int | None, float]], dict[int, list[int]]]
                 ) -> None:
            if sid != self.sample_id:
                return
            got, copies = answer
            self.similar_list.blockSignals(True)
            self.similar_list.clear()
            index = self.session.row_index()
            rows = self.session.rows
            roots = [display_path(r) for r in self.session.roots]

            def copy_paths(s: int) -> list[str]:
                return [str(rows.path[index[c]]) if c in index else "?"
                        for c in copies.get(s, [])]

            said = None  # the word over the run of files being listed (closest first)
            for other, _w, d in got:
                r = index.get(other)
                if r is None:
                    continue
                label = rows.label[r].replace("/", " › ")
                distance = math.sqrt(d)
                word = nearness(distance, self._spread, self._bound)
                if word and word != said:  # once a run, not on each of its rows
                    self.similar_list.addItem(self._nearness_header(word))
                said = word
                where = file_in_source(display_path(rows.path[r]), roots)
                also = copy_paths(other)
                more = f" · +{plural(len(also), 'copy', 'copies')}" if also else ""
                item = QListWidgetItem(f"{where}\n    {label}{more}")
                item.setData(SAMPLE_ID, other)
                tip = f"{rows.path[r]}\n{distance_detail(distance, self._spread, self._bound)}"
                if also:
                    tip += (f"\nThe same audio ({plural(len(also), 'exact copy', 'exact copies')}):"
                            "\n" + "\n".join(also))
                item.setToolTip(tip)
                self.similar_list.addItem(item)
            self.similar_list.blockSignals(False)
            self.similarFound.emit(sid, [other for other, _w, _d in got if other in index])
            mine = copy_paths(sid)
            left = (f" ({plural(len(mine), 'exact copy', 'exact copies')} of it left out)"
                    if mine else "")
            self.similar_message = (f"{plural(len(got), 'similar sound')} to "
                                    f"{rows.name[index[sid]]}{left}" if sid in index else "")
            self.session.message.emit(self.similar_message)

        def failed(text: str) -> None:
            self.similar_list.clear()
            self.similar_list.addItem(text)

        self.session.engine.call(work, done=done, failed=failed, key="similar", owner=self)

    # -- playback --------------------------------------------------------------------------

    def play_selected(self) -> None:
        if self.sample_id is None:
            return
        self.player.toggle(self.session.path_of(self.sample_id))
        if not self.player.available:
            self._say_audio(self.player.status_text)

    def _say_audio(self, text: str) -> None:
        self.audio_note.setText(text)
        self.audio_note.setVisible(bool(text))

    def _seek(self, seconds: float) -> None:
        if self.sample_id is not None:
            self.player.play(self.session.path_of(self.sample_id), seconds)

    def _on_play_state(self, playing: bool) -> None:
        self.play_button.setText("■ Stop" if playing else "▶ Play")
        if not playing:
            self.wave.set_position(0.0)
