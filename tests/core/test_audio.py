"""Decoding real audio files into 1 s windows at 16 kHz (core/audio.py).

Every file here is written by numpy + soundfile; nothing about the decoder is mocked.
"""

from __future__ import annotations

import os
import tracemalloc
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from core.audio import (
    WindowParams,
    decode_segment,
    load_windows,
    plan_segments,
    probe,
    window_starts,
)
from core.errors import AudioError

SR_OUT = 16_000

FORMATS = [  # (extension, soundfile subtype; None = the format's default)
    ("wav", "PCM_16"),
    ("wav", "PCM_24"),
    ("wav", "FLOAT"),
    ("aiff", "PCM_16"),
    ("flac", "PCM_16"),
    ("ogg", "VORBIS"),
    ("mp3", None),
]
RATES = [8_000, 22_050, 44_100, 48_000, 96_000]
CHANNELS = [1, 2, 6, 8]


def _sine(seconds: float, sr: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write(path: Path, data: np.ndarray, sr: int, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, subtype=subtype)
    return path


def _peak_hz(window: np.ndarray) -> float:
    """Frequency of the strongest FFT bin of a 16 kHz window (1 Hz bins for 1 s)."""
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    return float(np.argmax(spectrum) * SR_OUT / len(window))


def _amplitude_at(window: np.ndarray, freq: float) -> float:
    """Amplitude of a sine at ``freq`` in a 1 s window (Hann-corrected)."""
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    k = round(freq * len(window) / SR_OUT)
    return float(spectrum[k - 2 : k + 3].max() * 4 / len(window))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# -- formats, rates, channels ---------------------------------------------------------------

# libsndfile writes MP3 only mono or stereo at <= 48 kHz
DECODE_CASES = [
    pytest.param(ext, subtype, sr, ch, id=f"{ext}-{subtype or 'default'}-{sr}-{ch}ch")
    for ext, subtype in FORMATS
    for sr in RATES
    for ch in CHANNELS
    if ext != "mp3" or (ch <= 2 and sr <= 48_000)
]


@pytest.mark.parametrize(("ext", "subtype", "sr", "channels"), DECODE_CASES)
def test_decode_formats_rates_channels(write_audio, ext, subtype, sr, channels):
    path = write_audio(f"x.{ext}", seconds=1.5, sr=sr, channels=channels, subtype=subtype,
                       freq=440.0, amp=0.5)
    info = probe(path)
    assert info.sample_rate == sr
    assert info.channels == channels
    assert info.duration_s == pytest.approx(1.5, abs=0.06)

    seg = load_windows(path)
    assert seg.audio.dtype == np.float32
    assert seg.audio.ndim == 2 and seg.audio.shape[1] == SR_OUT
    # 1.5 s at hop 0.5: windows at 0.0 and 0.5 (the second one ends exactly at the end)
    assert seg.audio.shape[0] == 2
    np.testing.assert_allclose(seg.starts, [0.0, 0.5])
    assert not seg.fallback
    assert np.isfinite(seg.audio).all()
    # identical channels mix down to the same sine (mean, not sum): RMS 0.5/sqrt(2)
    high = 0.5 / np.sqrt(2)
    # libvorbis may low-pass the 5.1 LFE channel (the 6th) when encoding, depending on the rate
    low = high * 5 / 6 if (ext, channels) == ("ogg", 6) else high
    for window in seg.audio:
        assert abs(_peak_hz(window) - 440.0) <= 2.0
        assert low * 0.92 <= _rms(window) <= high * 1.08


@pytest.mark.parametrize("sr", [16_000, 44_100, 48_000])
def test_stereo_mix_is_the_mean_of_the_channels(tmp_path, sr):
    left = _sine(2.0, sr, 440.0, 0.5)
    right = _sine(2.0, sr, 1_000.0, 0.5)
    path = _write(tmp_path / "lr.wav", np.stack([left, right], axis=1), sr, "FLOAT")
    seg = load_windows(path)
    assert seg.audio.shape == (3, SR_OUT)
    for window in seg.audio:
        # both channels are present, each at half its level (average, not one channel)
        assert _amplitude_at(window, 440.0) == pytest.approx(0.25, rel=0.05)
        assert _amplitude_at(window, 1_000.0) == pytest.approx(0.25, rel=0.05)


@pytest.mark.parametrize("freq", [220.0, 1_000.0, 3_500.0])
def test_mono_mix_of_stereo_sine_keeps_its_frequency(tmp_path, freq):
    sr = 44_100
    mono = _sine(2.0, sr, freq, 0.4)
    path = _write(tmp_path / "st.flac", np.stack([mono, mono], axis=1), sr)
    seg = load_windows(path)
    for window in seg.audio:
        assert abs(_peak_hz(window) - freq) <= 2.0
        assert _amplitude_at(window, freq) == pytest.approx(0.4, rel=0.05)


# -- windowing -------------------------------------------------------------------------------

@pytest.mark.parametrize(("hop", "expected"), [
    (0.5, [0.0, 0.5, 1.0, 1.5, 2.0, 2.3]),
    (0.25, [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.3]),
    (1.0, [0.0, 1.0, 2.0, 2.3]),
])
@pytest.mark.parametrize("sr", [16_000, 44_100, 96_000])
def test_window_count_and_tail_window(write_audio, sr, hop, expected):
    path = write_audio("t.wav", seconds=3.3, sr=sr, channels=2)
    seg = load_windows(path, WindowParams(hop_s=hop))
    assert seg.audio.shape == (len(expected), SR_OUT)
    np.testing.assert_allclose(seg.starts, expected, atol=1e-6)
    assert seg.loudness.shape == (len(expected),)


def test_window_starts_directly():
    params = WindowParams()
    np.testing.assert_array_equal(window_starts(52_800, params),
                                  [0, 8_000, 16_000, 24_000, 32_000, 36_800])
    np.testing.assert_array_equal(window_starts(24_000, params), [0, 8_000])  # no tail needed
    np.testing.assert_array_equal(window_starts(16_000, params), [0])
    np.testing.assert_array_equal(window_starts(5, params), [0])


def test_windows_hold_the_right_samples_without_resampling(tmp_path):
    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal(int(3.3 * SR_OUT))).astype(np.float32)
    path = _write(tmp_path / "n16k.wav", x, SR_OUT, "FLOAT")
    seg = load_windows(path)
    for start, window in zip(seg.starts, seg.audio, strict=True):
        a = round(float(start) * SR_OUT)
        np.testing.assert_array_equal(window, x[a : a + SR_OUT])


