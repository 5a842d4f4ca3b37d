"""What a drag of library files carries: file URLs (for a DAW or a file manager), the
paths as text, and the library's sample ids (for a drop on the class tree)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from PySide6.QtCore import QMimeData, QUrl

SAMPLE_IDS = "application/x-sampletree-sample-ids"


def files_mime(sample_ids: Sequence[int], paths: Sequence[str]) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    mime.setText("\n".join(paths))
    mime.setData(SAMPLE_IDS, json.dumps([int(s) for s in sample_ids]).encode())
    return mime


def sample_ids(mime: QMimeData | None) -> list[int]:
    """The sample ids a drag carries ([] when it is not a drag of library files)."""
    if mime is None or not mime.hasFormat(SAMPLE_IDS):
        return []
    try:
        data = json.loads(bytes(mime.data(SAMPLE_IDS).data()).decode())
        return [int(s) for s in data]
    except (ValueError, TypeError):
        return []
