"""Filters on the analysis: tempo range, key (with compatible keys), loop/one-shot,
loudness — as SQL conditions (``ls``) and as numpy masks over the table's snapshot (the
desktop app), so both answer the same question the same way.

* ``bpm``: a file matches when its tempo, or its half/double-time alternative, is in
  the range (a loop read at 62 BPM whose alternative is 124 is found by ``120-128``).
* ``key``: files in one of the keys; a tonal one-shot (a root note, no key) matches a key
  whose tonic is its root's pitch class. ``compatible`` widens one key to the Camelot
  neighbours: the relative key and the keys a fifth either side.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis.keys import compatible_keys, key_name, parse_key, pitch_class
from core.errors import SampletreeError

KINDS = ("loop", "oneshot")


@dataclass(frozen=True)
class AnalysisFilter:
    bpm: tuple[float, float] | None = None
    keys: tuple[str, ...] = ()  # canonical names ("Am", "C")
    kind: str | None = None
    lufs: tuple[float, float] | None = None

    @property
    def active(self) -> bool:
        return bool(self.bpm or self.keys or self.kind or self.lufs)

    @property
    def tonics(self) -> tuple[int, ...]:
        out = []
        for k in self.keys:
            parsed = parse_key(k)
            if parsed:
                out.append(parsed[0])
        return tuple(sorted(set(out)))


def parse_bpm(text: str) -> tuple[float, float]:
    """``"120-128"`` → (120, 128); ``"124"`` → 124 ± 2 %."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:-|–|\.\.|:)\s*(\d+(?:\.\d+)?)\s*", text)
    if m:
        lo, hi = float(m.group(1)), float(m.group(2))
        if lo > hi:
            lo, hi = hi, lo
        return lo, hi
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*", text)
    if m:
        v = float(m.group(1))
        return round(v * 0.98, 2), round(v * 1.02, 2)
    raise SampletreeError(f"--bpm {text!r} is not a tempo or a range (e.g. 124 or 120-128)")


def parse_keys(text: str, compatible: bool = False) -> tuple[str, ...]:
    """``"Am"``, ``"A minor"``, ``"8A"``, or several with commas; with ``compatible``,
    each widened to its Camelot neighbours."""
    out: list[str] = []
    for part in text.split(","):
        parsed = parse_key(part)
        if parsed is None:
            raise SampletreeError(f"--key {part.strip()!r} is not a key (e.g. Am, F#m, C, "
                                  "Bb minor, 8A)")
        names = compatible_keys(*parsed) if compatible else [key_name(*parsed)]
        out.extend(n for n in names if n not in out)
    return tuple(out)


LUFS_NEAR = 1.0  # one loudness alone means within this many LU of it


def parse_db_range(text: str, what: str = "--lufs") -> tuple[float, float]:
    """A loudness range: ``"-20:-10"``, ``"-20..-10"`` or ``"-20 to -10"`` → (−20, −10);
    ``"-20:"`` → louder than −20 (−20, +inf); ``":-10"`` → quieter than −10 (−inf, −10);
    ``"-14"`` → about −14: within ±1 LU (−15, −13). A trailing ``LUFS`` is allowed."""
    num = r"([-+]?(?:\d+(?:\.\d+)?|\.\d+))"
    t = re.sub(r"(?i)\s*lu(?:fs)?\s*$", "", text.strip()).replace("−", "-")
    if (m := re.fullmatch(num, t)):
        v = float(m.group(1))
        return v - LUFS_NEAR, v + LUFS_NEAR
    m = re.fullmatch(rf"{num}?\s*(?::|\.\.|\s+to\s+)\s*{num}?", t, flags=re.I) \
        or re.fullmatch(rf"{num}\s+to", t, flags=re.I) \
        or re.fullmatch(rf"to\s+{num}", t, flags=re.I)
    groups = list(m.groups()) if m else []
    if all(g is None for g in groups):
        raise SampletreeError(f"{what} {text!r} is not a loudness or a range (e.g. -14, "
                              "-20:-10, -20: or :-10)")
    if len(groups) == 1:  # "-20 to" / "to -10"
        groups = [groups[0], None] if t.lower().endswith("to") else [None, groups[0]]
    lo = float(groups[0]) if groups[0] is not None else -math.inf
    hi = float(groups[1]) if groups[1] is not None else math.inf
    return (lo, hi) if lo <= hi else (hi, lo)


def parse_kind(text: str) -> str:
    t = text.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if t in ("loop", "loops"):
        return "loop"
    if t in ("oneshot", "oneshots", "shot", "hit"):
        return "oneshot"
    raise SampletreeError(f"--type {text!r}: choose loop or oneshot")


def sql_conditions(flt: AnalysisFilter, a: Any) -> list[Any]:
    """SQLAlchemy conditions on the ``analysis`` table ``a`` (rows joined to samples)."""
    from sqlalchemy import and_, or_

    conds: list[Any] = []
    if flt.bpm:
        lo, hi = flt.bpm
        conds.append(or_(a.c.bpm.between(lo, hi), a.c.bpm_alt.between(lo, hi)))
    if flt.keys:
        conds.append(or_(a.c.key.in_(list(flt.keys)),
                         and_(a.c.key.is_(None), a.c.root_midi.isnot(None),
                              (a.c.root_midi % 12).in_(list(flt.tonics)))))
    if flt.kind:
        conds.append(a.c.kind == flt.kind)
    if flt.lufs:  # an open end (-20: or :-10) is no bound on that side
        lo, hi = flt.lufs
        conds.append(a.c.lufs.isnot(None))
        if math.isfinite(lo):
            conds.append(a.c.lufs >= lo)
        if math.isfinite(hi):
            conds.append(a.c.lufs <= hi)
    return conds


def mask(flt: AnalysisFilter, *, bpm: np.ndarray, bpm_alt: np.ndarray, key: np.ndarray,
         root: np.ndarray, kind: np.ndarray, lufs: np.ndarray) -> np.ndarray:
    """The same filter over aligned arrays (float with nan, object with "", int with −1)."""
    keep = np.ones(len(bpm), dtype=bool)
    if flt.bpm:
        lo, hi = flt.bpm
        b = np.nan_to_num(bpm, nan=-1.0)
        alt = np.nan_to_num(bpm_alt, nan=-1.0)
        keep &= ((b >= lo) & (b <= hi)) | ((alt >= lo) & (alt <= hi))
    if flt.keys:
        # one elementwise comparison a key: np.isin on object arrays sorts them (slow)
        in_key = np.zeros(len(key), dtype=bool)
        for k in flt.keys:
            in_key |= key == k
        rooted = (root >= 0) & np.isin(np.where(root >= 0, root % 12, -1), list(flt.tonics))
        keep &= in_key | (rooted & (key == ""))
    if flt.kind:
        keep &= kind == flt.kind
    if flt.lufs:
        v = np.asarray(lufs, dtype=float)  # no loudness (nan) never matches, open ends too
        keep &= ~np.isnan(v) & (v >= flt.lufs[0]) & (v <= flt.lufs[1])
    return keep


def camelot_rank(key: str | None) -> tuple[int, int]:
    """Sort key: Camelot number then A before B; files with no key last."""
    from core.analysis.keys import camelot

    parsed = parse_key(key) if key else None
    if not parsed:
        return (99, 9)
    code = camelot(*parsed)
    return (int(code[:-1]), 0 if code.endswith("A") else 1)


__all__ = ["KINDS", "AnalysisFilter", "camelot_rank", "mask", "parse_bpm", "parse_db_range",
           "parse_keys", "parse_kind", "pitch_class", "sql_conditions"]
