"""What ``sampletree status`` adds to the library's own figures: labels per tree, whether a
scan the journal calls running is alive, and the last scan in words."""

from __future__ import annotations

import os
from typing import Any

from core.paths import one_line
from core.words import plural


def label_summaries(library: Any) -> dict[str, dict[str, int]]:
    """Files per label state of every tree, as `ls` and `classify` count them."""
    from app.common import label_counts
    from core.schema import trees

    with library.reading() as conn:
        names = sorted(r[0] for r in conn.execute(trees.select().with_only_columns(trees.c.name)))
    return {name: label_counts(library, name) for name in names}


def scan_alive(library_path: str) -> bool:
    """A scan holds this library's job lock, from a process still running."""
    from core.joblock import holder

    kind, pid = holder(library_path)
    if kind != "scan" or pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # alive, another user's
    return True


def scan_text(last: dict[str, Any]) -> str:
    """``2026-11-30 10:33:12 (done): 47 audio files (0 new, …, 1 missing); 2 of 2 files
    read``: when it started, how it ended, what it found and read."""
    import time

    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last["started_at"]))
    text = f"{when} ({last['state']})"
    r = last.get("report")
    if r:
        text += (f": {plural(r['found'], 'audio file')} ({r['new']} new, {r['changed']} "
                 f"changed, {r['unchanged']} unchanged, {r['moved']} moved, "
                 f"{r['missing']} missing"
                 + (f", {r['failed']} unreadable" if r.get("failed") else "")
                 + (f", {plural(r['folder_problems'], 'folder')} not read"
                    if r.get("folder_problems") else "") + ")")
    if last["files_total"]:
        text += f"; {last['files_done']} of {plural(last['files_total'], 'file')} read"
    elif r:
        text += "; nothing to read"
    if last.get("message") and last["state"] != "done":
        text += f": {one_line(last['message'])}"
    return text
