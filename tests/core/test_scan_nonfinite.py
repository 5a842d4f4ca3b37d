"""A float file with NaN or infinite samples is said so (trust review P5: an all-NaN WAV
scanned as silence, ok, with nothing said)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from core.library import Library
from core.scanner import ScanOptions, scan


def test_nan_and_infinite_samples_are_said(library: Library, tmp_path: Path) -> None:
    root = tmp_path / "samples"
    root.mkdir()
    tone = (0.3 * np.sin(np.arange(16_000) / 5)).astype(np.float32)
    some = tone.copy()
    some[100:200] = np.nan
    some[300] = np.inf
    sf.write(str(root / "some.wav"), some, 16_000, subtype="FLOAT")
    sf.write(str(root / "all.wav"), np.full(16_000, np.nan, np.float32), 16_000,
             subtype="FLOAT")
    sf.write(str(root / "clean.wav"), tone, 16_000, subtype="FLOAT")
    report = scan(library, [str(root)], None, options=ScanOptions(jobs=0))
    assert report.decoded == 3
    said = {Path(p).name: why for p, why in report.problems}
    assert said["some.wav"].startswith("101 samples (mixed to mono) are NaN or infinite")
    assert said["all.wav"].startswith("16,000 samples")
    assert "clean.wav" not in said
    rows = {Path(r.path).name: r for r in library.known_samples().values()}
    assert rows["some.wav"].status == "ok" and rows["clean.wav"].status == "ok"


def test_a_damaged_file_gets_no_note_or_key_from_its_noise(tmp_path: Path) -> None:
    """An all-infinite float file read as full scale once got a root note (B6) and a type
    from the square wave it became; a stray bad sample in a tone does not cost its note,
    and what the name says stays."""
    import sqlite3

    from tests.analysis_signals import SR, one_shot, write

    root = tmp_path / "samples"
    root.mkdir()
    note = one_shot(45).astype(np.float32)
    write(root / "tone.wav", note)
    glitch = note.copy()
    glitch[5_000:5_010] = np.nan  # 10 frames read as silence: a glitch, not a damaged file
    sf.write(str(root / "glitch.wav"), glitch, SR, subtype="FLOAT")
    bad = np.full_like(note, np.inf)
    bad[::2] = -np.inf
    sf.write(str(root / "inf.wav"), bad, SR, subtype="FLOAT")
    sf.write(str(root / "Bass_Loop_120bpm_Am.wav"), bad, SR, subtype="FLOAT")
    lib_path = tmp_path / "lib.sqlite"
    with Library(lib_path) as lib:
        scan(lib, [str(root)], None, options=ScanOptions(jobs=0))
    con = sqlite3.connect(str(lib_path))
    got = {Path(p).name: row for p, *row in con.execute(
        "SELECT s.path, a.kind, a.bpm, a.key, a.root_midi FROM samples s "
        "JOIN analysis a ON a.sample_id = s.id")}
    con.close()
    assert got["tone.wav"][3] == 45 and got["glitch.wav"][3] == 45
    assert got["inf.wav"] == [None, None, None, None]
    assert got["Bass_Loop_120bpm_Am.wav"] == ["loop", 120.0, "Am", None]
