"""Screenshots of the desktop app on a real library, for docs/ and the README.

    xvfb-run -s "-screen 0 1600x1000x24" python scripts/screenshots.py docs/img \\
        [--realset ~/.cache/Sampletree/realset] [--work DIR]

Builds a library from real recordings: with ``--realset`` (the folder ``scripts/
build_realset.py`` writes: drum kits, guitar strums, organ pipes, pianos, band stems,
with a manifest of what each file is), else the bundled demo library. Scans it with
the bundled network, makes a tree of the classes the library holds, gives four examples
per class, then takes, for each theme (dark, light) and each window size (1024×700,
1280×800, 1600×1000): the main window with a file selected, the same with its similar
sounds in the table, the inspector, the map, and the relabel dialog with a preview. Under
an X server the shots are grabs of the screen (what a user sees, dialogs included); with
``QT_QPA_PLATFORM=offscreen`` they are renders of the widgets. PNGs are reduced to 256
colours (Pillow) to keep the repository small. ``--work`` keeps the scanned library
there for the next run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = ((1024, 700), (1280, 800), (1600, 1000))
THEMES = ("dark", "light")

#: the real set's labels → the tree the screenshots use (eight top-level classes)
REALSET_NODES = {
    "Drums/Kick": "Drums/Kick", "Drums/Snare": "Drums/Snare", "Drums/Hi-hat": "Drums/Hi-hat",
    "Drums/Tom": "Drums/Tom", "Drums/Cymbal": "Drums/Cymbal", "Drums/Clap": "Drums/Clap",
    "Drums/Percussion": "Drums/Percussion", "Tonal/Bass": "Bass",
    "Tonal/Keys/Piano": "Keys/Piano", "Tonal/Keys/Organ": "Keys/Organ",
    "Tonal/Keys/Electric Piano": "Keys/Electric Piano", "Tonal/Mallets": "Keys/Mallets",
    "Tonal/Guitar": "Guitar", "Tonal/Strings & Pads": "Strings & Pads",
    "Tonal/Brass": "Brass & Winds", "Tonal/Woodwind": "Brass & Winds",
    "Loops/Band backing": "Loops", "FX/Ambience & FX": "FX",
}
DEMO_NODES = {"Kick": "Drums/Kick", "Snare": "Drums/Snare", "Hi-hat": "Drums/Hi-hat",
              "Clap": "Drums/Clap", "Toms": "Drums/Tom", "Bass": "Bass", "Keys": "Keys",
              "Strings": "Strings", "Brass & Winds": "Brass & Winds", "Vocals": "Vocals",
              "Synth": "Synth"}


def realset_files(realset: Path, out: Path) -> dict[str, list[Path]]:
    """The real set copied under ``out`` (its folders as they are); node → its files."""
    manifest = json.loads((realset / "manifest.json").read_text())
    shutil.copytree(realset / "audio", out, dirs_exist_ok=True)
    files: dict[str, list[Path]] = {}
    for f in manifest["files"]:
        node = REALSET_NODES.get(f["label"])
        if node is not None:
            files.setdefault(node, []).append(out / Path(f["path"]).relative_to("audio"))
    return files


def demo_files(out: Path) -> dict[str, list[Path]]:
    shutil.copytree(ROOT / "resources" / "demo", out, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.json", "*.md"))
    return {node: sorted(p for p in out.rglob("*") if p.parent.name == folder and p.is_file())
            for folder, node in DEMO_NODES.items()}


def build_library(work: Path, realset: Path | None) -> Path:
    """Scan the files into ``work/library.sqlite`` and teach a tree (once per work dir)."""
    from app.gui.session import run_scan
    from core import trees
    from core.classify import Classifier
    from core.jobs import CancelToken
    from core.library import Library
    from core.supports import add_supports

    db = work / "library.sqlite"
    if db.exists():
        return db
    samples = work / "Sample Library"
    if realset is not None and (realset / "manifest.json").exists():
        files = realset_files(realset, samples)
    else:
        files = demo_files(samples)
    t0 = time.perf_counter()
    with Library(db) as lib:
        run_scan(lib, [str(samples)], lambda _p: None, CancelToken(), device="cpu")
        if "producer" in trees.list_trees(lib):  # the fresh scan's bundled tree: the shots
            trees.delete_tree(lib, "producer")  # show a tree taught with 4 examples a class
        trees.create_tree(lib, "Producer")
        for node in sorted(files, key=lambda n: list(REALSET_NODES.values()).index(n)
                           if n in REALSET_NODES.values() else 0):
            trees.add_node(lib, "Producer", node, exist_ok=True)
        for node, paths in files.items():
            picked = sorted(paths)[:: max(1, len(paths) // 4)][:4]
            add_supports(lib, "Producer", node, [str(p) for p in picked])
        Classifier(lib).refresh("Producer")
    print(f"library: {sum(map(len, files.values()))} files, scanned and labeled in "
          f"{time.perf_counter() - t0:.1f} s")
    return db


def pump(app: object, cond: object = None, seconds: float = 0.5, limit: float = 60) -> None:
    """Let Qt run until ``cond()`` holds (at most ``limit`` s), then ``seconds`` more."""
    end = time.perf_counter() + limit
    while time.perf_counter() < end and cond is not None and not cond():  # type: ignore
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


def fresh_copy(db: Path, copy: Path) -> Path:
    """``copy`` made anew from the library ``db`` (SQLite's backup, its old files gone)."""
    for old in copy.parent.glob(copy.name + "*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    src, dst = sqlite3.connect(db), sqlite3.connect(copy)
    src.backup(dst)
    dst.close()
    src.close()
    return copy


def optimise(path: Path) -> None:
    """256 colours (no dithering: flat UI colours stay flat). The class colours and the
    themes' own colours are kept exactly: an adaptive palette alone merged the few pixels
    of two rare classes (Bass red, Guitar magenta) into one entry."""
    try:
        from PIL import Image
    except ImportError:
        return
    from dataclasses import astuple

    from PySide6.QtGui import QColor

    from app.gui.colors import NO_CLASS, PALETTE, UNKNOWN_COLOR
    from app.gui.theme import DARK, LIGHT

    fixed = list(dict.fromkeys([*PALETTE, NO_CLASS, UNKNOWN_COLOR, *astuple(DARK)[1:],
                                *astuple(LIGHT)[1:]]))
    rgb = [v for c in fixed for v in QColor(c).getRgb()[:3]]
    with Image.open(path) as image:
        full = image.convert("RGB")
    adaptive = full.quantize(256 - len(fixed), method=Image.Quantize.MEDIANCUT,
                             dither=Image.Dither.NONE)
    palette = Image.new("P", (1, 1))
    palette.putpalette(adaptive.getpalette()[:3 * (256 - len(fixed))] + rgb)
    full.quantize(palette=palette, dither=Image.Dither.NONE).save(path, optimize=True)


def shot_player() -> object:
    """A player that plays nothing yet counts as working: the shots show the app as a user
    with speakers sees it (a screenshot machine has no audio device, and the app would say
    "Playback is off" under the Play button)."""
    from app.gui.player import Player

    class ShotPlayer(Player):
        @property
        def available(self) -> bool:
            return True

        def play(self, path: str | None, start_s: float = 0.0, *, asked: bool = True) -> bool:
            return path is not None

    return ShotPlayer()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--realset", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES))
    ap.add_argument("--themes", default=",".join(THEMES))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]

    from app.gui import qtfix

    qtfix.pin_none()
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QApplication

    from app.gui import open_window
    from app.gui.settings import Settings
    from app.gui.theme import apply_theme

    work = args.work or Path(tempfile.mkdtemp(prefix="sampletree-shots-"))
    work.mkdir(parents=True, exist_ok=True)
    db = build_library(work, args.realset)
    app = QApplication.instance() or QApplication([])
    app.setApplicationDisplayName("Sampletree")
    screen_grab = QApplication.platformName() not in ("offscreen", "minimal")

    def wait(cond: object = None, seconds: float = 0.5) -> None:
        pump(app, cond, seconds)

    def shot(widget: object, rect: QRect, name: str) -> None:
        wait(seconds=0.6)
        path = args.out / name
        if screen_grab:
            image = app.primaryScreen().grabWindow(0, rect.x(), rect.y(), rect.width(),
                                                   rect.height())
        else:
            image = widget.grab()  # type: ignore[attr-defined]
        image.save(str(path))
        optimise(path)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")

    def take(theme: str, w: int, h: int) -> None:
        tag = f"{theme}-{w}x{h}"
        settings = Settings(work / f"settings-{tag}.ini")
        settings.clear()
        settings.setValue("audio/autoplay", False)
        settings.setValue("view/theme", theme)
        # a copy per shot: each relabel preview is a batch, and each dialog says "Batch 1"
        copy = fresh_copy(db, work / f"library-{tag}.sqlite")
        window = open_window(copy, settings, shot_player())
        window.resize(w, h)
        window.move(0, 0)
        window.show()
        s = window.session
        wait(lambda: s.loaded and window.library.table.rowCount() > 0, 1.0)
        frame = window.frameGeometry()

        table = window.library
        table.sortByColumn(1, table.horizontalHeader().sortIndicatorOrder())
        # a labeled drum hit that is not an example, with other drums around it (kicks,
        # snares, hats: short names, varied labels and waveforms), else any labeled file
        rows = [r for r in range(table.table.rowCount())
                if not s.rows.support[table.table.view[r]]
                and s.rows.label[table.table.view[r]] not in ("", "unknown")]
        drums = [r for r in rows if str(s.rows.label[table.table.view[r]]).startswith("Drums")]
        pick = drums[min(len(drums) - 1, 12)] if drums else (
            rows[min(len(rows) - 1, 40)] if rows else 0)
        table.selectRow(pick)
        window.tree_panel.view.setCurrentIndex(window.tree_panel.model.index(0, 0))
        wait(lambda: window.inspector.wave.peaks is not None, 0.5)
        shot(window, frame, f"main-{tag}.png")
        # the file's similar sounds, in the table and the inspector
        window.find_similar()
        wait(lambda: not s.engine.pending() and window.library.table.similar is not None, 0.8)
        shot(window, frame, f"similar-{tag}.png")

        dock = window.docks["inspector"]
        top_left = dock.mapToGlobal(dock.rect().topLeft())
        shot(dock, QRect(top_left, dock.size()), f"inspector-{tag}.png")

        window.library.show_all()  # the map of every file (a similar view draws the rest faint)
        window.tabs.setCurrentIndex(1)
        wait(lambda: window.map.projection is not None, 1.0)
        shot(window, frame, f"map-{tag}.png")
        window.tabs.setCurrentIndex(0)

        from app.gui.relabel_dialog import RelabelDialog

        dialog = RelabelDialog(s, window)
        dialog.mode.setCurrentIndex(dialog.mode.findData("copy"))
        dest = work / "Sorted"
        dest.mkdir(exist_ok=True)
        dialog.dest.setText(str(dest))
        dialog.min_conf.setValue(50)
        dw, dh = min(1100, w - 60), min(720, h - 60)
        dialog.resize(dw, dh)
        dialog.move((w - dw) // 2, (h - dh) // 2)
        dialog.show()
        dialog.preview()
        wait(lambda: dialog.plan is not None, 1.0)
        shot(dialog, dialog.frameGeometry(), f"relabel-{tag}.png")
        dialog.close()
        window.close()
        wait(seconds=0.3)

    for theme in args.themes.split(","):
        apply_theme(theme, app)
        for w, h in sizes:
            take(theme, w, h)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
