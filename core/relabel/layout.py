"""Where a relabeled file goes under DEST: the ``--layout`` template.

A layout is a path inside DEST made of literal text and fields in braces, e.g. the default
``{label}/{relfolder}/{name}``: the label's folders, then the folder the file had inside
its scanned folder, then its name — so a multisample set or a sample pack keeps the
folders that tell its files apart (six organ stops with the same ``066-F#.wav`` each stay
in their own folder instead of becoming ``066-F# (2).wav`` … ``(6).wav``). Where
``{relfolder}`` follows ``{label}/`` directly, its first folders are left out when they only
repeat the label's last ones: ``Drums/Clap/Clap 1.wav`` under a folder already sorted
``Drums/Clap``, not ``Drums/Clap/Drums/Clap/Clap 1.wav``.

Rules (checked by :func:`parse_layout`, which raises :class:`RelabelError` with one line):

* ``/`` (or ``\\``) separates folders; empty folders (a field with no value) are dropped.
* ``{label}`` and ``{relfolder}`` are paths: their ``/`` makes folders. In every other
  field ``/`` and ``\\`` become ``_``.
* ``{name}`` is the file name *without* its extension; the file's own extension is always
  put back at the end, so no layout can lose it. ``{ext}`` is that extension without the
  dot (``wav``), for layouts such as ``{label}/{ext}/{name}``.
* Every folder and file name is made safe for Windows and macOS too: ``<>:"|?*`` and
  control characters become ``_``, trailing dots and spaces go, ``.``/``..`` become
  ``_``, and device names (``CON``, ``NUL``, ``COM1`` …) get a ``_`` in front.
* A layout cannot start with ``/`` or a drive, cannot hold a ``..`` folder, and must end
  with a file name part (``{label}/`` is refused). Unknown fields are refused with the
  list of valid ones.

The layout is for the modes that sort into DEST (move, copy, hardlink, symlink). ``rename``
(the label before the name, in place) and ``sidecar`` (no file is placed) refuse one.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import RelabelError

#: the layout a batch gets when none is given: the label, then the file's own folders
DEFAULT_LAYOUT = "{label}/{relfolder}/{name}"

#: every field a layout can use, with what it holds
FIELDS: dict[str, str] = {
    "label": "the label's node path (Drums/Kick): one folder per level",
    "leaf": "the label's last node (Kick)",
    "root": "the name of the scanned folder the file is in",
    "relfolder": "the file's folder inside that scanned folder (Organ/Flute 8), "
                 "one folder per level; empty for a file at its top",
    "name": "the file name without its extension (the extension is always kept)",
    "ext": "the file's extension without the dot (wav)",
    "confidence": "the label's confidence in percent (87)",
    "duration": "length in seconds (1.25), if the file was decoded",
    "rate": "sample rate in Hz (44100), if known",
    "channels": "number of channels (2), if known",
    "format": "file format (WAV), if known",
    "type": "loop or one-shot, if a scan analysed the file",
    "bpm": "tempo (124), for loops whose tempo is known",
    "key": "key (Am, F#) or a tonal one-shot's root note (F#2), if known",
}
#: ready-made layouts, in words (what the app offers before a template of one's own)
PRESETS: tuple[tuple[str, str], ...] = (
    ("By class, keeping each pack's folders", DEFAULT_LAYOUT),
    ("By class only", "{label}/{name}"),
    ("By class, loops apart from one-shots", "{label}/{type}/{name}"),
    ("By class, then key", "{label}/{key}/{name}"),
    ("Loops apart from one-shots, then by class", "{type}/{label}/{name}"),
)


def preset_name(text: str) -> str | None:
    """The words for a layout that is one of :data:`PRESETS` (spaces ignored), else None."""
    plain = "".join(text.split())
    return next((name for name, layout in PRESETS if layout == plain), None)


_PATH_FIELDS = frozenset({"label", "relfolder"})
_BAD_CHARS = re.compile(r'[<>:"|?*\x00-\x1f\\/]')
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                       *(f"LPT{i}" for i in range(1, 10))})
_MARK = "\0"  # stands for a folder separator that a path field or the template made


def valid_fields() -> str:
    return ", ".join("{" + f + "}" for f in FIELDS)


@dataclass(frozen=True)
class Layout:
    """A parsed layout: literal text and field names, in order."""

    text: str
    parts: tuple[tuple[str, str | None], ...]  # (literal, field or None)

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(f for _lit, f in self.parts if f is not None)

    def render(self, values: Mapping[str, str], ext: str) -> list[str]:
        """The path below DEST as a list of safe names; the last is the file name, ``ext``
        (with its dot, as the source had it) added. Empty if nothing rendered."""
        out: list[str] = []
        previous: str | None = None  # the field just before, with only "/" between
        for literal, fld in self.parts:
            out.append(literal.replace("\\", _MARK).replace("/", _MARK))
            if literal.strip() not in ("/", "\\"):
                previous = None
            if fld is None:
                continue
            value = values.get(fld, "")
            if fld == "relfolder" and previous == "label":
                value = _without_label(value, values.get("label", ""))
            previous = fld if not literal or literal.strip() in ("/", "\\") else None
            if fld in _PATH_FIELDS:
                out.append(value.replace("/", _MARK))
            else:
                out.append(value.replace("/", "_").replace("\\", "_"))
        segments = [s for s in "".join(out).split(_MARK) if s.strip()]
        if not segments:
            return []
        safe = [safe_segment(s) for s in segments]
        safe[-1] = safe_segment(safe[-1] + ext) if ext else safe[-1]
        return safe


def _without_label(relfolder: str, label: str) -> str:
    """``relfolder`` without the folders that only repeat the label written just before
    it: a library already sorted as Drums/Clap/… goes to Drums/Clap/Clap 1.wav, not
    Drums/Clap/Drums/Clap/Clap 1.wav. The longest leading run of its folders that equals
    the end of the label's path (ignoring case) goes; any other folder stays."""
    if not relfolder or not label:
        return relfolder
    rel = relfolder.split("/")
    tail = [p.casefold() for p in label.split("/")]
    for n in range(min(len(rel), len(tail)), 0, -1):
        if [p.casefold() for p in rel[:n]] == tail[-n:]:
            return "/".join(rel[n:])
    return relfolder


