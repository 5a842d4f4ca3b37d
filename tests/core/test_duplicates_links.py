"""A file and a symbolic link to it (a "favourites" folder of links, or a folder link an
older library scanned twice) are one file, not two copies: listed as duplicates, the
link could be the keeper and the quarantine moved the real file away, leaving the kept
link dangling (found while reviewing the link-to-a-source fix)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from core.duplicates import (
    Group,
    Member,
    exact_groups,
    find_duplicates,
    plan_quarantine,
    quarantine,
)
from core.errors import RelabelError
from core.library import Library
from core.schema import samples
from tests.core.test_duplicates import note, pcm16, scan_here, sha, write


def _kick_and_link(root: Path) -> Path:
    real = write(root / "Drums" / "Kicks" / "Deep" / "kick 808.wav", pcm16(note(55.0)),
                 subtype="PCM_16")
    write(root / "Drums" / "snare.wav", pcm16(note(200.0, seed=2)), subtype="PCM_16")
    os.symlink(real, root / "kick.wav")  # a favourite at the top: the shorter path
    return real


def test_a_link_to_a_file_is_not_its_duplicate(library: Library, tmp_path: Path) -> None:
    root = tmp_path / "samples"
    real = _kick_and_link(root)
    scan_here(library, root)
    assert find_duplicates(library).groups == []
    assert exact_groups(library) == {}  # ls --json's duplicate_group says the same
    # a true copy beside them: one group of two, the link counted as the file it is
    write(root / "Old" / "kick 808 copy.wav", pcm16(note(55.0)), subtype="PCM_16")
    scan_here(library, root)
    groups = find_duplicates(library).groups
    assert len(groups) == 1
    assert sorted(m.path for m in groups[0].members) == sorted(
        [str(real), str(root / "Old" / "kick 808 copy.wav")])
    report = quarantine(library, groups, tmp_path / "q")
    assert report.done == 1 and real.exists() and sha(root / "kick.wav") == sha(real)


def test_the_quarantine_never_moves_the_kept_file_by_another_name(
        library: Library, tmp_path: Path) -> None:
    """A group made elsewhere (or an older report) with the link as keeper: the real file
    is left where it is, and the message says why nothing moved."""
    root = tmp_path / "samples"
    real = _kick_and_link(root)
    scan_here(library, root)
    with library.reading() as conn:
        got = {p: i for i, p in conn.execute(select(samples.c.id, samples.c.path))}
    link = Member(got[str(root / "kick.wav")], str(root / "kick.wav"), "WAV", "PCM_16",
                  16_000, 1, 100, 1.2, keep=True, match="keeper")
    file = Member(got[str(real)], str(real), "WAV", "PCM_16", 16_000, 1, 100, 1.2,
                  match="exact")
    group = Group(link.sample_id, "exact", [link, file])
    skipped: dict[str, int] = {}
    _batch, ops = plan_quarantine(library, [group], tmp_path / "q", skipped_out=skipped)
    assert ops == [] and skipped == {"same_file": 1}
    with pytest.raises(RelabelError, match="1 the kept file itself by another name"):
        quarantine(library, [group], tmp_path / "q")
    assert real.exists() and sha(root / "kick.wav") == sha(real)


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


def test_relabel_sorts_a_file_once_whatever_its_names(library: Library, tmp_path: Path,
                                                     untrained_model) -> None:
    """A relabel planned the file and the link to it: moved, the link dangled ("the file is
    gone since the plan"); copied, the file was copied twice."""
    from core.classify import Classifier
    from core.relabel import apply_batch, plan_relabel, undo_batch
    from core.supports import add_supports
    from core.trees import add_node, create_tree

    root = tmp_path / "samples"
    real = _kick_and_link(root)
    scan_here(library, root, untrained_model)
    create_tree(library, "t")
    add_node(library, "t", "Kick")
    add_node(library, "t", "Snare")
    add_supports(library, "t", "Kick", [str(real), str(root / "kick.wav")])
    add_supports(library, "t", "Snare", [str(root / "Drums" / "snare.wav")])
    Classifier(library).refresh("t")
    for mode in ("copy", "move"):
        plan = plan_relabel(library, "t", mode, dest=str(tmp_path / f"Sorted-{mode}"))
        assert plan.skipped.get("same_file") == 1, plan.skipped
        assert sorted(os.path.basename(op.dst) for op in plan.ops) == ["kick 808.wav",
                                                                       "snare.wav"]
        report = apply_batch(library, plan.batch_id)
        assert report.done == 2 and not report.failed and not report.skipped
        undo_batch(library, plan.batch_id)
    assert real.exists() and sha(root / "kick.wav") == sha(real)
