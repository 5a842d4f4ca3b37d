"""The command line explains itself and refuses bad numbers: every argument has help, every
command a description and examples, every numeric option a range, and a wrong command line
prints its usage and one ``sampletree: error:`` line and exits 2 (README, "The command line").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.cli import _parser, main


def _commands(parser: argparse.ArgumentParser,
              prefix: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((f"{prefix}{name}", sub))
                out.extend(_commands(sub, f"{prefix}{name} "))
    return out


COMMANDS = _commands(_parser())


def test_every_command_is_listed() -> None:
    names = {name for name, _p in COMMANDS}
    assert {"scan", "status", "ls", "classify", "similar", "tree rename", "label",
            "check", "train"} <= names


@pytest.mark.parametrize("name, parser", COMMANDS, ids=[n for n, _p in COMMANDS])
def test_every_argument_and_command_is_explained(name: str, parser) -> None:
    assert parser.description and len(parser.description) > 10, name
    assert parser.epilog and "examples:" in parser.epilog, name
    for example in parser.epilog.split("examples:", 1)[1].strip().splitlines():
        assert example.strip().startswith("sampletree "), (name, example)
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        assert action.help and action.help.strip(), (name, action.dest)
        if action.choices and not isinstance(action.choices, dict):
            # every choice is named in the help, so that it is explained there
            for choice in action.choices:
                assert str(choice) in action.help, (name, action.dest, choice)


def test_help_is_readable(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["tree", "rename", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sampletree tree rename [-h] NAME [NODE/PATH] NEW_NAME\n")
    assert "examples:\n  sampletree tree rename mine Drums/Kick Kicks" in out
    with pytest.raises(SystemExit):
        main(["similar", "--help"])
    assert "smaller is closer" in capsys.readouterr().out


BAD_NUMBERS = [
    ["classify", "mine", "--min-confidence", "2"],
    ["classify", "mine", "--min-confidence", "-1"],
    ["classify", "mine", "--min-confidence", "nan"],
    ["classify", "mine", "--unknown-factor", "0"],
    ["classify", "mine", "--unknown-factor", "x"],
    ["similar", "f.wav", "-k", "0"],
    ["similar", "f.wav", "-k", "-3"],
    ["similar", "f.wav", "--window", "-1"],
    ["suggest", "mine", "-n", "0"],
    ["scan", ".", "--hop", "0"],
    ["scan", ".", "--hop", "inf"],
    ["scan", ".", "--jobs", "-1"],
    ["label", "mine", "Bass", "f.wav", "--window", "-2"],
    ["tree", "move", "mine", "A", "B", "--position", "-1"],
    ["tree", "reorder", "mine", "A", "-1"],
    ["corpus", "build", "--pitches", "0"],
    ["corpus", "build", "--programs", "0,128"],
    ["train", "--out", "r", "--way", "1"],
    ["train", "--out", "r", "--lr", "0"],
    ["train", "--out", "r", "--episodes", "0"],
    ["evaluate", "m.pt", "--out", "o", "--shots", "1,0"],
]


@pytest.mark.parametrize("argv", BAD_NUMBERS, ids=[" ".join(a) for a in BAD_NUMBERS])
def test_numbers_out_of_range_are_usage_errors(argv: list[str], capsys, tmp_path: Path) -> None:
    lib = tmp_path / "lib.sqlite"
    with pytest.raises(SystemExit) as done:
        main(["--library", str(lib), *argv])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: sampletree ")
    assert err[-1].startswith("sampletree: error: argument "), err
    assert not lib.exists()


def test_usage_errors_exit_2_with_one_error_line(capsys) -> None:
    for argv in (["nosuchcommand"], ["tree", "rename", "mine", "a", "b", "c"], ["scan"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err[0].startswith("usage: sampletree"), err
        assert err[-1].startswith("sampletree: error: "), err
        assert sum(line.startswith("sampletree: error:") for line in err) == 1


def test_no_command_and_no_display_is_a_usage_error(capsys, monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: sampletree")
    assert err[-1].startswith("sampletree: error: no display"), err
