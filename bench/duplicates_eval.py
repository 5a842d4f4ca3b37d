"""How well ``sampletree duplicates`` finds exact and near duplicates (docs/eval/duplicates.md).

    python -m bench.duplicates_eval [--seed 1] [--kits 40] [--notes 36] [--loops 12]
                                    [--dir DIR] [--json PATH] [--dump PATH]

Builds a set of real-ish samples and their copies, scans it into a fresh library with the
bundled network, and scores ``find_duplicates`` against the truth:

- originals: one-shots from Debian's ``hydrogen-drumkits`` (whole multi-layer instruments,
  e.g. a kit's bd_01…bd_05: other hits and velocity layers of the same drum, the hard
  negatives) and, from the project's corpus (~/.cache/Sampletree/corpus-v2), FluidR3 notes
  of a few instruments at several pitches (other notes of the same instrument) and drum
  loops (which often share their first hit);
- exact copies of each original: the same PCM as WAV, and as WAV with other tags;
- near copies (four drawn per original): MP3, OGG Vorbis, FLAC of a resampled copy,
  resampled WAV (22.05/32/48 kHz), gain ±6 dB, start trimmed 10–100 ms, 10–100 ms of
  silence padded, end trimmed, MP3 of a gain-changed trimmed copy.

Scores are over pairs of files: a pair is a true duplicate when both come from the same
original. Exact: pairs found with ``near=False`` against pairs of bit-identical decoded
audio. Near: pairs in the same group with ``near=True`` against all pairs of one origin.
``--dump`` writes every candidate pair's fine-check figures (for choosing thresholds on
one seed and reporting on another).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

KITS = Path("/usr/share/hydrogen/data/drumkits")
CORPUS = Path.home() / ".cache" / "Sampletree" / "corpus-v2"
NEAR_KINDS = ("mp3", "ogg", "flac_resampled", "resampled", "gain", "trim_start", "pad",
              "trim_end", "mp3_gain_trim")


def _instruments(rng: np.random.Generator, n_files: int) -> list[Path]:
    """Whole multi-file instruments of the Hydrogen kits (``bd_01``…, ``Kick-Hard``…)."""
    groups: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for f in sorted(KITS.rglob("*")):
        if f.suffix.lower() in (".wav", ".flac") and f.is_file():
            stem = re.sub(r"[\s_-]*\d+$", "", f.stem.lower())
            groups[(f.parent.name, stem)].append(f)
    multi = [g for g in groups.values() if 2 <= len(g) <= 8]
    order = rng.permutation(len(multi))
    out: list[Path] = []
    for i in order:
        if len(out) >= n_files:
            break
        out.extend(multi[i])
    return out


def _corpus(rng: np.random.Generator, n_notes: int, n_loops: int
            ) -> list[tuple[str, np.ndarray, int]]:
    if not (CORPUS / "clips.npy").is_file():
        return []
    rows = [json.loads(line) for line in (CORPUS / "clips.jsonl").open()]
    clips = np.load(CORPUS / "clips.npy", mmap_mode="r")
    out: list[tuple[str, np.ndarray, int]] = []
    notes: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r["kind"] == "note" and r["source"] == "FluidR3":
            notes[r["cls"]].append(i)
    classes = sorted(notes)
    per = 6
    for c in rng.permutation(len(classes))[: max(1, n_notes // per)]:
        cand = notes[classes[c]]
        by_pitch: dict[int, int] = {}
        for i in cand:  # one clip per pitch: other notes of one instrument
            by_pitch.setdefault(rows[i]["pitch"], i)
        picks = list(by_pitch.values())[:per]
        out += [(f"{classes[c]}-p{rows[i]['pitch']}", np.asarray(clips[i]), 16_000)
                for i in picks]
    loops = [i for i, r in enumerate(rows) if r["kind"] == "loop" and r["source"] == "FluidR3"]
    for i in rng.choice(loops, size=min(n_loops, len(loops)), replace=False):
        out.append((f"loop-{int(i)}", np.asarray(clips[int(i)]), 16_000))
    return out


def _write(path: Path, data: np.ndarray, sr: int, **kw: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, **kw)


def _named(out: Path, suffix: str) -> Path:
    """``out`` with ``suffix`` appended (not ``with_suffix``: "Drums_v.1-ride1-mp3" would
    lose ".1-ride1-mp3", and two originals' copies would overwrite each other)."""
    return out.with_name(out.name + suffix)


def _near_copy(kind: str, x: np.ndarray, sr: int, rng: np.random.Generator, out: Path) -> Path:
    import soxr

    xf = x.astype(np.float32) / (32768.0 if x.dtype == np.int16 else 2.0 ** 31)
    if kind == "mp3":
        p = _named(out, ".mp3")
        y, r = (xf, sr) if sr <= 48_000 else (soxr.resample(xf, sr, 44_100), 44_100)
        _write(p, y, r, format="MP3")
    elif kind == "ogg":
        p = _named(out, ".ogg")
        y, r = (xf, sr) if sr <= 48_000 else (soxr.resample(xf, sr, 44_100), 44_100)
        _write(p, y, r, format="OGG", subtype="VORBIS")
    elif kind in ("flac_resampled", "resampled"):
        r = int(rng.choice([r for r in (22_050, 32_000, 48_000, 44_100) if r != sr]))
        y = soxr.resample(xf, sr, r)
        p = _named(out, ".flac" if kind == "flac_resampled" else ".wav")
        _write(p, np.clip(y, -1, 1), r, subtype="PCM_24" if kind == "resampled" else "PCM_16")
    elif kind == "gain":
        g = float(rng.choice([-6.0, -3.0, 3.0, 6.0]))
        p = _named(out, ".wav")
        _write(p, xf * 10 ** (g / 20), sr, subtype="FLOAT")
    elif kind == "trim_start":
        n = int(sr * rng.uniform(0.01, 0.1))
        p = _named(out, ".wav")
        _write(p, xf[n:], sr, subtype="PCM_24")
    elif kind == "trim_end":
        n = int(sr * rng.uniform(0.01, 0.1))
        p = _named(out, ".wav")
        _write(p, xf[: max(1, len(xf) - n)], sr, subtype="PCM_24")
    elif kind == "pad":
        a, b = (int(sr * rng.uniform(0.01, 0.1)) for _ in range(2))
        pad_a = np.zeros((a, *xf.shape[1:]), np.float32)
        pad_b = np.zeros((b, *xf.shape[1:]), np.float32)
        p = _named(out, ".wav")
        _write(p, np.concatenate([pad_a, xf, pad_b]), sr, subtype="PCM_24")
    elif kind == "mp3_gain_trim":
        n = int(sr * rng.uniform(0.01, 0.1))
        y = xf[n:] * 10 ** (float(rng.choice([-6.0, 6.0])) / 20)
        y, r = (y, sr) if sr <= 48_000 else (soxr.resample(y, sr, 44_100), 44_100)
        p = _named(out, ".mp3")
        _write(p, np.clip(y, -1, 1), r, format="MP3")
    else:
        raise ValueError(kind)
    return p


#: Originals of one instrument whose waveforms correlate at least this (full band, the
#: first 2 s, best lag) are reported apart ("alike layers").
ALIKE_CORR = 0.95


def _waveform_corr(a: np.ndarray, b: np.ndarray) -> float:
    x = a.astype(np.float64).mean(axis=1)[: 96_000]
    y = b.astype(np.float64).mean(axis=1)[: 96_000]
    n = 1 << int(np.ceil(np.log2(len(x) + len(y))))
    cc = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(y, n)), n)
    den = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return float(np.max(cc) / den) if den > 0 else 0.0


