"""Screenshots of the desktop app on a real library, for docs/ and the README.

    xvfb-run -s "-screen 0 1600x1000x24" python scripts/screenshots.py docs/img [--corpus DIR]

Builds a library from real instrument recordings: with ``--corpus`` (the training corpus
of ``sampletree corpus build``), 14 instrument classes × 20 clips written as WAV files in
folders that do *not* name the instrument; else the bundled demo library. Scans it with
the bundled network, makes a "producer" tree, gives four examples per class, then takes
the whole X screen (not a widget render) of: the main window with a file selected, the
map, and the relabel dialog with a preview.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: corpus class → node of the bundled "producer" tree
CLASSES = {
    "Kick": "Drums/Kick", "Snare": "Drums/Snare", "Closed Hi-Hat": "Drums/Hi-hat",
    "Hand Clap": "Drums/Clap", "Crash Cymbal": "Drums/Cymbal", "Tom": "Drums/Tom",
    "Fingered Electric Bass": "Bass", "Synth Bass 1": "Bass",
    "Acoustic Grand Piano": "Keys", "Electric Piano 1": "Keys",
    "Violin": "Strings", "Cello": "Strings", "Trumpet": "Brass & Winds",
    "Flute": "Brass & Winds", "Choir Aahs": "Vocals", "Sawtooth Lead": "Synth",
}


def export_corpus(corpus: Path, out: Path, per_class: int = 20) -> dict[str, list[Path]]:
    import soundfile as sf

    meta = [json.loads(line) for line in (corpus / "clips.jsonl").open()]
    clips = np.load(corpus / "clips.npy", mmap_mode="r")
    rng = np.random.default_rng(0)
    files: dict[str, list[Path]] = {}
    for k, cls in enumerate(CLASSES):
        rows = [i for i, m in enumerate(meta) if m["cls"] == cls]
        for j, i in enumerate(sorted(rng.choice(rows, min(per_class, len(rows)),
                                                replace=False))):
            pack = out / f"Pack {chr(65 + (j % 4))}" / ("One-shots" if j % 2 else "Hits")
            pack.mkdir(parents=True, exist_ok=True)
            path = pack / f"sample {k:02d}{j:02d}.wav"
            audio = np.asarray(clips[i], dtype=np.float32) / 32768.0
            sf.write(path, audio, 16_000, subtype="PCM_16")
            files.setdefault(cls, []).append(path)
    return files


def demo_files(out: Path) -> dict[str, list[Path]]:
    shutil.copytree(ROOT / "resources" / "demo", out, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.json", "*.md"))
    names = {"Kick": "Drums/Kick", "Snare": "Drums/Snare", "Hi-hat": "Drums/Hi-hat",
             "Clap": "Drums/Clap", "Toms": "Drums/Tom", "Bass": "Bass", "Keys": "Keys",
             "Strings": "Strings", "Brass & Winds": "Brass & Winds", "Vocals": "Vocals",
             "Synth": "Synth"}
    CLASSES.clear()
    CLASSES.update(names)
    files: dict[str, list[Path]] = {}
    for folder in names:
        files[folder] = sorted(p for p in out.rglob("*") if p.parent.name == folder
                               and p.is_file())
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--corpus", type=Path, default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from app.gui import qtfix

    qtfix.pin_none()
    from PySide6.QtWidgets import QApplication

    from app.gui import open_window
    from app.gui.session import run_scan
    from app.gui.settings import Settings
    from core import trees
    from core.classify import Classifier
    from core.jobs import CancelToken
    from core.library import Library
    from core.supports import add_supports

    work = Path(tempfile.mkdtemp(prefix="sampletree-shots-"))
    samples = work / "Samples"
    if args.corpus and (args.corpus / "clips.npy").exists():
        files = export_corpus(args.corpus, samples)
    else:
        files = demo_files(samples)
    db = work / "library.sqlite"
    t0 = time.perf_counter()
    with Library(db) as lib:
        run_scan(lib, [str(samples)], lambda _p: None, CancelToken(), device="cpu")
        trees.create_tree(lib, "Producer", from_default="producer")
        for cls, paths in files.items():
            add_supports(lib, "Producer", CLASSES[cls], [str(p) for p in paths[:4]])
        Classifier(lib).refresh("Producer")
    print(f"library: {sum(map(len, files.values()))} files, scanned and labeled in "
          f"{time.perf_counter() - t0:.1f} s")

    app = QApplication.instance() or QApplication([])
    settings = Settings(work / "settings.ini")
    settings.setValue("audio/autoplay", False)
    window = open_window(db, settings)
    window.resize(1560, 940)
    window.move(20, 20)
    window.show()
    s = window.session

    def wait(cond: object = None, seconds: float = 1.0) -> None:
        end = time.perf_counter() + 60
        while time.perf_counter() < end and cond is not None and not cond():  # type: ignore
            app.processEvents()
            time.sleep(0.01)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.01)

    def shot(name: str) -> None:
        wait(seconds=0.8)
        path = args.out / name
        app.primaryScreen().grabWindow(0).save(str(path))
        print("wrote", path)

    wait(lambda: s.loaded and window.library.table.rowCount() > 0, 1.5)
    window.library.sortByColumn(2, window.library.horizontalHeader().sortIndicatorOrder())
    # a file that is not an example, in the middle of the table
    target = next((r for r in range(window.library.table.rowCount()) if not
                   s.rows.support[window.library.table.view[r]]), 0)
    window.library.selectRow(target + 6)
    window.tree_panel.view.setCurrentIndex(window.tree_panel.model.index(0, 0))
    wait(lambda: window.inspector.wave.peaks is not None, 1.0)
    window.find_similar()
    wait(lambda: not s.engine.pending(), 1.0)
    shot("main-window.png")

    window.tabs.setCurrentIndex(1)
    wait(lambda: window.map.projection is not None, 1.0)
    shot("map.png")
    window.tabs.setCurrentIndex(0)

    from app.gui.relabel_dialog import RelabelDialog

    dialog = RelabelDialog(s, window)
    dialog.mode.setCurrentIndex(dialog.mode.findData("copy"))
    dest = work / "Sorted"
    dest.mkdir()
    dialog.dest.setText(str(dest))
    dialog.min_conf.setValue(50)
    dialog.move(200, 120)
    dialog.show()
    dialog.preview()
    wait(lambda: dialog.plan is not None, 1.0)
    shot("relabel-dialog.png")
    dialog.close()
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
