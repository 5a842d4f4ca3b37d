"""Log-mel front end and embedding network (models/features.py, models/network.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import EmbeddingNet, FeatureParams, LogMel, NetworkConfig, build_untrained
from models.features import mel_filterbank

SR = 16_000


def _signals() -> np.ndarray:
    """Deterministic 1 s test windows, float32, shape (4, 16000)."""
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    noise = 0.01 * rng.standard_normal(SR)
    sine = 0.5 * np.sin(2 * np.pi * 440.0 * t) + noise
    white = 0.1 * rng.standard_normal(SR)
    chirp = 0.3 * np.sin(2 * np.pi * (100.0 * t + 3_450.0 * t**2)) + noise  # 100 → 7000 Hz
    burst = np.zeros(SR)
    burst[4_000:6_000] = 0.8 * rng.standard_normal(2_000)  # a click-like event, then nothing
    return np.stack([sine, white, chirp, burst]).astype(np.float32)


def _sine_window(freq: float = 440.0, amp: float = 0.5) -> torch.Tensor:
    t = np.arange(SR) / SR
    return torch.from_numpy((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32))[None]


# -- log-mel ---------------------------------------------------------------------------------

def test_feature_params_defaults():
    p = FeatureParams()
    assert p.window_samples == 16_000
    assert p.n_frames == 126
    assert FeatureParams.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="unknown feature parameters"):
        FeatureParams.from_dict({**p.to_dict(), "hop": 3})


@pytest.mark.parametrize("batch", [1, 3])
def test_logmel_shape(batch):
    logmel = LogMel(FeatureParams())
    audio = torch.from_numpy(_signals()[:batch])
    out = logmel(audio)
    assert out.shape == (batch, 128, 126)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_logmel_of_silence_is_the_log_offset():
    out = LogMel(FeatureParams())(torch.zeros(2, SR))
    torch.testing.assert_close(out, torch.full((2, 128, 126), float(np.log(1e-4))))


def test_logmel_peak_is_in_the_mel_band_of_the_tone():
    p = FeatureParams()
    fb = mel_filterbank(p)
    for freq in (250.0, 1_000.0, 4_000.0):
        out = LogMel(p)(_sine_window(freq))[0]
        band = int(out[:, 10:-10].mean(dim=1).argmax())
        fft_bin = round(freq * p.n_fft / SR)
        assert band == int(np.argmax(fb[:, fft_bin]))


def test_logmel_magnitude_is_the_complex_modulus_bit_for_bit_as_before():
    """The magnitude is sqrt(re*re + im*im) on the STFT's real view: the same float32 bits
    as the earlier square().sum(-1).sqrt() (so every stored embedding stays valid) and the
    complex modulus to rounding."""
    p = FeatureParams(n_fft=1024, hop_length=256)
    mel = LogMel(p)
    audio = torch.randn(4, 16_000, generator=torch.Generator().manual_seed(5)) * 0.3
    spec = torch.stft(audio, n_fft=p.n_fft, hop_length=p.hop_length, win_length=p.win_length,
                      window=mel.window, center=True, pad_mode="constant", return_complex=True)
    before = torch.view_as_real(spec).square().sum(-1).sqrt()
    expected = torch.log(torch.matmul(mel.mel_fb, before) + p.log_offset)
    assert torch.equal(mel(audio), expected)
    torch.testing.assert_close(before, spec.abs(), rtol=1e-5, atol=1e-6)


def test_mel_filterbank_matches_librosa():
    import librosa

    p = FeatureParams()
    ref = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=128, fmin=0.0, fmax=8_000.0)
    ours = mel_filterbank(p)
    assert ours.shape == ref.shape == (128, 1025)
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)


@pytest.mark.slow  # librosa's first call compiles numba kernels (~20 s once per machine)
def test_logmel_matches_librosa():
    import librosa

    audio = _signals()
    ours = LogMel(FeatureParams())(torch.from_numpy(audio)).numpy()
    for y, out in zip(audio, ours, strict=True):
        mel = librosa.feature.melspectrogram(
            y=y, sr=SR, n_fft=2048, win_length=512, hop_length=128, n_mels=128, fmax=8_000,
            power=1.0, center=True, pad_mode="constant",
        )
        ref = np.log(mel + 1e-4)
        assert ref.shape == out.shape == (128, 126)
        # float32 FFT round-off near the log offset is the only difference (float64 agrees
        # to ~1e-7); pure tones with no noise floor approach 1e-3, these inputs stay well below
        np.testing.assert_allclose(out, ref, atol=1e-3, rtol=0)


# -- network ---------------------------------------------------------------------------------

def test_embedding_net_output_shape_and_parameter_count():
    net = EmbeddingNet(NetworkConfig()).eval()
    n_params = sum(p.numel() for p in net.parameters())
    assert 500_000 <= n_params <= 700_000, n_params  # the paper's ~0.58 M
    with torch.no_grad():
        out = net(torch.randn(3, 128, 126))
    assert out.shape == (3, 128)
    assert torch.isfinite(out).all()


def test_embedding_net_other_config_and_lengths():
    net = EmbeddingNet(NetworkConfig(channels=16, embedding_dim=64)).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 128, 126)).shape == (2, 64)
        assert net(torch.randn(2, 128, 251)).shape == (2, 64)  # longer windows: max over time
    with pytest.raises(ValueError, match="divisible"):
        EmbeddingNet(NetworkConfig(n_mels=100))
    with pytest.raises(ValueError, match="unknown network parameters"):
        NetworkConfig.from_dict({"n_mels": 128, "layers": 3})
    assert NetworkConfig.from_dict(NetworkConfig().to_dict()) == NetworkConfig()


def test_embeddings_do_not_depend_on_the_batch():
    model = build_untrained(seed=0)
    audio = torch.from_numpy(_signals())
    together = model.embed_audio(audio)
    alone = torch.cat([model.embed_audio(audio[i : i + 1]) for i in range(len(audio))])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    assert together.shape == (4, 128)


def test_build_untrained_is_deterministic_by_seed():
    a, b, c = build_untrained(seed=0), build_untrained(seed=0), build_untrained(seed=1)
    assert a.info.sha256 == b.info.sha256 != c.info.sha256
    x = _sine_window()
    torch.testing.assert_close(a.embed_audio(x), b.embed_audio(x))
    assert not torch.allclose(a.embed_audio(x), c.embed_audio(x))


# Computed once (torch 2.13 CPU) from build_untrained(seed=0) and a 0.5-amplitude 440 Hz sine.
# A change here means the features or the network changed: every stored library would need
# re-embedding, so change these numbers only on purpose.
GOLDEN_FIRST_8 = [
    -0.02685590, -0.03082750, 0.13546631, -0.04551047,
    0.08493059, 0.07889390, 0.20745829, 0.14077711,
]


def test_golden_embedding_of_untrained_default_model():
    model = build_untrained(seed=0)
    emb = model.embed_audio(_sine_window(440.0, 0.5))
    assert emb.shape == (1, 128)
    np.testing.assert_allclose(emb[0, :8].numpy(), GOLDEN_FIRST_8, atol=1e-4, rtol=0)
