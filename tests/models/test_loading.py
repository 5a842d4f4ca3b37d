"""Saving and loading weights with their JSON sidecar (models/loading.py)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import models.loading as loading
from models import (
    ModelError,
    NetworkConfig,
    build_untrained,
    load_model,
    resolve_device,
    save_model,
)

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def _audio(n: int = 4) -> torch.Tensor:
    rng = np.random.default_rng(0)
    t = np.arange(16_000) / 16_000
    rows = [0.5 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(16_000)
            for f in (110.0, 440.0, 1_760.0, 5_000.0)[:n]]
    return torch.from_numpy(np.stack(rows).astype(np.float32))


@pytest.fixture(scope="module")
def model():
    return build_untrained(seed=0)


@pytest.fixture
def saved(model, tmp_path) -> Path:
    path = tmp_path / "weights" / "test-model.pt"
    save_model(model, path, name="test-model", version="3", extra={"metrics": {"f1": 0.5}})
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- bundled weights -------------------------------------------------------------------------

def test_no_bundled_weights_is_a_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "bundle" / "sampletree.pt"
    monkeypatch.setattr(loading, "bundled_weights_path", lambda: missing)
    with pytest.raises(ModelError, match="no trained model is bundled") as err:
        load_model(None, device="cpu")
    assert str(missing) in str(err.value)


def test_bundled_weights_are_used_when_present(model, tmp_path, monkeypatch):
    bundled = tmp_path / "bundle" / "sampletree.pt"
    save_model(model, bundled, name="sampletree", version="1.0")
    monkeypatch.setattr(loading, "bundled_weights_path", lambda: bundled)
    loaded = load_model(None, device="cpu")
    assert loaded.info.name == "sampletree" and loaded.info.version == "1.0"
    assert loaded.info.sha256 == _sha256(bundled)


def test_bundled_weights_path_points_into_the_package():
    path = loading.bundled_weights_path()
    assert path.name == "sampletree.pt"
    assert path.parent.name == "weights" and path.parent.parent.name == "models"


# -- round trip ------------------------------------------------------------------------------

def test_save_load_round_trip_same_embeddings(model, tmp_path):
    path = tmp_path / "m.pt"
    info = save_model(model, path, name="rt", version="1", extra={"command": "train --x"})
    loaded = load_model(path, device="cpu")
    assert loaded.info == info
    assert loaded.info.model_id == info.model_id == f"rt-1-{_sha256(path)[:12]}"
    assert loaded.info.features == model.info.features
    assert loaded.info.network == model.info.network
    assert loaded.info.trained is False
    assert loaded.info.extra == {"command": "train --x"}
    assert loaded.device.type == "cpu"
    assert not loaded.training

    audio = _audio()
    expected = model.embed_audio(audio)
    got = loaded.embed_audio(audio)
    assert got.dtype == torch.float32 and got.shape == (4, 128)
    # saved as float16: equal within half precision
    torch.testing.assert_close(got, expected, atol=2e-3, rtol=1e-2)


def test_full_precision_round_trip_is_exact(model, tmp_path):
    path = tmp_path / "m32.pt"
    save_model(model, path, name="rt", version="1", half=False)
    loaded = load_model(path, device="cpu")
    audio = _audio(2)
    # exact up to float32 rounding: loading folds each BatchNorm into its conv
    torch.testing.assert_close(loaded.embed_audio(audio), model.embed_audio(audio),
                               atol=1e-5, rtol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.net.blocks)


def test_weights_file_is_a_plain_state_dict(saved):
    state = torch.load(saved, map_location="cpu", weights_only=True)
    assert isinstance(state, dict)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert state["project.weight"].dtype == torch.float16
    assert state["project.weight"].shape == (128, 1024)


def test_sidecar_contents(saved):
    sidecar = json.loads(saved.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["name"] == "test-model" and sidecar["version"] == "3"
    assert sidecar["sha256"] == _sha256(saved)
    assert sidecar["embedding_dim"] == 128
    assert sidecar["features"]["n_mels"] == 128 and sidecar["features"]["hop_length"] == 128
    assert sidecar["network"] == NetworkConfig().to_dict()
    assert sidecar["metrics"] == {"f1": 0.5}


# -- damaged or hostile files ----------------------------------------------------------------

def test_tampered_weights_fail_the_checksum(saved):
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        load_model(saved, device="cpu")


def test_missing_weights_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nope.pt", device="cpu")


def test_missing_sidecar(saved):
    saved.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match=r"sidecar .* is missing"):
        load_model(saved, device="cpu")


@pytest.mark.parametrize(("mangle", "word"), [
    (lambda d: "{not json", "unreadable"),
    (lambda d: "", "unreadable"),
    (lambda d: "[1, 2, 3]", "invalid"),
    (lambda d: json.dumps({k: v for k, v in d.items() if k != "sha256"}), "invalid"),
    (lambda d: json.dumps({k: v for k, v in d.items() if k != "network"}), "invalid"),
    (lambda d: json.dumps({**d, "features": {**d["features"], "bogus": 1}}), "invalid"),
    (lambda d: json.dumps({**d, "network": {**d["network"], "layers": 9}}), "invalid"),
    (lambda d: json.dumps({**d, "network": 42}), "invalid"),
], ids=["bad-json", "empty", "list", "no-sha", "no-network", "unknown-feature",
        "unknown-network", "network-not-a-dict"])
def test_invalid_sidecar(saved, mangle, word):
    sidecar = saved.with_suffix(".json")
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    sidecar.write_text(mangle(data), encoding="utf-8")
    with pytest.raises(ModelError, match=word):
        load_model(saved, device="cpu")


def test_weights_that_do_not_fit_the_architecture(saved):
    sidecar = saved.with_suffix(".json")
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["network"]["channels"] = 16  # the file holds 128-channel weights
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match="do not fit"):
        load_model(saved, device="cpu")


def test_not_a_torch_file_with_matching_checksum(tmp_path, saved):
    saved.write_bytes(b"this is not a torch file at all")
    sidecar = saved.with_suffix(".json")
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["sha256"] = _sha256(saved)
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match="cannot be read"):
        load_model(saved, device="cpu")


class _Hostile:
    """Pickles as a call to os.mkdir: loading it without weights_only would run it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickle_with_code_is_refused(tmp_path, saved):
    marker = tmp_path / "pwned"
    torch.save({"project.weight": _Hostile(str(marker))}, saved)
    sidecar = saved.with_suffix(".json")
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["sha256"] = _sha256(saved)  # a consistent sidecar: only weights_only protects us
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match="cannot be read"):
        load_model(saved, device="cpu")
    assert not marker.exists()
    torch.load(saved, weights_only=False)  # proof that the file is hostile: it runs mkdir
    assert marker.is_dir()


# -- devices ---------------------------------------------------------------------------------

@no_cuda
def test_resolve_device_auto_is_cpu_without_cuda():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_an_error(device, saved):
    with pytest.raises(ModelError, match="no CUDA GPU is available"):
        resolve_device(device)
    with pytest.raises(ModelError, match="CUDA"):
        load_model(saved, device=device)


def test_unknown_device_is_an_error():
    with pytest.raises(ModelError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_load_on_cuda_matches_cpu(model, saved):
    cpu = load_model(saved, device="cpu")
    gpu = load_model(saved, device="cuda")
    assert resolve_device("auto").type == "cuda"
    assert gpu.device.type == "cuda"
    audio = _audio()
    # cuDNN may use TF32 convolutions: close, not equal
    torch.testing.assert_close(gpu.embed_audio(audio).cpu(), cpu.embed_audio(audio),
                               atol=5e-3, rtol=1e-2)
