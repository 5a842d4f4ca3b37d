"""Preferences: where the network runs, windows, label thresholds, audio, library file."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.gui import dialogs
from app.gui.engine import poster
from app.gui.settings import Settings


def detect_devices() -> str | None:
    """The CUDA device's name, or None (torch is imported here, off the UI thread)."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:
        return None
    return None


class SettingsDialog(QDialog):

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self._changed: list[str] = []

        self.device = QComboBox(self)
        self.device.setObjectName("device")
        self.device.setAccessibleName("Device")
        self.device.addItem("Automatic (CUDA when present)", "auto")
        self.device.addItem("CPU", "cpu")
        self.device.addItem("CUDA GPU (looking…)", "cuda")
        self.device_note = QLabel("Looking for a GPU…", self)
        self.device_note.setAccessibleName("Devices present")
        self.hop = QDoubleSpinBox(self)
        self.hop.setObjectName("hop")
        self.hop.setAccessibleName("Analysis step")
        self.hop.setRange(0.1, 1.0)
        self.hop.setSingleStep(0.05)
        self.hop.setSuffix(" s")
        self.hop.setToolTip("A file is heard in 1-second windows, one every this many "
                            "seconds: smaller is finer (and a bigger library); applies to "
                            "files scanned from now on")
        self.decoders = QSpinBox(self)
        self.decoders.setObjectName("decoders")
        self.decoders.setAccessibleName("Decoder processes")
        self.decoders.setRange(-1, 64)
        self.decoders.setSpecialValueText("Automatic")
        self.decoders.setToolTip("Processes decoding audio during a scan (0: in the app "
                                 "itself; Automatic: one per CPU core)")
        self.min_conf = QDoubleSpinBox(self)
        self.min_conf.setObjectName("minConfidence")
        self.min_conf.setAccessibleName("Broader label below")
        self.min_conf.setRange(0, 100)
        self.min_conf.setSuffix(" %")
        self.min_conf.setDecimals(0)
        self.min_conf.setToolTip("Below this confidence a label backs off to the broader "
                                 "class (Drums rather than a doubtful Snare)")
        self.unknown = QDoubleSpinBox(self)
        self.unknown.setObjectName("unknownFactor")
        self.unknown.setAccessibleName("Unknown distance factor")
        self.unknown.setRange(0.5, 10.0)
        self.unknown.setSingleStep(0.25)
        self.unknown.setToolTip("How far from every class a file may lie before it is "
                                "'unknown': 2 is the network's calibrated bound, 3 reaches "
                                "1.5 times as far")
        self.theme = QComboBox(self)
        self.theme.setObjectName("theme")
        self.theme.setAccessibleName("Theme")
        self.theme.addItem("Dark", "dark")
        self.theme.addItem("Light", "light")
        self.theme.addItem("As the system", "system")
        self.theme.setToolTip("The app's colours; applies at once")
        self.autoplay = QCheckBox("Play each file when it is selected", self)
        self.autoplay.setAccessibleName("Auto-play on selection")
        self.library = QLineEdit(self)
        self.library.setObjectName("libraryPath")
        self.library.setAccessibleName("Library file")
        browse_lib = QPushButton("Browse…", self)
        browse_lib.setAccessibleName("Choose library file")
        browse_lib.clicked.connect(self._browse_library)
        self.model = QLineEdit(self)
        self.model.setObjectName("modelPath")
        self.model.setAccessibleName("Custom network weights")
        self.model.setPlaceholderText("Bundled network")
        browse_model = QPushButton("Browse…", self)
        browse_model.setAccessibleName("Choose network weights")
        browse_model.clicked.connect(self._browse_model)

        lib_row = QHBoxLayout()
        lib_row.addWidget(self.library, 1)
        lib_row.addWidget(browse_lib)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse_model)
        form = QFormLayout()
        form.addRow("Theme", self.theme)
        form.addRow("Network runs on", self.device)
        form.addRow("", self.device_note)
        form.addRow("Analysis step", self.hop)
        form.addRow("Decoder processes", self.decoders)
        form.addRow("Broader label below", self.min_conf)
        form.addRow("Unknown beyond", self.unknown)
        form.addRow("", QLabel("Both are saved with the library (the command-line tools "
                               "label with them too).", self))
        form.addRow("Audio", self.autoplay)
        form.addRow("Library file", lib_row)
        form.addRow("", QLabel("A new library location is used from the next start.", self))
        form.addRow("Network weights", model_row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._load()
        post = poster()  # through a relay that outlives the dialog: dropped once it closed
        threading.Thread(target=lambda: post(self, self._show_devices, detect_devices()),
                         daemon=True, name="sampletree-devices").start()

    def _show_devices(self, name: str | None) -> None:
        i = self.device.findData("cuda")
        item = self.device.model().item(i)
        if name:
            self.device.setItemText(i, f"CUDA GPU ({name})")
            self.device_note.setText(f"CUDA: {name}")
            item.setEnabled(True)
        else:
            self.device.setItemText(i, "CUDA GPU (not available)")
            self.device_note.setText("CUDA: not available on this machine — the CPU is used")
            item.setEnabled(False)
            if self.device.currentData() == "cuda":
                self.device.setCurrentIndex(0)

    def _load(self) -> None:
        s = self.settings
        self.device.setCurrentIndex(max(0, self.device.findData(s.device())))
        self.hop.setValue(s.hop())
        d = s.decoders()
        self.decoders.setValue(-1 if d is None else d)
        t = s.thresholds()
        self.min_conf.setValue(t.min_confidence * 100)
        self.unknown.setValue(t.unknown_factor)
        self.autoplay.setChecked(s.autoplay())
        self.theme.setCurrentIndex(max(0, self.theme.findData(s.theme())))
        self.library.setText(str(s.library_path()))
        self.model.setText(s.model_path() or "")
        self._initial = self._values()

    def _values(self) -> dict[str, Any]:
        return {
            "engine/device": self.device.currentData(),
            "engine/hop": round(self.hop.value(), 3),
            "engine/decoders": "auto" if self.decoders.value() < 0 else self.decoders.value(),
            "labels/min_confidence": round(self.min_conf.value() / 100, 4),
            "labels/unknown_factor": round(self.unknown.value(), 3),
            "audio/autoplay": self.autoplay.isChecked(),
            "view/theme": self.theme.currentData(),
            "library/path": self.library.text().strip(),
            "engine/model": self.model.text().strip(),
        }

    def _browse_library(self) -> None:
        path = dialogs.save_file(self, "Library file", self.library.text(),
                                 "Sampletree library (*.sqlite)", confirm_overwrite=False)
        if path:
            self.library.setText(path)

    def _browse_model(self) -> None:
        path = dialogs.open_file(self, "Network weights", self.model.text(), "Weights (*.pt)")
        if path:
            self.model.setText(path)

    def accept(self) -> None:
        values = self._values()
        self._changed = [k for k, v in values.items() if self._initial.get(k) != v]
        for k in self._changed:
            self.settings.setValue(k, values[k])
        self.settings.sync()
        super().accept()

    def changed_keys(self) -> list[str]:
        return list(self._changed)
