"""A duplicate that is the kept file itself, by another name (a symbolic link to it, or
a folder link an older library scanned twice): moving it to the quarantine would take
the kept file away (found while reviewing the link-to-a-source fix)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.duplicates import find_duplicates, plan_quarantine, quarantine
from core.errors import RelabelError
from core.library import Library
from tests.core.test_duplicates import note, pcm16, scan_here, sha, write


def test_a_link_to_the_kept_file_is_left_where_it_is(library: Library, tmp_path: Path) -> None:
    root = tmp_path / "samples"
    real = write(root / "Drums" / "Kicks" / "Deep" / "kick 808.wav", pcm16(note(55.0)),
                 subtype="PCM_16")
    write(root / "Drums" / "snare.wav", pcm16(note(200.0, seed=2)), subtype="PCM_16")
    os.symlink(real, root / "kick.wav")  # a favourite at the top: the shorter path
    scan_here(library, root)
    groups = find_duplicates(library).groups
    assert len(groups) == 1 and len(groups[0].members) == 2
    skipped: dict[str, int] = {}
    _batch, ops = plan_quarantine(library, groups, tmp_path / "q", skipped_out=skipped)
    assert ops == [] and skipped == {"same_file": 1}
    before = sha(real)
    with pytest.raises(RelabelError, match="1 the kept file itself by another name"):
        quarantine(library, groups, tmp_path / "q")
    # both names still play the same audio: nothing was taken from the library
    assert real.exists() and (root / "kick.wav").exists() and sha(root / "kick.wav") == before


def test_a_hard_link_or_a_true_copy_still_goes(library: Library, tmp_path: Path) -> None:
    """Only a name that leads to the kept file is held back: a real copy of the audio
    moves, and so does a hard link (the kept name still holds the audio)."""
    root = tmp_path / "samples"
    first = write(root / "a" / "kick.wav", pcm16(note(55.0)), subtype="PCM_16")
    write(root / "b" / "kick copy.wav", pcm16(note(55.0)), subtype="PCM_16")
    (root / "c").mkdir()
    os.link(first, root / "c" / "kick.wav")
    scan_here(library, root)
    groups = find_duplicates(library).groups
    assert len(groups) == 1 and len(groups[0].members) == 3
    before = sha(first)
    report = quarantine(library, groups, tmp_path / "q")
    assert report.done == 2
    keeper = Path(groups[0].keeper.path)
    assert keeper.exists() and sha(keeper) == before
    assert sorted(p.name for p in (tmp_path / "q").rglob("*.wav")) == ["kick copy.wav",
                                                                       "kick.wav"]