@pytest.mark.parametrize("sr", [22_050, 44_100, 96_000])
def test_windows_are_slices_of_the_resampled_file(tmp_path, sr):
    rng = np.random.default_rng(4)
    x = (0.3 * rng.standard_normal(int(3.3 * sr))).astype(np.float32)
    path = _write(tmp_path / "n.wav", x, sr, "FLOAT")
    y = soxr.resample(x, sr, SR_OUT, quality="HQ")
    seg = load_windows(path)
    assert len(seg.audio) == 6
    for start, window in zip(seg.starts, seg.audio, strict=True):
        a = round(float(start) * SR_OUT)
        np.testing.assert_allclose(window, y[a : a + SR_OUT], atol=1e-4)


# -- short, silent and partly silent files ---------------------------------------------------

@pytest.mark.parametrize("sr", [16_000, 44_100])
@pytest.mark.parametrize("seconds", [0.05, 0.3, 0.9])
def test_short_file_gives_one_zero_padded_window(tmp_path, sr, seconds):
    x = _sine(seconds, sr, 440.0, 0.5)
    path = _write(tmp_path / "short.wav", x, sr)
    seg = load_windows(path)
    assert seg.audio.shape == (1, SR_OUT)
    assert seg.starts.tolist() == [0.0]
    assert not seg.fallback
    n = round(seconds * SR_OUT)
    assert np.abs(seg.audio[0, : n - 50]).max() > 0.4  # the sound is at the start
    assert np.abs(seg.audio[0, n + 100 :]).max() < 1e-3  # then zero padding


def test_exactly_one_second_gives_one_window(write_audio):
    seg = load_windows(write_audio("one.wav", seconds=1.0, sr=44_100))
    assert seg.audio.shape == (1, SR_OUT)
    assert np.abs(seg.audio[0, -200:]).max() > 0.1  # no padding: sound to the end


