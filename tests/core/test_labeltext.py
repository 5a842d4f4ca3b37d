"""One word per label state (issue #15, item 4): core.labeltext, and the desktop app's label
column (core.browse.display_label) speaking the same words as the command line."""

from __future__ import annotations

import numpy as np

from core.browse import UNCERTAIN, UNKNOWN, UNLABELED, Rows, display_label
from core.labeltext import count_states, label_state, label_text, record_text, summary


def test_each_state_has_one_word() -> None:
    assert label_text("Drums/Kick", backed_off=False, unknown=False) == "Drums/Kick"
    assert label_text("Drums", backed_off=True, unknown=False) == "~ Drums"
    assert label_text("", backed_off=True, unknown=False) == "uncertain"
    assert label_text("Drums", backed_off=False, unknown=True) == "unknown"
    assert label_text(None, backed_off=False, unknown=False, predicted=False) == "unlabeled"
    assert record_text(None) == "unlabeled"
    assert label_state("Bass", backed_off=False, unknown=False) == "class"


def test_counts_include_files_without_a_prediction() -> None:
    counts = count_states(["class", "group", "class", "unknown"], files=6)
    assert counts == {"class": 2, "group": 1, "uncertain": 0, "unknown": 1, "unlabeled": 2}
    assert summary(counts) == "6 files: 2 class, 1 ~ group, 0 uncertain, 1 unknown, 2 unlabeled"


def _rows(labels: list[str], backed: list[bool], tree: str | None = "t") -> Rows:
    n = len(labels)
    obj = np.empty(n, dtype=object)
    lab = np.empty(n, dtype=object)
    lab[:] = labels
    leaf = np.empty(n, dtype=object)
    leaf[:] = ["Drums/Snare"] * n
    return Rows(ids=np.arange(n), path=obj, name=obj, folder=obj, format=obj, status=obj,
                error=obj, duration=np.zeros(n), label=lab, leaf=leaf,
                confidence=np.ones(n), backed_off=np.array(backed), support=np.zeros(n, bool),
                tree=tree)


def test_the_apps_label_column_uses_the_same_words() -> None:
    rows = _rows(["Drums/Kick", "Drums", UNCERTAIN, UNKNOWN, UNLABELED],
                 [False, True, True, False, False])
    shown = [display_label(rows, r) for r in range(len(rows))]
    assert shown == ["Drums › Kick", "~ Drums", "uncertain", "unknown", "unlabeled"]
    assert display_label(_rows([UNLABELED], [False], tree=None), 0) == ""  # no tree shown
