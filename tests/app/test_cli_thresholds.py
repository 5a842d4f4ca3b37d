"""Label thresholds belong to the library: ``classify --min-confidence`` is what every
later command and the app label with (review of 2026-11-30: the next ``label`` quietly
undid it, and the app relabelled with its own setting)."""

from __future__ import annotations

import json
from pathlib import Path

from core.classify import Classifier, Thresholds, store_thresholds, stored_thresholds
from core.library import Library
from tests.app.test_cli_labels import scanned  # noqa: F401  (the fixture)
from tests.cli_run import run


def _states(capsys, lib: Path) -> dict[str, int]:
    rc, out, err = run(capsys, "--library", lib, "ls", "--tree", "mine", "--json")
    assert rc == 0, err
    states: dict[str, int] = {}
    for r in json.loads(out):
        key = "class" if r["state"] == "class" else "group"  # backed off, uncertain, unknown
        states[key] = states.get(key, 0) + 1
    return states


def _teach(capsys, lib: Path, folder: Path) -> None:
    assert run(capsys, "--library", lib, "tree", "create", "mine")[0] == 0
    for node in ("Tonal/Bass", "Tonal/Lead", "Drums/Hat"):
        assert run(capsys, "--library", lib, "tree", "add", "mine", node)[0] == 0
    for node, f in (("Tonal/Bass", "bass/b0.wav"), ("Tonal/Lead", "lead/l0.flac"),
                    ("Drums/Hat", "hats/h0.wav")):
        rc, _out, err = run(capsys, "--library", lib, "label", "mine", node, folder / f)
        assert rc == 0, err


def test_a_min_confidence_given_to_classify_outlives_the_next_command(scanned,  # noqa: F811
                                                                      capsys) -> None:
    lib, folder = scanned
    _teach(capsys, lib, folder)
    rc, _out, err = run(capsys, "--library", lib, "classify", "mine", "--min-confidence",
                        "0.999999")
    assert rc == 0, err
    assert "min confidence 0.999999" in err and "the app" in err
    strict = _states(capsys, lib)
    assert strict.get("group", 0) > 0  # nothing but the examples is that certain
    # an unrelated command re-predicts: with the library's thresholds, not the defaults
    rc, _out, err = run(capsys, "--library", lib, "label", "mine", "Tonal/Bass",
                        folder / "bass/b1.wav")
    assert rc == 0, err
    after = _states(capsys, lib)
    assert after.get("group", 0) >= strict["group"] - 1  # the new example is a class now
    with Library(lib) as library:
        assert stored_thresholds(library).min_confidence == 0.999999
    rc, out, err = run(capsys, "--library", lib, "explain", "mine", folder / "bass/b2.wav",
                       "--json")
    assert rc == 0, err
    assert json.loads(out)["min_confidence"] == 0.999999
    # and back to the default
    rc, _out, err = run(capsys, "--library", lib, "classify", "mine", "--min-confidence", "0.5")
    assert rc == 0, err
    assert _states(capsys, lib).get("group", 0) < strict["group"]


def test_stored_thresholds_default_and_round_trip(tmp_path: Path) -> None:
    with Library(tmp_path / "lib.sqlite") as lib:
        assert stored_thresholds(lib) == Thresholds()
        store_thresholds(lib, Thresholds(min_confidence=0.7, unknown_factor=3.0))
        assert stored_thresholds(lib) == Thresholds(min_confidence=0.7, unknown_factor=3.0)
        assert Classifier(lib).thresholds.min_confidence == 0.7
        # an evaluation may still ask with its own
        assert Classifier(lib, Thresholds()).thresholds.min_confidence == 0.5
    with Library(tmp_path / "lib.sqlite") as lib:  # kept in the file
        assert stored_thresholds(lib).unknown_factor == 3.0


def test_unknown_files_show_no_confidence(scanned, capsys) -> None:  # noqa: F811
    """As the app shows "—": no class fits an unknown file, so no probability is given."""
    lib, folder = scanned
    _teach(capsys, lib, folder)
    rc, out, err = run(capsys, "--library", lib, "classify", "mine", "--unknown-factor", "0.1")
    assert rc == 0, err
    unknown = [line for line in out.splitlines() if " unknown " in line]
    assert unknown and all(line.startswith("    —  unknown") for line in unknown), out
    rc, out, err = run(capsys, "--library", lib, "ls", "--tree", "mine")
    assert rc == 0, err
    assert "[unknown]" in out and "[unknown 0" not in out
