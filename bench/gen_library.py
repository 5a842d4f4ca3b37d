"""Generate a synthetic but realistic sample library for the benchmarks.

    python -m bench.gen_library OUT_DIR [--files 10000] [--seed 0] [--workers 2] [--json PATH]

What it writes (deterministic for a given ``--files`` and ``--seed``):

- formats: WAV 16/24-bit and 32-bit float, AIFF 16/24-bit, FLAC 16/24-bit, OGG Vorbis, MP3;
- rates 22050 / 44100 / 48000 / 96000 Hz (MP3 at most 48 kHz); mono and stereo, plus ~1 %
  4–6 channel WAVs;
- durations 0.1–10 s, log-uniform (median 1 s: mostly one-shots, some loops and textures);
- content: three synthetic families — decaying sines with harmonics (kicks, toms, plucks,
  bass, stabs), shaped noise bursts (snares, hats, impacts, textures) and chirps (risers,
  sweeps) — at a random gain; ~25 % end in a near-silent tail (below the scanner's −60 dB
  gate) and ~3 % are near-silent throughout (they exercise the gate's fallback window);
- nested folders, ``Pack NNN - Name/Category[/Sub]``, 50 files per leaf folder.

Idempotent: a finished library holds a marker file (``.sampletree-bench-library.json``, a
hidden file the scanner skips) with the parameters, the leaf folders and statistics; a
second run with the same parameters only prints them. An interrupted run resumes: finished
folders are listed in ``.sampletree-bench-progress.jsonl`` and skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

MARKER = ".sampletree-bench-library.json"
PROGRESS = ".sampletree-bench-progress.jsonl"
VERSION = 1
FILES_PER_FOLDER = 50

# (key, soundfile format, subtype, extension, weight)
FORMATS: list[tuple[str, str, str, str, float]] = [
    ("WAV PCM_16", "WAV", "PCM_16", ".wav", 0.27),
    ("WAV PCM_24", "WAV", "PCM_24", ".wav", 0.20),
    ("WAV FLOAT", "WAV", "FLOAT", ".wav", 0.08),
    ("AIFF PCM_16", "AIFF", "PCM_16", ".aif", 0.05),
    ("AIFF PCM_24", "AIFF", "PCM_24", ".aiff", 0.05),
    ("FLAC PCM_16", "FLAC", "PCM_16", ".flac", 0.08),
    ("FLAC PCM_24", "FLAC", "PCM_24", ".flac", 0.07),
    ("OGG VORBIS", "OGG", "VORBIS", ".ogg", 0.10),
    ("MP3", "MP3", "MPEG_LAYER_III", ".mp3", 0.10),
]
RATES = [(22050, 0.10), (44100, 0.55), (48000, 0.28), (96000, 0.07)]
MULTICHANNEL_P = 0.02  # of WAV files (≈1 % of all files)
STEREO_P = 0.55
NEAR_SILENT_FILE_P = 0.03
QUIET_TAIL_P = 0.25
MIN_S, MAX_S = 0.1, 10.0

PACKS = ["Analog Drums", "Lo-Fi Kit", "Cinematic FX", "Modular Perc", "Vinyl One-Shots",
         "Trap Essentials", "Field Noise", "Synth Stabs", "Café Sessions", "Glitch Tools"]
# (leaf folder, file stem, family)
CATEGORIES = [
    ("Kicks", "Kick", "kick"), ("Snares", "Snare", "snare"), ("Hats/Closed", "CH", "hat"),
    ("Hats/Open", "OH", "hat"), ("Percussion", "Perc", "pluck"), ("FX/Risers", "Riser", "chirp"),
    ("FX/Impacts", "Impact", "impact"), ("Bass", "Bass", "bass"), ("Stabs", "Stab", "pluck"),
    ("Textures", "Texture", "texture"),
]
VARIANTS = ["", "", "", " (Hard)", " (Soft)", " - Wet", " v2", " [Tape]"]


def leaf_folders(n_files: int) -> list[tuple[str, int]]:
    """(relative folder, number of files) of every leaf folder, in generation order."""
    n_folders = math.ceil(n_files / FILES_PER_FOLDER)
    out = []
    for j in range(n_folders):
        pack, cat = divmod(j, len(CATEGORIES))
        folder = f"Pack {pack:03d} - {PACKS[pack % len(PACKS)]}/{CATEGORIES[cat][0]}"
        out.append((folder, min(FILES_PER_FOLDER, n_files - j * FILES_PER_FOLDER)))
    return out


# -- synthesis ------------------------------------------------------------------------------

def _shaped_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float,
                  tilt: float) -> np.ndarray:
    """White noise band-limited to [lo, hi] Hz with a spectral tilt (dB/octave), unit peak."""
    m = 1 << max(4, (n - 1).bit_length())  # a power of two: FFTs of prime lengths are slow
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1 / sr)
    gain = np.where((f >= lo) & (f <= hi), 1.0, 0.0)
    gain = gain * np.power(np.maximum(f, 20.0) / 1000.0, tilt / 6.02)
    y = np.fft.irfft(spec * gain, m)[:n]
    return y / (np.abs(y).max() + 1e-12)


def _harmonic(rng: np.random.Generator, t: np.ndarray, f0: np.ndarray | float, n_harm: int,
              rolloff: float, inharm: float, sr: int) -> np.ndarray:
    """Sum of partials on the (possibly time-varying) fundamental ``f0``; unit peak."""
    f0 = np.broadcast_to(np.asarray(f0, dtype=np.float64), t.shape)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = np.zeros_like(t)
    for h in range(1, n_harm + 1):
        ratio = h * math.sqrt(1 + inharm * h * h)
        if float(f0.max()) * ratio >= sr / 2:
            break
        y += math.pow(h, -rolloff) * np.sin(ratio * phase + rng.uniform(0, 2 * np.pi))
    return y / (np.abs(y).max() + 1e-12)


def synthesize(rng: np.random.Generator, family: str, n: int, sr: int) -> np.ndarray:
    """One mono sound of ``n`` samples at ``sr``, unit peak, float64."""
    t = np.arange(n) / sr
    dur = n / sr
    if family == "kick":
        f_end = rng.uniform(40, 70)
        f0 = f_end * (1 + rng.uniform(2, 6) * np.exp(-t / rng.uniform(0.01, 0.05)))
        y = _harmonic(rng, t, f0, 3, 2.0, 0.0, sr) * np.exp(-t / rng.uniform(0.08, 0.5))
        click = _shaped_noise(rng, n, sr, 1000, sr / 2, -3) * np.exp(-t / 0.004)
        y = y + 0.3 * click
    elif family in ("snare", "hat", "impact", "texture"):
        lo, hi, tilt, tau = {
            "snare": (150, 12000, -3, (0.05, 0.3)),
            "hat": (5000, sr / 2, 0, (0.01, 0.4)),
            "impact": (30, 6000, -6, (0.2, 2.0)),
            "texture": (80, 10000, rng.uniform(-9, 0), (1.0, 20.0)),
        }[family]
        y = _shaped_noise(rng, n, sr, lo, min(hi, sr / 2), tilt)
        y = y * np.exp(-t / rng.uniform(*tau))
        if family in ("snare", "impact"):
            body = _harmonic(rng, t, rng.uniform(50, 250), 4, 1.5, 0.01, sr)
            y = y + rng.uniform(0.2, 0.8) * body * np.exp(-t / rng.uniform(0.05, 0.6))
    elif family in ("pluck", "bass"):
        f0 = rng.uniform(30, 160) if family == "bass" else math.exp(rng.uniform(math.log(100),
                                                                              math.log(2000)))
        y = _harmonic(rng, t, f0 * (1 + 0.003 * np.sin(2 * np.pi * 5 * t)),
                      int(rng.integers(1, 12)), rng.uniform(0.7, 2.5), rng.uniform(0, 1e-3), sr)
        y = y * np.exp(-t / rng.uniform(0.05, 3.0))
    elif family == "chirp":
        f_a, f_b = math.exp(rng.uniform(math.log(60), math.log(800))), \
            math.exp(rng.uniform(math.log(1000), math.log(min(12000, sr / 2 - 500))))
        if rng.random() < 0.3:
            f_a, f_b = f_b, f_a  # a falling sweep
        f0 = f_a * np.power(f_b / f_a, t / max(dur, 1e-3))
        y = _harmonic(rng, t, f0, int(rng.integers(1, 4)), 2.0, 0.0, sr)
        y = y * np.minimum(1.0, t / max(0.7 * dur, 1e-3)) ** 2  # a swell
        y = y + 0.2 * _shaped_noise(rng, n, sr, 200, min(8000, sr / 2), -3) * (t / max(dur, 1e-3))
    else:
        raise ValueError(family)
    attack = max(1, int(sr * rng.uniform(0.0005, 0.005)))
    y[:attack] *= np.linspace(0, 1, attack)
    return y / (np.abs(y).max() + 1e-12)


def _pick(rng: np.random.Generator, options: list[Any], weights: list[float]) -> Any:
    w = np.asarray(weights, dtype=np.float64)
    return options[int(rng.choice(len(options), p=w / w.sum()))]


def make_file(seed: int, index: int, family: str) -> tuple[np.ndarray, int, tuple[str, ...], dict]:
    """(frames x channels float32, rate, format spec, description) of file ``index``."""
    rng = np.random.default_rng([seed, index])
    spec = _pick(rng, FORMATS, [f[4] for f in FORMATS])
    rates = [r for r, _ in RATES if spec[1] != "MP3" or r <= 48000]
    sr = _pick(rng, rates, [w for r, w in RATES if r in rates])
    if spec[1] == "WAV" and rng.random() < MULTICHANNEL_P:
        channels = int(rng.integers(4, 7))
    else:
        channels = 2 if rng.random() < STEREO_P else 1
    dur = math.exp(rng.uniform(math.log(MIN_S), math.log(MAX_S)))
    n = max(16, round(dur * sr))
    y = synthesize(rng, family, n, sr)
    gain_db = rng.uniform(-24.0, -0.3)
    near_silent = rng.random() < NEAR_SILENT_FILE_P
    if near_silent:
        gain_db = rng.uniform(-80.0, -66.0)
    y = y * 10 ** (gain_db / 20)
    quiet_tail = not near_silent and dur > 0.5 and rng.random() < QUIET_TAIL_P
    if quiet_tail:  # the sound stops; a faint room/noise floor tail remains
        cut = int(n * rng.uniform(0.3, 0.8))
        fade = min(n - cut, max(1, int(0.01 * sr)))
        y[cut:cut + fade] *= np.linspace(1, 0, fade)
        y[cut + fade:] = 0.0
        y[cut:] += 10 ** (rng.uniform(-85, -70) / 20) * rng.standard_normal(n - cut)
    if channels == 1:
        out = y[:, None]
    else:
        pan = rng.uniform(0.6, 1.0, size=channels)
        out = y[:, None] * pan[None, :]
        width = rng.uniform(0, 0.2)  # some decorrelation between channels
        if width:
            out = out + width * 10 ** (gain_db / 20) * _shaped_noise(
                rng, n, sr, 200, min(8000, sr / 2), -3)[:, None] * rng.choice([-1, 1], channels)
    out = out + 10 ** (-96 / 20) * rng.standard_normal(out.shape)  # dither floor
    out = np.clip(out, -1.0, 1.0).astype(np.float32)
    desc = {"format": spec[0], "rate": sr, "channels": channels, "duration_s": n / sr,
            "near_silent": near_silent, "quiet_tail": quiet_tail}
    return out, sr, spec, desc


def _gen_folder(args: tuple[str, str, int, int, int]) -> dict[str, Any]:
    """Worker: write one leaf folder; returns its statistics."""
    out_dir, folder, first_index, count, seed = args
    cat = folder.split("/", 1)[1]
    _, stem, family = next(c for c in CATEGORIES if c[0] == cat)
    path = Path(out_dir) / folder
    path.mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {"folder": folder, "files": 0, "bytes": 0, "duration_s": 0.0,
                             "format": Counter(), "rate": Counter(), "channels": Counter(),
                             "near_silent": 0, "quiet_tail": 0, "durations": []}
    for k in range(count):
        index = first_index + k
        data, sr, spec, desc = make_file(seed, index, family)
        name = f"{stem} {k + 1:02d}{VARIANTS[index % len(VARIANTS)]}{spec[3]}"
        tmp = path / f".tmp-{name}"
        sf.write(str(tmp), data, sr, format=spec[1], subtype=spec[2])
        os.replace(tmp, path / name)
        stats["files"] += 1
        stats["bytes"] += (path / name).stat().st_size
        stats["duration_s"] += desc["duration_s"]
        stats["format"][desc["format"]] += 1
        stats["rate"][str(desc["rate"])] += 1
        stats["channels"][str(desc["channels"])] += 1
        stats["near_silent"] += desc["near_silent"]
        stats["quiet_tail"] += desc["quiet_tail"]
        stats["durations"].append(round(desc["duration_s"], 4))
    return stats


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"files": 0, "bytes": 0, "duration_s": 0.0, "format": Counter(),
                             "rate": Counter(), "channels": Counter(), "near_silent": 0,
                             "quiet_tail": 0}
    durations: list[float] = []
    for p in parts:
        for key in ("files", "bytes", "duration_s", "near_silent", "quiet_tail"):
            total[key] += p[key]
        for key in ("format", "rate", "channels"):
            total[key].update(p[key])
        durations += p["durations"]
    d = np.asarray(durations) if durations else np.zeros(1)
    total["duration_quantiles_s"] = {q: round(float(np.quantile(d, float(q))), 3)
                                     for q in ("0.1", "0.5", "0.9", "1.0")}
    # windows the scanner would cut (before the quiet gate): 1 s windows at 0.5 s hop
    n16 = np.maximum(1, np.round(d * 16000)).astype(np.int64)
    total["windows_before_gate"] = int(np.where(
        n16 <= 16000, 1, (n16 - 16000) // 8000 + 1 + ((n16 - 16000) % 8000 > 0)).sum())
    for key in ("format", "rate", "channels"):
        total[key] = dict(sorted(total[key].items(), key=lambda kv: (-kv[1], kv[0])))
    return total


def generate(out_dir: Path, n_files: int, seed: int, workers: int) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / MARKER
    params = {"version": VERSION, "files": n_files, "seed": seed}
    if marker.exists():
        manifest = json.loads(marker.read_text(encoding="utf-8"))
        if {k: manifest.get(k) for k in params} == params:
            manifest["skipped"] = True
            return manifest
        raise SystemExit(f"{out_dir} holds a library generated with other parameters "
                         f"({ {k: manifest.get(k) for k in params} }); use another folder")
    folders = leaf_folders(n_files)
    progress_path = out_dir / PROGRESS
    done: dict[str, dict[str, Any]] = {}
    if progress_path.exists():
        for line in progress_path.read_text(encoding="utf-8").splitlines():
            with_params = json.loads(line)
            if with_params.get("params") == params:
                done[with_params["stats"]["folder"]] = with_params["stats"]
    tasks = []
    first = 0
    for folder, count in folders:
        if folder not in done:
            tasks.append((str(out_dir), folder, first, count, seed))
        first += count
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("forkserver" if sys.platform.startswith("linux")
                                      else "spawn")
    with ctx.Pool(max(1, workers)) as pool, progress_path.open("a", encoding="utf-8") as prog:
        for i, stats in enumerate(pool.imap_unordered(_gen_folder, tasks), 1):
            done[stats["folder"]] = stats
            prog.write(json.dumps({"params": params, "stats": stats}) + "\n")
            prog.flush()
            if i % 20 == 0 or i == len(tasks):
                print(f"  {len(done)}/{len(folders)} folders, {time.perf_counter() - t0:.0f} s",
                      file=sys.stderr, flush=True)
    stats = _merge([done[f] for f, _ in folders])
    manifest = {**params, "folders": [[f, c] for f, c in folders],
                "generated_s": round(time.perf_counter() - t0, 1), "workers": workers,
                "resumed_folders": len(folders) - len(tasks), "stats": stats}
    tmp = out_dir / (MARKER + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, marker)
    progress_path.unlink(missing_ok=True)
    manifest["skipped"] = False
    return manifest


def read_manifest(out_dir: str | Path) -> dict[str, Any] | None:
    """The marker of a finished library, or None."""
    marker = Path(out_dir) / MARKER
    if not marker.exists():
        return None
    return json.loads(marker.read_text(encoding="utf-8"))


def _table(m: dict[str, Any], out_dir: Path) -> str:
    s = m["stats"]
    rows = [
        ("library", str(out_dir)),
        ("status", "already complete (skipped)" if m.get("skipped") else
         f"generated in {m['generated_s']} s with {m['workers']} workers"
         + (f" ({m['resumed_folders']} folders resumed)" if m.get("resumed_folders") else "")),
        ("files / leaf folders", f"{s['files']} / {len(m['folders'])} (seed {m['seed']})"),
        ("size", f"{s['bytes'] / 2**30:.2f} GiB"),
        ("audio", f"{s['duration_s'] / 3600:.2f} h; duration p10/p50/p90/max "
                  + "/".join(f"{v}" for v in s["duration_quantiles_s"].values()) + " s"),
        ("windows before gate", f"{s['windows_before_gate']} (1 s at 0.5 s hop)"),
        ("formats", ", ".join(f"{k} {v}" for k, v in s["format"].items())),
        ("rates", ", ".join(f"{k} {v}" for k, v in s["rate"].items())),
        ("channels", ", ".join(f"{k}ch {v}" for k, v in s["channels"].items())),
        ("near-silent files / quiet tails", f"{s['near_silent']} / {s['quiet_tail']}"),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gen_library", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--json", type=Path, default=None, help="also save the figures here")
    args = p.parse_args(argv)
    if args.files < 1:
        p.error("--files must be positive")
    manifest = generate(args.out_dir.resolve(), args.files, args.seed, args.workers)
    print(_table(manifest, args.out_dir.resolve()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({k: v for k, v in manifest.items() if k != "folders"},
                                        indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
