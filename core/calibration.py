"""Per-model calibration of "unknown": when a file is too far from every class to be called
one of them, and when it is not musical material at all (a pure tone, mains hum, near
silence). Made by ``scripts/calibrate.py`` on the real-sample validation set and shipped as
``resources/calibration/<model id>.npz``, one file per model; re-run the script whenever the
weights change (``tests/core/test_calibration.py`` fails while the shipped weights have
none).

What a calibration holds (distances are Euclidean, between a file's mean embedding and a
prototype/component, as :mod:`core.classify` measures them):

* ``unknown_distance``: in a tree taught with the user's examples only, the 96th
  percentile, over the set's files of taught classes, of the distance to the nearest class
  prototype (the largest over K = 1, 2, 4, 8 examples a class). Conformal in spirit: at
  the default ``unknown_factor`` a file of a taught class is beyond it about 4 % of the
  time, whatever the network's scale; a file farther than what 96 % of files of taught
  classes reach is "unknown".
* ``unknown_distance_builtins``: the same for a tree labeled by its built-in examples
  (distance to the nearest built-in example); NaN when the built-ins were made with another
  model.
* ``tone_emb`` / ``tone_reach``: embeddings of :func:`reference_signals` (sines every whole
  tone from 55 Hz to 6 kHz at two levels, 50/60 Hz hum, near-silent noise) and the distance
  below which a file counts as one of them: the 1st percentile of the real set's files'
  distance to their nearest reference, so at most ~1 % of real recordings are called "not
  musical material". Such a file is "unknown" whatever the tree.

Without a calibration for the library's model (other weights, a training run) the
classifier falls back to the examples' own spread (``core.classify``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.paths import bundled

FORMAT = 1
#: The ``unknown_factor`` at which the calibrated distances apply as measured; another factor
#: scales them (``Thresholds.unknown_factor``: 3 reaches 1.5 × as far).
REFERENCE_FACTOR = 2.0
#: The 5 % of files of taught classes that may be "unknown" is split: 4 % beyond the distance
#: bound, at most 1 % near a reference tone.
QUANTILE = 0.96  # of files of taught classes within the bound
TONE_QUANTILE = 0.01  # of real recordings called "not musical material" at most


@dataclass(frozen=True)
class Calibration:
    model_id: str
    unknown_distance: float
    unknown_distance_builtins: float  # NaN: not calibrated (built-ins of another model)
    tone_emb: np.ndarray  # (R, dim) float32
    tone_reach: float
    set_digest: str = ""


def directory() -> Path:
    """Where the calibration files are (inside the package, or PyInstaller's bundle)."""
    return bundled("calibration")


def path_for(model_id: str, folder: Path | None = None) -> Path:
    return (folder or directory()) / f"{model_id}.npz"


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int) -> Calibration | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != FORMAT:
                return None
            return Calibration(
                str(data["model_id"]), float(data["unknown_distance"]),
                float(data["unknown_distance_builtins"]),
                data["tone_emb"].astype(np.float32), float(data["tone_reach"]),
                str(data["set_digest"]))
    except (OSError, KeyError, ValueError):
        return None


def for_model(model_id: str | None, folder: Path | None = None) -> Calibration | None:
    """The calibration of ``model_id`` (None when there is none or it is unreadable)."""
    if not model_id:
        return None
    path = path_for(model_id, folder)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    cal = _read(str(path), mtime)
    return cal if cal is not None and cal.model_id == model_id else None


def write(cal: Calibration, folder: Path | None = None) -> Path:
    path = path_for(cal.model_id, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.savez(fh, format=np.array(FORMAT), model_id=np.array(cal.model_id),
                 unknown_distance=np.array(cal.unknown_distance, np.float64),
                 unknown_distance_builtins=np.array(cal.unknown_distance_builtins, np.float64),
                 tone_emb=cal.tone_emb.astype(np.float16),
                 tone_reach=np.array(cal.tone_reach, np.float64),
                 set_digest=np.array(cal.set_digest))
    return path


def reference_signals(sr: int = 44_100, seconds: float = 2.0) -> list[tuple[str, np.ndarray]]:
    """Sounds that are not musical material, to embed with a model: pure sines every whole
    tone from 55 Hz (a quarter tone up, so that the usual test tones fall between them) at
    -3 and -20 dBFS, 50 and 60 Hz mains hum with harmonics at -34 and -48 dBFS over a little
    noise, and near-silent noise. Deterministic."""
    rng = np.random.default_rng(7)
    t = np.arange(round(seconds * sr)) / sr
    out: list[tuple[str, np.ndarray]] = []
    for f in 55.0 * 2.0 ** (np.arange(0, 7 * 12, 2) / 12 + 0.5 / 12):
        if f >= sr / 2.5:
            break
        for amp in (0.7, 0.1):
            out.append((f"sine-{f:.0f}hz-{amp:g}",
                        amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))))
    for f in (50.0, 60.0):
        for level in (0.02, 0.004):
            hum = sum(w * np.sin(2 * np.pi * f * h * t)
                      for h, w in ((1, 1.0), (2, 0.6), (3, 0.4), (4, 0.2)))
            out.append((f"hum-{f:.0f}hz-{level:g}",
                        level * hum + 0.1 * level * rng.standard_normal(len(t))))
    for level in (0.003, 0.0005):
        out.append((f"noise-{level:g}", level * rng.standard_normal(len(t))))
    return [(name, y.astype(np.float32)) for name, y in out]


def nearest_distance(x: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Distance (not squared) of each row of ``x`` to its nearest row of ``refs``."""
    if not len(refs):
        return np.full(len(x), np.inf, np.float32)
    d = (x * x).sum(1)[:, None] - 2.0 * (x @ refs.T) + (refs * refs).sum(1)[None, :]
    return np.sqrt(np.maximum(d.min(axis=1), 0.0)).astype(np.float32)
