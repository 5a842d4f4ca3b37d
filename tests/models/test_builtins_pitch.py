"""models.builtins: examples embedded averaged over pitch shifts (--pitch-average)."""

from __future__ import annotations

import numpy as np
import torch

from models import build_untrained
from models.builtins import embed_clips, embed_clips_pitch_averaged

SR = 16_000


def _tone(freq: float, seconds: float, total: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    y = 0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t)
    return np.pad(y, (0, int(total * SR) - len(y)))


def test_an_octave_up_is_the_tone_an_octave_higher_and_no_shift_is_the_plain_embedding():
    torch.manual_seed(0)
    model = build_untrained()
    low = (_tone(220, 1.5) * 32767).astype(np.int16)[None]
    np.testing.assert_allclose(embed_clips_pitch_averaged(model, low, (0,)),
                               embed_clips(model, low), atol=1e-6)
    # 220 Hz for 1.5 s played twice as fast: 440 Hz for 0.75 s, then silence
    up = embed_clips_pitch_averaged(model, low, (12,))
    high = np.pad(_tone(220, 1.5)[::2], (0, int(0.75 * SR)))
    want = embed_clips(model, (high * 32767).astype(np.int16)[None])
    assert np.linalg.norm(up - want) < 0.05 * np.linalg.norm(want)
    # the average over shifts is the mean of the shifted embeddings
    both = embed_clips_pitch_averaged(model, low, (0, 12))
    np.testing.assert_allclose(both, (embed_clips(model, low) + up) / 2, atol=1e-5)
