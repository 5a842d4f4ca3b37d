"""The key evaluation's scores (bench.analysis_eval): the strict verdict and the second,
mode-free score beside it."""

from __future__ import annotations

from bench.analysis_eval import key_verdict, mode_free_verdict


def test_the_parallel_key_counts_only_where_the_notes_allow_either_mode() -> None:
    # a bass line of A, E and D (roots, fifths, octaves): no C or C#, F or F#, G or G#
    assert key_verdict("A", "Am") == "parallel"
    assert mode_free_verdict("A", "Am", (9, 4, 2)) == "exact"
    # the same line with its minor third (C): the notes say minor
    assert mode_free_verdict("A", "Am", (9, 0, 4, 2)) == "parallel"
    # so do a sixth (F: A minor's) and a major third (C#: A major's)
    assert mode_free_verdict("Am", "A", (9, 4, 5)) == "parallel"
    assert mode_free_verdict("Am", "A", (9, 4, 1)) == "parallel"
    # every other verdict is the strict one's
    assert mode_free_verdict("Am", "Am", ()) == "exact"
    assert mode_free_verdict("C", "Am", (9, 4)) == "relative"
    assert mode_free_verdict("Em", "Am", (9, 4)) == "fifth"
    assert mode_free_verdict(None, "Am", (9, 4)) == "none"


def test_the_key_gates_table_refuses_the_reported_seeds() -> None:
    from bench.analysis_fit import main

    assert main(["--key-gates", "--seeds", "1,4"]) == 2
    assert main(["--key-gates", "--seeds", "2", "--loops", "0", "--phrases", "0"]) == 2
