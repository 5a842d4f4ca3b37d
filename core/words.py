"""Counted words for messages: ``1 file``, ``2 files``, ``1 copy``, ``3 copies``.

One helper for the command line and the engine's messages, so that no output says
"1 files" or "1 examples" (the app has its own, with thousands separators:
``app.gui.text.plural``)."""

from __future__ import annotations

#: plurals that are not the word + "s"
_IRREGULAR = {"copy": "copies", "class": "classes", "batch": "batches", "entry": "entries"}


def plural(n: int, one: str, many: str | None = None) -> str:
    """``n`` and the word, singular for exactly 1: ``plural(1, "file")`` is ``1 file``,
    ``plural(2, "copy")`` ``2 copies``; ``many`` names an irregular plural."""
    if n == 1:
        return f"{n} {one}"
    if many is None:
        head, _, last = one.rpartition(" ")  # "extra copy": the last word takes the plural
        many = (head + " " if head else "") + _IRREGULAR.get(last, last + "s")
    return f"{n} {many}"
