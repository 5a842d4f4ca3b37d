"""Sample peak (dBFS) and integrated loudness (LUFS, ITU-R BS.1770-4), measured on the
file's own samples as the decoder reads them: :class:`LevelMeter` K-weights every channel
at the file's own rate; the scan's :class:`SplitLevelMeter` (mono and stereo above 16 kHz)
K-weights the 16 kHz signal the scan makes anyway and adds the flat-weighted band above it
(the same peak; the loudness within 0.01 LU on 499 of 500 library files, see
docs/eval/analysis.md).

K-weighting is the standard's two biquads (a high shelf of +4 dB above ~1.7 kHz and a
high-pass at ~38 Hz), their coefficients derived for any sample rate from the analogue
prototype (at 48 kHz they equal the standard's table), applied as their frequency response
to FFTs of each block behind its history (the same output as the IIR filters, cheaper,
with no scipy.signal). Gating: 400 ms blocks every
100 ms, an absolute gate at −70 LUFS and a relative gate 10 LU below the mean. A file
shorter than one block is measured as a single block (the standard would give nothing,
and most one-shots are that short); one under 10 ms has no loudness. Channels are summed
with weight 1 (the 1.41 of surround channels is not applied: sample libraries are mono or
stereo).
"""

from __future__ import annotations

import functools
import math

import numpy as np

_SHELF_F0 = 1681.974450955533
_SHELF_G = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_HP_F0 = 38.13547087602444
_HP_Q = 0.5003270373238773


