"""Loading and saving model weights with their JSON sidecar.

A weights file is untrusted input: it is loaded with ``weights_only=True`` and
checked against the sha256 in its sidecar before use.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.features import FeatureParams, LogMel
from models.network import EmbeddingNet, NetworkConfig, fuse_for_inference

BUNDLED_NAME = "sampletree"
#: Sidecar keys ModelInfo holds itself (embedding_dim is derived from the network);
#: everything else is kept in ``extra``.
_SIDECAR_KEYS = frozenset(
    {"name", "version", "sha256", "features", "network", "trained", "embedding_dim"}
)


class ModelError(Exception):
    """A model could not be found, verified or loaded; the message says why."""


@dataclass(frozen=True)
class ModelInfo:
    """What the sidecar says about a set of weights."""

    name: str
    version: str
    sha256: str
    features: FeatureParams
    network: NetworkConfig
    trained: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        """Stable id of these exact weights; libraries never mix embeddings across ids."""
        return f"{self.name}-{self.version}-{self.sha256[:12]}"

    @property
    def dim(self) -> int:
        return self.network.embedding_dim


class EmbeddingModel(nn.Module):
    """Log-mel front end plus embedding network, on one device, in eval mode."""

    def __init__(self, info: ModelInfo, net: EmbeddingNet) -> None:
        super().__init__()
        self.info = info
        self.features = LogMel(info.features)
        self.net = net
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.inference_mode()
    def embed(self, logmel: torch.Tensor) -> torch.Tensor:
        """Tensor[B x n_mels x frames] → Tensor[B x D] (float32)."""
        return self.net(logmel.to(self.device)).float()

    @torch.inference_mode()
    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """Tensor[B x window_samples] audio at the model's rate → Tensor[B x D]."""
        return self.embed(self.features(audio.to(self.device)))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; asking for CUDA without one is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for, but no CUDA GPU is available")
    if device not in {"cpu"} and not device.startswith("cuda"):
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda")
    return torch.device(device)


def bundled_weights_path() -> Path:
    """Where the app's own weights live (inside the package, or PyInstaller's bundle)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "models" / "weights" / f"{BUNDLED_NAME}.pt"
    return Path(str(resources.files("models") / "weights" / f"{BUNDLED_NAME}.pt"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_sidecar(weights: Path) -> ModelInfo:
    sidecar = weights.with_suffix(".json")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model sidecar {sidecar} is missing") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"model sidecar {sidecar} is unreadable: {exc}") from None
    try:
        return ModelInfo(
            name=str(data["name"]),
            version=str(data["version"]),
            sha256=str(data["sha256"]),
            features=FeatureParams.from_dict(data["features"]),
            network=NetworkConfig.from_dict(data["network"]),
            trained=bool(data.get("trained", True)),
            extra={k: v for k, v in data.items()
                   if k not in _SIDECAR_KEYS},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model sidecar {sidecar} is invalid: {exc}") from None


def load_model(
    path: str | Path | None = None, device: str | torch.device = "auto"
) -> EmbeddingModel:
    """Load weights (the bundled ones when ``path`` is None) onto ``device``.

    Raises :class:`ModelError` when the weights are missing, do not match the sha256
    of their sidecar, or do not fit the architecture the sidecar describes. There is
    no fallback to untrained weights.
    """
    weights = Path(path) if path is not None else bundled_weights_path()
    if not weights.is_file():
        if path is None:
            raise ModelError(
                "no trained model is bundled with this copy of Sampletree "
                f"(expected {weights}); embeddings need trained weights"
            )
        raise ModelError(f"model weights {weights} not found")
    info = _read_sidecar(weights)
    actual = _sha256(weights)
    if actual != info.sha256:
        raise ModelError(
            f"model weights {weights} fail their checksum (sidecar says {info.sha256[:12]}…, "
            f"file is {actual[:12]}…): the file is damaged or was replaced"
        )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad pickle
        raise ModelError(f"model weights {weights} cannot be read: {exc}") from None
    net = EmbeddingNet(info.network)
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()})
    except (RuntimeError, AttributeError) as exc:
        raise ModelError(f"model weights {weights} do not fit their architecture: {exc}") from None
    # Inference only from here: BatchNorm folded into the convs (same outputs, faster).
    return EmbeddingModel(info, fuse_for_inference(net)).to(resolve_device(device))


def build_untrained(
    features: FeatureParams | None = None,
    network: NetworkConfig | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> EmbeddingModel:
    """A randomly initialised model, for tests and benchmarks of the plumbing only."""
    torch.manual_seed(seed)
    features = features or FeatureParams()
    network = network or NetworkConfig(n_mels=features.n_mels)
    net = EmbeddingNet(network)
    digest = hashlib.sha256()
    for tensor in net.state_dict().values():
        digest.update(tensor.detach().cpu().numpy().tobytes())
    info = ModelInfo("untrained", "0", digest.hexdigest(), features, network, trained=False)
    return EmbeddingModel(info, net).to(resolve_device(device))


def save_model(model: EmbeddingModel, path: str | Path, *, name: str, version: str,
               extra: dict[str, Any] | None = None, half: bool = True) -> ModelInfo:
    """Write ``path`` (a state dict, float16 by default) and its JSON sidecar."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).cpu()
             for k, v in model.net.state_dict().items()}
    torch.save(state, path)
    info = ModelInfo(name, version, _sha256(path), model.info.features, model.info.network,
                     trained=model.info.trained, extra=dict(extra or {}))
    sidecar = {
        "name": info.name,
        "version": info.version,
        "sha256": info.sha256,
        "trained": info.trained,
        "embedding_dim": info.dim,
        "features": info.features.to_dict(),
        "network": info.network.to_dict(),
        **info.extra,
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return info
