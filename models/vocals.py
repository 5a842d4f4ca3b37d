"""Speech and vocal chops for the corpus, spoken by espeak-ng (Debian package ``espeak-ng``).

Three classes: spoken phrases (2–6 words), whispered phrases, and vocal chops — a word or
syllable cut short, pitched, sometimes reversed, and repeated on a 16th-note grid as
producers chop a vocal. Voices vary by language, espeak-ng's voice variants, pitch and rate.
espeak-ng is deterministic: the same text and settings give the same samples, so a clip
is a pure function of the seed and its index.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import soundfile as sf
import soxr

from models.corpus import CLIP, SR, CorpusError
from models.synth import class_rng

ESPEAK = "espeak-ng"
LANGS = [
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-029",
    "es",
    "fr-fr",
    "de",
    "it",
    "pt",
    "nl",
    "sv",
    "pl",
]
VARIANTS = [
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "croak",
    "klatt",
    "klatt2",
    "klatt3",
    "edward",
    "linda",
    "steph",
    "grandma",
    "Andrea",
    "belinda",
    "max",
    "robert",
    "shelby",
    "zac",
]
WHISPER = ["whisper", "whisperf"]
WORDS = tuple(
    [
        "yeah",
        "hey",
        "oh",
        "baby",
        "love",
        "night",
        "fire",
        "money",
        "dance",
        "feel",
        "higher",
        "move",
        "body",
        "right",
        "now",
        "come",
        "on",
        "let",
        "go",
        "down",
        "up",
        "party",
        "lights",
        "city",
        "dream",
        "stay",
        "alone",
        "heart",
        "time",
        "together",
        "forever",
        "again",
        "tonight",
        "shine",
        "gold",
        "rain",
        "sky",
        "open",
        "free",
        "wild",
        "run",
        "away",
        "back",
        "home",
        "sound",
        "loud",
        "drop",
        "bass",
        "one",
        "two",
        "three",
        "four",
        "check",
        "mic",
        "rhythm",
        "soul",
        "summer",
        "fever",
        "young",
        "real",
        "stop",
        "wait",
        "never",
        "ever",
        "more",
        "slow",
        "fast",
        "deep",
        "blue",
        "kiss",
        "touch",
        "closer",
        "hold",
        "me",
        "you",
        "we",
        "they",
        "ooh",
        "ah",
        "uh",
        "whoa",
        "la",
        "da",
        "na",
    ]
)
CHOPS = (
    "yeah",
    "hey",
    "oh",
    "ah",
    "uh",
    "whoa",
    "la",
    "na",
    "da",
    "go",
    "up",
    "ooh",
    "ha",
    "ho",
    "yo",
    "ay",
)
VOCAL_CLASSES = ("Spoken Phrase", "Whispered Phrase", "Vocal Chop")


def available() -> bool:
    return shutil.which(ESPEAK) is not None


def speak(text: str, voice: str, pitch: int, rate: int) -> np.ndarray:
    """espeak-ng's speech at SR, float32."""
    proc = subprocess.run(
        [ESPEAK, "-v", voice, "-p", str(pitch), "-s", str(rate), "--stdout", text],
        capture_output=True,
        timeout=60,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise CorpusError(
            f"espeak-ng failed ({voice!r}): {proc.stderr.decode(errors='replace').strip()[:200]}"
        )
    y, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    return soxr.resample(y, sr, SR, quality="HQ").astype(np.float32) if sr != SR else y


def _trim(y: np.ndarray, db: float = -40) -> np.ndarray:
    loud = np.flatnonzero(np.abs(y) > np.abs(y).max() * 10 ** (db / 20)) if len(y) else []
    return y[loud[0] : loud[-1] + 1] if len(loud) else y


def _fit(y: np.ndarray, length: int = CLIP) -> np.ndarray:
    out = np.zeros(length, np.float32)
    out[: min(length, len(y))] = y[:length]
    peak = np.abs(out).max()
    return out * np.float32(10 ** (-1 / 20) / peak) if peak > 0 else out


def render(cls: str, seed: int, index: int) -> tuple[np.ndarray, str]:
    """Clip ``index`` of a vocal class → (CLIP samples at SR, peak -1 dBFS; the voice used)."""
    rng = class_rng(seed, "vocal", cls, index)
    lang = str(rng.choice(LANGS))
    variant = str(rng.choice(WHISPER if cls == "Whispered Phrase" else VARIANTS))
    voice = f"{lang}+{variant}"
    pitch = int(rng.integers(10, 90))
    if cls == "Vocal Chop":
        y = _trim(
            speak(
                str(rng.choice(list(CHOPS + WORDS[:20]))), voice, pitch, int(rng.integers(120, 260))
            )
        )
        # cut it short, pitch it (resampling, as a sampler does), maybe reverse it
        cut = y[: max(1, round(float(rng.uniform(0.08, 0.4)) * SR))]
        cut = cut * np.minimum(1, np.linspace(len(cut) / 40, 0, len(cut)))  # quick fade out
        ratio = 2 ** (float(rng.uniform(-5, 7)) / 12)
        cut = soxr.resample(cut, round(SR * ratio), SR, quality="HQ").astype(np.float32)
        if rng.random() < 0.25:
            cut = cut[::-1]
        bpm = float(rng.uniform(80, 160))
        step = round(60 / bpm / 4 * SR)
        hits = [int(k) for k in np.flatnonzero(rng.random(8) < 0.5)] or [0]
        hits = [h - hits[0] for h in hits][: int(rng.integers(1, 5))]
        out = np.zeros(CLIP + len(cut), np.float32)
        for h in hits:
            out[h * step : h * step + len(cut)] += cut[: max(0, len(out) - h * step)]
        return _fit(out), voice
    words = [str(w) for w in rng.choice(list(WORDS), int(rng.integers(2, 7)))]
    y = _trim(speak(" ".join(words), voice, pitch, int(rng.integers(110, 230))))
    return _fit(y), voice
