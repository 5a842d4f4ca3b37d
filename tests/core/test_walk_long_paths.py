"""A path longer than the system allows is said so, not "File name too long" (trust
review P7: a folder 40 levels deep, 4,130 bytes)."""

from __future__ import annotations

import os
from pathlib import Path

from core.walk import too_long, walk


def test_a_path_past_the_systems_limit_says_how_long_it_is(tmp_path: Path) -> None:
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        for _ in range(40):  # made relative, a level at a time: the whole path is too long
            os.mkdir("x" * 120)
            os.chdir("x" * 120)
        Path("a.wav").write_bytes(b"RIFF")
    finally:
        os.chdir(here)
    problems: list[tuple[str, str]] = []
    assert list(walk([str(tmp_path)], lambda p, why: problems.append((p, why)))) == []
    assert len(problems) == 1
    _path, why = problems[0]
    assert "longer than the system allows" in why and "bytes" in why, why


def test_a_name_past_255_bytes_is_told_apart_from_a_long_path() -> None:
    assert "a name in its path is 304 bytes" in too_long("/lib/" + "n" * 300 + ".wav")
    assert "its path is" in too_long("/lib/" + "/".join(["d" * 200] * 25))
