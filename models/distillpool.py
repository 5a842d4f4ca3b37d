"""An unlabeled pool of real recorded music for distillation (training only).

The corpus's labeled classes are mostly SoundFont renders; the two teachers (aisfx,
musicnn) learned on real recordings. Distillation needs no labels, so the student can learn
the teachers' view of real audio from music no class depends on: game soundtracks that
Debian packages ship (orchestral, rock, electronic, chiptune, by many composers). This
module cuts them into clips in the corpus's own format (``clips.npy``: int16, 1.5 s at
16 kHz, peak-normalised; ``clips.jsonl``: source, file, start), so
``scripts/teacher_embed.py --corpus POOL`` caches the teachers' embeddings beside them and
``sampletree train --distill-pool POOL`` adds a batch of pool windows, with the
distillation loss only, to every episode.

Never a source here: the real-sample validation set's packages and the reserved held-out
packages (``models.realsources.refused_packages``).

    python -m models.distillpool --pkgroot DIR --out ~/.cache/Sampletree/pool-music
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from models.corpus import CLIP, SR, CorpusError, read_clips

#: Debian package → (a path under its root, a glob of its music files; "zip!prefix" reads
#: the members of an archive under that prefix). One package is one independence group.
POOL_PACKAGES: dict[str, tuple[str, str]] = {
    "0ad-data": ("usr/share/games/0ad/mods/public/public.zip", "zip!audio/music/"),
    "wesnoth-1.16-music": ("usr/share/games/wesnoth/1.16/data/core/music", "*.ogg"),
    "supertux-data": ("usr/share/games/supertux2/music", "**/*.ogg"),
    "hedgewars-data": ("usr/share/games/hedgewars/Data/Music", "*.ogg"),
    "colobot-common-sounds": ("usr/share/games/colobot/music", "*.ogg"),
    "widelands-data": ("usr/share/games/widelands/data/music", "*.ogg"),
    "supertuxkart-data": ("usr/share/games/supertuxkart/data/music", "*.ogg"),
    "freedroidrpg-data": ("usr/share/freedroidrpg/data/sound/music", "*.ogg"),
}
HOP_S = 5.0  # one clip every HOP_S seconds of a track
MAX_PER_TRACK = 60
SKIP_S = 1.0  # leave out a track's first second (fades in)
QUIET_DB = -35.0  # a clip whose RMS is this far under the track's loudest clip is skipped


@dataclass(frozen=True)
class PoolClip:
    source: str  # the Debian package (the independence group)
    file: str  # the track's path inside the package (or archive member)
    start_s: float


@dataclass
class Pool:
    """A built pool: ``audio[i]`` (int16, CLIP samples) with ``meta[i]``; read like a
    corpus by the teachers' cache script and the training loop."""

    root: Path
    audio: np.ndarray
    meta: list[PoolClip]

    @classmethod
    def open(cls, root: str | Path) -> Pool:
        root = Path(root)
        audio, meta = read_clips(root, PoolClip, "pool", f"no distillation pool in {root}: run "
                                 f"`python -m models.distillpool --out {root}` first")
        if audio.ndim != 2 or audio.shape[1] != CLIP:
            raise CorpusError(f"the pool in {root} is damaged (index and audio disagree): "
                              "build it again")
        return cls(root, audio, meta)


def _tracks(root: Path, package: str) -> Iterator[tuple[str, bytes]]:
    probe, pattern = POOL_PACKAGES[package]
    base = root / probe
    if pattern.startswith("zip!"):
        prefix = pattern[4:]
        with zipfile.ZipFile(base) as zf:
            for name in sorted(zf.namelist()):
                if name.startswith(prefix) and name.lower().endswith((".ogg", ".wav", ".flac")):
                    yield name, zf.read(name)
        return
    for path in sorted(base.glob(pattern)):
        if path.is_file():
            yield str(path.relative_to(root)), path.read_bytes()


