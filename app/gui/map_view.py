"""The map: every file as a point (2-D projection of its embedding), coloured by label.

Click selects and plays; Shift+drag selects a region; dragging from the selection drags
the files (onto the class tree, or out of the app); the wheel zooms, right- or
middle-drag pans; arrow keys walk to the nearest point in that direction.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QDrag, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.gui.colors import NO_CLASS, UNKNOWN_COLOR, node_color
from app.gui.engine import EngineState, owned
from app.gui.mime import files_mime
from app.gui.session import Session
from app.gui.text import plural
from app.gui.theme import tokens
from core.projection import TSNE_MAX_FILES, Projection, library_map

MARGIN = 12
#: opacity (of 255) of a file the table's search, filters or similar view hide
FAINT_ALPHA = 40
#: a space a line may not break at (the legend keeps each dot with its class)
NBSP = "\u00a0"
#: how the map's status line starts saying how many files the table shows
SHOWN = " · shown: "


class MapCanvas(QWidget):
    def __init__(self, owner: MapView) -> None:
        super().__init__(owner)
        self.owner = owner
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAccessibleName("Map of the library")
        self.setAccessibleDescription("Each point is a file; similar sounds lie close together. "
                                      "Arrow keys move between files, Space plays.")
        self.setMinimumSize(300, 240)
        self.zoom = 1.0
        self.center = QPointF(0.5, 0.5)
        self._image: QImage | None = None
        self._press: QPoint | None = None
        self._band: QRect | None = None
        self._pan_from: tuple[QPoint, QPointF] | None = None

    # -- geometry ---------------------------------------------------------------------------

    def to_screen(self, xy: np.ndarray) -> np.ndarray:
        w, h = self.width() - 2 * MARGIN, self.height() - 2 * MARGIN
        side = max(1.0, min(w, h)) * self.zoom
        sx = (xy[:, 0] - self.center.x()) * side + self.width() / 2
        sy = (xy[:, 1] - self.center.y()) * side + self.height() / 2
        return np.stack([sx, sy], axis=1)

    def point_at(self, pos: QPointF, radius: float = 8.0) -> int | None:
        proj = self.owner.projection
        if proj is None or not len(proj.xy):
            return None
        pts = self.to_screen(proj.xy)
        d = (pts[:, 0] - pos.x()) ** 2 + (pts[:, 1] - pos.y()) ** 2
        i = int(np.argmin(d))
        return i if d[i] <= radius * radius else None

    def invalidate(self) -> None:
        self._image = None
        self.update()

    # -- painting -------------------------------------------------------------------------------

    def _render(self) -> QImage:
        image = QImage(self.size(), QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(self.palette().base().color())
        proj = self.owner.projection
        if proj is None or not len(proj.xy):
            return image
        p = QPainter(image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, len(proj.xy) < 20_000)
        pts = self.to_screen(proj.xy)
        colors = self.owner.colors
        # points a producer can see and click: big on a sample library, smaller on 100k
        size = 3.0 if len(pts) > 20_000 else 5.0 if len(pts) > 3_000 else 8.0
        greys = {QColor(NO_CLASS).rgba(), QColor(UNKNOWN_COLOR).rgba()}
        shown = self.owner.shown_mask()
        # the files the table's search, filters or similar view hide: faint, under the rest
        passes = [(None, 255)] if shown is None else [(~shown, FAINT_ALPHA), (shown, 255)]
        for mask, alpha in passes:
            # files with no class first, so that the classes' colours are drawn over them
            for key in sorted(np.unique(colors).tolist(), key=lambda k: k not in greys):
                idx = np.flatnonzero(colors == key if mask is None else (colors == key) & mask)
                if not len(idx):
                    continue
                color = QColor.fromRgba(int(key))
                color.setAlpha(alpha)
                p.setPen(QPen(color, size, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
                p.drawPoints([QPointF(x, y) for x, y in pts[idx]])
        sup = self.owner.support_rows
        if shown is not None:
            sup = sup[shown[sup]]
        if len(sup):
            p.setPen(QPen(QColor(tokens().text), 1.5))
            for x, y in pts[sup]:
                p.drawEllipse(QPointF(x, y), size / 2 + 3, size / 2 + 3)
        p.end()
        return image

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        if self._image is None or self._image.size() != self.size():
            self._image = self._render()
        p.drawImage(0, 0, self._image)
        proj = self.owner.projection
        if proj is None or not len(proj.xy):
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.owner.placeholder())
            return
        sel = self.owner.selected_rows
        if len(sel):
            pts = self.to_screen(proj.xy[sel[:2000]])
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(QPen(QColor(tokens().playhead), 2))
            for x, y in pts:
                p.drawEllipse(QPointF(x, y), 8, 8)
        if self._band is not None:
            p.setPen(QPen(self.palette().highlight().color(), 1, Qt.PenStyle.DashLine))
            p.drawRect(self._band)

    # -- mouse and keys -----------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._pan_from = (pos.toPoint(), QPointF(self.center))
            return
        self._press = pos.toPoint()
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._band = QRect(self._press, self._press)
            return
        i = self.point_at(pos)
        if i is not None and i not in set(self.owner.selected_rows.tolist()):
            self.owner.select_rows([i], play=True)
        elif i is None:
            self._band = QRect(self._press, self._press)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._pan_from is not None:
            start, center = self._pan_from
            side = max(1.0, min(self.width(), self.height()) - 2 * MARGIN) * self.zoom
            delta = pos - QPointF(start)
            self.center = QPointF(center.x() - delta.x() / side, center.y() - delta.y() / side)
            self.invalidate()
            return
        if self._band is not None and self._press is not None:
            self._band = QRect(self._press, pos.toPoint()).normalized()
            self.update()
            return
        if self._press is not None and (pos.toPoint() - self._press).manhattanLength() > 8:
            self._press = None
            self.owner.start_drag()
            return
        i = self.point_at(pos)
        if i is not None:
            QToolTip.showText(event.globalPosition().toPoint(), self.owner.describe(i), self)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._band is not None:
            band = QRectF(self._band)
            self._band = None
            proj = self.owner.projection
            if proj is not None and band.width() > 3 and band.height() > 3:
                pts = self.to_screen(proj.xy)
                inside = np.flatnonzero((pts[:, 0] >= band.left()) & (pts[:, 0] <= band.right())
                                        & (pts[:, 1] >= band.top()) & (pts[:, 1] <= band.bottom()))
                self.owner.select_rows(inside.tolist(), play=False)
            self.update()
        self._press = None
        self._pan_from = None

    def wheelEvent(self, event: Any) -> None:
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.zoom = float(min(200.0, max(0.5, self.zoom * factor)))
        self.invalidate()

    def keyPressEvent(self, event: Any) -> None:
        key = event.key()
        moves = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1),
                 Qt.Key.Key_Down: (0, 1)}
        if key in moves:
            self.owner.step(*moves[key])
            return
        if key == Qt.Key.Key_Space:
            ids = self.owner.selected_ids()
            if ids and hasattr(self.owner.player, "toggle"):
                self.owner.player.toggle(self.owner.session.path_of(ids[0]))
            return
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom = min(200.0, self.zoom * 1.25)
            self.invalidate()
            return
        if key == Qt.Key.Key_Minus:
            self.zoom = max(0.5, self.zoom * 0.8)
            self.invalidate()
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event: Any) -> None:
        self._image = None
        super().resizeEvent(event)


class MapView(QWidget):
    def __init__(self, session: Session, player: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.player = player
        self.setObjectName("mapView")
        self.projection: Projection | None = None
        self.colors = np.zeros(0, np.uint32)
        self.support_rows = np.zeros(0, np.int64)
        self.selected_rows = np.zeros(0, np.int64)
        self.rows_of_points = np.zeros(0, np.int64)  # point → snapshot row
        #: the snapshot rows the table shows (its search, filters, similar view); None: all
        self.table_rows: np.ndarray | None = None
        self._shown: np.ndarray | None = None  # per point, from table_rows (when drawn)
        self.empty_text = "The map appears once files are scanned"
        self._stale = True
        self._computing = False
        self.canvas = MapCanvas(self)
        self.method = QComboBox(self)
        self.method.setAccessibleName("Projection method")
        self.method.setToolTip(f"PCA: fast, any size. t-SNE: clearer clusters, up to "
                               f"{TSNE_MAX_FILES:,} files, takes seconds")
        self.method.addItem("PCA", "pca")
        self.method.addItem("t-SNE", "tsne")
        self.method.setCurrentIndex(max(0, self.method.findData(session.settings.map_method())))
        self.method.currentIndexChanged.connect(lambda _i: self._method_changed())
        self.reset_button = QPushButton("Reset view", self)
        self.reset_button.setAccessibleName("Reset view")
        self.reset_button.setToolTip("Zoom out to the whole library")
        self.reset_button.clicked.connect(self.reset_view)
        self.status = QLabel(self)
        self.status.setAccessibleName("Map status")
        self.legend = QLabel(self)
        self.legend.setAccessibleName("Legend")
        self.legend.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Projection:", self))
        bar.addWidget(self.method)
        bar.addWidget(self.reset_button)
        bar.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.legend)
        session.rowsChanged.connect(self._on_rows)
        session.selectionChanged.connect(self._on_selection)

    # -- data -------------------------------------------------------------------------------

    def ready(self) -> bool:
        return not self._stale and not self._computing

    def _on_rows(self) -> None:
        proj = self.projection
        if proj is None or len(proj.sample_ids) != int((self.session.rows.status == "ok").sum()):
            self._stale = True  # files changed: project again when shown
            if self.isVisible():
                self.recompute()
        self._recolor()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._stale:
            self.recompute()

    def _method_changed(self) -> None:
        self.session.settings.setValue("map/method", self.method.currentData())
        if self.isVisible():
            self.recompute()
        else:
            self._stale = True  # projected when the map is shown

    def placeholder(self) -> str:
        """What the empty canvas says: the map is being computed, or why there is none."""
        return "Computing the map…" if self._computing else self.empty_text

    def recompute(self) -> None:
        method = self.method.currentData() or "pca"
        self._computing = True
        self._stale = False
        self.status.setText("Computing the map…")
        self.canvas.update()

        def done(proj: Projection) -> None:
            self._computing = False
            self.projection = proj
            self._recolor()
            # the method is the combo box's (a note says when it was not used); the seconds
            # it took are the code's business ("714 files · PCA · 0.0 s" said both)
            text = plural(len(proj.sample_ids), 'file')
            self.status.setText(text + (f" — {proj.note}" if proj.note else ""))
            self._say_shown()

        def failed(text: str) -> None:
            self._computing = False
            self.projection = None
            self.empty_text = text
            self.status.setText("")
            self.canvas.invalidate()

        if method == "pca":
            self.session.engine.call(lambda state: _map(state, method), done=done,
                                     failed=failed, key="map", owner=self)
            return
        # t-SNE takes seconds: a job of its own (progress, cancel), not the engine's queue
        job = self.session.start_job("Map (t-SNE)", _tsne_job)
        if job is None:
            failed("Another job is running; the map is computed when it has finished")
            self._stale = True
            return
        # the job outlives the view (its end is dropped if the view was closed meanwhile)
        job.finished.connect(owned(self, done))
        job.failed.connect(owned(self, failed))
        job.cancelled.connect(owned(self, lambda: failed("Map cancelled")))

    def _recolor(self) -> None:
        proj = self.projection
        rows = self.session.rows
        if proj is None:
            self.canvas.invalidate()
            return
        index = self.session.row_index()
        self.rows_of_points = np.array([index.get(int(s), -1) for s in proj.sample_ids],
                                       dtype=np.int64)
        self._shown = None
        have = self.rows_of_points >= 0
        labels = np.full(len(proj.sample_ids), "", dtype=object)
        labels[have] = rows.label[self.rows_of_points[have]]
        tops = np.array([lab.split("/")[0] for lab in labels.tolist()], dtype=object)
        palette: dict[str, int] = {}
        order = {name: i for i, name in enumerate(self.session.colors)}  # tree order
        for top in sorted(set(tops.tolist()), key=lambda t: (order.get(t, len(order)), t)):
            palette[top] = node_color(top, self.session.colors).rgba()
        self.colors = np.array([palette[t] for t in tops.tolist()], dtype=np.uint32)
        sup = np.zeros(len(have), bool)
        sup[have] = rows.support[self.rows_of_points[have]]
        self.support_rows = np.flatnonzero(sup)
        # each dot and its class kept on one line (non-breaking spaces): a line breaks only
        # between entries, which are set apart by more room than a dot from its word
        legend = [f"<span style='color:{QColor.fromRgba(c).name()}'>●</span>{NBSP}"
                  + html.escape(t or "unlabeled").replace(" ", NBSP)
                  for t, c in palette.items()]
        if sup.any():
            legend.append(f"○{NBSP}your{NBSP}examples")
        self.legend.setText(f"{NBSP}{NBSP} ".join(legend))
        self._on_selection(self.session.selected, None)
        self.canvas.invalidate()

    def set_table_rows(self, rows: np.ndarray | None, total: int) -> None:
        """The table shows these snapshot rows (of ``total``): the map draws the others
        faint, so a search, a filter or a similar view reads on the map too. Cheap here;
        the per-point mask is made when the map is drawn."""
        self.table_rows = None if rows is None or len(rows) >= total else np.asarray(rows)
        self._shown = None
        self._say_shown()
        self.canvas.invalidate()

    def shown_mask(self) -> np.ndarray | None:
        """Per point: the table shows its file (None: the table shows every file)."""
        if self.table_rows is None or self.projection is None:
            return None
        if self._shown is None or len(self._shown) != len(self.rows_of_points):
            self._shown = np.isin(self.rows_of_points, self.table_rows)
        return self._shown

    def _say_shown(self) -> None:
        base = self.status.text().split(SHOWN)[0]
        if self.table_rows is not None and self.projection is not None:
            base += f"{SHOWN}{len(self.table_rows):,} (the rest faint)"
        self.status.setText(base)
        self.status.setToolTip("Files the table's search, filters or similar sounds hide are "
                               "drawn faint" if self.table_rows is not None else "")

    # -- selection ---------------------------------------------------------------------------

    def _on_selection(self, ids: list[int], source: object) -> None:
        proj = self.projection
        if source is self or proj is None:
            return
        self.selected_rows = np.flatnonzero(np.isin(proj.sample_ids, np.asarray(ids,
                                                                                 np.int64)))
        if len(self.selected_rows) == 1 and source is not None:
            x, y = proj.xy[self.selected_rows[0]]
            pt = self.canvas.to_screen(np.array([[x, y]]))[0]
            if not (0 <= pt[0] <= self.canvas.width() and 0 <= pt[1] <= self.canvas.height()):
                self.canvas.center = QPointF(float(x), float(y))
                self.canvas.invalidate()
        self.canvas.update()

    def select_rows(self, points: list[int], play: bool) -> None:
        proj = self.projection
        if proj is None:
            return
        self.selected_rows = np.asarray(points, dtype=np.int64)
        ids = [int(proj.sample_ids[i]) for i in points]
        self.session.select(ids, self)
        self.canvas.update()
        if play and ids:
            path = self.session.path_of(ids[0])
            if path and hasattr(self.player, "play"):
                self.player.play(path)

    def selected_ids(self) -> list[int]:
        proj = self.projection
        if proj is None:
            return []
        return [int(proj.sample_ids[i]) for i in self.selected_rows]

    def start_drag(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        drag = QDrag(self)
        drag.setMimeData(files_mime(ids, [self.session.path_of(s) or "" for s in ids]))
        drag.exec(Qt.DropAction.CopyAction)

    def describe(self, point: int) -> str:
        r = int(self.rows_of_points[point]) if point < len(self.rows_of_points) else -1
        if r < 0:
            return ""
        rows = self.session.rows
        label = rows.label[r].replace("/", " › ") or "unlabeled"
        return f"{rows.name[r]}\n{label}" + ("  ★" if rows.support[r] else "")

    def step(self, dx: int, dy: int) -> None:
        proj = self.projection
        if proj is None or not len(proj.xy):
            return
        if not len(self.selected_rows):
            self.select_rows([0], play=True)
            return
        here = proj.xy[self.selected_rows[0]]
        delta = proj.xy - here
        along = delta[:, 0] * dx + delta[:, 1] * dy
        across = np.abs(delta[:, 0] * dy - delta[:, 1] * dx)
        ok = along > 1e-9
        if not ok.any():
            return
        cost = np.where(ok, along + 2 * across, np.inf)
        self.select_rows([int(np.argmin(cost))], play=True)

    def reset_view(self) -> None:
        self.canvas.zoom = 1.0
        self.canvas.center = QPointF(0.5, 0.5)
        self.canvas.invalidate()


def _map(state: EngineState, method: str) -> Projection:
    return library_map(state.classifier, method)


def _tsne_job(lib: Any, progress: Any, cancel: Any) -> Projection:
    from core.classify import Classifier
    from core.jobs import Progress

    progress(Progress("projecting with t-SNE", 0, 0))
    return library_map(Classifier(lib), "tsne", cancel=cancel)
