"""Waveform thumbnails in the library table: the "Wave" column and its delegate.

Each file's envelope (64 peak + 64 RMS levels on a dB scale, core/thumbnail.py) was
stored by the scan. Nothing is loaded in bulk: the delegate asks a :class:`PeakStore`
for the rows Qt paints (the visible ones), the store reads the missing ones in one query
on the engine thread and repaints when they arrive. Envelopes and drawn images are kept
in bounded LRU caches, so scrolling back costs a blit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from app.gui.colors import node_color
from core import thumbnail
from core.browse import COLUMNS

if TYPE_CHECKING:
    from app.gui.engine import EngineState
    from app.gui.library_table import LibraryView

#: the table's column name (after core.browse.COLUMNS) and its header
WAVE = "wave"
wave_header = "Wave"
#: the table sorts this column as it sorts this one (a waveform has no order of its own)
wave_sort_as = "duration"
wave_width = 110
#: envelopes kept in memory (128 bytes each) and images kept drawn
ENVELOPES_KEPT = 20_000
IMAGES_KEPT = 2_000
#: display curve applied to the stored dB levels (0..1)
GAMMA = 1.6
#: most envelopes read in one request
BATCH = 400

_Index = QModelIndex | QPersistentModelIndex


def _read(state: EngineState, ids: list[int]) -> tuple[list[int], dict[int, bytes]]:
    """Engine thread: the stored envelopes of ``ids``."""
    return ids, thumbnail.read_peaks(state.lib, ids)


class PeakStore(QObject):
    """Envelopes by sample id, fetched lazily for what is painted."""

    #: envelopes arrived: repaint
    changed = Signal()

    def __init__(self, engine: Any, parent: QObject | None = None,
                 capacity: int = ENVELOPES_KEPT) -> None:
        super().__init__(parent)
        self.engine = engine
        self.capacity = capacity
        # sample id -> (generation read in, envelope or None when the library has none)
        self._cache: OrderedDict[int, tuple[int, bytes | None]] = OrderedDict()
        self._wanted: dict[int, None] = {}  # an ordered set
        self._generation = 0
        self._inflight = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)  # once the paint event that asked is over
        self._timer.timeout.connect(self._fetch)
        #: requests sent to the engine (tests and benchmarks)
        self.requests = 0

    def get(self, sample_id: int) -> bytes | None:
        """The envelope if known (None: not read yet, or the file has none). A miss, or
        an entry older than the last :meth:`invalidate`, is read again soon."""
        hit = self._cache.get(sample_id)
        if hit is not None:
            self._cache.move_to_end(sample_id)
            if hit[0] != self._generation:
                self._want(sample_id)
            return hit[1]
        self._want(sample_id)
        return None

    def invalidate(self) -> None:
        """The library changed (a scan, a rescan): what is shown is read again, and kept
        on screen until then."""
        self._generation += 1

    def _want(self, sample_id: int) -> None:
        self._wanted[sample_id] = None
        if not self._inflight and not self._timer.isActive():
            self._timer.start()

    def _fetch(self) -> None:
        if self._inflight or not self._wanted:
            return
        ids = list(self._wanted)[-BATCH:]  # the latest asked for: what is on screen now
        self._wanted.clear()  # rows still shown ask again when they repaint
        self._inflight = True
        self.requests += 1
        gen = self._generation
        self.engine.call(_read, ids, done=lambda got: self._got(got, gen),
                         failed=lambda _msg: self._failed(ids, gen), owner=self)

    def _got(self, got: tuple[list[int], dict[int, bytes]], generation: int) -> None:
        ids, found = got
        for sid in ids:
            self._cache[sid] = (generation, found.get(sid))
            self._cache.move_to_end(sid)
        self._trim()
        self._inflight = False
        self.changed.emit()
        if self._wanted:
            self._timer.start()

    def _failed(self, ids: Sequence[int], generation: int) -> None:
        # The library could not be read (busy, damaged): show nothing for these rather
        # than ask again on every repaint; the next invalidate() retries.
        for sid in ids:
            self._cache[sid] = (generation, None)
        self._trim()
        self._inflight = False

    def _trim(self) -> None:
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)

    def __len__(self) -> int:
        return len(self._cache)


def _per_pixel(values: np.ndarray, pixels: int) -> np.ndarray:
    """Column levels at ``pixels`` evenly spaced points: interpolated when the pixels
    outnumber the columns, else the largest of the columns falling on each pixel (a
    narrow cell never skips an attack)."""
    n = len(values)
    if pixels >= n:
        return np.interp((np.arange(pixels) + 0.5) * n / pixels - 0.5, np.arange(n), values)
    return np.maximum.reduceat(values, np.arange(pixels) * n // pixels)


def render(blob: bytes, width: int, height: int, color: QColor, ratio: float = 1.0) -> QImage:
    """The thumbnail of one envelope, mirrored about the middle: RMS solid, the peaks
    beyond it lighter, anti-aliased edges. Drawn with numpy into the image's pixels (a
    QPainterPath of 130 points cost ~0.4 ms in Python; this ~0.05 ms)."""
    w, h = max(1, round(width * ratio)), max(1, round(height * ratio))
    peak, rms = thumbnail.decode(blob)
    # The stored dB scale keeps quiet tails; a little curve keeps loud files from all
    # looking like solid bars (-6 dBFS at 84 % of the height, -20 at 52 %, -40 at 17 %).
    half = h / 2 - 0.5 * ratio
    hair = 0.5 * ratio  # silence still shows as a hairline
    hp = np.maximum(hair, _per_pixel(peak ** GAMMA, w) * half)
    hr = np.minimum(hp, np.maximum(hair, _per_pixel(rms ** GAMMA, w) * half))
    dist = np.abs(np.arange(h) + 0.5 - h / 2)[:, None]
    cover_peak = np.clip(hp[None, :] - dist + 0.5, 0.0, 1.0)
    cover_rms = np.clip(hr[None, :] - dist + 0.5, 0.0, 1.0)
    alpha = (cover_rms + 0.45 * (cover_peak - cover_rms)) * color.alphaF()
    a = np.round(alpha * 255).astype(np.uint32)
    r, g, b = (np.round(alpha * c).astype(np.uint32)  # premultiplied
               for c in (color.red(), color.green(), color.blue()))
    pixels = np.ascontiguousarray((a << 24) | (r << 16) | (g << 8) | b)
    image = QImage(pixels.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy()
    image.setDevicePixelRatio(ratio)
    return image


class WaveDelegate(QStyledItemDelegate):
    """Paints a row's envelope in its class colour (muted text colour when unlabeled)."""

    def __init__(self, view: LibraryView) -> None:
        super().__init__(view)
        self.view = view
        #: the model column it draws (set by install_wave_column)
        self.column = -1
        self.store = PeakStore(view.session.engine, self)
        self.store.changed.connect(view.viewport().update)
        self._images: OrderedDict[tuple[Any, ...], QImage] = OrderedDict()
        #: images drawn, and CPU seconds spent in paint() (tests and benchmarks)
        self.rendered = 0
        self.paint_cpu_s = 0.0

    def _color(self, row: int, option: QStyleOptionViewItem) -> QColor:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            return option.palette.color(QPalette.ColorRole.HighlightedText)
        model = self.view.table
        r = int(model.view[row])
        label = str(model.rows.label[r])
        if label and model.rows.status[r] == "ok":
            return node_color(label, self.view.session.colors)
        color = option.palette.color(QPalette.ColorRole.Text)
        color.setAlphaF(0.6)
        return color

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        t = time.thread_time()
        try:
            self._paint(painter, option, index)
        finally:
            self.paint_cpu_s += time.thread_time() - t

    def _paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        style = opt.widget.style() if opt.widget is not None else self.view.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter,
                            opt.widget)
        if not index.isValid():
            return
        blob = self.store.get(self.view.table.sample_id(index.row()))
        if blob is None or len(blob) != thumbnail.BYTES:
            return
        rect: QRect = option.rect.adjusted(4, 3, -4, -3)
        if rect.width() < 4 or rect.height() < 4:
            return
        color = self._color(index.row(), option)
        ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
        key = (blob, rect.width(), rect.height(), color.rgba(), ratio)
        image = self._images.get(key)
        if image is None:
            image = render(blob, rect.width(), rect.height(), color, ratio)
            self.rendered += 1
            self._images[key] = image
            while len(self._images) > IMAGES_KEPT:
                self._images.popitem(last=False)
        else:
            self._images.move_to_end(key)
        painter.drawImage(rect.topLeft(), image)


def install_wave_column(view: LibraryView) -> WaveDelegate:
    """Draw the Wave column with a :class:`WaveDelegate`, right after Confidence."""
    column = view.table.columnCount() - 1  # the model's last column (see library_table)
    delegate = WaveDelegate(view)
    delegate.column = column
    view.setItemDelegateForColumn(column, delegate)
    view.setColumnWidth(column, wave_width)
    header = view.horizontalHeader()
    # after Confidence (the columns a producer reads first: Name, Label, Confidence)
    after = COLUMNS.index("confidence") if "confidence" in COLUMNS else 0
    header.moveSection(header.visualIndex(column), header.visualIndex(after) + 1)
    view.session.rowsChanged.connect(delegate.store.invalidate)
    return delegate
