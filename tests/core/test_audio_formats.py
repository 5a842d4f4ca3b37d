"""Formats libsndfile cannot read, decoded by the FFmpeg fallback (core/audio_ffmpeg.py).

Every fixture is encoded in the test by PyAV's own encoders (FFmpeg's ALAC, AAC, WMA,
WavPack, TTA, FLAC and Opus in Matroska, ALAC in CAF, AC-3 in WAV); the unreadable ones
(Vorbis inside WAV, a GUS patch) are headers built byte by byte. Nothing is mocked.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import av  # a runtime dependency (pyproject): decoding needs it, so do these tests
import numpy as np
import pytest
import soundfile as sf

from core.audio import (
    AUDIO_EXTENSIONS,
    WindowParams,
    decode_segment,
    load_windows,
    open_sound,
    output_length,
    plan_segments,
    probe,
    window_starts,
)
from core.audio_ffmpeg import FFmpegSound, sniff
from core.errors import AudioError
from core.walk import classify_name, skipped_summary, walk

SR_OUT = 16_000


def _signal(seconds: float, sr: int, channels: int, freq: float, amp: float = 0.5,
            chirp: bool = False) -> np.ndarray:
    """(channels, frames) float: a sine, or a sine sweep (no two stretches alike)."""
    t = np.arange(round(seconds * sr)) / sr
    phase = 2 * np.pi * (freq * t + (40.0 * t * t if chirp else 0.0))
    x = amp * np.sin(phase)
    return np.repeat(x[None, :], channels, axis=0)


def _as_format(block: np.ndarray, fmt) -> np.ndarray:
    kind = fmt.name.rstrip("p")
    if kind == "s16":
        a = np.round(block * 32767).astype(np.int16)
    elif kind == "s32":
        a = np.round(block * 2147483647.0).astype(np.int32)
    elif kind == "flt":
        a = block.astype(np.float32)
    else:
        raise ValueError(fmt.name)
    return np.ascontiguousarray(a if fmt.is_planar else a.T.reshape(1, -1))


def encode(path: Path, codec: str, container: str, sr: int = 44_100, channels: int = 2,
           seconds: float = 2.0, freq: float = 440.0, sample_fmt: str | None = None,
           bit_rate: int | None = None, chirp: bool = False) -> int:
    """Write ``path`` with FFmpeg's encoder ``codec``; returns the frames written."""
    data = _signal(seconds, sr, channels, freq, chirp=chirp)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=sr, layout="stereo" if channels == 2 else "mono")
        stream.format = sample_fmt or stream.codec_context.codec.audio_formats[0].name
        if bit_rate:
            stream.bit_rate = bit_rate
        fmt = av.AudioFormat(stream.format.name)
        for i in range(0, data.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(_as_format(data[:, i:i + 4096], fmt),
                                               format=fmt.name, layout=stream.layout)
            frame.sample_rate = sr
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return data.shape[1]


def _peak_hz(window: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    return float(np.argmax(spectrum) * SR_OUT / len(window))


def _amplitude_at(window: np.ndarray, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    k = round(freq * len(window) / SR_OUT)
    return float(spectrum[k - 2 : k + 3].max() * 4 / len(window))


# (name, codec, container, sample format, bit rate, sample rate, channels, format, subtype,
#  lossless)
CASES = [
    ("alac.m4a", "alac", "ipod", "s16p", None, 44_100, 2, "M4A", "ALAC", True),
    ("alac24.m4a", "alac", "ipod", "s32p", None, 96_000, 1, "M4A", "ALAC", True),
    ("aac.m4a", "aac", "ipod", None, 192_000, 48_000, 2, "M4A", "AAC", False),
    ("wma2.wma", "wmav2", "asf", "fltp", 128_000, 44_100, 2, "WMA", "WMAV2", False),
    ("kick.wv", "wavpack", "wv", "s16p", None, 48_000, 2, "WAVPACK", "WAVPACK", True),
    ("float.wv", "wavpack", "wv", "fltp", None, 22_050, 1, "WAVPACK", "WAVPACK", True),
    # GrandOrgue's organ sets: WavPack data in a file named .wav
    ("organ-pipe.wav", "wavpack", "wv", "s32p", None, 44_100, 2, "WAVPACK", "WAVPACK", True),
    ("flac.mka", "flac", "matroska", "s16", None, 44_100, 2, "MKA", "FLAC", True),
    ("note.tta", "tta", "tta", "s16", None, 44_100, 1, "TTA", "TTA", True),
    ("loop.caf", "alac", "caf", "s16p", None, 44_100, 2, "CAF", "ALAC", True),
    ("voice.mka", "libopus", "matroska", None, 96_000, 48_000, 2, "MKA", "OPUS", False),
    # a WAV whose codec libsndfile lacks
    ("surround.wav", "ac3", "wav", None, 192_000, 44_100, 2, "WAV", "AC3", False),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_new_formats_decode_to_the_right_length_rate_and_pitch(tmp_path, case):
    name, codec, container, sample_fmt, bit_rate, sr, ch, fmt, subtype, lossless = case
    path = tmp_path / name
    freq = 1000.0
    written = encode(path, codec, container, sr=sr, channels=ch, seconds=2.5, freq=freq,
                     sample_fmt=sample_fmt, bit_rate=bit_rate)
    with pytest.raises(sf.LibsndfileError):  # the fallback is needed at all
        sf.info(str(path))

    info = probe(path)
    assert (info.sample_rate, info.channels, info.decoder) == (sr, ch, "ffmpeg")
    assert (info.format, info.subtype) == (fmt, subtype)
    # lossless: exact; lossy codecs may lose or pad up to one codec frame (2048 for WMA)
    assert abs(info.frames - written) <= (0 if lossless else 2048), info.frames

    params = WindowParams()
    spans = plan_segments(info, params)
    seg = load_windows(path, params)
    # 2.5 s at 0.5 s hop: 0, 0.5, 1.0, 1.5 (end); a lossy codec's padding may add a window
    expected = 4 if lossless else len(window_starts(output_length(info, params), params))
    assert seg.audio.shape == (expected, SR_OUT)
    assert expected in (4, 5)
    assert decode_segment(path, info, params, *spans[0]).audio.shape == seg.audio.shape
    for window in seg.audio[:4]:
        assert _peak_hz(window) == pytest.approx(freq, abs=1.0)
        assert _amplitude_at(window, freq) == pytest.approx(0.5, abs=0.01 if lossless else 0.03)


SEEK_CASES = [c for c in CASES if c[0] in ("alac.m4a", "aac.m4a", "wma2.wma", "kick.wv")]


@pytest.mark.parametrize("case", SEEK_CASES, ids=[c[0] for c in SEEK_CASES])
def test_seeking_lands_on_the_exact_frame(tmp_path, case):
    """Seeks (forward, far, backward) give the same samples as one pass from the start;
    a sweep makes any offset show."""
    name, codec, container, sample_fmt, bit_rate, sr, ch, *_ = case
    path = tmp_path / name
    encode(path, codec, container, sr=sr, channels=ch, seconds=12.0, sample_fmt=sample_fmt,
           bit_rate=bit_rate, chirp=True)
    with FFmpegSound(path) as snd:
        whole = snd.read()
    assert len(whole) == snd.frames
    with FFmpegSound(path) as snd:
        for start in (3 * sr + 17, 9 * sr, 5 * sr + 1, 100, 11 * sr, 2 * sr):
            assert snd.seek(start) == start
            got = snd.read(3000)
            np.testing.assert_array_equal(got, whole[start:start + 3000], err_msg=str(start))


@pytest.mark.parametrize("case", SEEK_CASES, ids=[c[0] for c in SEEK_CASES])
def test_segmented_decoding_matches_one_segment(tmp_path, case):
    name, codec, container, sample_fmt, bit_rate, sr, ch, *_ = case
    path = tmp_path / name
    encode(path, codec, container, sr=sr, channels=ch, seconds=20.0, sample_fmt=sample_fmt,
           bit_rate=bit_rate, chirp=True)
    short = load_windows(path, WindowParams(segment_s=3.0))
    whole = load_windows(path, WindowParams(segment_s=1000.0))
    assert short.audio.shape == whole.audio.shape == (39, SR_OUT)
    np.testing.assert_allclose(short.audio, whole.audio, atol=1e-5)


def test_new_formats_play_and_draw(tmp_path):
    """Audition and the inspector's waveform go through the same fallback."""
    from core.audition import AuditionStream
    from core.inspect_audio import waveform_peaks

    path = tmp_path / "loop.m4a"
    written = encode(path, "alac", "ipod", sr=44_100, channels=2, seconds=1.5,
                     sample_fmt="s16p")
    with open_sound(path) as snd:
        assert isinstance(snd, FFmpegSound) and snd.frames == written
    stream = AuditionStream(path, 48_000, 2, start_s=0.5)
    got = 0
    while len(block := stream.read()):
        got += len(block)
    assert got == pytest.approx(48_000, abs=64)  # the last second, at the card's rate
    peaks = waveform_peaks(path, columns=100)
    assert peaks.duration_s == pytest.approx(written / 44_100)
    assert float(peaks.maxs.max()) == pytest.approx(0.5, abs=0.01)


# -- clear errors ---------------------------------------------------------------------------

def _error(path: Path) -> str:
    with pytest.raises(AudioError) as info:
        probe(path)
    message = str(info.value)
    assert "b'" not in message and str(path) not in message and path.name not in message
    assert "Error opening" not in message and "\n" not in message
    return message


def _riff_wave(tag: int, payload: bytes = b"\x00" * 4000) -> bytes:
    fmt = struct.pack("<HHIIHH", tag, 2, 44_100, 16_000, 4, 16) + b"\x00\x00"
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("tag", [0x674F, 0x6750, 0x6771])
def test_vorbis_inside_wav_is_named(tmp_path, tag):
    path = tmp_path / "pad.wav"
    path.write_bytes(_riff_wave(tag))
    message = _error(path)
    assert message.startswith(f"Vorbis audio inside a WAV file (format 0x{tag:04X}), "
                              "which no decoder here reads")


def test_gus_patch_is_named(tmp_path):
    path = tmp_path / "acpiano.wav"  # named as audio, to reach the decoder at all
    path.write_bytes(b"GF1PATCH110\x00ID#000002\x00" + bytes(300))
    assert _error(path) == "a GUS instrument patch (.pat), not audio Sampletree reads"


def test_midi_named_wav_is_named(tmp_path):
    path = tmp_path / "groove.wav"
    path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0" + bytes(200))
    assert "MIDI" in _error(path)


def test_truncated_m4a_is_a_clear_error(tmp_path):
    good = tmp_path / "good.m4a"
    encode(good, "aac", "ipod", seconds=2.0, bit_rate=128_000)
    path = tmp_path / "cut.m4a"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    message = _error(path)
    assert message.startswith("damaged or unreadable M4A"), message
    with pytest.raises(AudioError):
        open_sound(path)


def test_m4a_of_random_bytes(tmp_path):
    path = tmp_path / "loop.m4a"
    path.write_bytes(np.random.default_rng(9).bytes(5_000))
    assert _error(path).startswith("damaged or unreadable M4A file")


def test_text_named_m4a_says_text(tmp_path):
    path = tmp_path / "license.m4a"
    path.write_text("All loops are royalty free.\n" * 40, encoding="utf-8")
    assert _error(path) == "not an audio file: the content is text"


def test_random_bytes_named_mp3_are_not_decoded_as_noise(tmp_path):
    path = tmp_path / "hit.mp3"
    path.write_bytes(np.random.default_rng(3).bytes(20_000))
    assert _error(path).startswith("not a recognised audio format")


def test_unreadable_wav_codec_names_the_codec(tmp_path):
    path = tmp_path / "odd.wav"
    path.write_bytes(_riff_wave(0x2001))  # DTS in WAV, with nothing decodable inside
    assert _error(path) == ("damaged WAV file with DTS (format 0x2001) "
                            "(Invalid data found when processing input)")


def test_wav_codec_without_any_decoder_is_named(tmp_path):
    path = tmp_path / "odd.wav"
    path.write_bytes(_riff_wave(0x1234))
    assert _error(path) == ("WAV file with audio (format 0x1234), whose codec no decoder "
                            "here reads")


def test_av_is_not_imported_until_a_file_needs_it(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(str(wav), np.zeros(4000, np.float32), 16_000)
    code = ("import sys; from core.audio import load_windows; import core.scanner, "
            f"core.walk; load_windows({str(wav)!r}); print('av' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# -- the walker ------------------------------------------------------------------------------

def test_walker_takes_the_new_extensions_and_reports_the_rest(tmp_path):
    for name in ("a.m4a", "b.wv", "c.wma", "d.wav", "e.ape", "f.pat", "g.pat", "h.mid",
                 "readme.txt", ".hidden.pat"):
        (tmp_path / name).write_bytes(b"x")
    skipped: list[str] = []
    found = sorted(Path(e.path).name
                   for e in walk([str(tmp_path)], lambda p, w: None, skipped.append))
    assert found == ["a.m4a", "b.wv", "c.wma", "d.wav", "e.ape"]
    assert sorted(Path(p).name for p in skipped) == ["f.pat", "g.pat", "h.mid", "readme.txt"]
    assert [classify_name(Path(p).name) for p in sorted(skipped)] == [
        "not-read", "not-read", "not-read", "other"]
    assert {".m4a", ".wv", ".wma", ".aac", ".ape", ".tta"} <= AUDIO_EXTENSIONS


def test_scan_reads_the_new_formats_and_records_them(tmp_path, library, library_path,
                                                     untrained_model):
    """The scanner (inline, as in the other scan tests) stores them like any other file."""
    import sqlite3

    from core.scanner import ScanOptions, scan

    folder = tmp_path / "organ"
    folder.mkdir()
    encode(folder / "pipe036.wav", "wavpack", "wv", seconds=1.5, sample_fmt="s16p")
    encode(folder / "loop.m4a", "alac", "ipod", seconds=1.5, sample_fmt="s16p")
    (folder / "pad.wav").write_bytes(_riff_wave(0x674F))
    report = scan(library, [str(folder)], untrained_model, options=ScanOptions(jobs=0))
    assert (report.found, report.decoded, report.failed) == (3, 2, 1)
    with sqlite3.connect(str(library_path)) as conn:
        rows = {Path(p).name: (status, fmt, err, dur) for p, status, fmt, err, dur in
                conn.execute("SELECT path, status, format, error, duration_s FROM samples")}
    assert rows["pipe036.wav"][:2] == ("ok", "WAVPACK")
    assert rows["loop.m4a"][:2] == ("ok", "M4A")
    assert rows["pipe036.wav"][3] == pytest.approx(1.5)
    assert rows["pad.wav"][0] == "error"
    assert rows["pad.wav"][2].startswith("Vorbis audio inside a WAV file (format 0x674F)")


def test_skipped_summary_counts_types_not_read():
    paths = [f"/kit/p{i}.pat" for i in range(128)] + ["/a/b.SF2", "/a/c.sf2", "/a/read me.txt"]
    assert skipped_summary(paths) == ("skipped 130 files of types not read (.pat 128, .sf2 2); "
                                      "1 other file (not audio)")
    assert skipped_summary(["/x/notes.txt"]) == "skipped 1 other file (not audio)"
    assert skipped_summary([]) is None


@pytest.mark.parametrize("head, label, ffmpeg", [
    (b"wvpk" + bytes(28), "WavPack", True),
    (b"\x00\x00\x00\x20ftypM4A " + bytes(20), "M4A", True),
    (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(16), "WMA", True),
    (b"MAC \x96\x0f" + bytes(26), "Monkey's Audio", True),
    (b"TTA1" + bytes(28), "TTA", True),
    (b"\x1aE\xdf\xa3" + bytes(28), "Matroska/WebM", True),
    (b"\xff\xf1\x50\x80" + bytes(28), "AAC", True),
    (b"\xff\xfb\x90\x64" + bytes(28), None, False),  # MP3 stays libsndfile's
    (b"GF1PATCH110\x00" + bytes(20), "GUS patch", False),
    (b"RIFF\x00\x00\x00\x00sfbkLIST" + bytes(20), "SoundFont", False),
    (b"PK\x03\x04" + bytes(28), "ZIP", False),
    (bytes(32), None, False),
])
def test_sniff_names_files_by_their_first_bytes(head, label, ffmpeg):
    found = sniff(head)
    assert (found.label, found.ffmpeg) == (label, ffmpeg)