def build(root: Path, seed: int, n_kit_files: int, n_notes: int, n_loops: int
          ) -> dict[str, Any]:
    """Write the set under ``root``; returns {path: (origin, exact class)}."""
    rng = np.random.default_rng(seed)
    if root.exists():
        shutil.rmtree(root)
    originals: list[tuple[str, np.ndarray, int, str]] = []
    layers: dict[str, list[int]] = defaultdict(list)  # one instrument's files
    for f in _instruments(rng, n_kit_files):
        info = sf.info(str(f))
        dtype = "int16" if info.subtype == "PCM_16" else "int32"
        data, sr = sf.read(str(f), dtype=dtype, always_2d=True)
        name = f"{f.parent.name}-{f.stem}".replace(" ", "_")
        stem = re.sub(r"[\s_-]*\d+$", "", f.stem.lower())
        layers[f"{f.parent}/{stem}"].append(len(originals))
        originals.append((name, data, sr, info.subtype))
    for name, clip, sr in _corpus(rng, n_notes, n_loops):
        originals.append((name.replace(" ", "_"), clip[:, None], sr, "PCM_16"))
    # Layers of one instrument whose waveforms are nearly one (full band, best lag): no
    # method that compares sounds can tell them apart, so they are no fair negatives.
    alike: set[frozenset[str]] = set()
    for members in layers.values():
        for a, b in combinations(members, 2):
            if _waveform_corr(originals[a][1], originals[b][1]) >= ALIKE_CORR:
                alike.add(frozenset((f"o{a}", f"o{b}")))
    truth: dict[str, Any] = {"__alike__": alike}
    for k, (name, data, sr, subtype) in enumerate(originals):
        folder = root / f"{k % 7:02d}"
        sub = subtype if subtype in ("PCM_16", "PCM_24") else "PCM_24"
        origin = f"o{k}"
        p = folder / f"{name}.flac"
        _write(p, data, sr, subtype=sub)
        truth[str(p)] = (origin, f"{origin}-x")
        p = root / "copies" / f"{name}.wav"
        _write(p, data, sr, subtype=sub)
        truth[str(p)] = (origin, f"{origin}-x")
        p = root / "tagged" / f"{name} (tagged).wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        with sf.SoundFile(str(p), "w", sr, data.shape[1], subtype=sub, format="WAV") as fh:
            fh.title, fh.artist, fh.comment = name, "dup eval", "other metadata chunk"
            fh.write(data)
        truth[str(p)] = (origin, f"{origin}-x")
        for j, kind in enumerate(rng.choice(NEAR_KINDS, size=4, replace=False)):
            p = _near_copy(str(kind), data, sr, rng, root / "near" / f"{name}-{kind}")
            truth[str(p)] = (origin, f"{origin}-n{j}")
    return truth


