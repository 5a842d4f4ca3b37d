"""Count the recorded audio inside package archives (survey for docs/eval/real-sources.md).

Reads Debian ``.deb`` files, PyPI wheels / sdists and npm ``.tgz`` packs *without installing
them*, finds audio members (also inside nested ``.zip``/``.pk3``/``.orgue`` archives), reads
each one's header with soundfile and, where soundfile cannot, with PyAV, and prints one JSON
object a package: files, minutes, formats, which decoder reads them, and the folders that
hold them (the folder names are what a label would come from). Nothing is decoded in full and
nothing is written except the report.

    apt-get download PKG ...            # into some folder, e.g. /tmp/realsrc
    python scripts/survey_real_sources.py /tmp/realsrc/*.deb > survey.jsonl
    python scripts/survey_real_sources.py --folders 3 /tmp/realsrc/wesnoth-1.16-data_*.deb

Reserved held-out packages (sonic-pi-samples, lmms-common) are refused.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import soundfile as sf

AUDIO_EXT = {"wav", "flac", "ogg", "oga", "mp3", "aif", "aiff", "aifc", "au", "snd", "wv",
             "opus", "m4a", "caf", "w64", "spx", "voc", "sf2", "sf3", "pat"}
NESTED_EXT = {"zip", "pk3", "orgue", "wz"}
RESERVED = ("sonic-pi-samples", "lmms-common")


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""


def probe(data: bytes) -> tuple[str, float, int, int]:
    """(decoder, seconds, sample rate, channels); decoder '' when neither reads it."""
    try:
        info = sf.info(io.BytesIO(data))
        if info.frames > 0:
            return "soundfile", info.frames / info.samplerate, info.samplerate, info.channels
    except Exception:  # any failure means: try the next decoder
        pass
    try:
        import av
        with av.open(io.BytesIO(data)) as c:
            if not c.streams.audio:
                return "", 0.0, 0, 0
            st = c.streams.audio[0]
            sec = float(c.duration) / 1e6 if c.duration else 0.0
            if sec <= 0 and st.duration and st.time_base:
                sec = float(st.duration * st.time_base)
            if sec <= 0:  # no duration in the header: count the decoded samples
                n = 0
                for fr in c.decode(st):
                    n += fr.samples
                sec = n / (st.rate or 1)
            return "pyav", sec, st.rate or 0, st.channels or 0
    except Exception:
        return "", 0.0, 0, 0


def members(path: Path):
    """Yield (member name, bytes) of every file in a .deb / wheel / zip / tgz."""
    name = path.name
    if name.endswith(".deb"):
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(path)], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
            for m in tf:
                if m.isfile():
                    yield m.name, tf.extractfile(m).read()
        proc.wait()
    elif name.endswith((".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")):
        with tarfile.open(path) as tf:
            for m in tf:
                if m.isfile():
                    yield m.name, tf.extractfile(m).read()
    elif name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(path) as zf:
            for n in zf.namelist():
                if not n.endswith("/"):
                    yield n, zf.read(n)


def survey(path: Path, depth: int, hashes=None) -> dict:
    files = 0
    seconds = 0.0
    fmt = Counter()
    dec = Counter()
    rates = Counter()
    folders: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    unread: list[str] = []
    seen: set[str] = set()
    dupes = 0

    def add(name: str, data: bytes) -> None:
        nonlocal files, seconds
        e = _ext(name)
        if e in NESTED_EXT:
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    for n in zf.namelist():
                        if _ext(n) in AUDIO_EXT:
                            add(f"{name}!/{n}", zf.read(n))
            except zipfile.BadZipFile:
                pass
            return
        if e not in AUDIO_EXT:
            return
        nonlocal dupes
        h = hashlib.sha1(data).hexdigest()
        if h in seen:  # byte-identical copy (examples often repeat their audio)
            dupes += 1
            return
        seen.add(h)
        if hashes is not None:
            hashes.write(f"{path.name.split('_')[0]}\t{h}\t{name}\n")
        files += 1
        fmt[e] += 1
        if e in ("sf2", "sf3", "pat"):  # instrument banks: counted, not timed
            dec["bank"] += 1
            return
        d, sec, sr, _ch = probe(data)
        dec[d or "unreadable"] += 1
        if not d:
            unread.append(name)
            return
        seconds += sec
        rates[sr] += 1
        parts = name.lstrip("./").split("/")[:-1]
        key = "/".join(parts[-depth:]) if depth else ""
        folders[key][0] += 1
        folders[key][1] += sec

    for n, data in members(path):
        add(n, data)
    top = sorted(folders.items(), key=lambda kv: -kv[1][1])
    return {
        "package": path.name,
        "files": files,
        "duplicates_skipped": dupes,
        "minutes": round(seconds / 60, 1),
        "formats": dict(fmt),
        "decoders": dict(dec),
        "rates": dict(rates.most_common(4)),
        "unreadable_examples": unread[:5],
        "folders": {k: [int(v[0]), round(v[1] / 60, 2)] for k, v in top[:40]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archives", nargs="+", type=Path)
    ap.add_argument("--folders", type=int, default=2,
                    help="how many trailing folder names group the files (default 2)")
    ap.add_argument("--hashes", type=Path,
                    help="also write 'package<TAB>sha1<TAB>member' of every audio file here, "
                         "to find byte-identical copies across packages")
    a = ap.parse_args(argv)
    hashes = a.hashes.open("w") if a.hashes else None
    for p in a.archives:
        if any(p.name.startswith(r) for r in RESERVED):
            print(f"survey_real_sources: skipped reserved held-out package {p.name}",
                  file=sys.stderr)
            continue
        print(json.dumps(survey(p, a.folders, hashes)), flush=True)
    if hashes:
        hashes.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
