"""The scan's analysis made cheaper must give the same answers: the loudness meter (its
filters applied as spectra) against a plain float64 IIR BS.1770 reference, the batched YIN
against its definition, the onsets computed only where something reads them; and the
decode workers no longer import scipy.signal (docs/eval/analysis.md, scan cost)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter

import core.analysis.rhythm as rhythm
from core.analysis import analyse
from core.analysis.level import LevelMeter, k_weighting
from core.analysis.tonal import YIN_HOP, YIN_N, YIN_THRESHOLD, _yin_frame_batch

# -- loudness ------------------------------------------------------------------------------


def _reference_lufs(x: np.ndarray, rate: int) -> float | None:
    """BS.1770-4 in float64, the whole signal filtered at once (frames × channels)."""
    (sb, sa), (hb, ha) = k_weighting(rate)
    y = lfilter(hb, ha, lfilter(sb, sa, x.astype(np.float64), axis=0), axis=0)
    step = round(rate * 0.1)
    n = len(y) // step
    steps = np.square(y[:n * step]).reshape(n, step, -1).sum(axis=1)
    if n < 4:
        power = float(np.square(y).sum()) / len(y)
        return None if power <= 0 else -0.691 + 10 * math.log10(power)
    power = ((steps[:-3] + steps[1:-2] + steps[2:-1] + steps[3:]) / (4 * step)).sum(axis=1)
    loud = -0.691 + 10 * np.log10(np.maximum(power, 1e-30))
    gated = power[loud > -70]
    rel = -0.691 + 10 * math.log10(float(gated.mean())) - 10
    return -0.691 + 10 * math.log10(float(power[(loud > -70) & (loud > rel)].mean()))


def _signals(rate: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(rate)
    t = np.arange(rate * 3) / rate
    white = rng.standard_normal((len(t), 2))
    short = t[:int(0.3 * rate)]
    return {
        # +6 dB an octave: most of its loudness is in the K-weighting's shelf
        "bright noise": np.diff(white, axis=0, prepend=0.0) * 0.3,
        # an 808-like decay near the high-pass's corner: its poles sit nearest to 1
        "50 Hz decay": (np.sin(2 * np.pi * 50 * t) * np.exp(-2 * t))[:, None] * 0.8,
        "kick, one block": (np.sin(2 * np.pi * (50 + 200 * np.exp(-30 * short)) * short)
                            * np.exp(-8 * short))[:, None],
    }


@pytest.mark.parametrize("rate", [22_050, 44_100, 96_000])
def test_the_meter_matches_a_float64_iir_reference_in_any_blocks(rate: int) -> None:
    for name, x in _signals(rate).items():
        x = x.astype(np.float32)
        ref = _reference_lufs(x, rate)
        # blocks that split 100 ms steps anywhere, down to a single frame
        for sizes in ([1 << 16], [7919, 1, 4410, 65536], [rate // 10, rate // 10 + 1]):
            m = LevelMeter(rate, x.shape[1])
            pos, i = 0, 0
            while pos < len(x):
                take = sizes[i % len(sizes)]
                m.feed(x[pos:pos + take])
                pos += take
                i += 1
            assert m.lufs is not None and ref is not None
            assert abs(m.lufs - ref) <= 0.006, (name, sizes, m.lufs, ref)  # rounding
            assert m.peak_db == round(20 * math.log10(float(np.abs(x).max())), 2)
            assert m.frames == len(x)


# -- root note: YIN ----------------------------------------------------------------------


def _yin_by_definition(frame: np.ndarray, sr: int) -> float:
    """f0 of one frame from the difference function summed term by term."""
    w = YIN_N // 2
    taus = np.arange(w + 1)
    d = np.array([float(np.sum((frame[:w] - frame[t:t + w]) ** 2)) for t in taus])
    cmnd = np.ones(w + 1)
    cmnd[1:] = d[1:] * taus[1:] / np.maximum(np.cumsum(d[1:]), 1e-12)
    lo, hi = max(2, int(sr / 2000.0)), min(w - 1, int(sr / 30.0))
    below = np.flatnonzero(cmnd[lo:hi] < YIN_THRESHOLD)
    if len(below):
        t = lo + int(below[0])
        while t + 1 < hi and cmnd[t + 1] < cmnd[t]:
            t += 1
    else:
        t = lo + int(np.argmin(cmnd[lo:hi]))
    a, b, c = cmnd[t - 1], cmnd[t], cmnd[t + 1]
    den = a - 2 * b + c
    return sr / (t + (0.5 * (a - c) / den if den > 0 else 0.0))


def test_batched_yin_matches_its_definition() -> None:
    sr = 16_000
    rng = np.random.default_rng(7)
    t = np.arange(YIN_N) / sr
    frames = [np.sin(2 * np.pi * f * t) + 0.4 * np.sin(2 * np.pi * 2 * f * t)
              for f in (41.2, 110.0, 440.0, 1318.5)]
    frames += [rng.standard_normal(YIN_N), 0.3 * np.sin(2 * np.pi * 220 * t)
               + rng.standard_normal(YIN_N) * 0.2]
    f0, _ap = _yin_frame_batch(np.array(frames), sr)
    for got, frame in zip(f0, frames, strict=True):
        assert got == pytest.approx(_yin_by_definition(frame, sr), rel=1e-9)


# -- onsets only where they are read ------------------------------------------------------


def test_a_short_one_shot_never_computes_onsets(monkeypatch: pytest.MonkeyPatch) -> None:
    sr = 16_000
    t = np.arange(int(0.6 * sr)) / sr
    note = (np.sin(2 * np.pi * 220 * t) * np.exp(-3 * t)).astype(np.float32)
    calls: list[int] = []
    real = rhythm.onsets

    def counting(y: np.ndarray, rate: int) -> rhythm.Onsets:
        calls.append(len(y))
        return real(y, rate)

    monkeypatch.setattr(rhythm, "onsets", counting)
    a = analyse(note, sr, len(note) / sr)
    assert a.kind == "oneshot" and a.root_note == "A3"
    assert calls == []  # its length decided; the onsets were never needed
    # a name that calls it a loop asks for a tempo, which reads them
    analyse(note, sr, len(note) / sr, name="tiny_loop.wav")
    assert len(calls) == 1
    # a second or more: the loop-or-one-shot guess reads them
    long = np.tile(note, 3)
    analyse(long, sr, len(long) / sr)
    assert len(calls) == 2


def test_the_decode_workers_do_without_scipy_signal(tmp_path: Path) -> None:
    """Its import cost 0.4-0.6 s of CPU at the start of every scan (the workers' forkserver
    preloaded it for the K-weighting's lfilter)."""
    from tests.analysis_signals import drum_loop, write

    path = write(tmp_path / "loop.wav", drum_loop(120.0, 2))
    code = ("import sys; from core.audio import WindowParams; import core.scanner as s; "
            f"r = s._decode_task(0, 0, {str(path)!r}, WindowParams(), None, None); "
            "assert r.analysis and r.analysis['lufs'] is not None, r.error; "
            "print('scipy.signal' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


def test_nan_and_inf_samples_do_not_make_up_a_level() -> None:
    """A float file with NaN and ±inf samples: its level is the rest's (inf once gave a
    770 dBFS peak and no loudness)."""
    from core.analysis.level import LevelMeter

    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(88_200) / 44_100)).astype(np.float32)
    bad = x.copy()
    bad[::5000] = np.nan
    bad[2500::20_000] = np.inf
    bad[7500::20_000] = -np.inf
    clean, dirty = LevelMeter(44_100, 1), LevelMeter(44_100, 1)
    clean.feed(x)
    dirty.feed(bad)
    assert dirty.peak_db == clean.peak_db
    assert dirty.lufs is not None and abs(dirty.lufs - clean.lufs) < 0.1