@pytest.mark.parametrize("segment_s", [30.0, 1.0])
def test_silent_file_keeps_exactly_one_window(tmp_path, segment_s):
    path = _write(tmp_path / "silence.wav", np.zeros((5 * 44_100, 2), np.float32), 44_100)
    seg = load_windows(path, WindowParams(segment_s=segment_s))
    assert seg.audio.shape == (1, SR_OUT)
    assert seg.fallback
    assert seg.loudness[0] < -100
    assert not seg.audio.any()


def test_quiet_file_keeps_its_loudest_window(tmp_path):
    sr = 16_000
    x = np.zeros(5 * sr, np.float32)
    x[3 * sr + 2_000 : 3 * sr + 6_000] = _sine(0.25, sr, 440.0, 1e-4)  # about -83 dBFS
    path = _write(tmp_path / "quiet.wav", x, sr, "FLOAT")
    seg = load_windows(path, WindowParams(segment_s=1.0))
    assert seg.audio.shape == (1, SR_OUT)
    assert seg.fallback
    assert 2.2 <= float(seg.starts[0]) <= 3.0  # a window that holds the blip
    assert np.abs(seg.audio[0]).max() > 5e-5


@pytest.mark.parametrize("segment_s", [30.0, 1.0])
def test_digital_silence_after_loud_half_is_dropped(tmp_path, segment_s):
    sr = 44_100
    x = _sine(4.0, sr, 440.0, 0.5)
    x[2 * sr :] = 0.0
    path = _write(tmp_path / "half.wav", np.stack([x, x], axis=1), sr)
    seg = load_windows(path, WindowParams(segment_s=segment_s))
    # windows 0.0–1.5 touch the sound; 2.0, 2.5 and 3.0 are digital silence
    np.testing.assert_allclose(seg.starts, [0.0, 0.5, 1.0, 1.5])
    assert not seg.fallback
    assert (seg.loudness > -20).all()
    assert seg.audio.shape == (4, SR_OUT)


# -- segmented decoding ----------------------------------------------------------------------

@pytest.mark.parametrize("sr", [16_000, 22_050, 44_100, 48_000, 96_000])
def test_segmented_decoding_matches_whole_file(tmp_path, sr):
    rng = np.random.default_rng(sr)
    x = (0.3 * rng.standard_normal((7 * sr + 123, 2))).astype(np.float32)
    path = _write(tmp_path / "noise.wav", x, sr, "FLOAT")
    whole = load_windows(path, WindowParams(segment_s=1_000.0))
    assert len(plan_segments(probe(path), WindowParams(segment_s=1_000.0))) == 1
    assert whole.audio.shape == (14, SR_OUT)
    for segment_s in (0.5, 1.0, 1.5, 3.0):
        params = WindowParams(segment_s=segment_s)
        plan = plan_segments(probe(path), params)
        assert len(plan) > 1
        # the plan tiles all windows, in order, without gaps or overlaps
        assert plan[0][0] == 0 and plan[-1][1] == 14
        assert all(a[1] == b[0] for a, b in pairwise(plan))
        parts = load_windows(path, params)
        np.testing.assert_array_equal(parts.starts, whole.starts)
        np.testing.assert_allclose(parts.audio, whole.audio, atol=1e-4)
        np.testing.assert_allclose(parts.loudness, whole.loudness, atol=1e-3)