def track_clips(y: np.ndarray, hop_s: float = HOP_S,
                max_clips: int = MAX_PER_TRACK) -> list[tuple[int, np.ndarray]]:
    """(start sample, peak-normalised int16 clip) for every HOP_S of a decoded track, the
    quiet ones left out; at most ``max_clips``, spread evenly over the track."""
    starts = np.arange(round(SKIP_S * SR), len(y) - CLIP + 1, round(hop_s * SR))
    if not len(starts):
        return []
    if len(starts) > max_clips:
        starts = starts[np.linspace(0, len(starts) - 1, max_clips).round().astype(int)]
    segs = np.stack([y[s:s + CLIP] for s in starts])
    rms = np.sqrt(np.mean(segs.astype(np.float64) ** 2, axis=1))
    keep = rms > rms.max() * 10 ** (QUIET_DB / 20) if rms.max() > 0 else rms > 0
    out = []
    for s, seg, ok in zip(starts, segs, keep, strict=True):
        peak = float(np.abs(seg).max())
        if ok and peak > 0:
            out.append((int(s), np.round(seg / peak * 32767).astype(np.int16)))
    return out


def build_pool(pkgroots: list[Path], out: Path, packages: list[str] | None = None,
               hop_s: float = HOP_S, log=print) -> dict:
    """Cut every pool package found under ``pkgroots`` (or ``/``) into clips in ``out``."""
    from models.realsources import check_packages, decode

    names = list(packages or POOL_PACKAGES)
    check_packages(names)
    unknown = sorted(set(names) - set(POOL_PACKAGES))
    if unknown:
        raise CorpusError(f"no pool source {unknown[0]!r}; known: {', '.join(POOL_PACKAGES)}")
    roots = [Path(r) for r in pkgroots] + [Path("/")]
    started = time.monotonic()
    clips: list[np.ndarray] = []
    meta: list[PoolClip] = []
    report: dict = {"hop_s": hop_s, "max_per_track": MAX_PER_TRACK, "packages": {}}
    for name in names:
        root = next((r for r in roots if (r / POOL_PACKAGES[name][0]).exists()), None)
        if root is None:
            log(f"{name}: not found under {', '.join(map(str, roots))}; left out")
            report["packages"][name] = None
            continue
        n_tracks = n_clips = unread = 0
        for rel, data in _tracks(root, name):
            y = decode(data)
            if y is None:
                unread += 1
                continue
            n_tracks += 1
            for start, clip in track_clips(y, hop_s):
                clips.append(clip)
                meta.append(PoolClip(name, rel, round(start / SR, 3)))
                n_clips += 1
        report["packages"][name] = {"tracks": n_tracks, "clips": n_clips, "unreadable": unread}
        log(f"{name}: {n_tracks} tracks, {n_clips} clips"
            + (f", {unread} unreadable" if unread else ""))
    if not clips:
        raise CorpusError("no pool package found: unpack them first (see docs/eval/"
                          "training-v2.md, the music pool)")
    out.mkdir(parents=True, exist_ok=True)
    audio = np.stack(clips)
    np.save(out / "clips.npy.part.npy", audio)
    (out / "clips.npy.part.npy").replace(out / "clips.npy")
    with (out / "clips.jsonl").open("w", encoding="utf-8") as fh:
        for m in meta:
            fh.write(json.dumps(asdict(m)) + "\n")
    report.update(clips=len(meta), minutes=round(len(meta) * CLIP / SR / 60, 1),
                  digest=hashlib.sha1(audio.tobytes()).hexdigest()[:12],
                  seconds=round(time.monotonic() - started, 1))
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    log(f"{len(meta)} clips ({report['minutes']} min) in {out}")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.distillpool", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pkgroot", action="append", default=[], type=Path,
                    help="a folder Debian packages were unpacked into (dpkg-deb -x); "
                         "repeatable; / is always searched")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--packages", default=None,
                    help=f"comma-separated subset of {', '.join(POOL_PACKAGES)}")
    ap.add_argument("--hop", type=float, default=HOP_S, help="seconds between clips")
    args = ap.parse_args(argv)
    try:
        build_pool(args.pkgroot, args.out,
                   args.packages.split(",") if args.packages else None, args.hop)
    except CorpusError as exc:
        print(f"distillpool: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
