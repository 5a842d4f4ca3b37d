"""The words for a file's label, shared by the command line, the desktop app and the README.

A file is in exactly one of five states for a tree:

========== ================== ===========================================================
state      shown as           meaning
========== ================== ===========================================================
class      ``Drums/Kick``     the class it most likely belongs to
group      ``~ Drums``        the class was uncertain: the deepest certain group above it
uncertain  ``uncertain``      not even a top-level group is certain (best guess aside)
unknown    ``unknown``        far from every class of the tree
unlabeled  ``unlabeled``      no prediction: not embedded (unreadable, missing, not
                              scanned with a model yet) or the tree has no examples
========== ================== ===========================================================

``~`` always means "backed off to a group". A label of a class or group that rests on
the tree's built-in examples only (no example of the user's on its best class; see
:mod:`core.builtins`) ends in ``◦`` (:data:`BUILTIN_MARK`): ``Drums/Kick ◦``, so the user
sees where teaching would help.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CLASS, GROUP, UNCERTAIN, UNKNOWN, UNLABELED = "class", "group", "uncertain", "unknown", \
    "unlabeled"
#: the states in the order summaries list them
STATES: tuple[str, ...] = (CLASS, GROUP, UNCERTAIN, UNKNOWN, UNLABELED)
GROUP_MARK = "~"
BUILTIN_MARK = "◦"


def label_state(node: str | None, *, backed_off: bool, unknown: bool,
                predicted: bool = True) -> str:
    """The state of one file: ``node`` is the reported node path ("" = the tree's root)."""
    if not predicted:
        return UNLABELED
    if unknown:
        return UNKNOWN
    if not node:
        return UNCERTAIN
    return GROUP if backed_off else CLASS


def label_text(node: str | None, *, backed_off: bool, unknown: bool, predicted: bool = True,
               sep: str = "/") -> str:
    """How a label is written: ``Drums/Kick``, ``~ Drums``, ``uncertain``, ``unknown`` or
    ``unlabeled``; ``sep`` joins the node path (the app uses " › ")."""
    state = label_state(node, backed_off=backed_off, unknown=unknown, predicted=predicted)
    if state == CLASS:
        return (node or "").replace("/", sep)
    if state == GROUP:
        return f"{GROUP_MARK} {(node or '').replace('/', sep)}"
    return state


def record_state(record: Mapping[str, Any] | None) -> str:
    """The state of a :func:`core.classify.file_labels` record (None: no prediction)."""
    if record is None:
        return UNLABELED
    return label_state(record["node"], backed_off=bool(record["backed_off"]),
                       unknown=bool(record["unknown"]))


def record_text(record: Mapping[str, Any] | None) -> str:
    """:func:`label_text` of a :func:`core.classify.file_labels` record."""
    if record is None:
        return UNLABELED
    text = label_text(record["node"], backed_off=bool(record["backed_off"]),
                      unknown=bool(record["unknown"]))
    if record.get("builtin") and record_state(record) in (CLASS, GROUP):
        text += f" {BUILTIN_MARK}"
    return text


def count_states(states: Iterable[str], files: int | None = None) -> dict[str, int]:
    """Files per state; with ``files`` (every file of the library), the files that have no
    prediction are counted as unlabeled."""
    counts = dict.fromkeys(STATES, 0)
    for s in states:
        counts[s] += 1
    if files is not None:
        counts[UNLABELED] += max(0, files - sum(counts.values()))
    return counts


def summary(counts: Mapping[str, int]) -> str:
    """``12 files: 7 class, 2 ~ group, 1 uncertain, 1 unknown, 1 unlabeled`` — the same
    line wherever labels are counted."""
    total = sum(counts.get(s, 0) for s in STATES)
    parts = []
    for s in STATES:
        word = f"{GROUP_MARK} group" if s == GROUP else s
        parts.append(f"{counts.get(s, 0)} {word}")
    return f"{total} file{'s' if total != 1 else ''}: " + ", ".join(parts)
