"""Tempo at the right metrical level and keys from chord sequences (issue #14's accuracy
targets): cases the first analysis got wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.analysis import analyse_file
from tests.analysis_signals import arpeggio, trap_loop, write

C, F, G, AM, DM, E = ([60, 64, 67], [65, 69, 72], [67, 71, 74], [57, 60, 64], [62, 65, 69],
                      [64, 68, 71])


@pytest.mark.parametrize(("bpm", "bars", "seed"), [(150.0, 2, 0), (150.0, 4, 0), (150.0, 4, 1),
                                                  (158.0, 2, 1), (140.0, 2, 0)])
def test_a_trap_loop_reads_at_its_fast_tempo_not_half_time(tmp_path: Path, bpm: float,
                                                           bars: int, seed: int) -> None:
    # the snare on beat 3 looks like a backbeat (2 and 4) at half the tempo: the first
    # analysis read 75 for most of these
    a = analyse_file(write(tmp_path / "trap.wav", trap_loop(bpm, bars, seed=seed)))
    assert a.kind == "loop" and a.bpm is not None
    assert abs(a.bpm / bpm - 1) <= 0.02, a
    assert a.bpm_alt is not None and abs(a.bpm_alt / bpm - 0.5) < 0.02
    assert a.bars == bars


@pytest.mark.parametrize(("bpm", "per_beat", "chords"), [
    (72.0, 2, [C, AM]), (74.0, 2, [C, G]), (90.0, 4, [C, AM]), (90.0, 4, [C, F]),
    (88.0, 4, [C, G]), (80.0, 2, [C, AM])])
def test_a_slow_arpeggio_reads_slow_not_double(tmp_path: Path, bpm: float, per_beat: int,
                                               chords: list[list[int]]) -> None:
    # with no drums, 8th or 16th notes pulse at double the tempo (the first analysis read
    # 144, 148, 180, 180, 176)
    a = analyse_file(write(tmp_path / "arp.wav", arpeggio(chords, bpm, per_beat)))
    assert a.kind == "loop" and a.bpm is not None
    assert abs(a.bpm / bpm - 1) <= 0.02, a


# -- key -----------------------------------------------------------------------------------

CM, FM, GM, AB = [60, 63, 67], [65, 68, 72], [67, 70, 74], [56, 60, 63]
BDIM, DDIM = [59, 62, 65], [62, 65, 68]


@pytest.mark.parametrize(("chords", "key"), [
    ([DM, G], "C"),  # ii–V: the I it leads to, not the ii it starts on
    ([[n + 3 for n in c] for c in (DM, G)], "Eb"),
    ([[n + 7 for n in c] for c in (DM, G)], "G"),
    ([AB, FM, CM, GM], "Cm"),  # VI–iv–i–v: not Ab
    ([[n + 7 for n in c] for c in (AB, FM, CM, GM)], "Gm"),
    ([DDIM, GM, CM, CM], "Cm"),  # ii°–v–i–i
])
def test_a_loop_that_does_not_start_on_its_tonic_gets_its_key(
        tmp_path: Path, chords: list[list[int]], key: str) -> None:
    # two chords a bar, no bass: the first analysis (a Krumhansl profile on a chroma that
    # weighted the first chord) read these as Dm, Fm, Am, G#, Eb and Dm
    from tests.analysis_signals import progression

    y = progression(chords, per_bar=2, bass=False)
    a = analyse_file(write(tmp_path / "prog.wav", y))
    assert a.kind == "loop" and a.key == key, a


@pytest.mark.parametrize(("chords", "key"), [
    ([C, G, C, G], "C"),
    ([[n + 2 for n in c] for c in (C, G, C, G)], "D"),
    ([AM, E, AM, E], "Am"),
])
def test_a_one_five_loop_reads_as_the_one(tmp_path: Path, chords: list[list[int]],
                                          key: str) -> None:
    from tests.analysis_signals import progression

    a = analyse_file(write(tmp_path / "i_v.wav", progression(chords)))
    assert a.kind == "loop" and a.key == key, a
