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
