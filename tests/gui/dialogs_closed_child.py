"""The relabel and duplicates dialogs closed (and deleted, as WA_DeleteOnClose does) while
their engine requests and jobs are in flight, ROUNDS times with the close landing a little
later each round. Run in a process of its own by test_gui_closed_in_flight.py, so that a
crash (a segfault, an abort) shows as its exit status instead of killing pytest.

usage: python dialogs_closed_child.py LIBRARY SETTINGS DEST QUARANTINE ROUNDS

Prints one JSON line at the end: what each kind of close caught in flight.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def main() -> int:
    library, settings_path, dest, quarantine_dir, rounds = sys.argv[1:6]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["SAMPLETREE_NO_AUDIO"] = "1"
    import shiboken6
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    from app.gui.duplicates_dialog import DuplicatesDialog
    from app.gui.relabel_dialog import RelabelDialog
    from app.gui.session import Session
    from app.gui.settings import Settings
    from core.library import Library
    from core.relabel import list_batches, undo_batch

    app = QApplication([])
    session = Session(library, Settings(settings_path))
    session.reload()

    def spin(ms: float, until: Any = None) -> None:
        deadline = time.monotonic() + ms / 1000
        while time.monotonic() < deadline:
            app.processEvents()
            if until is not None and until():
                return
            time.sleep(0.001)

    def destroy(widget: Any) -> None:
        widget.close()
        widget.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        assert not shiboken6.isValid(widget)

    def settle() -> None:
        """Every job and request ended and its answer delivered (or dropped)."""
        assert session.jobs.wait(120)
        assert session.engine.wait_idle(120)
        spin(30)

    def previewing_relabel() -> RelabelDialog:
        """A relabel dialog shown, set to move tree 'mine' into ``dest``, its preview asked."""
        d = RelabelDialog(session)
        d.show()
        d.tree.setCurrentText("mine")
        d.mode.setCurrentIndex(d.mode.findData("move"))
        d.dest.setText(dest)
        d.preview()
        return d

    def undo_all() -> None:
        """Put back what an interrupted apply moved, so that each round starts alike."""
        with Library(library) as lib:
            for b in list_batches(lib):
                if b["state"] in ("applied", "cancelled", "failed") and b["ops"].get("done"):
                    undo_batch(lib, b["id"])

    spin(10_000, lambda: session.loaded)
    assert session.loaded
    caught: dict[str, int] = {}
    n = int(rounds)
    for r in range(n):
        wait_ms = r * 3  # 0, 3, 6… ms of the event loop before the close
        # relabel: closed while the batch history request and then the preview job run
        d = previewing_relabel()
        spin(wait_ms)
        caught["relabel preview"] = caught.get("relabel preview", 0) + int(d.job is not None)
        destroy(d)
        settle()
        # relabel: closed while its apply runs (closing cancels it)
        d = previewing_relabel()
        spin(60_000, lambda d=d: d.plan is not None and d.job is None)
        assert d.plan is not None, d.summary.text()
        d.apply()
        spin(wait_ms)
        caught["relabel apply"] = caught.get("relabel apply", 0) + int(d.job is not None)
        destroy(d)
        settle()
        undo_all()
        # duplicates: closed while the search request runs
        g = DuplicatesDialog(session, None)
        g.show()
        g.find()
        spin(wait_ms)
        caught["duplicates find"] = caught.get("duplicates find", 0) + int(
            session.engine.pending() > 0)
        destroy(g)
        settle()
        # duplicates: closed while the quarantine job runs
        g = DuplicatesDialog(session, None)
        g.show()
        g.find()
        spin(60_000, lambda g=g: bool(g.groups))
        assert g.groups, g.summary.text()
        g.dest.setText(quarantine_dir)
        g.move_extras()
        spin(wait_ms)
        caught["duplicates move"] = caught.get("duplicates move", 0) + int(
            session.jobs.running)
        destroy(g)
        settle()
        undo_all()
    session.close()
    print(json.dumps(caught), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
