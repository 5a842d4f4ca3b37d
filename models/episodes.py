"""Few-shot episodes over the corpus, and the audio augmentation used in training.

An episode draws N classes of one split, K support and Q query clips a class. Support
and query come from different independence groups (SoundFont families, drum-kit authors)
whenever the class has more than one, so an episode never asks the net to match a
recording with itself; otherwise they are at least different clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.corpus import SR, Corpus
from models.taxonomy import Taxonomy

WINDOW = SR  # 1 s


@dataclass
class Episode:
    classes: list[str]
    support: np.ndarray  # clip indices, N*K, class-major
    query: np.ndarray  # clip indices, N*Q, class-major
    k_shot: int
    n_query: int

    def labels(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.classes)
        s = torch.arange(n, device=device).repeat_interleave(self.k_shot)
        q = torch.arange(n, device=device).repeat_interleave(self.n_query)
        return s, q

    def level_maps(self, taxonomy: Taxonomy, height: int,
                   device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """Per height 0..height: episode class → index of its ancestor among the episode's."""
        maps = []
        for h in range(height + 1):
            names = [taxonomy.ancestor(c, h) for c in self.classes]
            index = {n: i for i, n in enumerate(dict.fromkeys(names))}
            maps.append(torch.tensor([index[n] for n in names], device=device))
        return maps


class EpisodeSampler:
    def __init__(self, corpus: Corpus, classes: list[str], n_way: int, k_shot: int,
                 n_query: int, seed: int = 0) -> None:
        by_class = corpus.by_class()
        self.classes = [c for c in classes if len(by_class.get(c, ())) >= k_shot + n_query]
        if not self.classes:
            raise ValueError("no class has enough clips for these episodes")
        self.n_way = min(n_way, len(self.classes))
        self.k_shot, self.n_query = k_shot, n_query
        self.groups: dict[str, dict[str, list[int]]] = {}
        for c in self.classes:
            g: dict[str, list[int]] = {}
            for i in by_class[c]:
                g.setdefault(corpus.meta[i].group, []).append(i)
            self.groups[c] = g
        self.rng = np.random.default_rng(seed)

    def _split_class(self, c: str) -> tuple[list[int], list[int]]:
        k, q = self.k_shot, self.n_query
        groups = self.groups[c]
        names = sorted(groups)
        rng = self.rng
        if len(names) > 1:
            # support from one group, query from the others (when they hold enough)
            for g in rng.permutation(names):
                others = [i for n in names if n != g for i in groups[n]]
                if len(groups[g]) >= k and len(others) >= q:
                    s = rng.choice(groups[g], k, replace=False)
                    qq = rng.choice(others, q, replace=False)
                    return list(s), list(qq)
        pool = [i for n in names for i in groups[n]]
        pick = rng.choice(pool, k + q, replace=False)
        return list(pick[:k]), list(pick[k:])

    def sample(self) -> Episode:
        chosen = [self.classes[i] for i in
                  sorted(self.rng.choice(len(self.classes), self.n_way, replace=False))]
        support, query = [], []
        for c in chosen:
            s, q = self._split_class(c)
            support += s
            query += q
        return Episode(chosen, np.array(support), np.array(query), self.k_shot, self.n_query)


def windows(corpus: Corpus, idx: np.ndarray, offsets: np.ndarray | None = None) -> torch.Tensor:
    """1 s windows of clips (float32, at ``offsets`` samples from the onset; 0 by default)."""
    out = np.zeros((len(idx), WINDOW), np.float32)
    for row, (i, off) in enumerate(zip(idx, offsets if offsets is not None
                                       else np.zeros(len(idx), int), strict=True)):
        seg = corpus.audio[int(i), int(off):int(off) + WINDOW]
        out[row, : len(seg)] = seg
    return torch.from_numpy(out) / 32768.0


@dataclass
class AugmentConfig:
    """Probabilities and ranges of each augmentation (all on by default in training)."""

    shift_s: float = 0.25  # random start within the clip, or a delay before the onset
    gain_db: tuple[float, float] = (-18.0, 0.0)
    p_pitch: float = 0.5
    pitch_semitones: float = 0.5
    p_eq: float = 0.7
    eq_db: float = 8.0
    p_reverb: float = 0.4
    rt60_s: tuple[float, float] = (0.15, 1.5)
    p_noise: float = 0.5
    snr_db: tuple[float, float] = (12.0, 45.0)
    p_mix: float = 0.25
    mix_db: tuple[float, float] = (-24.0, -9.0)


def random_offsets(n: int, clip_len: int, rng: np.random.Generator, shift_s: float) -> np.ndarray:
    return rng.integers(0, max(1, min(clip_len - WINDOW, round(shift_s * SR)) + 1), n)


