"""The desktop app's side of test_overlap_app_cli.py: a job run as the app runs it (its
:class:`app.gui.engine.JobRunner` thread with its own library connection, the engine
thread holding the library open beside it), held still half way through at a barrier.

usage: python overlap_app_child.py LIBRARY BARRIER_DIR relabel BATCH_ID AFTER
       python overlap_app_child.py LIBRARY BARRIER_DIR scan FOLDER WEIGHTS AFTER

Once AFTER files are done the job's progress callback writes BARRIER_DIR/inside and waits
for BARRIER_DIR/go to appear (the test runs its command in between). At the end one
JSON line: {"state": "finished" | "failed" | "cancelled", "message", "result"}.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def main() -> int:
    library, barrier, kind = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    from PySide6.QtCore import QCoreApplication

    from app.gui.engine import Engine, JobRunner
    from core.jobs import Progress

    app = QCoreApplication([])
    after = int(sys.argv[-1])
    stage = "relabel" if kind == "relabel" else "decode"
    held = [False]

    def gate(report: Any) -> Any:
        def progress(p: Progress) -> None:
            if not held[0] and p.stage == stage and p.done >= after:
                held[0] = True
                (barrier / "inside").write_text(str(os.getpid()))
                deadline = time.monotonic() + 240
                while not (barrier / "go").exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
            report(p)
        return progress

    if kind == "relabel":
        from core.relabel import apply_batch, preview

        batch = int(sys.argv[4])

        def work(lib: Any, progress: Any, cancel: Any) -> Any:  # as RelabelDialog.apply
            report = apply_batch(lib, batch, progress=gate(progress), cancel=cancel)
            return {"state": report.state, "done": report.done,
                    "rows": len(preview(lib, batch))}
    else:
        from app.gui.session import run_scan

        folder, weights = sys.argv[4], sys.argv[5]

        def work(lib: Any, progress: Any, cancel: Any) -> Any:  # as Session.scan
            report = run_scan(lib, [folder], gate(progress), cancel, model_path=weights,
                              jobs=0)
            return {"new": report.new, "missing": report.missing, "decoded": report.decoded}

    engine = Engine(library)  # the app's engine thread has the library open throughout
    opened: list[Any] = []
    engine.call(lambda state: opened.append(state.lib.stats()["files"]))
    engine.wait_idle(60)
    runner = JobRunner(library)
    job = runner.start(kind, work)
    while not runner.wait(0.05):
        app.processEvents()
    app.processEvents()
    engine.call(lambda state: opened.append(state.lib.stats()["files"]))  # still usable
    engine.wait_idle(60)
    engine.shutdown()
    state = ("failed" if job.message is not None else
             "cancelled" if job.token.cancelled else "finished")
    print(json.dumps({"state": state, "message": job.message, "result": job.result,
                      "engine_reads": len(opened)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
