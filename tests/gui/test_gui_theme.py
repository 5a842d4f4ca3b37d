"""The app's look: the dark theme and its switch, a class palette colour-blind viewers can
read, and contrast (offscreen)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.gui import theme
from app.gui.colors import NO_CLASS, PALETTE, top_colors

# -- colour science (sRGB → CIELAB, CIEDE2000, colour-vision-deficiency simulation) --------

#: Machado, Oliveira & Fernandes (2009), severity 1.0, applied to linear RGB
CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}


def _linear(color: str) -> np.ndarray:
    c = np.array(QColor(color).getRgbF()[:3])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear: np.ndarray) -> tuple[float, float, float]:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def _lab_of(color: str, deficiency: str | None = None) -> tuple[float, float, float]:
    lin = _linear(color)
    if deficiency:
        lin = np.clip(np.array(CVD[deficiency]) @ lin, 0, 1)
    return _lab(lin)


def delta_e(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1 = math.degrees(math.atan2(b1, a1p)) % 360
    h2 = math.degrees(math.atan2(b2, a2p)) % 360
    dl, dc = l2 - l1, c2p - c1p
    dh = 0.0 if c1p * c2p == 0 else (h2 - h1 + 180) % 360 - 180
    dhh = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    lm, cm = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hm = h1 + h2
    elif abs(h1 - h2) <= 180:
        hm = (h1 + h2) / 2
    else:
        hm = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(hm - 30)) + 0.24 * math.cos(math.radians(2 * hm))
         + 0.32 * math.cos(math.radians(3 * hm + 6)) - 0.2 * math.cos(math.radians(4 * hm - 63)))
    dtheta = 30 * math.exp(-((hm - 275) / 25) ** 2)
    rc = 2 * math.sqrt(cm ** 7 / (cm ** 7 + 25 ** 7))
    sl = 1 + 0.015 * (lm - 50) ** 2 / math.sqrt(20 + (lm - 50) ** 2)
    sc, sh = 1 + 0.045 * cm, 1 + 0.015 * cm * t
    rt = -math.sin(math.radians(2 * dtheta)) * rc
    return math.sqrt((dl / sl) ** 2 + (dc / sc) ** 2 + (dhh / sh) ** 2
                     + rt * (dc / sc) * (dhh / sh))


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio."""
    def lum(c: str) -> float:
        return float(np.dot([0.2126, 0.7152, 0.0722], _linear(c)))
    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _worst(colors: list[str], deficiency: str | None) -> tuple[float, str, str]:
    labs = [_lab_of(c, deficiency) for c in colors]
    return min((delta_e(labs[i], labs[j]), colors[i], colors[j])
               for i, j in itertools.combinations(range(len(colors)), 2))


def test_the_colour_science_matches_published_values() -> None:
    # Sharma et al.'s test pair 1 (ΔE00 = 2.0425); a colour against itself is 0
    assert delta_e((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485)) == pytest.approx(2.0425,
                                                                                     abs=1e-3)
    assert delta_e(_lab_of("#336699"), _lab_of("#336699")) == 0
    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    # a deuteranope sees red and green alike: the simulation must say so
    red_green = delta_e(_lab_of("#d62728", "deuteranopia"), _lab_of("#2ca02c", "deuteranopia"))
    assert red_green < delta_e(_lab_of("#d62728"), _lab_of("#2ca02c")) / 3


@pytest.mark.parametrize("deficiency", [None, *CVD])
def test_class_colours_stay_apart_for_colour_blind_eyes(deficiency: str | None) -> None:
    """The eight palette colours and the grey of "no class": every pair at least 20
    CIEDE2000 apart in normal vision, 12 apart under simulated protanopia, deuteranopia
    and tritanopia (Tableau 10, the palette before, had a pair 0.7 apart for a
    deuteranope and FX pink 18 from Keys red in normal vision)."""
    colors = [*PALETTE, NO_CLASS]
    assert len(PALETTE) >= 8  # the bundled producer tree has eight top-level classes
    worst = _worst(colors, deficiency)
    assert worst[0] >= (20 if deficiency is None else 12), worst


