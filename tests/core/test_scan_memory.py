"""A long file's windows are let go once embedded (trust review: a 2-hour file peaked at
1.27 GB in the scanning process, every window of it held until its record was written,
because ``audio[:0]`` kept the whole buffer alive; 423 MB after)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import core.scanner
from core.audio import WindowParams
from core.library import Library
from core.scanner import ScanOptions, scan


def _segments_at_record(monkeypatch) -> list[list[np.ndarray]]:
    """Each recorded file's segments' windows, as the scan holds them when it writes the
    file's record (filled as the scan goes)."""
    seen: list[list[np.ndarray]] = []
    record = core.scanner.Scanner._record

    def spy(self, job, report):
        seen.append([s.audio for s in job.segments.values()])
        return record(self, job, report)

    monkeypatch.setattr(core.scanner.Scanner, "_record", spy)
    return seen


def test_embedded_windows_release_their_audio(library: Library, write_audio, untrained_model,
                                              monkeypatch, tmp_path: Path) -> None:
    write_audio("long.wav", seconds=9.0, sr=16_000, seed=1, freq=220.0)
    seen = _segments_at_record(monkeypatch)
    # 2-second segments: the 9 s file is five of them, embedded as they come
    options = ScanOptions(jobs=0, window=WindowParams(segment_s=2.0), batch_windows=4)
    report = scan(library, [str(tmp_path / "samples")], untrained_model, options=options)
    assert report.decoded == 1 and report.embedded_windows > 10
    (audios,) = seen
    assert len(audios) >= 4
    # nothing left of the windows: no bytes, and no view keeping a decoded buffer alive
    assert all(a.nbytes == 0 and a.base is None for a in audios), \
        [(a.shape, a.base is not None) for a in audios]


def test_a_scan_without_a_network_keeps_no_windows(library: Library, write_audio, monkeypatch,
                                                   tmp_path: Path) -> None:
    write_audio("long.wav", seconds=9.0, sr=16_000, seed=1, freq=220.0)
    seen = _segments_at_record(monkeypatch)
    scan(library, [str(tmp_path / "samples")], None,
         options=ScanOptions(jobs=0, window=WindowParams(segment_s=2.0)))
    (audios,) = seen
    assert all(a.nbytes == 0 for a in audios)
