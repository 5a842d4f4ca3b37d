"""The duplicates benchmarks' own pieces: copy names, and the synthetic library's
signatures in the stored layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.duplicates import _near_copy, _signatures
from bench.duplicates_eval import _named
from core import dupsig


def test_copy_names_keep_dots_in_the_original_name(tmp_path: Path) -> None:
    # "Drums_v.1-ride1" and "Drums_v.1-ride2": with_suffix made both "Drums_v.mp3"
    a = _named(tmp_path / "Millo-Drums_v.1-ride1-mp3", ".mp3")
    b = _named(tmp_path / "Millo-Drums_v.1-ride2-mp3", ".mp3")
    assert a.name == "Millo-Drums_v.1-ride1-mp3.mp3" and a != b


def test_synthetic_signatures_parse_and_their_copies_match() -> None:
    rng = np.random.default_rng(0)
    durations = np.array([0.1, 0.6, 3.0])
    blobs = _signatures(rng, 3, durations)
    sigs = [dupsig.parse(b) for b in blobs]
    assert all(s is not None for s in sigs)
    assert sigs[0].late is None and sigs[2].late is not None  # type: ignore[union-attr]
    copy = dupsig.parse(_near_copy(rng, blobs[2]))
    assert copy is not None
    assert dupsig.compare(sigs[2], copy).duplicate  # type: ignore[arg-type]