def test_the_old_palette_fails_the_same_check() -> None:
    old = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#b4b4b4"]
    assert _worst(old, "deuteranopia")[0] < 12 and _worst(old, None)[0] < 20


def test_class_colours_in_tree_order_and_readable_on_both_themes() -> None:
    tops = ["Drums", "Bass", "Keys", "Strings", "Brass & Winds", "Vocals", "Synth", "FX"]
    colors = top_colors(tops)
    assert [c.name() for c in colors.values()] == list(PALETTE[:8])
    fx, keys = colors["FX"].name(), colors["Keys"].name()
    assert delta_e(_lab_of(fx), _lab_of(keys)) > 30  # were pink and red
    for c in PALETTE:
        # points and swatches on the dark base: above WCAG's 3:1 for graphics, with margin
        assert contrast(c, theme.DARK.base) >= 3.5, c
        assert contrast(c, theme.LIGHT.base) >= 1.5, c


# -- the theme ------------------------------------------------------------------------------

@pytest.fixture
def app_theme(qapp):
    """Leave the application as the other tests expect it (the system look)."""
    yield qapp
    theme.apply_theme("system", qapp)


@pytest.mark.parametrize("t", [theme.DARK, theme.LIGHT])
def test_theme_text_is_readable(t: theme.Tokens) -> None:
    for bg in (t.base, t.alt_base, t.window):
        assert contrast(t.text, bg) >= 7.0, (t.name, bg)
        assert contrast(t.muted, bg) >= 4.5, (t.name, bg)
    assert contrast(t.accent_text, t.accent) >= 4.5
    assert contrast(t.problem, t.base) >= 4.5


def test_dark_is_the_default_and_the_theme_switches(qtbot, app_theme, settings) -> None:
    from app.gui.settings_dialog import SettingsDialog

    assert settings.theme() == "dark"
    original = QPalette(app_theme.palette())
    theme.apply_theme(settings.theme(), app_theme)
    pal = app_theme.palette()
    role = QPalette.ColorRole
    assert pal.color(role.Window).lightnessF() < 0.2 and pal.color(role.Base).lightnessF() < 0.2
    assert pal.color(role.Text).lightnessF() > 0.85
    assert "QHeaderView" in app_theme.styleSheet()
    assert theme.tokens().dark and theme.current_name() == "dark"

    # chosen in Settings, remembered, applied
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.theme.setCurrentIndex(dialog.theme.findData("light"))
    dialog.accept()
    assert "view/theme" in dialog.changed_keys()
    from app.gui.settings import Settings

    assert Settings(settings.fileName()).theme() == "light"
    theme.apply_theme(settings.theme(), app_theme)
    assert app_theme.palette().color(role.Base).name() == theme.LIGHT.base
    assert not theme.tokens().dark

    theme.apply_theme("system", app_theme)
    assert app_theme.palette().color(role.Base) == original.color(role.Base)
    assert app_theme.styleSheet() == ""
    assert theme.apply_theme("no such theme", app_theme) == "dark"


def test_the_window_repaints_in_the_new_theme(qtbot, app_theme, session) -> None:
    from app.gui.main_window import MainWindow

    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    session.reload()
    qtbot.waitUntil(lambda: window.library.table.rowCount() == 30, timeout=10_000)
    for name, t in (("dark", theme.DARK), ("light", theme.LIGHT)):
        window.apply_theme(name)
        QApplication.processEvents()
        image = window.library.viewport().grab().toImage()
        # the table's empty background is the theme's base colour: no white boxes on dark
        corner = QColor(image.pixel(image.width() - 3, image.height() - 3)).name()
        assert corner in (t.base, t.alt_base), (name, corner)
        muted = window.library.table.data(window.library.table.index(0, 0),
                                          0x9)  # ForegroundRole: ok rows take the text
        assert muted is None