# -- the scan's split loudness meter ---------------------------------------------------------


def _scan_low_band(x: np.ndarray, rate: int) -> np.ndarray:
    """The scan's 16 kHz signal: the mono mix (as core.audio makes it), resampled."""
    import soxr

    from core.audio import _mix

    mono = np.empty(len(x), np.float32)
    _mix(x, mono)
    return soxr.resample(mono, rate, 16_000, quality="HQ")


def _wide_stereo(rate: int) -> np.ndarray:
    """Left and right unrelated (a side signal as loud as the mid), bright and dark."""
    rng = np.random.default_rng(rate + 1)
    n = int(2.5 * rate)
    left = np.diff(rng.standard_normal(n + 1)) * 0.2  # +6 dB an octave
    right = np.cumsum(rng.standard_normal(n)) * 0.002  # -6 dB an octave
    right -= np.convolve(right, np.ones(501) / 501, mode="same")
    return np.stack([left, right], axis=1)


@pytest.mark.parametrize("rate", [22_050, 44_100, 48_000, 96_000])
def test_the_split_meter_matches_the_exact_one(rate: int) -> None:
    from core.analysis.level import SplitLevelMeter, scan_meter

    signals = dict(_signals(rate), **{"wide stereo": _wide_stereo(rate)})
    signals["hat and kick, stereo"] = np.concatenate(
        [signals["bright noise"][: rate // 2],
         np.repeat(signals["50 Hz decay"][: rate * 2], 2, axis=1)])
    for name, x in signals.items():
        x = x.astype(np.float32)
        exact = LevelMeter(rate, x.shape[1])
        split = scan_meter(rate, x.shape[1])
        assert isinstance(split, SplitLevelMeter)
        for a in range(0, len(x), 1 << 16):  # the decoder's blocks
            exact.feed(x[a:a + (1 << 16)])
            split.feed(x[a:a + (1 << 16)])
        split.low_band(_scan_low_band(x, rate), 16_000)
        assert exact.lufs is not None and split.lufs is not None
        assert abs(split.lufs - exact.lufs) <= 0.03, (name, split.lufs, exact.lufs)
        assert split.peak_db == exact.peak_db  # the peak stays exact
        assert split.frames == exact.frames == len(x)


def test_the_scan_meter_is_exact_where_the_split_does_not_apply() -> None:
    from core.analysis.level import scan_meter

    assert type(scan_meter(44_100, 6)) is LevelMeter  # surround: every channel
    assert type(scan_meter(16_000, 2)) is LevelMeter  # nothing above the low band
    assert type(scan_meter(11_025, 1)) is LevelMeter


def test_the_split_meter_on_silence_and_a_one_block_file() -> None:
    from core.analysis.level import scan_meter

    rate = 48_000
    silent = scan_meter(rate, 2)
    silent.feed(np.zeros((rate, 2), np.float32))
    silent.low_band(np.zeros(16_000, np.float32), 16_000)
    assert silent.lufs is None and silent.peak_db is None
    t = np.arange(rate // 10) / rate  # 100 ms: one block, shorter than 400 ms
    x = (0.3 * np.sin(2 * np.pi * 6000 * t))[:, None].astype(np.float32)
    exact, split = LevelMeter(rate, 1), scan_meter(rate, 1)
    exact.feed(x)
    split.feed(x)
    split.low_band(_scan_low_band(x, rate), 16_000)
    assert split.lufs == pytest.approx(exact.lufs, abs=0.03)


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_the_mono_mix_is_numpys_mean_bit_for_bit(channels: int) -> None:
    from core.audio import _mix

    rng = np.random.default_rng(channels)
    block = rng.standard_normal((7919, channels)).astype(np.float32)
    block[::97] *= 1e-30  # denormal-sized values too
    out = np.empty(len(block), np.float32)
    _mix(block, out)
    assert out.tobytes() == block.mean(axis=1).tobytes()


# -- the same answers from cheaper code paths ------------------------------------------------


def test_root_notes_looked_at_half_first_are_the_whole_batchs() -> None:
    """YIN on a little over half the frames first (stopping when the rest could not make
    the file voiced) gives what YIN on every frame gives."""
    from core.analysis.tonal import MIN_VOICED, root_note

    sr = 16_000
    rng = np.random.default_rng(3)
    t = np.arange(int(1.6 * sr)) / sr
    tone = 0.5 * np.sin(2 * np.pi * 146.83 * t)  # D3
    noise = 0.5 * rng.standard_normal(len(t))
    cases = {"tone": tone, "noise": noise}
    for cut in (0.35, 0.45, 0.5, 0.55, 0.7):  # noise, then the tone: voiced late
        k = int(cut * len(t))
        cases[f"noise then tone at {cut}"] = np.concatenate([noise[:k], tone[k:]])
        cases[f"tone then noise at {cut}"] = np.concatenate([tone[:k], noise[k:]])
    for name, y in cases.items():
        y = y.astype(np.float32)
        y[0] = 1.0  # the onset at the start, so that the frames cover the cases' halves
        got = root_note(y, sr)
        # by the definition: every live frame through YIN at once
        seg = y[int(0.03 * sr):int(1.5 * sr)]
        fr = np.lib.stride_tricks.sliding_window_view(seg, YIN_N)[::YIN_HOP].astype(np.float64)
        rms = np.sqrt(np.mean(np.square(fr), axis=1))
        fr = fr[rms > rms.max() * 10 ** (-30 / 20)]
        _f0, ap = _yin_frame_batch(fr, sr)
        voiced = ap < 0.25
        if voiced.mean() < MIN_VOICED:
            assert got.midi is None, name
        else:
            assert got.voiced == round(float(voiced.mean()), 3), name
            assert got.f0 is not None and got.midi is not None, name
    assert root_note(tone.astype(np.float32), sr).note == "D3"


def _onsets_as_before(y: np.ndarray, sr: int) -> tuple[np.ndarray, ...]:
    """The onset envelope's formulas as first written (np.diff, a window view's max)."""
    peak = float(np.max(np.abs(y)))
    y = y / peak
    mag = rhythm.spectrogram(y, rhythm.N_FFT, rhythm.HOP)
    logm = np.log1p(1000.0 * mag)
    flux = np.maximum(0.0, np.diff(logm, axis=0, prepend=logm[:1]))
    edge = rhythm.N_FFT // (2 * rhythm.HOP)
    flux[-edge:] = 0.0
    env = flux.sum(axis=1)
    w = max(1, round(0.04 * sr / rhythm.HOP))
    window_max = np.lib.stride_tricks.sliding_window_view(
        np.pad(env, w, mode="edge"), 2 * w + 1).max(axis=1)
    return env, window_max


def test_onsets_are_the_same_bit_for_bit() -> None:
    import soxr

    from tests.analysis_signals import drum_loop

    sr = 16_000
    y = soxr.resample(drum_loop(97.0, 2).astype(np.float32), 44_100, sr, quality="HQ")
    o = rhythm.onsets(y, sr)
    env, window_max = _onsets_as_before(y, sr)
    assert o.env.tobytes() == env.tobytes()
    sounding = o.rms > o.rms.max() * 10 ** (-40 / 20)
    floor = max(rhythm.ONSET_FLOOR, rhythm.ONSET_RATIO * float(np.median(env[sounding])))
    expected = [c for c in np.flatnonzero((env >= window_max) & (env > floor))]
    assert len(o.peaks) > 8
    assert set(o.peaks.tolist()) <= set(expected)  # the maxima, then ≥ 50 ms apart


def test_windows_cut_as_slices_are_the_index_arrays() -> None:
    from core.audio import _cut_windows, _cut_windows_indexed

    rng = np.random.default_rng(5)
    win = 16_000
    for n in (100, 15_999, 16_000, 16_001, 40_123):
        y = rng.uniform(-1, 1, n).astype(np.float32)
        starts = [np.array([0]), np.arange(0, max(1, n - win + 1), 8_000),
                  np.array([0, n - win if n > win else 0, n]),  # the last one aligned
                  np.array([3, n // 2, n - 1, n])]
        for rel in starts:
            rel = rel.astype(np.int64)
            assert _cut_windows(y, rel, win).tobytes() == _cut_windows_indexed(
                y, rel, win).tobytes()
    # outside the signal (never from the decoder): the index arrays' rule still holds
    y = rng.uniform(-1, 1, 20_000).astype(np.float32)
    for rel in (np.array([-5, 0]), np.array([0, 20_001])):
        assert _cut_windows(y, rel, win).tobytes() == _cut_windows_indexed(
            y, rel, win).tobytes()


def _grid_by_definition(env: np.ndarray, fps: float, bpm: float, beats: list[int]) -> float:
    beat = 60.0 * fps / bpm
    w = max(1, round(0.03 * fps))
    vals, k = [], 0
    while beat * k < len(env) - 1:
        if k % 4 in beats:
            i = round(beat * k)
            vals.append(float(env[max(0, i - w):i + w + 1].max()))
        k += 1
    return float(np.mean(vals)) if vals else 0.0


def test_the_beat_grid_is_its_definition_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    fps = 16_000 / rhythm.HOP
    # tempi whose beats fall on half frames too (round half to even, as round() does)
    for bpm in [120.0, 93.75, 62.5, 150.0, *rng.uniform(55, 200, 60)]:
        for n in (1, 2, 7, 300, 1001):
            env = rng.random(n).astype(np.float32)
            for beats in ([1, 3], [0, 2], [0]):
                assert rhythm._grid(env, fps, bpm, beats) == _grid_by_definition(
                    env, fps, bpm, beats)


def test_yin_stops_at_half_the_frames_of_a_sound_with_no_pitch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import core.analysis.tonal as tonal

    sr = 16_000
    rows: list[int] = []
    real = tonal._yin_frame_batch

    def counting(fr: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
        rows.append(len(fr))
        return real(fr, rate)

    monkeypatch.setattr(tonal, "_yin_frame_batch", counting)
    noise = np.random.default_rng(2).standard_normal(int(1.6 * sr)).astype(np.float32)
    assert tonal.root_note(noise, sr).midi is None
    live = 1 + (int(1.47 * sr) - YIN_N) // YIN_HOP  # every frame is live: steady noise
    assert rows == [live // 2 + 1]  # a little over half, then no more
    rows.clear()
    t = np.arange(int(1.6 * sr)) / sr
    assert tonal.root_note((0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32),
                           sr).note == "A3"
    assert sum(rows) == live  # a pitched sound: every frame, in two batches


@pytest.mark.parametrize("channels", [1, 2])
def test_the_split_meter_counts_nan_and_inf_as_silence_too(channels: int) -> None:
    import soxr

    from core.analysis.level import scan_meter
    from core.audio import _mix

    rate = 44_100
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(88_200) / rate)).astype(np.float32)
    x = np.repeat(x[:, None], channels, axis=1)
    bad = x.copy()
    bad[::5000] = np.nan
    bad[2500::50] = np.inf  # enough that the mix's ±1 clicks would add ~0.6 dB
    bad[2525::50] = -np.inf
    exact, split = LevelMeter(rate, channels), scan_meter(rate, channels)
    exact.feed(bad)
    split.feed(bad)
    mono = np.empty(len(bad), np.float32)  # the scan's mix: ±inf clipped to ±1
    _mix(bad, mono)
    np.nan_to_num(mono, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    split.low_band(soxr.resample(mono, rate, 16_000, quality="HQ"), 16_000)
    assert split.peak_db == exact.peak_db
    assert split.lufs is not None and split.lufs == pytest.approx(exact.lufs, abs=0.02)


# -- the scan cheaper again, same answers (docs/eval/analysis.md, "Scan cost, third round") --


def test_yin_through_scipy_fft_is_numpys_bit_for_bit() -> None:
    """The YIN correlation's FFTs moved from numpy to scipy (cheaper here): the same bytes
    as the formula with numpy's FFTs."""
    sr = 16_000
    rng = np.random.default_rng(11)
    t = np.arange(YIN_N) / sr
    fr = np.array([np.sin(2 * np.pi * f * t) * 0.5 + 0.05 * rng.standard_normal(YIN_N)
                   for f in (55.0, 196.0, 660.0)] + [rng.standard_normal(YIN_N)])
    w = YIN_N // 2
    cross = np.fft.rfft(fr, YIN_N, axis=1) * np.conj(np.fft.rfft(fr[:, :w], YIN_N, axis=1))
    numpy_acf = np.fft.irfft(cross, YIN_N, axis=1)

    from scipy import fft

    captured: list[np.ndarray] = []
    real_irfft = fft.irfft

    def spy(*args: object, **kwargs: object) -> np.ndarray:
        out = real_irfft(*args, **kwargs)  # type: ignore[arg-type]
        captured.append(out.copy())
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fft, "irfft", spy)
        f0, _ap = _yin_frame_batch(fr, sr)
    assert len(captured) == 1
    assert captured[0].tobytes() == numpy_acf.tobytes()
    for got, frame in zip(f0[:3], fr[:3], strict=True):
        assert got == pytest.approx(_yin_by_definition(frame, sr), rel=1e-9)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_the_split_meter_finds_each_kind_of_bad_sample_alone(bad: float) -> None:
    """The meter tells a block with NaN or ±inf from its max and min (no np.isfinite pass):
    one bad sample of any kind, in a later block, sends it to its own cleaned mix, made
    of every block fed (the earlier clean ones too)."""
    import soxr

    from core.analysis.level import SplitLevelMeter
    from core.audio import _mix

    rate = 44_100
    t = np.arange(3 * 20_000) / rate
    x = np.stack([0.5 * np.sin(2 * np.pi * 330 * t), 0.3 * np.sin(2 * np.pi * 90 * t)],
                 axis=1).astype(np.float32)
    blocks = [x[:20_000].copy(), x[20_000:40_000].copy(), x[40_000:].copy()]
    blocks[1][123, 1] = bad
    clean = [np.nan_to_num(b, nan=0.0, posinf=0.0, neginf=0.0) for b in blocks]
    dirty, ref = SplitLevelMeter(rate, 2), SplitLevelMeter(rate, 2)
    for b, c in zip(blocks, clean, strict=True):
        dirty.feed(b)
        ref.feed(c)
    mono = np.empty(len(x), np.float32)
    _mix(np.concatenate(clean), mono)
    y = soxr.resample(mono, rate, 16_000, quality="HQ")
    ref.low_band(y, 16_000)
    dirty.low_band(np.zeros_like(y), 16_000)  # ignored: the meter mixes its own
    assert dirty.peak == ref.peak == pytest.approx(0.5, abs=1e-3)
    assert dirty.lufs is not None and dirty.lufs == ref.lufs


def test_analyse_cleans_only_a_signal_that_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """analyse no longer copies every signal through np.nan_to_num: a clean one is read as
    it is (and left as it was), one with NaN/inf gets the answers of its cleaned copy."""
    sr = 16_000
    t = np.arange(int(0.8 * sr)) / sr
    note = (np.sin(2 * np.pi * 110 * t) * np.exp(-3 * t)).astype(np.float32)
    calls: list[int] = []
    real = np.nan_to_num

    def counting(x: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        calls.append(len(x))
        return real(x, *args, **kwargs)  # type: ignore[arg-type]

    import core.analysis as analysis_pkg

    monkeypatch.setattr(analysis_pkg.np, "nan_to_num", counting)
    before = note.copy()
    a = analyse(note, sr, len(note) / sr)
    assert calls == [] and note.tobytes() == before.tobytes()
    bad = note.copy()
    bad[100:110] = np.nan
    bad[200] = np.inf
    b = analyse(bad, sr, len(bad) / sr)
    assert calls == [len(bad)]
    monkeypatch.undo()
    assert b == analyse(np.nan_to_num(bad), sr, len(bad) / sr)
    assert a.root_note == "A2"


def test_the_signatures_cached_window_and_lowpass_are_the_formulas() -> None:
    from core import dupsig

    for n in (16, 100, 1_000, 2_048):
        assert dupsig._hanning(n).tobytes() == np.hanning(n).tobytes()
    for n in (512, 1_024, 2_048, 4_096, 8_192):
        spec = np.ones(n // 2 + 1)
        spec[np.fft.rfftfreq(n, 1.0 / dupsig.SNIP_RATE) > dupsig.SNIP_LOWPASS_HZ] = 0
        cut = dupsig._lowpass_cut(n)
        assert spec[:cut].all() and not spec[cut:].any()


_FAULTS = """
import resource, sys
import numpy as np
{setup}
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    a = np.ones(300_000, np.float32); b = np.ones(150_000); del a, b
f0 = faults()
for _ in range(50):  # arrays of a decoded file's sizes, freed in another order than made
    a = np.ones(300_000, np.float32)
    b = np.ones(150_000)
    del a
    c = np.ones(500_000, np.float32)
    del b, c
print(faults() - f0)
"""


def _faults_after(setup: str) -> int:
    out = subprocess.run([sys.executable, "-c", _FAULTS.format(setup=setup)], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).parents[2])
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_the_decoding_process_reuses_freed_memory() -> None:
    """A scan that decodes in this process (jobs=0; the workers likewise) keeps freed
    arrays for the next file instead of faulting their pages in again each time."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc's malloc only")
    plain = _faults_after("")
    tuned = _faults_after("from core.scanner import _make_pool\n_make_pool(0)")
    assert plain > 5_000  # ~1,000 page faults a round without
    assert tuned < plain / 20


def test_the_decode_workers_tune_their_memory_first(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.scanner as scanner

    calls: list[str] = []
    monkeypatch.setattr(scanner, "keep_freed_memory", lambda: calls.append("tuned"))
    monkeypatch.setattr(scanner, "_quiet_worker", lambda: calls.append("quiet"))
    monkeypatch.setattr(scanner, "_die_with_parent", lambda: None)
    monkeypatch.setattr(scanner.threading, "Thread",
                        lambda *a, **k: type("T", (), {"start": lambda self: None})())
    scanner._init_worker(None)
    assert calls == ["tuned", "quiet"]


def test_yin_in_float32_names_the_notes_float64_named() -> None:
    """root_note's frames go through YIN in float32 (the signal's own precision; ~40 %
    less FFT work): per frame the same period and voicing as in float64 to well under a
    cent, and the same notes, confidences and voiced shares (what the library stores)."""
    from core.analysis.tonal import root_note

    sr = 16_000
    rng = np.random.default_rng(21)
    t = np.arange(int(1.2 * sr)) / sr
    for midi in (28, 40, 45, 57, 64, 69, 76, 88, 95):
        f = 440.0 * 2 ** ((midi - 69) / 12)
        tone = sum(np.sin(2 * np.pi * k * f * t) / k for k in (1, 2, 3)) * np.exp(-2 * t)
        y = (0.4 * tone + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
        y[:400] *= np.linspace(0, 1, 400, dtype=np.float32)
        fr = np.lib.stride_tricks.sliding_window_view(y[480:], YIN_N)[::512]
        f64, ap64 = _yin_frame_batch(fr.astype(np.float64), sr)
        f32, ap32 = _yin_frame_batch(np.ascontiguousarray(fr), sr)
        assert np.array_equal(ap64 < 0.25, ap32 < 0.25)
        cents = 1200 * np.abs(np.log2(f32 / f64))
        assert float(cents.max()) < 0.01, midi
        assert np.abs(ap64 - ap32).max() < 1e-4
        got = root_note(y, sr)
        assert got.midi == midi and got.confidence > 0.5


def test_onsets_reusing_their_buffers_give_every_field_as_before() -> None:
    """The onset envelope's spectrogram-sized buffers are reused (two fewer to fill): the
    frame levels and the band envelopes are the first formulas' bytes."""
    import soxr

    from tests.analysis_signals import drum_loop

    sr = 16_000
    y = soxr.resample(drum_loop(123.0, 1).astype(np.float32), 44_100, sr, quality="HQ")
    o = rhythm.onsets(y, sr)
    mag = rhythm.spectrogram(y / float(np.max(np.abs(y))), rhythm.N_FFT, rhythm.HOP)
    logm = np.log1p(np.multiply(mag, 1000.0))
    flux = np.maximum(0.0, np.diff(logm, axis=0, prepend=logm[:1]))
    flux[-(rhythm.N_FFT // (2 * rhythm.HOP)):] = 0.0
    freqs = np.fft.rfftfreq(rhythm.N_FFT, 1 / sr)
    assert o.rms.tobytes() == np.sqrt(np.mean(np.square(mag), axis=1) / rhythm.N_FFT).tobytes()
    assert o.low.tobytes() == flux[:, freqs < 150].sum(axis=1).tobytes()
    assert o.mid.tobytes() == flux[:, (freqs >= 150) & (freqs < 4000)].sum(axis=1).tobytes()
    assert o.env.tobytes() == flux.sum(axis=1).tobytes()


def test_the_k_response_of_a_shorter_fft_is_a_view_of_a_longer_ones_bit_for_bit() -> None:
    """One K-weighting response per rate and FFT-length family serves every shorter
    length as a strided view; each must be the response made for that length itself, in
    whichever order the lengths come (an LRU cache of 64 lengths thrashed before)."""
    from core.analysis import level

    lengths = sorted({level._fft_len(n) for n in range(100, 600_000, 1_999)})
    assert {m >> ((m & -m).bit_length() - 1) for m in lengths} == {1, 3, 5}
    for rate in (22_050, 44_100, 96_000):
        for order in (lengths, lengths[::-1]):
            level._K_AT.clear()
            for m in order:
                got = level._k_response_at(rate, m, 16_000)
                want = level._k_response_exact(rate, m, 16_000)
                assert got.shape == (m // 2 + 1,) and not got.flags.writeable
                np.testing.assert_array_equal(got, want)
        # three families a rate: three responses kept, not one per length
        assert sum(1 for k in level._K_AT if k[0] == rate) == 3
    level._K_AT.clear()


def test_yin_reads_a_frame_every_64_ms(monkeypatch: pytest.MonkeyPatch) -> None:
    """The root note is the median pitch over the frames of a held sound: one frame every
    1,024 samples (64 ms at 16 kHz; 32 ms before) names the same notes."""
    from core.analysis import tonal

    sr = 16_000
    real = tonal._yin_frame_batch
    starts: list[np.ndarray] = []

    def recording(fr: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
        starts.append(fr)
        return real(fr, rate)

    monkeypatch.setattr(tonal, "_yin_frame_batch", recording)
    t = np.arange(int(1.6 * sr)) / sr
    y = (0.5 * np.sin(2 * np.pi * 146.83 * t)).astype(np.float32)  # D3
    y[0] = 1.0  # the onset at the start
    got = tonal.root_note(y, sr)
    assert got.note == "D3" and got.voiced == 1.0
    frames = np.concatenate(starts)
    seg = y[int(0.03 * sr):int(1.5 * sr)]
    assert len(frames) == 1 + (len(seg) - YIN_N) // 1024
    np.testing.assert_array_equal(frames[1], seg[1024:1024 + YIN_N])


def test_a_one_shots_key_gate_looks_at_half_the_frames_and_its_key_at_all(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Most one-shots (drums) stop at the flatness test of the key's first test, now made
    on frames 4,096 samples apart; one that passes it is tested and keyed on every frame
    (2,048 apart) as before: a key read from half the frames lost a chord's."""
    from core.analysis import tonal
    from tests.analysis_signals import drum_loop

    hops: list[int] = []
    real = tonal._key_spectrogram

    def recording(y: np.ndarray, hop: int = tonal.KEY_HOP) -> np.ndarray:
        hops.append(hop)
        return real(y, hop)

    monkeypatch.setattr(tonal, "_key_spectrogram", recording)
    sr = 16_000
    import soxr

    hit = soxr.resample(drum_loop(120.0, 1).astype(np.float32), 44_100, sr,
                        quality="HQ")[:int(0.4 * sr)]
    a = analyse(hit, sr, len(hit) / sr)
    assert a.kind == "oneshot" and a.key is None
    assert hops == [2 * tonal.KEY_HOP]
    hops.clear()
    t = np.arange(int(0.9 * sr)) / sr
    chord = sum(np.sin(2 * np.pi * 440 * 2 ** (k / 12) * t) for k in (0, 3, 7))  # A minor
    chord = (0.3 * chord * np.exp(-2 * t)).astype(np.float32)
    a = analyse(chord, sr, len(chord) / sr)
    assert a.kind == "oneshot"
    assert hops[0] == 2 * tonal.KEY_HOP and tonal.KEY_HOP in hops[1:]