def test_streaming_long_multichannel_file_keeps_memory_flat(tmp_path):
    """3 min of 8-channel 96 kHz 16-bit WAV (276 MB on disk, 553 MB as float32)."""
    sr, channels, minutes = 96_000, 8, 3
    path = tmp_path / "long.wav"
    second = (np.sin(2 * np.pi * 440.0 * np.arange(sr) / sr) * 12_000).astype(np.int16)
    block = np.repeat(second[:, None], channels, axis=1)
    try:
        with sf.SoundFile(str(path), "w", sr, channels, subtype="PCM_16", format="WAV") as snd:
            for _ in range(60 * minutes):
                snd.write(block)
        decoded_bytes = 60 * minutes * sr * channels * 4
        info = probe(path)
        assert info.frames == 60 * minutes * sr and info.channels == channels
        params = WindowParams()
        plan = plan_segments(info, params)
        assert len(plan) == 6 and plan[-1][1] == 359  # 0.0 … 179.0 s at hop 0.5

        k0, k1 = plan[len(plan) // 2]
        tracemalloc.start()
        try:
            seg = decode_segment(path, info, params, k0, k1)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert seg.audio.shape == (k1 - k0, SR_OUT)
        assert float(seg.starts[0]) == pytest.approx(k0 * 0.5)
        assert peak < 80e6, f"decoding one segment allocated {peak / 1e6:.0f} MB"
        assert peak < decoded_bytes / 5
        assert abs(_peak_hz(seg.audio[0]) - 440.0) <= 2.0
        assert _rms(seg.audio[0]) == pytest.approx(12_000 / 32_768 / np.sqrt(2), rel=0.05)
    finally:
        path.unlink(missing_ok=True)  # do not leave 276 MB in pytest's kept temp dirs


# -- bad sample values -----------------------------------------------------------------------

@pytest.mark.parametrize("sr", [16_000, 44_100])
def test_nan_and_inf_are_replaced(tmp_path, sr):
    x = np.stack([_sine(2.0, sr), _sine(2.0, sr)], axis=1)
    x[1_000:1_100, 0] = np.nan
    x[5_000, 1] = np.inf
    x[7_000, 0] = -np.inf
    x[sr : sr + sr // 4, :] = np.nan  # a whole quarter second of NaN in both channels
    path = _write(tmp_path / "nan.wav", x, sr, "FLOAT")
    seg = load_windows(path)
    assert seg.audio.shape == (3, SR_OUT)
    assert np.isfinite(seg.audio).all()
    assert np.isfinite(seg.loudness).all()
    assert np.abs(seg.audio).max() <= 1.5


# -- bad input -------------------------------------------------------------------------------

def _assert_audio_error(path: Path, *words: str) -> str:
    with pytest.raises(AudioError) as err:
        load_windows(path)
    message = str(err.value)
    assert message and "\n" not in message
    for word in words:
        assert word.lower() in message.lower(), message
    return message


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    _assert_audio_error(path, "empty")


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "readme.wav"
    path.write_text("These samples are royalty free. Enjoy!\n" * 30, encoding="utf-8")
    _assert_audio_error(path, "text")


def test_truncated_wav_header(tmp_path, write_audio):
    good = write_audio("good.wav", seconds=1.0)
    path = tmp_path / "trunc.wav"
    path.write_bytes(good.read_bytes()[:20])
    _assert_audio_error(path, "damaged", "wav")


def test_flac_header_followed_by_garbage(tmp_path, write_audio):
    good = write_audio("good.flac", seconds=1.0)
    rng = np.random.default_rng(7)
    path = tmp_path / "bad.flac"
    path.write_bytes(good.read_bytes()[:42] + rng.bytes(20_000))
    _assert_audio_error(path, "damaged")


def test_valid_wav_with_trailing_garbage_decodes(tmp_path, write_audio):
    good = write_audio("good.wav", seconds=1.5, sr=44_100, channels=2)
    rng = np.random.default_rng(8)
    path = tmp_path / "trailing.wav"
    path.write_bytes(good.read_bytes() + rng.bytes(3_001))
    seg = load_windows(path)
    ref = load_windows(good)
    assert seg.audio.shape == ref.audio.shape == (2, SR_OUT)
    np.testing.assert_allclose(seg.audio, ref.audio, atol=1e-6)


def test_file_deleted_before_probe(tmp_path, write_audio):
    path = write_audio("gone.wav", seconds=1.0)
    path.unlink()
    _assert_audio_error(path, "disappeared")


def test_file_deleted_between_probe_and_decode(write_audio):
    path = write_audio("gone.wav", seconds=1.0)
    info = probe(path)
    path.unlink()
    with pytest.raises(AudioError, match="disappeared"):
        decode_segment(path, info, WindowParams(), 0, 1)


def test_m4a_of_random_bytes(tmp_path):
    path = tmp_path / "loop.m4a"
    path.write_bytes(np.random.default_rng(9).bytes(5_000))
    _assert_audio_error(path, "m4a", "damaged or unreadable")


def test_folder_named_like_audio_gives_audio_error(tmp_path):
    path = tmp_path / "kick.wav"
    path.mkdir()
    _assert_audio_error(path, "cannot read")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_unreadable_file_gives_audio_error(write_audio):
    path = write_audio("locked.wav", seconds=1.0)
    path.chmod(0)
    try:
        _assert_audio_error(path, "permission")
    finally:
        path.chmod(0o644)
