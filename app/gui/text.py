"""Words the app shows: counts with the right plural, format names, readable errors and
distances a producer can judge."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable

from core.paths import one_line

#: libsndfile's format names (lower case, as the library stores them) → what users call them
FORMAT_NAMES = {
    "wav": "WAV", "wavex": "WAV", "rf64": "WAV (RF64)", "w64": "WAV (W64)",
    "aiff": "AIFF", "aif": "AIFF", "aifc": "AIFF", "flac": "FLAC", "ogg": "OGG",
    "mp3": "MP3", "caf": "CAF", "au": "AU", "sd2": "SD2", "mpc2k": "MPC 2000",
    "raw": "RAW", "nist": "WAV (NIST)", "ircam": "IRCAM", "voc": "VOC", "svx": "IFF",
    "xi": "XI", "m4a": "M4A", "aac": "AAC", "wma": "WMA", "opus": "Opus",
}


#: what ends a label in the table: the user's example, a label on built-ins only
LABEL_MARKS = ("  ★", " ◦")


def fit_label(text: str, width_of: Callable[[str], int], width: int) -> str:
    """A class path that fits ``width`` px, dropping groups from the top first
    ("… › Woodwinds", not "Brass & Winds › Woo…"): the class is what tells rows apart,
    the dot's colour already says its top group. A "~ " in front (backed off) and the
    marks at the end (★, ◦) stay; the class alone is cut at its end only when even it does
    not fit."""
    if width_of(text) <= width:
        return text
    mark = next((m for m in LABEL_MARKS if text.endswith(m)), "")
    body = text[:len(text) - len(mark)] if mark else text
    lead = "~ " if body.startswith("~ ") else ""
    parts = body[len(lead):].split(" › ")
    while len(parts) > 1:
        parts = parts[1:]
        candidate = f"{lead}… › {' › '.join(parts)}{mark}"
        if width_of(candidate) <= width:
            return candidate
    leaf = f"{lead}{parts[0]}"
    room = width - width_of(mark)
    while leaf and width_of(leaf + "…") > room:
        leaf = leaf[:-1]
    return f"{leaf}…{mark}" if leaf else text[:1] + "…"


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 class``, ``2 classes``, ``1,024 files``."""
    word = one if n == 1 else (many if many is not None else one + "s")
    return f"{n:,} {word}"


def format_name(fmt: str | None, path: str = "") -> str:
    """The file format as users call it: WAVEX is a WAV, AIF an AIFF. Without a stored
    format (a file that could not be read) the name's extension, else "?"."""
    fmt = (fmt or "").strip().lower()
    if not fmt and path:
        fmt = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if not fmt:
        return "?"
    return FORMAT_NAMES.get(fmt, fmt.upper())


_OPENING = re.compile(r"""Error opening b?(['"]).*?\1\s*:\s*""")
_BYTES = re.compile(r"""\bb(['"])(.*?)\1""")


def plain_error(text: str | None) -> str:
    """A stored or raised reason without Python's ``b'…'`` byte-string literals: the path
    libsndfile repeats is dropped (the app shows the file anyway), other literals lose the
    ``b``."""
    text = _OPENING.sub("", text or "")
    text = _BYTES.sub(lambda m: m.group(2), text)
    return text.strip()


def nearness(distance: float, spread: float | None, bound: float | None) -> str:
    """``close``, ``near`` or ``far`` for the distance between two files.

    ``spread``: the median distance between two examples of one class (how far apart
    sounds the user put together are); ``bound``: the distance beyond which the tree calls
    a file unknown (``unknown_distance`` of ``Classifier.explain``). Close: no
    farther than two examples of a class usually are; far: beyond the unknown bound;
    near: in between. "" when there is no scale (a tree without two examples of a class).
    """
    def ok(x: float | None) -> bool:
        return x is not None and math.isfinite(x) and x > 0

    if not math.isfinite(distance) or not (ok(spread) or ok(bound)):
        return ""
    if ok(spread) and distance <= spread:  # type: ignore[operator]
        return "close"
    if ok(bound):
        return "near" if distance <= bound else "far"  # type: ignore[operator]
    return "far" if distance > 2 * spread else "near"  # type: ignore[operator]


def distance_text(distance: float, spread: float | None, bound: float | None) -> str:
    """``1.07 (near)``; the bare number only when nothing gives it a scale."""
    word = nearness(distance, spread, bound)
    return f"{distance:.2f} ({word})" if word else f"{distance:.2f}"


def source_name(root: str, roots: list[str] | tuple[str, ...]) -> str:
    """A source folder as lists name it: its own name (``Samples``), led by as many
    parent folders as it takes to tell it from another source of the same name
    (``Pack A/Drums`` and ``Pack B/Drums``)."""
    def parts(r: str) -> list[str]:
        return [p for p in r.replace("\\", "/").rstrip("/").split("/") if p] or [r]

    mine = parts(root)
    others = [parts(r) for r in roots if r != root]
    n = 1
    while n < len(mine) and any(o[-n:] == mine[-n:] for o in others):
        n += 1
    return "/".join(mine[-n:])


def folder_in_source(folder: str, roots: list[str] | tuple[str, ...]) -> str:
    """A file's folder as a producer tells files apart: relative to the source folder
    that holds it (``Keys/Church Organ``), led by that source's name when the library
    has several (``Samples/Keys/Church Organ``); the source's name for a file at its top;
    the folder as it is when no source holds it. ``folder`` and ``roots`` are display
    paths."""
    best = ""
    for root in roots:
        root = root.rstrip("/\\") or root
        if (folder == root or folder.startswith(root + "/") or folder.startswith(root + "\\")) \
                and len(root) > len(best):
            best = root
    if not best:
        return folder
    name = source_name(best, [r.rstrip("/\\") or r for r in roots])
    rest = folder[len(best):].lstrip("/\\")
    if not rest:
        return name
    return f"{name}/{rest}" if len(roots) > 1 else rest


def file_in_source(path: str, roots: list[str] | tuple[str, ...]) -> str:
    """``folder/name`` of a file (its folder as :func:`folder_in_source` gives it, or
    only the folder's own name when no source holds it): what lists show so that seven
    ``042-F#.wav`` can be told apart."""
    head, tail = os.path.split(path)
    if not head:
        return one_line(tail)
    folder = folder_in_source(head, roots)
    if folder == head:
        folder = os.path.basename(head) or head
    # on one line: a name can hold a newline, which split a list's row in two
    return one_line(f"{folder}/{tail}")
