"""Log-mel features computed in torch, on whatever device the model lives on.

The parameters travel with the model weights (the JSON sidecar), so a library is
always embedded with the features the network was trained on.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class FeatureParams:
    """Audio front end of a model: 1 s windows at 16 kHz → 128-bin log-mel."""

    sample_rate: int = 16_000
    window_s: float = 1.0
    n_fft: int = 2048
    win_length: int = 512
    hop_length: int = 128
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 8_000.0
    power: float = 1.0
    log_offset: float = 1e-4

    @property
    def window_samples(self) -> int:
        return round(self.sample_rate * self.window_s)

    @property
    def n_frames(self) -> int:
        """Frames per window (centered STFT)."""
        return 1 + self.window_samples // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureParams:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feature parameters: {sorted(unknown)}")
        return cls(**data)


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney mel scale (linear below 1 kHz, logarithmic above), as librosa's default."""
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    log_region = freq >= min_log_hz
    mels[log_region] = min_log_mel + np.log(freq[log_region] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    log_region = mels >= min_log_mel
    freqs[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    return freqs


def mel_filterbank(params: FeatureParams) -> np.ndarray:
    """Slaney-normalised triangular mel filters, shape (n_mels, n_fft // 2 + 1)."""
    n_bins = params.n_fft // 2 + 1
    fft_freqs = np.linspace(0.0, params.sample_rate / 2, n_bins)
    mel_pts = np.linspace(
        _hz_to_mel(np.array([params.fmin]))[0],
        _hz_to_mel(np.array([params.fmax]))[0],
        params.n_mels + 2,
    )
    hz_pts = _mel_to_hz(mel_pts)
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (hz_pts[2 : params.n_mels + 2] - hz_pts[: params.n_mels])
    return (weights * enorm[:, None]).astype(np.float32)


class LogMel(nn.Module):
    """Tensor[B x T] audio at ``params.sample_rate`` → Tensor[B x n_mels x frames] log-mel."""

    def __init__(self, params: FeatureParams) -> None:
        super().__init__()
        self.params = params
        self.register_buffer("window", torch.hann_window(params.win_length), persistent=False)
        self.register_buffer(
            "mel_fb", torch.from_numpy(mel_filterbank(params)), persistent=False
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        p = self.params
        spec = torch.stft(
            audio.float(),
            n_fft=p.n_fft,
            hop_length=p.hop_length,
            win_length=p.win_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        # sqrt(re * re + im * im) on the real view: the same values as complex .abs() to
        # float32 rounding, 2.3x faster on CPU; and the same bits as square().sum(-1), which
        # reduces over a 2-wide axis and took 4x as long (a scan embeds on one core)
        v = torch.view_as_real(spec)
        re, im = v[..., 0], v[..., 1]
        spec = (re * re).add_(im * im).sqrt_()
        if p.power != 1.0:
            spec = spec.pow(p.power)
        mel = torch.matmul(self.mel_fb, spec)
        return torch.log(mel + p.log_offset)