@functools.lru_cache(maxsize=8192)  # folder names repeat file after file
def safe_segment(name: str) -> str:
    """One folder or file name that Linux, Windows and macOS all accept."""
    name = _BAD_CHARS.sub("_", name).strip().rstrip(". ")
    if name in ("", ".", ".."):
        return "_"
    if name.split(".", 1)[0].strip().upper() in _RESERVED:
        return "_" + name
    return name


def parse_layout(text: str) -> Layout:
    """Check a layout and parse it; :class:`RelabelError` (one line) says what is wrong."""
    shown = text
    if not text.strip():
        raise RelabelError("the layout is empty; the default is " + DEFAULT_LAYOUT)
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        raise RelabelError(f'the layout "{shown}" is a path inside the destination: it cannot '
                           "start with / or a drive")
    try:
        raw = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise RelabelError(f'the layout "{shown}" is not valid ({exc}); write a literal brace '
                           "as {{ or }}") from None
    parts: list[tuple[str, str | None]] = []
    for literal, fld, spec, conv in raw:
        if fld is not None and (fld not in FIELDS or spec or conv):
            what = "{" + fld + ("!" + conv if conv else "") + (":" + spec if spec else "") + "}"
            problem = "takes no format or conversion" if fld in FIELDS else "is unknown"
            raise RelabelError(f'the layout "{shown}": field {what} {problem}; valid '
                               f"fields: {valid_fields()}")
        parts.append((literal, fld))
    # The template's own folders, a field standing for any value.
    skeleton = "".join(lit.replace("\\", "/") + ("F" if f is not None else "")
                       for lit, f in parts)
    segments = skeleton.split("/")
    if any(s.strip() == ".." for s in segments):
        raise RelabelError(f'the layout "{shown}" would leave the destination (".." is not '
                           "allowed)")
    if not segments[-1].strip():
        raise RelabelError(f'the layout "{shown}" has no file name part: end it with a name, '
                           "such as {name}")
    return Layout(text, tuple(parts))
