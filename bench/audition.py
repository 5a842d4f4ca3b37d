"""How fast a click becomes sound: ``play()`` to the first audio consumed by the card.

    QT_QPA_PLATFORM=offscreen python -m bench.audition [--repeat 5] [--json PATH]

Plays every file of the demo library (WAV, AIFF, FLAC, OGG, MP3 at 22.05–48 kHz, mono and
stereo) one after another through the app's Player, like a producer arrowing down a
folder with auto-play, and times ``play()`` to the first ``positionChanged`` past the
start (the sink has handed audio to the device). Needs an audio output: on a machine
without a sound card start a PulseAudio null sink first (``pulseaudio -D
--exit-idle-time=-1``); without any output it says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMATS = (".wav", ".aif", ".aiff", ".flac", ".ogg", ".mp3")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.gui import qtfix

    qtfix.pin_none()
    from app.gui.player import Player

    app = QApplication.instance() or QApplication([])
    player = Player()
    if not player.available:
        print(f"no audio output: {player.status_text}", file=sys.stderr)
        return 2
    files = sorted(p for p in (ROOT / "resources" / "demo").rglob("*")
                   if p.suffix.lower() in FORMATS)
    latency: dict[str, list[float]] = {}
    state = {"t0": 0.0, "got": None}

    def on_position(seconds: float) -> None:
        if state["got"] is None and seconds > 0:
            state["got"] = time.perf_counter() - state["t0"]

    player.positionChanged.connect(on_position)
    loop = QEventLoop()
    for _ in range(args.repeat):
        for path in files:
            state["got"] = None
            state["t0"] = time.perf_counter()
            player.play(str(path))
            deadline = time.perf_counter() + 5
            while state["got"] is None and time.perf_counter() < deadline:
                QTimer.singleShot(2, loop.quit)
                loop.exec()
            ext = ".aiff" if path.suffix.lower() in (".aif", ".aiff") else path.suffix.lower()
            latency.setdefault(ext, []).append(state["got"] if state["got"] else float("inf"))
    player.stop()
    print(f"play() → first audio at the device ({player.status_text}), "
          f"{len(files)} files × {args.repeat}")
    print(f"{'format':8} {'plays':>6} {'median ms':>10} {'max ms':>8}")
    for ext, values in sorted(latency.items()):
        print(f"{ext:8} {len(values):6d} {1000 * statistics.median(values):10.0f} "
              f"{1000 * max(values):8.0f}")
    every = [v for values in latency.values() for v in values]
    print(f"{'all':8} {len(every):6d} {1000 * statistics.median(every):10.0f} "
          f"{1000 * max(every):8.0f}")
    if args.json:
        args.json.write_text(json.dumps({"device": player.status_text, "latency_s": latency},
                                        indent=1))
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
