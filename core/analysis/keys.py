"""Note and key names, and the Camelot wheel (which keys mix well together).

Notes are written in scientific pitch: MIDI 60 is C4, A4 is 440 Hz (Ableton and Logic call
MIDI 60 "C3"; Sampletree says which convention it uses wherever it shows a root note).
Keys are written ``C``/``F#`` (major) and ``Am``/``F#m`` (minor), sharps for black keys
except ``Bb`` and ``Eb``, the spellings most sample packs use.
"""

from __future__ import annotations

import re

#: pitch class → name (sharps, except Eb and Bb as packs write them)
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def pitch_class(text: str) -> int | None:
    """``"F#"`` → 6, ``"Db"`` → 1, ``"c"`` → 0; None if ``text`` is no note name."""
    m = re.fullmatch(r"\s*([A-Ga-g])\s*(#|♯|b|♭|s|sharp|flat)?\s*", text)
    if not m:
        return None
    pc = _LETTER[m.group(1).upper()]
    acc = (m.group(2) or "").lower()
    if acc in ("#", "♯", "s", "sharp"):
        pc += 1
    elif acc in ("b", "♭", "flat"):
        pc -= 1
    return pc % 12


def note_name(midi: int) -> str:
    """MIDI note → scientific pitch name: 60 → ``C4``, 42 → ``F#2``."""
    return f"{PITCH_NAMES[midi % 12]}{midi // 12 - 1}"


def parse_note(text: str) -> int | None:
    """``"F#2"`` → 42, ``"C-1"`` → 0; None if not a note with an octave."""
    m = re.fullmatch(r"\s*([A-Ga-g](?:#|♯|b|♭)?)\s*(-?\d)\s*", text)
    if not m:
        return None
    pc = pitch_class(m.group(1))
    if pc is None:
        return None
    midi = pc + 12 * (int(m.group(2)) + 1)
    # Cb4 and B#3 cross the octave line: the letter's octave is what the name says
    letter = _LETTER[m.group(1)[0].upper()]
    if letter == 11 and pc == 0:
        midi += 12
    elif letter == 0 and pc == 11:
        midi -= 12
    return midi if 0 <= midi <= 127 else None


def key_name(tonic: int, minor: bool) -> str:
    return PITCH_NAMES[tonic % 12] + ("m" if minor else "")


_KEY_RE = re.compile(
    r"\s*([A-Ga-g])\s*(#|♯|b|♭)?\s*(m|min|minor|-|maj|major|M)?\s*", re.IGNORECASE)


def parse_key(text: str) -> tuple[int, bool] | None:
    """A key as a user or a file name writes it: ``Am``, ``A minor``, ``F#min``, ``Gb``,
    ``C major``, ``8A`` (Camelot). Returns (tonic pitch class, minor) or None."""
    text = text.strip()
    cam = re.fullmatch(r"(1[0-2]|[1-9])\s*([AaBb])", text)
    if cam:
        return from_camelot(int(cam.group(1)), cam.group(2).upper() == "A")
    m = _KEY_RE.fullmatch(text)
    if not m:
        return None
    if m.group(3) == "M":
        minor = False
    else:
        mode = (m.group(3) or "").lower()
        minor = mode in ("m", "min", "minor", "-")
    acc = m.group(2) or ""
    # "Bb" with a lower-case b is a flat; "Ab" likewise
    pc = pitch_class(m.group(1) + acc)
    return None if pc is None else (pc, minor)


def canonical_key(text: str) -> str | None:
    """``"a minor"`` → ``"Am"``; None if ``text`` is not a key."""
    parsed = parse_key(text)
    return None if parsed is None else key_name(*parsed)


# Camelot: major keys are nB, minor keys nA; C major = 8B, A minor = 8A; each step of the
# wheel is a fifth up.
def camelot(tonic: int, minor: bool) -> str:
    major_tonic = (tonic + 3) % 12 if minor else tonic % 12  # the relative major
    number = (major_tonic * 7 % 12 + 7) % 12 + 1  # C → 8, G → 9, F → 7
    return f"{number}{'A' if minor else 'B'}"


def from_camelot(number: int, minor: bool) -> tuple[int, bool]:
    major_tonic = ((number - 8) * 7) % 12  # 8 → C, 9 → G, 7 → F
    return ((major_tonic - 3) % 12 if minor else major_tonic, minor)


def compatible_keys(tonic: int, minor: bool) -> list[str]:
    """The key itself, its relative, and the keys a fifth either way on the Camelot wheel
    (same letter, number ± 1): what a DJ or producer mixes without clashes."""
    code = camelot(tonic, minor)
    number = int(code[:-1])
    out = [key_name(tonic, minor), key_name(*from_camelot(number, not minor))]
    for step in (-1, 1):
        n = (number - 1 + step) % 12 + 1
        out.append(key_name(*from_camelot(n, minor)))
    return out
