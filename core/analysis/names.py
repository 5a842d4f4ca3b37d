"""Tempo, key, root note and loop/one-shot as a file's name (or its folders) states them.

Sample packs write them in the name: ``Kick_Loop_124bpm_Am.wav``, ``120 BPM - F#min.wav``,
``Bass_C2.wav``, ``Piano_A0v10.ogg`` (a velocity layer after the note),
``Strum_Bflat_major.wav``, ``Pad One Shot.wav``. Only explicit forms are read, so a stray
number or letter is not taken for a tempo or a key: a tempo needs "bpm" beside it (or a bare
60–200 between separators in a name that says "loop"), a key needs a mode (``Am``, ``Cmaj``,
``F# minor``) or an accidental (``F#``, ``B flat``), a bare letter is read only as ``key X``,
and a chord's name (``F#_m7``) is no key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from core.analysis.keys import key_name, parse_key, parse_note

_SEP_CHAR = r"[\s_\-.,()\[\]{}+]"
_SEP = r"(?:^|(?<=" + _SEP_CHAR + r"))"
_END = r"(?=$|" + _SEP_CHAR + r")"

_BPM_RE = re.compile(r"(?<![\d.])(\d{2,3}(?:[.,]\d{1,2})?)\s*[-_ ]?\s*bpm(?![a-z])|"
                     r"bpm\s*[-_ ]?\s*(\d{2,3}(?:[.,]\d{1,2})?)(?![\d])", re.IGNORECASE)
_BARE_BPM_RE = re.compile(_SEP + r"(\d{2,3})" + _END)
_KEY_TOKEN = re.compile(
    _SEP + r"(?:key\s*[-_ ]?\s*)?([A-G](?:#|♯|b|♭|s(?=m))?)\s*[-_ ]?\s*"
    r"(minor|major|min|maj|m|M)?" + _END)
_KEY_WORD = re.compile(_SEP + r"key\s*[-_ ]?\s*([A-Ga-g](?:#|b)?)\s*(minor|major|min|maj|m)?"
                       + _END, re.IGNORECASE)
#: a note with its octave; a velocity layer may follow at once, as multisample sets write
#: it ("A0v10", "C4v127")
_NOTE_TOKEN = re.compile(_SEP + r"([A-G](?:#|b)?-?\d)(?=$|" + _SEP_CHAR + r"|v\d)")
#: what follows a note in a chord's name (a mode or chord word with a number)
_CHORD_AFTER = re.compile(r"[\s\-_]?(?:m|min|maj|dim|aug|sus|add)[a-z]*\d", re.IGNORECASE)
#: an accidental spelled out: "Bflat", "F sharp", "E_flat_minor"
#: (a capital letter only, as for keys: "a flat pad" states no key)
_SPELLED = re.compile(_SEP + r"([A-G])\s*[-_ ]?\s*((?i:flat|sharp))(?![a-zA-Z])")
_LOOP_RE = re.compile(r"(?<![a-z])loops?(?![a-z])", re.IGNORECASE)
_ONESHOT_RE = re.compile(r"one[\s_\-]?shots?|(?<![a-z])(?:hit|shot|oneshot)s?(?![a-z])",
                         re.IGNORECASE)


@dataclass(frozen=True)
class NameFacts:
    bpm: float | None = None
    key: str | None = None
    root_midi: int | None = None
    kind: str | None = None  # "loop" | "oneshot"


def _bpm(name: str, says_loop: bool) -> float | None:
    for m in _BPM_RE.finditer(name):
        value = float((m.group(1) or m.group(2)).replace(",", "."))
        if 40 <= value <= 300:
            return value
    if says_loop:
        values = [float(m.group(1)) for m in _BARE_BPM_RE.finditer(name)]
        values = [v for v in values if 60 <= v <= 200]
        if len(values) == 1:
            return values[0]
    return None


def _key(name: str) -> str | None:
    m = _KEY_WORD.search(name)
    if m:
        parsed = parse_key(m.group(1).upper() + (m.group(2) or ""))
        if parsed:
            return key_name(*parsed)
    found: list[str] = []
    for m in _KEY_TOKEN.finditer(name):
        note, mode = m.group(1), m.group(2)
        if note.endswith("s"):  # "Csm": C-sharp minor, as some packs write it
            note = note[:-1] + "#"
        if not mode and len(note) == 1:
            continue  # a bare capital letter ("Kick A") is no key
        if not mode and _CHORD_AFTER.match(name, m.end()):
            continue  # a chord's name ("F#_m7", "A#_min7b5") states no key
        parsed = parse_key(note + (mode or ""))
        if parsed:
            found.append(key_name(*parsed))
    return found[-1] if found else None


def name_facts_differ(old: str, new: str) -> bool:
    """Whether two paths' file names state different tempo, key, root note or
    loop/one-shot (a renamed file's analysis is then redone)."""
    a, b = os.path.basename(old), os.path.basename(new)
    return a != b and parse_name(a) != parse_name(b)


def parse_name(name: str) -> NameFacts:
    """What a file name (without its folders; the extension may stay) states."""
    stem = re.sub(r"\.[A-Za-z0-9]{2,5}$", "", name)
    stem = _SPELLED.sub(lambda m: m.group(1) + ("b" if m.group(2).lower() == "flat" else "#"),
                        stem)
    says_loop = bool(_LOOP_RE.search(stem))
    says_oneshot = bool(_ONESHOT_RE.search(stem))
    kind = "loop" if says_loop and not says_oneshot else (
        "oneshot" if says_oneshot and not says_loop else None)
    bpm = _bpm(stem, says_loop)
    # the tempo's own digits must not read as a note ("A120bpm")
    rest = _BPM_RE.sub(" ", stem)
    notes = [parse_note(m.group(1)) for m in _NOTE_TOKEN.finditer(rest)]
    notes = [n for n in notes if n is not None and 12 <= n <= 108]
    root = notes[-1] if notes else None
    key = _key(_NOTE_TOKEN.sub(" ", rest))
    return NameFacts(bpm=bpm, key=key, root_midi=root, kind=kind)