def pitch_shift(x: torch.Tensor, semitones: float) -> torch.Tensor:
    """A batch of windows resampled to sound ``semitones`` higher (shorter, zero-padded)
    or lower (longer, cut), by linear interpolation: the pitch augmentation's resampling."""
    if semitones == 0:
        return x
    t = x.shape[1]
    y = F.interpolate(x[:, None], scale_factor=1 / 2 ** (semitones / 12), mode="linear",
                      align_corners=False)[:, 0]
    return F.pad(y, (0, max(0, t - y.shape[1])))[:, :t]


class Augment:
    """Carries SoundFont renders towards real recordings: gain, pitch jitter, EQ, reverb,
    noise, time shift and mixing — on a batch of 1 s windows, in torch."""

    def __init__(self, config: AugmentConfig, seed: int = 0) -> None:
        self.c = config
        self.g = torch.Generator().manual_seed(seed)

    def _u(self, n: int, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=self.g)

    def _p(self, n: int, p: float) -> torch.Tensor:
        return torch.rand(n, generator=self.g) < p

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        c = self.c
        b, t = x.shape
        x = x.clone()
        # time shift: delay some windows (silence before the onset)
        delay = (self._u(b, -1, 1).clamp(min=0) * c.shift_s * 0.5 * SR).long()
        for i in torch.nonzero(delay > 0).flatten().tolist():
            d = int(delay[i])
            x[i, d:] = x[i, : t - d].clone()
            x[i, :d] = 0
        # pitch jitter: resample by ±pitch_semitones
        for i in torch.nonzero(self._p(b, c.p_pitch)).flatten().tolist():
            x[i] = pitch_shift(x[i:i + 1], float(self._u(1, -1, 1)) * c.pitch_semitones)[0]
        spec = torch.fft.rfft(x, n=2 * t)
        freqs = torch.linspace(0, 1, spec.shape[1])
        # EQ: a smooth random curve (a few cosines on a log-ish axis), ±eq_db
        eq = self._p(b, c.p_eq)
        if eq.any():
            k = torch.arange(1, 5, dtype=torch.float32)
            amp = self._u(b * 4, -1, 1).view(b, 4) * (c.eq_db / 4)
            phase = self._u(b * 4, 0, math.pi).view(b, 4)
            axis = freqs.sqrt()[None, None, :]
            curve_db = (amp[:, :, None] * torch.cos(math.pi * k[None, :, None] * axis
                                                    + phase[:, :, None])).sum(1)
            gain = torch.where(eq[:, None], 10 ** (curve_db / 20), torch.ones_like(curve_db))
            spec = spec * gain
        # reverb: exponentially decaying noise, convolved in the frequency domain
        rv = self._p(b, c.p_reverb)
        if rv.any():
            n_ir = t // 2
            tt = torch.arange(n_ir) / SR
            rt = self._u(b, *c.rt60_s)
            ir = torch.randn(b, n_ir, generator=self.g) * torch.exp(-6.9 * tt[None] / rt[:, None])
            ir = ir / ir.pow(2).sum(1, keepdim=True).sqrt().clamp(min=1e-9)
            wet = self._u(b, 0.1, 0.6)
            ir_spec = torch.fft.rfft(ir, n=2 * t)
            mixed = (1 - wet[:, None]) * spec + wet[:, None] * spec * ir_spec
            spec = torch.where(rv[:, None], mixed, spec)
        x = torch.fft.irfft(spec, n=2 * t)[:, :t]
        # mixing: another window of the batch underneath
        mx = self._p(b, c.p_mix)
        if mx.any() and b > 1:
            other = x[torch.randperm(b, generator=self.g)]
            level = 10 ** (self._u(b, *c.mix_db) / 20)
            rms_x = x.pow(2).mean(1).sqrt().clamp(min=1e-6)
            rms_o = other.pow(2).mean(1).sqrt().clamp(min=1e-6)
            x = torch.where(mx[:, None], x + other * (level * rms_x / rms_o)[:, None], x)
        # noise at a random SNR
        nz = self._p(b, c.p_noise)
        if nz.any():
            snr = self._u(b, *c.snr_db)
            rms = x.pow(2).mean(1).sqrt().clamp(min=1e-6)
            noise = torch.randn(b, t, generator=self.g) * (rms / 10 ** (snr / 20))[:, None]
            x = torch.where(nz[:, None], x + noise, x)
        # gain
        peak = x.abs().amax(1).clamp(min=1e-6)
        x = x / peak[:, None] * 10 ** (self._u(b, *c.gain_db) / 20)[:, None]
        return x
