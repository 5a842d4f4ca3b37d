"""Audition stream: any file the library reads, at the card's rate and channel count."""

from __future__ import annotations

import numpy as np
import pytest

from core.audition import AuditionStream, map_channels, to_bytes
from core.errors import AudioError


def _drain(stream: AuditionStream) -> np.ndarray:
    blocks = []
    while len(block := stream.read()):
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.zeros((0, stream.channels), np.float32)


@pytest.mark.parametrize(("sr", "channels", "subtype", "name"), [
    (22_050, 1, "PCM_24", "a.wav"), (48_000, 2, None, "b.flac"), (44_100, 6, "FLOAT", "c.wav"),
    (96_000, 1, None, "d.aiff"), (44_100, 2, None, "e.ogg")])
def test_any_file_comes_out_at_the_output_format(write_audio, sr, channels, subtype,
                                                 name) -> None:
    path = write_audio(name, seconds=1.5, sr=sr, channels=channels, subtype=subtype,
                       freq=440.0, amp=0.5)
    out = _drain(AuditionStream(path, 44_100, 2))
    assert out.dtype == np.float32 and out.shape[1] == 2
    assert abs(len(out) - 1.5 * 44_100) < 0.01 * 44_100  # the whole file, resampled
    assert 0.4 < np.abs(out).max() <= 1.0
    spectrum = np.abs(np.fft.rfft(out[:, 0] * np.hanning(len(out))))
    assert abs(np.argmax(spectrum) * 44_100 / len(out) - 440) < 3


def test_start_time_and_the_end(write_audio) -> None:
    path = write_audio("long.flac", seconds=4.0, sr=48_000)
    stream = AuditionStream(path, 48_000, 1, start_s=3.0)
    assert stream.start_s == 3.0 and stream.duration_s == pytest.approx(4.0)
    assert len(_drain(stream)) == 48_000 and stream.done
    assert len(stream.read()) == 0  # and stays ended
    late = AuditionStream(path, 48_000, 1, start_s=99.0)
    assert late.start_s == pytest.approx(4.0) and len(_drain(late)) == 0


def test_channels_are_mixed_spread_or_folded() -> None:
    x = np.array([[0.1, 0.3, 0.5, 0.7]], np.float32)  # one frame, 4 channels
    assert map_channels(x, 1)[0].tolist() == pytest.approx([0.4])
    assert map_channels(x, 2)[0].tolist() == pytest.approx([0.3, 0.5])  # even left, odd right
    assert map_channels(x[:, :1], 2)[0].tolist() == pytest.approx([0.1, 0.1])
    assert map_channels(x[:, :2], 3)[0].tolist() == pytest.approx([0.1, 0.3, 0.1])


def test_nan_and_overs_are_made_safe(write_audio, tmp_path) -> None:
    import soundfile as sf

    x = np.array([0.5, np.nan, 3.0, -np.inf] * 1000, np.float32)
    sf.write(tmp_path / "bad.wav", x, 44_100, subtype="FLOAT")
    out = _drain(AuditionStream(tmp_path / "bad.wav", 44_100, 1))
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0


def test_output_sample_formats() -> None:
    x = np.array([[-1.0, 0.0, 0.5, 1.0]], np.float32).T
    assert np.frombuffer(to_bytes(x, "int16"), "<i2").tolist() == [-32767, 0, 16383, 32767]
    assert np.frombuffer(to_bytes(x, "float"), "<f4").tolist() == [-1.0, 0.0, 0.5, 1.0]
    assert np.frombuffer(to_bytes(x, "uint8"), np.uint8).tolist() == [1, 128, 191, 255]
    assert np.frombuffer(to_bytes(x, "int32"), "<i4")[-1] == 2147483647
    with pytest.raises(ValueError):
        to_bytes(x, "int24")


def test_unplayable_files_say_why(tmp_path, write_audio) -> None:
    with pytest.raises(AudioError, match="disappeared"):
        AuditionStream(tmp_path / "gone.wav", 44_100, 2)
    (tmp_path / "notes.wav").write_text("these are my notes, not audio " * 20)
    with pytest.raises(AudioError, match=r"text|damaged|recognised"):
        AuditionStream(tmp_path / "notes.wav", 44_100, 2)
