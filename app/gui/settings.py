"""The app's preferences, kept with QSettings (per user; a test passes its own file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from app.paths import default_library_path
from core.classify import Thresholds

DEVICES = ("auto", "cpu", "cuda")
MAP_METHODS = ("pca", "tsne")
MAX_RECENT = 8


class Settings(QSettings):
    """QSettings with typed accessors and the defaults in one place."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            super().__init__("Sampletree", "Sampletree")
        else:
            super().__init__(str(path), QSettings.Format.IniFormat)

    # -- typed values ---------------------------------------------------------------------

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self.value(key, default))
        except (TypeError, ValueError):
            return default

    def _bool(self, key: str, default: bool) -> bool:
        value = self.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)

    def device(self) -> str:
        value = str(self.value("engine/device", "auto"))
        return value if value in DEVICES else "auto"

    def hop(self) -> float:
        hop = self._float("engine/hop", 0.5)
        return hop if 0.05 <= hop <= 1.0 else 0.5

    def decoders(self) -> int | None:
        value = self.value("engine/decoders", None)
        try:
            return None if value in (None, "", "auto") else max(0, int(value))
        except (TypeError, ValueError):
            return None

    def model_path(self) -> str | None:
        value = self.value("engine/model", "")
        return str(value) if value else None

    def thresholds(self) -> Thresholds:
        base = Thresholds()
        conf = self._float("labels/min_confidence", base.min_confidence)
        factor = self._float("labels/unknown_factor", base.unknown_factor)
        return Thresholds(min_confidence=min(max(conf, 0.0), 1.0),
                          unknown_factor=max(factor, 0.1), temperature=base.temperature)

    def set_thresholds(self, t: Thresholds) -> None:
        self.setValue("labels/min_confidence", t.min_confidence)
        self.setValue("labels/unknown_factor", t.unknown_factor)

    def autoplay(self) -> bool:
        return self._bool("audio/autoplay", True)

    def theme(self) -> str:
        """The look: dark (the default), light, or the system's."""
        from app.gui.theme import DEFAULT_THEME, THEMES

        value = str(self.value("view/theme", DEFAULT_THEME))
        return value if value in THEMES else DEFAULT_THEME

    def volume(self) -> float:
        """Preview volume, 0..1 (linear gain)."""
        return min(max(self._float("audio/volume", 0.8), 0.0), 1.0)

    def map_method(self) -> str:
        """The map's projection, PCA or t-SNE, as last chosen."""
        value = str(self.value("map/method", "pca"))
        return value if value in MAP_METHODS else "pca"

    def library_path(self) -> Path:
        value = self.value("library/path", "")
        return Path(str(value)) if value else default_library_path()

    def recent_libraries(self) -> list[str]:
        value: Any = self.value("library/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def remember_library(self, path: str | os.PathLike[str]) -> None:
        path = str(Path(path))
        recent = [path] + [p for p in self.recent_libraries() if p != path]
        self.setValue("library/recent", recent[:MAX_RECENT])
        self.setValue("library/path", path)
