"""What the FFmpeg fallback decoder (core/audio_ffmpeg.py) costs beside soundfile.

    python -m bench.formats [--files 200] [--repeat 3] [--dir DIR]

Prints one table of medians:

- files/s for 1 s stereo 44.1 kHz FLAC files turned into windows (probe + plan +
  decode_segment), once through soundfile and once through FFmpeg (the same files, so
  the two decoders are compared on equal work);
- seconds to turn one 60 s stereo 44.1 kHz file into windows (30 s segments, as a scan
  does) for each format that only FFmpeg reads, probe included;
- ``import av`` in a fresh interpreter (it happens once per decode process, and only
  when a file needs FFmpeg).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from core.audio import AudioInfo, WindowParams, decode_segment, load_windows, plan_segments
from core.audio_ffmpeg import FFmpegSound

LONG_FORMATS = [  # (file name, codec, container, sample format, bit rate)
    ("long.wv", "wavpack", "wv", "s16p", None),
    ("long-alac.m4a", "alac", "ipod", "s16p", None),
    ("long-aac.m4a", "aac", "ipod", None, 192_000),
    ("long.wma", "wmav2", "asf", "fltp", 128_000),
]


def _encode(path: Path, codec: str, container: str, sample_fmt: str | None,
            bit_rate: int | None, seconds: float = 60.0, sr: int = 44_100) -> None:
    import av

    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * (220 * t + 30 * t * t / seconds))
    x += 0.05 * rng.standard_normal(len(t))
    data = np.stack([x, x[::-1]]).astype(np.float32)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=sr, layout="stereo")
        stream.format = sample_fmt or stream.codec_context.codec.audio_formats[0].name
        if bit_rate:
            stream.bit_rate = bit_rate
        fmt = av.AudioFormat(stream.format.name)
        for i in range(0, data.shape[1], 4096):
            block = data[:, i:i + 4096]
            if fmt.name.startswith("s16"):
                block = np.round(block * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format=fmt.name,
                                               layout="stereo")
            frame.sample_rate, frame.pts = sr, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _via_ffmpeg(path: Path, params: WindowParams) -> None:
    with FFmpegSound(path) as snd:
        info = AudioInfo(snd.samplerate, snd.channels, snd.frames, *snd.describe(), "ffmpeg")
    for k0, k1 in plan_segments(info, params):
        decode_segment(path, info, params, k0, k1)


def _rate(paths: list[Path], fn, repeat: int) -> float:
    fn(paths[0])  # warm: imports, caches
    rates = []
    for _ in range(repeat):
        t = time.perf_counter()
        for p in paths:
            fn(p)
        rates.append(len(paths) / (time.perf_counter() - t))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: temp)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        flacs = []
        for i in range(args.files):
            path = folder / f"one-{i}.flac"
            if not path.exists():
                x = (0.3 * rng.standard_normal((44_100, 2))).astype(np.float32)
                sf.write(str(path), x, 44_100, subtype="PCM_16")
            flacs.append(path)
        params = WindowParams()
        via_sf = _rate(flacs, lambda p: load_windows(p, params), args.repeat)
        via_ff = _rate(flacs, lambda p: _via_ffmpeg(p, params), args.repeat)
        rows = [("1 s FLAC via soundfile", f"{via_sf:.0f} files/s"),
                ("1 s FLAC via FFmpeg", f"{via_ff:.0f} files/s")]
        for name, codec, container, sample_fmt, bit_rate in LONG_FORMATS:
            path = folder / name
            if not path.exists():
                _encode(path, codec, container, sample_fmt, bit_rate)
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                load_windows(path, params)
                times.append(time.perf_counter() - t)
            rows.append((f"60 s {codec} ({name})", f"{statistics.median(times):.3f} s"))
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import av"], check=True)
            t_av = time.perf_counter() - t
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            times.append(t_av - (time.perf_counter() - t))
        rows.append(("import av (fresh process, minus bare start)",
                     f"{statistics.median(times):.3f} s"))
    width = max(len(r[0]) for r in rows)
    for what, figure in rows:
        print(f"{what:<{width}}  {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
