"""The app and a ``sampletree`` command on one library: what the command changes shows in
the open window without the user doing anything (review of 2026-11-30: the app kept
showing a moved file, an old tree and no new example until its own next scan)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _outside(library: Path, code: str) -> None:
    """Run ``code`` (with ``lib`` open) in another process, as a CLI command would."""
    body = textwrap.indent(textwrap.dedent(code), "    ")
    script = f"from core.library import Library\nwith Library({str(library)!r}) as lib:\n{body}"
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO, timeout=60)


def _node_names(session) -> set[str]:
    tree = session.tree
    return {tree.path_str(n) for n in tree.walk()}


def test_a_node_and_an_example_added_outside_show_in_the_open_app(qtbot, session,
                                                                    synth_library) -> None:
    path, ids = synth_library
    session._watch.setInterval(100)
    messages: list[str] = []
    session.message.connect(messages.append)
    assert "Drums/Tom" not in _node_names(session)
    _outside(path, f"""
        from core.trees import add_node
        from core.supports import add_supports
        add_node(lib, "mine", "Drums/Tom")
        add_supports(lib, "mine", "Drums/Kick", [{ids['kick00.wav']}])
    """)
    qtbot.waitUntil(lambda: "Drums/Tom" in _node_names(session), timeout=15_000)
    kick = session.tree.require("Drums/Kick").id
    assert session.counts[kick][0] == 1  # the example taught outside is counted
    assert any("changed outside the app" in m for m in messages)


def test_a_file_removed_outside_leaves_the_table_and_the_selection(qtbot, session,
                                                                   synth_library) -> None:
    path, ids = synth_library
    session._watch.setInterval(100)
    gone, kept = ids["bass03.wav"], ids["bass04.wav"]
    session.select([gone, kept])
    _outside(path, f"""
        from sqlalchemy import delete
        from core.schema import samples
        with lib.transaction() as conn:
            conn.execute(delete(samples).where(samples.c.id == {gone}))
    """)
    qtbot.waitUntil(lambda: gone not in session.row_index(), timeout=15_000)
    qtbot.waitUntil(lambda: session.selected == [kept], timeout=5_000)


def test_the_apps_own_changes_do_not_read_the_library_again(qtbot, session,
                                                             synth_library) -> None:
    _path, ids = synth_library
    session._watch.setInterval(50)
    reloads: list[int] = []
    session.rowsChanged.connect(lambda: reloads.append(1))
    node = session.tree.require("Drums/Snare").id
    session.teach(node, [ids["snare01.wav"]])
    qtbot.waitUntil(lambda: session.counts.get(node, (0, 0))[0] == 1, timeout=10_000)
    session.engine.wait_idle()
    before = len(reloads)
    qtbot.wait(600)  # a dozen looks
    session.engine.wait_idle()
    assert len(reloads) == before


def test_label_thresholds_are_the_librarys_for_the_app_and_the_commands(qtbot, session,
                                                                       synth_library) -> None:
    from core.classify import Thresholds

    path, _ids = synth_library
    session._watch.setInterval(100)
    _outside(path, """
        from core.classify import Thresholds, store_thresholds
        store_thresholds(lib, Thresholds(min_confidence=0.9))
    """)
    # what a command stored is what the app labels with (and its dialog shows)
    qtbot.waitUntil(lambda: session.thresholds.min_confidence == 0.9, timeout=15_000)
    session.set_thresholds(Thresholds(min_confidence=0.7, unknown_factor=3.0))
    session.engine.wait_idle()
    qtbot.waitUntil(lambda: session.thresholds.unknown_factor == 3.0, timeout=5_000)
    got = subprocess.run(
        [sys.executable, "-c", "from core.library import Library\n"
         "from core.classify import stored_thresholds\n"
         f"with Library({str(path)!r}) as lib:\n"
         "    t = stored_thresholds(lib); print(t.min_confidence, t.unknown_factor)"],
        check=True, cwd=REPO, capture_output=True, text=True, timeout=60).stdout.split()
    assert got == ["0.7", "3.0"]  # the commands label with the app's choice


def test_a_library_file_removed_while_the_app_is_open_is_never_made_again(
        qtbot, session, synth_library, tmp_path) -> None:
    """Trust review: with the library's folder removed (or its drive unplugged) while the
    app was open, Rescan made a new empty library where it was ("30 new") and the app's
    edits went to the deleted file, lost on close. Now each job and request says the
    library is gone, nothing is created there, and the watch says it once, not every look."""
    path, _ids = synth_library
    session.engine.wait_idle()
    problems: list[str] = []
    session.problem.connect(problems.append)
    aside = tmp_path / "aside"
    aside.mkdir()
    for f in path.parent.glob(path.name + "*"):
        f.rename(aside / f.name)  # (a move keeps the app's open connection on the file)

    failed: list[str] = []
    job = session.jobs.start("probe", lambda lib, progress, token: lib.path)
    job.failed.connect(failed.append)
    qtbot.waitUntil(lambda: job.done, timeout=10_000)
    assert failed and "is gone" in failed[0], failed
    assert not path.exists()

    answers: list[str] = []
    session.engine.call(lambda state: state.lib.path, done=answers.append,
                        failed=answers.append)
    qtbot.waitUntil(lambda: bool(answers), timeout=10_000)
    assert "is gone" in str(answers[0]), answers
    assert not path.exists()

    session._watch.setInterval(50)
    qtbot.wait(600)  # a dozen looks
    session.engine.wait_idle()
    assert sum("is gone" in p for p in problems) == 1, problems
    assert not path.exists()
