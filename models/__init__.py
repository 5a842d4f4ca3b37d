"""Sampletree's network: tensors in, embeddings out. No files of the library, no DB, no Qt.

Public API::

    model = load_model(None, device="auto")      # the bundled weights
    logmel = model.features(audio)                # Tensor[B x T] → Tensor[B x 128 x 126]
    emb = model.embed(logmel)                     # → Tensor[B x D]
"""

from models.features import FeatureParams, LogMel
from models.loading import (
    EmbeddingModel,
    ModelError,
    ModelInfo,
    build_untrained,
    bundled_weights_path,
    load_model,
    resolve_device,
    save_model,
)
from models.network import EmbeddingNet, NetworkConfig

__all__ = [
    "EmbeddingModel",
    "EmbeddingNet",
    "FeatureParams",
    "LogMel",
    "ModelError",
    "ModelInfo",
    "NetworkConfig",
    "build_untrained",
    "bundled_weights_path",
    "load_model",
    "resolve_device",
    "save_model",
]
