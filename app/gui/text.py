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


#: how near two sounds are, in words, nearest first (:func:`nearness`)
NEARNESS = ("almost the same", "very close", "close", "related", "far")

#: "almost the same": within a quarter of the spread. Measured with the bundled network on
#: the real set (scripts/build_realset.py; the screenshot tree, four examples a class,
#: spread 3.40): edited copies of 36 recordings (two a class) — 6 dB quieter, MP3, through
#: 22 kHz, trimmed 10 ms, padded 50 ms, noise at -50 dBFS — lay within a quarter of the
#: spread of their original in 85 % of cases (a third: 95 %), while only 18 % of the
#: set's 714 files had another file that near (a third: 30 %), mostly the same instrument a
#: note away or two excerpts of one song. The stricter quarter keeps the word rare.
ALMOST_SAME = 0.25
#: "very close": within 1/√2 of the spread. Two examples of a class lie about √2 times as
#: far apart as each lies from the class's middle (in many dimensions their offsets from it
#: are nearly at right angles: |a−b|² ≈ |a−m|² + |b−m|²; 0.66 measured over the real set's
#: 16 classes): sounds this near are nearer each other than an example usually is to the
#: middle of its own class.
VERY_CLOSE = 1 / math.sqrt(2)


def _scale_ok(x: float | None) -> bool:
    """A spread or bound that can measure a distance (known, finite, positive)."""
    return x is not None and math.isfinite(x) and x > 0


def nearness(distance: float, spread: float | None, bound: float | None) -> str:
    """How near two files are, one of :data:`NEARNESS`.

    ``spread``: the median distance between two examples of one class (how far apart
    sounds the user put together are); ``bound``: the distance beyond which the tree calls
    a file unknown (``unknown_distance`` of ``Classifier.explain``). Close: no farther
    than two examples of a class usually are, very close and almost the same finer grades
    of it (:data:`VERY_CLOSE`, :data:`ALMOST_SAME` of the spread); far: beyond the unknown
    bound (without one, twice the spread); related: in between, within the tree's reach.
    "" when there is no scale (a tree without two examples of a class).
    """
    if not math.isfinite(distance) or not (_scale_ok(spread) or _scale_ok(bound)):
        return ""
    if _scale_ok(spread) and distance <= spread:  # type: ignore[operator]
        if distance <= ALMOST_SAME * spread:  # type: ignore[operator]
            return "almost the same"
        return "very close" if distance <= VERY_CLOSE * spread else "close"  # type: ignore[operator]
    if _scale_ok(bound):
        return "related" if distance <= bound else "far"  # type: ignore[operator]
    return "far" if distance > 2 * spread else "related"  # type: ignore[operator]


def distance_scale(spread: float | None, bound: float | None) -> str:
    """What the words of :func:`nearness` are measured against, for a tooltip: ``Two
    examples of a class usually lie 3.40 apart; the tree says unknown beyond 4.25.``"""
    scale = []
    if _scale_ok(spread):
        scale.append(f"two examples of a class usually lie {spread:.2f} apart")
    if _scale_ok(bound):
        scale.append(f"the tree says unknown beyond {bound:.2f}")
    said = "; ".join(scale)
    return f"{said[0].upper()}{said[1:]}." if said else ""


def distance_detail(distance: float, spread: float | None, bound: float | None) -> str:
    """The number behind :func:`nearness`, for a tooltip: ``Distance 3.19 (close). Two
    examples of a class usually lie 3.40 apart; the tree says unknown beyond 4.25.``"""
    word = nearness(distance, spread, bound)
    text = f"Distance {distance:.2f}" + (f" ({word})." if word else ".")
    scale = distance_scale(spread, bound)
    return f"{text} {scale}" if scale else text


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
