"""Screenshots of the views ``scripts/screenshots.py`` does not take: the first-run guide
(an empty library), a scan in progress, the Duplicates dialog, Settings, Keyboard
shortcuts, About, the class tree's dialogs and an error in the status bar, for each theme
and window size. For looking at the app, not for docs/ (nothing is reduced).

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshots_more.py OUT \\
        [--realset ~/.cache/Sampletree/realset] [--work DIR] [--only welcome,settings]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

VIEWS = ("welcome", "scan", "duplicates", "settings", "shortcuts", "about", "newtree",
         "removefolder", "deleteclass", "problem")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--realset", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--sizes", default="1024x700,1280x800,1600x1000")
    ap.add_argument("--themes", default="dark,light")
    ap.add_argument("--only", default=",".join(VIEWS))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    only = set(args.only.split(","))

    from app.gui import qtfix

    qtfix.pin_none()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from screenshots import build_library, fresh_copy, pump, shot_player

    from app.gui import open_window
    from app.gui.settings import Settings
    from app.gui.theme import apply_theme

    work = args.work or Path(tempfile.mkdtemp(prefix="sampletree-more-"))
    work.mkdir(parents=True, exist_ok=True)
    db = build_library(work, args.realset)
    app = QApplication.instance() or QApplication([])
    app.setApplicationDisplayName("Sampletree")

    def wait(cond: object = None, seconds: float = 0.5, limit: float = 120) -> None:
        pump(app, cond, seconds, limit)

    def grab(widget: object, name: str) -> None:
        wait(seconds=0.5)
        rect = widget.frameGeometry()  # type: ignore[attr-defined]
        image = app.primaryScreen().grabWindow(0, rect.x(), rect.y(), rect.width(),
                                               rect.height())
        image.save(str(args.out / name))
        print("wrote", args.out / name, flush=True)

    def grab_modal(trigger: object, name: str, close: object = None) -> None:
        """Run ``trigger`` (which opens a modal dialog), grab the dialog, close it."""
        def later() -> None:
            dialog = app.activeModalWidget()
            if dialog is None:
                print("no modal dialog for", name)
                return
            grab(dialog, name)
            (close or dialog.reject)()  # type: ignore[operator]
        QTimer.singleShot(1500, later)
        trigger()  # type: ignore[operator]

    def window_on(path: Path, tag: str, w: int, h: int, theme: str) -> object:
        settings = Settings(work / f"settings-more-{tag}.ini")
        settings.clear()
        settings.setValue("audio/autoplay", False)
        settings.setValue("view/theme", theme)
        window = open_window(path, settings, shot_player())
        window.resize(w, h)
        window.move(0, 0)
        window.show()
        wait(lambda: window.session.loaded, 0.8)
        return window

    def copy_of(tag: str) -> Path:
        return fresh_copy(db, work / f"more-{tag}.sqlite")

    def first_run(theme: str, tag: str, w: int, h: int) -> None:
        empty = work / f"empty-{tag}.sqlite"
        for old in work.glob(f"empty-{tag}.sqlite*"):
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        window = window_on(empty, tag, w, h, theme)
        if "welcome" in only:
            grab(window, f"welcome-{tag}.png")
        if "scan" in only:
            # the library's own folder (hundreds of files: the scan still runs when grabbed)
            window.session.add_folder(str(work / "Sample Library"))
            bar = window.job_bar
            wait(lambda: bar.last is not None and bar.last.stage == "decode"
                 and bar.last.done > 0, 0.3, limit=120)
            grab(window, f"scan-{tag}.png")
            bar.cancel()
            jobs = window.session.jobs
            wait(lambda: not jobs.running, 0.5, limit=60)
            grab(window, f"scan-cancelled-{tag}.png")
        window.close()
        wait(seconds=0.3)

    def library_views(theme: str, tag: str, w: int, h: int) -> None:
        window = window_on(copy_of(tag), tag, w, h, theme)
        table = window.library.table
        wait(lambda: table.rowCount() > 0, 1.0)
        if "problem" in only:
            window.show_problem("Cannot open /home/me/Samples/Kicks/broken.wav: "
                                "not an audio file")
            grab(window, f"problem-{tag}.png")
        if "duplicates" in only:
            window.open_duplicates()
            d = window.duplicates_dialog
            d.move(max(0, (w - d.width()) // 2), max(0, (h - d.height()) // 2))
            wait(lambda: d.report is not None, 1.0, limit=120)
            grab(d, f"duplicates-{tag}.png")
            d.close()
        if "settings" in only:
            grab_modal(window.open_settings, f"settings-{tag}.png")
        if "shortcuts" in only:
            window.show_shortcuts()
            grab(window.shortcuts_dialog, f"shortcuts-{tag}.png")
            window.shortcuts_dialog.close()
        if "about" in only:
            grab_modal(window.show_about, f"about-{tag}.png")
        if "newtree" in only:
            grab_modal(window.tree_panel.new_tree, f"newtree-{tag}.png")
        if "removefolder" in only:
            window.sources.list.setCurrentRow(0)
            grab_modal(window.sources.remove_selected, f"removefolder-{tag}.png")
        if "deleteclass" in only:
            tp = window.tree_panel
            tp.view.setCurrentIndex(tp.model.index(0, 0))
            grab_modal(tp.delete_selected, f"deleteclass-{tag}.png")
        window.close()
        wait(seconds=0.3)

    for theme in args.themes.split(","):
        apply_theme(theme, app)
        for w, h in sizes:
            tag = f"{theme}-{w}x{h}"
            if only & {"welcome", "scan"}:
                first_run(theme, tag, w, h)
            if only - {"welcome", "scan"}:
                library_views(theme, tag, w, h)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