def _pairs_of(groups: list[list[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for g in groups for p in combinations(g, 2)}  # type: ignore[misc]


def _across(pair: tuple[str, str], present: dict[str, Any],
            alike: set[frozenset[str]]) -> bool:
    """Whether a pair joins two alike layers (or their copies)."""
    return frozenset((present[pair[0]][0], present[pair[1]][0])) in alike


def score(found: set[tuple[str, str]], true: set[tuple[str, str]]) -> dict[str, Any]:
    tp = len(found & true)
    return {"precision": tp / len(found) if found else 1.0,
            "recall": tp / len(true) if true else 1.0,
            "true_pairs": len(true), "found_pairs": len(found), "false_pairs": len(found - true),
            "missed_pairs": len(true - found)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.duplicates_eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kits", type=int, default=40, help="Hydrogen kit files (40)")
    ap.add_argument("--notes", type=int, default=36, help="corpus notes (36)")
    ap.add_argument("--loops", type=int, default=12, help="corpus drum loops (12)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/sampletree-dupeval"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--dump", type=Path, default=None)
    ap.add_argument("--reuse", action="store_true",
                    help="search the library a previous run of this seed left (no new set, "
                         "no scan): for the search's own changes")
    args = ap.parse_args(argv)

    from core import dupsig
    from core.duplicates import (
        MIN_EMBEDDING_COS,
        MIN_SPECTRAL_CORR,
        NEIGHBOURS,
        PARTIAL_LAG_S,
        _current_model,
        find_duplicates,
        mean_embeddings,
    )
    from core.dupstore import read_fingerprints
    from core.library import Library
    from core.scanner import ScanOptions, scan
    from models import load_model

    root = args.dir / f"seed{args.seed}"
    db = root / "library.sqlite"
    saved = root / "truth.json"
    t0 = time.perf_counter()
    if args.reuse and db.is_file() and saved.is_file():
        # the set and its library as a previous run left them: only the search again
        stored = json.loads(saved.read_text())
        truth = {p: tuple(t) for p, t in stored["truth"].items()}
        alike: set[frozenset[str]] = {frozenset(p) for p in stored["alike"]}
        lib = Library(db)
        build_s, scan_s = 0.0, 0.0
        rep = None
    else:
        truth = build(root / "files", args.seed, args.kits, args.notes, args.loops)
        alike = truth.pop("__alike__")
        saved.write_text(json.dumps({"truth": truth, "alike": [sorted(p) for p in alike]}))
        build_s = time.perf_counter() - t0
        for f in root.glob("library.sqlite*"):
            shutil.rmtree(f) if f.is_dir() else f.unlink()
        lib = Library(db)
        t0 = time.perf_counter()
        rep = scan(lib, [str(root / "files")], load_model(device="cpu"),
                   options=ScanOptions(jobs=args.jobs))
        scan_s = time.perf_counter() - t0
    paths = lib.paths_of(list(range(1, 10 ** 6)))
    by_path = {p: i for i, p in paths.items()}
    present = {p: t for p, t in truth.items() if p in by_path}

    # truth: exact = same origin and same exact class; near = same origin
    origins: dict[str, list[str]] = defaultdict(list)
    exact_cls: dict[str, list[str]] = defaultdict(list)
    for p, (o, x) in present.items():
        origins[o].append(p)
        exact_cls[x].append(p)
    true_near = _pairs_of(list(origins.values()))
    true_exact = _pairs_of(list(exact_cls.values()))

    t0 = time.perf_counter()
    ex = find_duplicates(lib, near=False)
    exact_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    nr = find_duplicates(lib, near=True)
    near_s = time.perf_counter() - t0
    found_exact = _pairs_of([[m.path for m in g.members] for g in ex.groups])
    found_near = _pairs_of([[m.path for m in g.members] for g in nr.groups])
    # hard negatives: other files of one instrument wrongly grouped
    result = {
        "seed": args.seed, "files": len(present), "originals": len(origins),
        "scan": None if rep is None else {"decoded": rep.decoded, "failed": rep.failed,
                                          "seconds": round(scan_s, 1)},
        "build_s": round(build_s, 1),
        "exact": score(found_exact, true_exact), "near": score(found_near, true_near),
        "alike_layer_pairs": len(alike),
        "near_without_alike_layers": score(
            {p for p in found_near if not _across(p, present, alike)}, true_near),
        "near_candidates": nr.candidates, "exact_s": round(exact_s, 3),
        "near_s": round(near_s, 3),
        "thresholds": {"min_wave_corr": dupsig.MIN_WAVE_CORR,
                       "max_env_dev_db": dupsig.MAX_ENV_DEV_DB,
                       "loose_wave_corr": dupsig.LOOSE_WAVE_CORR,
                       "tight_env_dev_db": dupsig.TIGHT_ENV_DEV_DB,
                       "min_embedding_cos": MIN_EMBEDDING_COS, "neighbours": NEIGHBOURS,
                       "min_spectral_corr": MIN_SPECTRAL_CORR,
                       "noise_flatness": dupsig.NOISE_FLATNESS,
                       "noise_late_corr": dupsig.NOISE_LATE_CORR,
                       "partial_lag_s": PARTIAL_LAG_S},
    }
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    found_with = defaultdict(set)
    for a, b in found_near:
        found_with[a].add(b)
    for p, (o, _x) in present.items():
        kind = next((k for k in NEAR_KINDS if f"-{k}." in os.path.basename(p)), None)
        if kind is None:
            continue
        others = set(origins[o]) - {p}
        by_kind[kind][1] += 1
        by_kind[kind][0] += int(others <= found_with[p] | {q for q in others
                                                           if p in found_with[q]})
    result["near_recall_by_copy"] = {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_kind.items())}
    misses = sorted(true_near - found_near)[:20]
    falses = sorted(found_near - true_near)[:20]
    result["examples_missed"] = [[os.path.basename(a), os.path.basename(b)] for a, b in misses]
    result["examples_false"] = [[os.path.basename(a), os.path.basename(b)] for a, b in falses]

    if args.dump:
        ids, _h, sigs = read_fingerprints(lib)
        sig_of = {i: dupsig.parse(s) for i, s in zip(ids, sigs, strict=True)}
        blob_of = dict(zip(ids, sigs, strict=True))
        emb_ids, vecs = mean_embeddings(lib, _current_model(lib))  # type: ignore[arg-type]
        row = {int(s): k for k, s in enumerate(emb_ids)}
        rows = []
        origin_of = {by_path[p]: t[0] for p, t in present.items()}
        sids = sorted(origin_of)
        for a, b in combinations(sids, 2):
            same = origin_of[a] == origin_of[b]
            cos = float(vecs[row[a]] @ vecs[row[b]]) if a in row and b in row else None
            if not same and (cos is None or cos < 0.3):
                continue
            sa, sb = sig_of.get(a), sig_of.get(b)
            if sa is None or sb is None:
                continue
            v = dupsig.compare(sa, sb)
            sp = dupsig.spectra([blob_of[a], blob_of[b]])
            rows.append({"spec": float(sp[0] @ sp[1]), "a": os.path.basename(paths[a]),
                         "b": os.path.basename(paths[b]),
                         "same": same, "cos": cos, "rho": v.wave_corr, "dev": v.env_dev_db,
                         "gain": v.gain_db, "lag": v.lag_s})
        args.dump.write_text(json.dumps(rows))
    lib.close()
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
