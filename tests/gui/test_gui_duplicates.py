"""The Duplicates dialog: groups shown, audition, another keeper chosen, the other copies
moved to a quarantine folder through the relabel journal, and the move undone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


class FakePlayer:
    def __init__(self) -> None:
        self.played: list[str] = []

    def play(self, path: str, *args, **kwargs) -> bool:
        self.played.append(path)
        return True


def _digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.*")}


def _session(qtbot, tmp_path: Path, settings, model=None):
    from app.gui.session import Session
    from core.library import Library
    from core.scanner import ScanOptions, scan

    root = tmp_path / "samples"
    (root / "a").mkdir(parents=True)
    (root / "b" / "deeper").mkdir(parents=True)
    x = (np.random.default_rng(3).standard_normal((8000, 1)) * 4000).astype(np.int16)
    sf.write(str(root / "a" / "clap.wav"), x, 44_100, subtype="PCM_16")
    sf.write(str(root / "b" / "deeper" / "clap.flac"), x, 44_100, subtype="PCM_16")
    sf.write(str(root / "b" / "other.wav"), x[::-1] // 3, 44_100, subtype="PCM_16")
    path = tmp_path / "library.sqlite"
    with Library(path) as lib:
        scan(lib, [str(root)], model, options=ScanOptions(jobs=0))
    s = Session(path, settings)
    s.reload()
    qtbot.waitUntil(lambda: s.loaded, timeout=10_000)
    return s, root


@pytest.fixture
def dup_session(qtbot, tmp_path: Path, settings):
    s, root = _session(qtbot, tmp_path, settings)
    yield s, root
    s.close()


@pytest.fixture
def embedded_dup_session(qtbot, tmp_path: Path, settings, untrained_model):
    """The same files, embedded (by a small untrained network): Find similar has vectors."""
    s, root = _session(qtbot, tmp_path, settings, untrained_model)
    yield s, root
    s.close()


def test_duplicates_dialog_reviews_moves_and_undoes(qtbot, dup_session, tmp_path) -> None:
    from app.gui.duplicates_dialog import DuplicatesDialog

    session, root = dup_session
    before = _digests(root)
    player = FakePlayer()
    dialog = DuplicatesDialog(session, player)
    qtbot.addWidget(dialog)
    dialog.near.setChecked(False)
    dialog.find()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=20_000)
    assert dialog.tree.topLevelItemCount() == 1
    group = dialog.tree.topLevelItem(0)
    assert group.childCount() == 2
    assert "1 group of exact duplicates, 1 extra copy" in dialog.summary.text()
    names = [group.child(i).text(1) for i in range(2)]
    assert any(n.endswith("a/clap.wav") for n in names)  # the shorter path is suggested
    kept = [group.child(i).text(1) for i in range(2)
            if group.child(i).checkState(0).name == "Checked"]
    assert len(kept) == 1 and kept[0].endswith("a/clap.wav")

    # audition the FLAC, then keep it instead: the WAV becomes the extra copy
    flac_item = next(group.child(i) for i in range(2) if group.child(i).text(1).endswith(".flac"))
    dialog.tree.setCurrentItem(flac_item)
    dialog.play_button.click()
    assert player.played and player.played[-1].endswith("clap.flac")
    g = next(iter(dialog.groups.values()))
    flac = next(m for m in g.members if m.path.endswith(".flac"))
    dialog.set_keeper(g.id, flac.sample_id)
    assert dialog.keepers() == {g.id: flac.sample_id}
    # one keeper per group: unchecking the only keeper is refused
    flac_item.setCheckState(0, flac_item.checkState(0).Unchecked)
    assert dialog.keepers() == {g.id: flac.sample_id}

    dialog.dest.setText(str(tmp_path / "Quarantine"))
    dialog.move_extras()
    qtbot.waitUntil(lambda: dialog.last_batch_id is not None, timeout=30_000)
    assert not (root / "a" / "clap.wav").exists()
    assert (root / "b" / "deeper" / "clap.flac").exists()
    assert list((tmp_path / "Quarantine").rglob("clap.wav"))
    assert dialog.undo_button.isEnabled()
    # after the move the dialog looks again: no group left
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 0, timeout=20_000)

    dialog.undo_move()
    qtbot.waitUntil(lambda: dialog.last_batch_id is None, timeout=30_000)
    assert _digests(root) == before
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 1, timeout=20_000)


def test_duplicates_dialog_needs_a_quarantine_folder(qtbot, dup_session) -> None:
    from app.gui.duplicates_dialog import DuplicatesDialog

    session, root = dup_session
    dialog = DuplicatesDialog(session, FakePlayer())
    qtbot.addWidget(dialog)
    dialog.find()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=20_000)
    dialog.move_extras()
    assert "Choose a quarantine folder" in dialog.summary.text()
    dialog.dest.setText(str(root / "inside"))  # inside a scanned folder: refused
    dialog.move_extras()
    qtbot.waitUntil(lambda: "Nothing moved" in dialog.summary.text(), timeout=20_000)
    assert "inside" in dialog.summary.text()
    assert (root / "a" / "clap.wav").exists()


def test_duplicates_name_files_by_folder_and_keep_what_a_move_did(qtbot, dup_session,
                                                                 tmp_path) -> None:
    """Found by a fresh-eyes review: the File column showed absolute paths cut at the end
    ("/home/me/Samples/Dru…" on every row, no copy told apart), and the line saying what a
    move or an undo did (its batch, how to undo) was replaced at once by the next look's
    "0 groups…"."""
    from PySide6.QtCore import Qt

    from app.gui.duplicates_dialog import DuplicatesDialog

    session, root = dup_session
    dialog = DuplicatesDialog(session, FakePlayer())
    qtbot.addWidget(dialog)
    dialog.near.setChecked(False)
    dialog.find()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=20_000)
    group = dialog.tree.topLevelItem(0)
    names = sorted(group.child(i).text(1) for i in range(group.childCount()))
    assert names == ["a/clap.wav", "b/deeper/clap.flac"]  # inside the scanned folder
    assert sorted(group.child(i).toolTip(1) for i in range(2)) == \
        sorted([str(root / "a" / "clap.wav"), str(root / "b" / "deeper" / "clap.flac")])
    assert dialog.tree.textElideMode() == Qt.TextElideMode.ElideMiddle

    dialog.dest.setText(str(tmp_path / "Quarantine"))
    dialog.move_extras()
    qtbot.waitUntil(lambda: dialog.last_batch_id is not None, timeout=30_000)
    batch = dialog.last_batch_id
    qtbot.waitUntil(lambda: dialog.find_button.isEnabled()
                    and dialog.tree.topLevelItemCount() == 0, timeout=20_000)
    text = dialog.summary.text()
    assert f"Batch {batch}:" in text and "Undo puts every file back" in text
    assert "0 groups" in text  # and what the new look found

    dialog.undo_move()
    qtbot.waitUntil(lambda: dialog.last_batch_id is None, timeout=30_000)
    qtbot.waitUntil(lambda: dialog.find_button.isEnabled()
                    and dialog.tree.topLevelItemCount() == 1, timeout=20_000)
    text = dialog.summary.text()
    assert f"Batch {batch} undone" in text and "1 group of exact duplicates" in text


def test_find_similar_lists_each_recording_once_and_names_its_copies(
        qtbot, embedded_dup_session) -> None:
    """Review: the app's Find similar listed a/clap.wav and b/deeper/clap.flac (the same
    audio) as two rows, and the query's own copy as a similar sound; the command line's
    ``similar`` lists each recording once and names its copies."""
    from app.gui.inspector import SAMPLE_ID, Inspector
    from app.gui.player import Player

    session, _root = embedded_dup_session
    ids = {str(session.rows.path[i]): int(session.rows.ids[i])
           for i in range(len(session.rows))}
    by_end = {p.split("samples")[-1].replace("\\", "/"): s for p, s in ids.items()}
    other, clap = by_end["/b/other.wav"], by_end["/a/clap.wav"]
    inspector = Inspector(session, Player())
    qtbot.addWidget(inspector)
    inspector.autoplay.setChecked(False)
    messages: list[str] = []
    session.message.connect(messages.append)

    session.select([other], None)
    inspector.find_similar()
    qtbot.waitUntil(lambda: inspector.similar_list.count() > 0 and
                    inspector.similar_list.item(0).data(SAMPLE_ID) is not None, timeout=20_000)
    assert inspector.similar_list.count() == 1  # the two claps: one row
    item = inspector.similar_list.item(0)
    assert "+1 copy" in item.text()
    shown = item.data(SAMPLE_ID)
    copy = next(p for p, s in ids.items() if "clap" in p and s != shown)
    assert copy in item.toolTip() and "exact copy" in item.toolTip()

    session.select([clap], None)
    inspector.find_similar()
    qtbot.waitUntil(lambda: inspector.similar_list.count() > 0 and
                    inspector.similar_list.item(0).data(SAMPLE_ID) is not None, timeout=20_000)
    listed = [inspector.similar_list.item(i).data(SAMPLE_ID)
              for i in range(inspector.similar_list.count())]
    assert listed == [other]  # its own copy is the query again: left out, and said so
    qtbot.waitUntil(lambda: any("1 exact copy of it left out" in m for m in messages),
                    timeout=5000)
