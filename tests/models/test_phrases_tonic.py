"""plan_phrase's ``bass_on_tonic``: evaluation sets build bass lines on the key's tonic,
while the corpus keeps the old E1-based lines (its output must not change)."""

from __future__ import annotations

import numpy as np
import pytest

from models import phrases


def _plan(cls: str, i: int, **kw: bool) -> phrases.Phrase:
    return phrases.plan_phrase(cls, np.random.default_rng([9, 22, i]), **kw)


@pytest.mark.parametrize("i", range(12))
def test_bass_on_tonic_moves_only_the_bass_lines_pitches(i: int) -> None:
    old, new = _plan("Bass Line", i), _plan("Bass Line", i, bass_on_tonic=True)
    assert (old.program, old.bpm, old.bars) == (new.program, new.bpm, new.bars)
    assert [(s, d, v) for s, d, _p, v in old.notes] == [(s, d, v) for s, d, _p, v in new.notes]
    # the old lines sound four semitones above the key; the new ones on it
    for (_s, _d, p_old, _v), (_s2, _d2, p_new, _v2) in zip(old.notes, new.notes, strict=True):
        if 24 < p_old < 60 and 24 < p_new < 60:  # not clipped to the range
            assert (p_old - p_new) % 12 == 4
    for cls in ("Chord Stabs", "Arpeggio", "Chord Progression"):
        assert _plan(cls, i).notes == _plan(cls, i, bass_on_tonic=True).notes


def test_a_bass_line_on_the_tonic_starts_on_the_tonic() -> None:
    # replay the draws up to the key: program, bpm, bars, scale, key, progression
    for i in range(40):
        rng = np.random.default_rng([9, 22, i])
        rng.choice(phrases.PHRASE_PROGRAMS["Bass Line"])
        rng.uniform(70, 150)
        rng.choice([1, 2])
        rng.choice(list(phrases.SCALES))
        key = int(rng.integers(0, 12))
        prog = phrases.PROGRESSIONS[int(rng.integers(0, len(phrases.PROGRESSIONS)))]
        if prog[0] != 0:
            continue
        first = _plan("Bass Line", i, bass_on_tonic=True).notes[0][2]
        assert first % 12 in (key, (key + 7) % 12)  # the root, or its fifth (±7 or −5)