def k_weighting(rate: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((b, a) of the shelf, (b, a) of the high-pass) at ``rate`` Hz."""
    k = math.tan(math.pi * _SHELF_F0 / rate)
    vh = 10 ** (_SHELF_G / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / _SHELF_Q + k * k
    shelf_b = np.array([(vh + vb * k / _SHELF_Q + k * k) / a0, 2 * (k * k - vh) / a0,
                        (vh - vb * k / _SHELF_Q + k * k) / a0])
    shelf_a = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / _SHELF_Q + k * k) / a0])
    k = math.tan(math.pi * _HP_F0 / rate)
    a0 = 1 + k / _HP_Q + k * k
    hp_a = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / _HP_Q + k * k) / a0])
    hp_b = np.array([1.0, -2.0, 1.0])
    return (shelf_b, shelf_a), (hp_b, hp_a)


#: the K-weighting's impulse response is below 1e-6 of its start after this (the high-pass's
#: double pole at 38 Hz decays as t·exp(-240 t))
_TAIL_S = 0.1


def _fft_len(n: int) -> int:
    """The smallest of 2^k, 1.25 x 2^k and 1.5 x 2^k that holds ``n``: a few lengths an
    octave, so that their responses (:func:`_k_response`) are made once, not each file."""
    top = 1 << max(3, (n - 1).bit_length())
    return next(c for c in (top * 5 // 8, top * 3 // 4, top) if c >= n)


def _k_gain(rate: int, z1: np.ndarray) -> np.ndarray:
    """Both biquads' complex response at the points ``z1`` (z^-1), complex128."""
    h = np.ones(len(z1), np.complex128)
    for b, a in k_weighting(rate):
        h *= (b[0] + z1 * (b[1] + z1 * b[2])) / (a[0] + z1 * (a[1] + z1 * a[2]))
    return h


@functools.lru_cache(maxsize=256)
def _k_response(rate: int, m: int) -> np.ndarray:
    """Both biquads' frequency response at the ``m // 2 + 1`` bins of an ``m``-point real
    FFT at ``rate`` (complex64)."""
    z1 = np.exp(-2j * np.pi * np.arange(m // 2 + 1) / m)  # z^-1 on the bins
    out = _k_gain(rate, z1).astype(np.complex64)
    out.setflags(write=False)
    return out


class _Steps:
    """Sums over 100 ms steps of a per-frame quantity (channels × frames), fed in blocks:
    memory stays flat, one sum a channel a step."""

    def __init__(self, channels: int, step: int) -> None:
        self.channels = channels
        self.step = step
        self.partial = np.zeros(channels)
        self.partial_n = 0
        self.done: list[np.ndarray] = []

    def add(self, sq: np.ndarray) -> None:
        n = sq.shape[1]
        pos = 0
        if self.partial_n:  # complete the step begun by the last block
            take = min(self.step - self.partial_n, n)
            self.partial += sq[:, :take].sum(axis=1, dtype=np.float64)
            self.partial_n += take
            pos = take
            if self.partial_n == self.step:
                self.done.append(self.partial)
                self.partial = np.zeros(self.channels)
                self.partial_n = 0
        whole = (n - pos) // self.step
        if whole:  # the block's whole steps at once
            end = pos + whole * self.step
            sums = sq[:, pos:end].reshape(self.channels, whole, self.step).sum(
                axis=2, dtype=np.float64)
            self.done.extend(sums.T.copy())
            pos = end
        if pos < n:
            self.partial += sq[:, pos:].sum(axis=1, dtype=np.float64)
            self.partial_n += n - pos


def _integrated(steps: list[np.ndarray] | np.ndarray, partial: np.ndarray, partial_n: int,
                step: int) -> float | None:
    """BS.1770's gated loudness from the K-weighted energy of each 100 ms step (rows:
    steps, columns: channels) and of the incomplete step at the end; None when
    everything is below the absolute gate."""
    if len(steps) < 4:  # shorter than one 400 ms block: the whole file is the block
        total = np.sum(steps, axis=0) + partial if len(steps) else partial
        n = len(steps) * step + partial_n
        if n < max(1, step // 10):
            # under 10 ms (a file of a few samples): no loudness to speak of; it read
            # -2.7 LUFS for a one-sample file (trust review)
            return None
        power = float(np.sum(total)) / n
        if power <= 0:
            return None
        value = -0.691 + 10 * math.log10(power)
        return None if value < -70 else round(value, 2)
    s = np.array(steps)  # (n_steps, channels)
    blocks = (s[:-3] + s[1:-2] + s[2:-1] + s[3:]) / (4 * step)
    power = blocks.sum(axis=1)
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(power)
    gated = power[loud > -70]
    if not len(gated):
        return None
    rel = -0.691 + 10 * math.log10(float(gated.mean())) - 10
    final = power[(loud > -70) & (loud > rel)]
    if not len(final):
        return None
    return round(-0.691 + 10 * math.log10(float(final.mean())), 2)


def _peak_db(peak: float) -> float | None:
    """Sample peak in dBFS (None for digital silence)."""
    return None if peak <= 0 else round(20 * math.log10(peak), 2)


def _finite(block: np.ndarray) -> np.ndarray:
    """Corrupt samples (NaN, ±inf) say nothing of the level: silence."""
    if not np.isfinite(block).all():
        block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
    return block


class LevelMeter:
    """Fed the file's blocks in order (frames × channels, float), gives peak and loudness:
    every channel K-weighted at the file's own rate (the exact measure; see
    :class:`SplitLevelMeter` for the scan's cheaper one).

    Memory stays flat: only one sum of squares per channel per 100 ms is kept.
    """

    def __init__(self, rate: int, channels: int) -> None:
        self.rate = rate
        self.channels = channels
        # the last _TAIL_S of input, each channel: the filters' memory for the next block
        self._history = np.zeros((channels, max(1, round(rate * _TAIL_S))), np.float32)
        self.step = max(1, round(rate * 0.1))
        self._steps = _Steps(channels, self.step)
        self.peak = 0.0
        self.frames = 0

    def feed(self, block: np.ndarray) -> None:
        if block.ndim == 1:
            block = block[:, None]
        if not len(block):
            return
        from scipy import fft  # here: ls and the app read bit_depth alone

        x = _finite(np.ascontiguousarray(block.T, dtype=np.float32))  # channels × frames
        self.peak = max(self.peak, float(x.max()), -float(x.min()))
        # K-weighting as a product of spectra: the block behind the input that came before
        # it (the filters' memory), transformed at a length >= both together; the
        # block's part of the result is the IIR filters' output (their response has died
        # away within _TAIL_S, so neither the history's cut nor the wrap-around shows).
        # 2-3x cheaper than scipy's lfilter, and no scipy.signal import (0.4-0.6 s CPU
        # each scan, in the decode workers' forkserver).
        hist = self._history.shape[1]
        ext = np.concatenate([self._history, x], axis=1)
        m = _fft_len(ext.shape[1])
        y = fft.irfft(fft.rfft(ext, m, axis=1) * _k_response(self.rate, m), m, axis=1)
        y = y[:, hist:hist + x.shape[1]]
        self._history = ext[:, -hist:].copy()
        sq = np.square(y, out=y)
        self.frames += sq.shape[1]
        self._steps.add(sq)

    def low_band(self, y: np.ndarray, rate: int) -> None:
        """(The :class:`SplitLevelMeter`'s second input; this meter needs none.)"""

    @property
    def peak_db(self) -> float | None:
        """Sample peak in dBFS (None for digital silence)."""
        return _peak_db(self.peak)

    @property
    def lufs(self) -> float | None:
        """Integrated loudness; None when everything is below the absolute gate."""
        st = self._steps
        return _integrated(st.done, st.partial, st.partial_n, self.step)


# -- the scan's meter: the K-weighting on the 16 kHz signal the scan makes anyway -----------

#: the rate of the low band (the scan's model rate: its mono signal is the low band's mid)
LOW_RATE = 16_000


def _k_response_exact(rate: int, m: int, at_rate: int) -> np.ndarray:
    z1 = np.exp(-2j * np.pi * (np.arange(m // 2 + 1) * at_rate / m) / rate)
    out = _k_gain(rate, z1).astype(np.complex64)
    out.setflags(write=False)
    return out


#: (rate, at_rate, m's odd factor) → (the largest m made, its response)
_K_AT: dict[tuple[int, int, int], tuple[int, np.ndarray]] = {}


def _k_response_at(rate: int, m: int, at_rate: int) -> np.ndarray:
    """The K-weighting of ``rate`` (both biquads) at the bins of an ``m``-point real FFT
    of a signal sampled at ``at_rate`` (complex64, read-only).

    The FFT lengths (``_fft_len``) are 5, 3 or 1 times a power of two: the bins of ``m``
    are every ``2^j``-th bin of ``2^j m``, the same values bit for bit (``k / m`` and
    ``2k / 2m`` are the same float). So one response a rate and odd factor, the largest
    asked for, serves every shorter length of its family as a strided view. (An LRU cache
    of 64 lengths thrashed over a library's mix of rates and lengths: ~65 responses made
    a 500 files, up to 15 ms each for 30 s files.)"""
    odd = m >> ((m & -m).bit_length() - 1)
    key = (rate, at_rate, odd)
    have = _K_AT.get(key)
    if have is not None and have[0] >= m:
        big, resp = have
        return resp[::big // m]
    if len(_K_AT) >= 64:  # many rates: start again rather than grow
        _K_AT.clear()
    resp = _k_response_exact(rate, m, at_rate)
    _K_AT[key] = (m, resp)
    return resp


@functools.lru_cache(maxsize=64)
def _high_gain(rate: int) -> float:
    """The K-weighting's power gain above LOW_RATE / 2 at ``rate``: the shelf is flat there
    (+4.02 to +4.09 dB, within 0.01 dB of its mean from 7 kHz to the Nyquist
    frequency at 22.05-96 kHz)."""
    f = np.linspace(0.45 * LOW_RATE, rate / 2, 64)
    return float(np.mean(np.abs(_k_gain(rate, np.exp(-2j * np.pi * f / rate))) ** 2))


class SplitLevelMeter:
    """The scan's meter, for mono and stereo files above 16 kHz: the same peak (every
    sample, exact) and BS.1770 loudness within a measured bound (docs/eval/analysis.md:
    0.0x LU over 500 library files), at a fraction of the cost.

    The K-weighting is linear and, above ~7 kHz, a flat gain (``_high_gain``). So each
    100 ms step's K-weighted energy is split at the 16 kHz signal's band edge: the low
    band K-weighted on that 16 kHz signal (:meth:`low_band`: the scan's own resampled
    mono mix, and for stereo the side signal resampled the same way: L² + R² = 2M² + 2S²),
    plus the flat gain times the energy above it (the raw step energy, which costs one
    pass over the samples, less the low band's). Two 16 kHz FFTs a file instead of two at
    the file's rate on every channel (the meter as a whole: 1.5 instead of 2.1 CPU ms a
    file on the bench library, side signal's resampling included).

    A file with NaN or ±inf samples (silence here, as in :class:`LevelMeter`; the scan's
    mono mix clips ±inf to ±1 instead) gets its low band from the meter's own mix of the
    cleaned samples, resampled here.
    """

    def __init__(self, rate: int, channels: int) -> None:
        if channels not in (1, 2) or rate <= LOW_RATE:
            raise ValueError("the split meter is for mono and stereo files above 16 kHz")
        self.rate = rate
        self.channels = channels
        self.step = max(1, round(rate * 0.1))
        self._raw = _Steps(1, self.step)  # every channel's samples squared, summed
        # the blocks fed (cleaned), kept until low_band: the side signal is made of them
        # there, and the mid only when samples were not finite (as much memory as the
        # side and mid signals made here took)
        self._blocks: list[np.ndarray] = []
        self._dirty = False
        self._energy: tuple[np.ndarray, np.ndarray, int] | None = None
        self.peak = 0.0
        self.frames = 0

    def feed(self, block: np.ndarray) -> None:
        if block.ndim == 1:
            block = block[:, None]
        if not len(block):
            return
        x = block.astype(np.float32, copy=False)
        top, bottom = float(x.max()), float(x.min())
        if not (math.isfinite(top) and math.isfinite(bottom)):
            # max and min carry any NaN and ±inf along: no separate np.isfinite pass
            x = _finite(x)
            self._dirty = True
            top, bottom = float(x.max()), float(x.min())
        self.peak = max(self.peak, top, -bottom)
        if self.channels == 2:
            e = np.square(x[:, 0])
            e += np.square(x[:, 1])
        else:
            e = np.square(x[:, 0])
        self._blocks.append(x)
        self._raw.add(e[None, :])
        self.frames += len(x)
        self._energy = None

    def low_band(self, y: np.ndarray, rate: int) -> None:
        """The mono mix of everything fed, resampled to ``rate`` (LOW_RATE) as the scan
        does: with it, the K-weighted step energies."""
        import soxr
        from scipy import fft

        if rate != LOW_RATE:
            raise ValueError(f"the low band is at {LOW_RATE} Hz")
        ratio = rate / self.rate
        n = min(len(y), round(self.frames * ratio))
        blocks, self._blocks = self._blocks, []
        if self._dirty:  # the scan's mix clipped ±inf to ±1: our own, cleaned, instead
            mid = [(b[:, 0] + b[:, 1]) * np.float32(0.5) if self.channels == 2 else b[:, 0]
                   for b in blocks]
            y = soxr.resample(np.concatenate(mid), self.rate, rate, quality="HQ")
            n = min(len(y), n)
        rows = [np.asarray(y[:n], np.float32)]
        if self.channels == 2 and blocks:
            parts = [(b[:, 0] - b[:, 1]) * np.float32(0.5) for b in blocks]
            side = np.concatenate(parts) if len(parts) > 1 else parts[0]
            rows.append(soxr.resample(side, self.rate, rate, quality="HQ")[:n])
            n = min(n, len(rows[1]))
            rows = [r[:n] for r in rows]
        low = rows[0][None, :] if len(rows) == 1 else np.stack(rows)  # (1 or 2) × n
        m = _fft_len(n + round(rate * _TAIL_S))
        k = fft.irfft(fft.rfft(low, m, axis=1) * _k_response_at(self.rate, m, rate), m,
                      axis=1)[:, :n]
        # the native steps' edges on the low band's grid (1,600 samples at 22.05-96 kHz)
        full = len(self._raw.done)
        edges = np.minimum(np.round(np.arange(full + 1) * self.step * ratio).astype(np.int64),
                           n)
        cut = np.append(edges, n)
        lens = np.diff(cut)
        weight = 2.0 if self.channels == 2 else 1.0  # L² + R² = 2 M² + 2 S²
        kw_s, pl_s = np.zeros(len(lens)), np.zeros(len(lens))
        some = lens > 0
        if some.any():  # each non-empty step runs to the next one's start (or the end)
            at = cut[:-1][some]
            kw_s[some] = weight * np.add.reduceat(np.square(k, out=k), at, axis=1,
                                                  dtype=np.float64).sum(axis=0)
            pl_s[some] = weight * np.add.reduceat(np.square(low), at, axis=1,
                                                  dtype=np.float64).sum(axis=0)
        native = np.full(len(lens), float(self.step))
        native[-1] = self._raw.partial_n
        scale = np.where(some, native / np.maximum(lens, 1), 0.0)  # per-sample power
        raw = np.append(np.array(self._raw.done).reshape(-1), self._raw.partial)
        high = np.maximum(0.0, raw - pl_s * scale)
        steps = kw_s * scale + _high_gain(self.rate) * high
        self._energy = (steps[:full, None], steps[full:], self._raw.partial_n)

    @property
    def peak_db(self) -> float | None:
        return _peak_db(self.peak)

    @property
    def lufs(self) -> float | None:
        if self._energy is None:
            raise RuntimeError("SplitLevelMeter.lufs before low_band()")
        steps, partial, partial_n = self._energy
        return _integrated(steps, partial, partial_n, self.step)


def scan_meter(rate: int, channels: int) -> LevelMeter | SplitLevelMeter:
    """The meter a scan uses: the split one where it applies (mono and stereo above
    16 kHz: nearly every sample), the exact one otherwise."""
    if channels in (1, 2) and rate > LOW_RATE:
        return SplitLevelMeter(rate, channels)
    return LevelMeter(rate, channels)


def bit_depth(subtype: str | None) -> int | None:
    """Bits a sample from the file's subtype (``PCM_24`` → 24, ``FLOAT`` → 32,
    ``DOUBLE`` → 64); None for lossy codecs (MP3, Vorbis, Opus, AAC), which have none."""
    if not subtype:
        return None
    s = subtype.upper()
    if s in ("FLOAT",):
        return 32
    if s == "DOUBLE":
        return 64
    if s in ("ULAW", "ALAW", "G721_32", "G723_24", "G723_40", "IMA_ADPCM", "MS_ADPCM",
             "GSM610", "VOX_ADPCM", "NMS_ADPCM_16", "NMS_ADPCM_24", "NMS_ADPCM_32"):
        return None if "ADPCM" in s or s.startswith("G7") or s == "GSM610" else 8
    for token in s.replace("-", "_").split("_"):
        if token.startswith("S") and token[1:].isdigit():
            token = token[1:]
        if token.isdigit() and int(token) in (8, 12, 16, 20, 24, 32, 64):
            return int(token)
    if s in ("PCM_U8", "PCM_S8", "U8", "S8"):
        return 8
    return None


def is_float(subtype: str | None) -> bool:
    return bool(subtype) and subtype.upper() in ("FLOAT", "DOUBLE", "FLT", "FLTP", "DBL")
