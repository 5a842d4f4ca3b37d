"""The embedding network of the hierarchical prototypical net (Flores García et al., ISMIR 2021).

Architecture as in the authors' code: input BatchNorm, then four blocks of
3×3 conv → BatchNorm → ReLU → 2×2 max-pool, max over time, flatten
(channels × remaining mel bins) → Linear → embedding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class NetworkConfig:
    """Constructor arguments of :class:`EmbeddingNet`; stored with the weights."""

    n_mels: int = 128
    channels: int = 128
    n_blocks: int = 4
    embedding_dim: int = 128

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown network parameters: {sorted(unknown)}")
        return cls(**data)


class EmbeddingNet(nn.Module):
    """Tensor[B x n_mels x frames] log-mel → Tensor[B x embedding_dim]."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        if config.n_mels % (2**config.n_blocks):
            raise ValueError("n_mels must be divisible by 2**n_blocks")
        self.config = config
        self.input_norm = nn.BatchNorm2d(1)
        blocks: list[nn.Module] = []
        in_ch = 1
        for _ in range(config.n_blocks):
            blocks += [
                nn.Conv2d(in_ch, config.channels, kernel_size=3, padding=1),
                nn.BatchNorm2d(config.channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            in_ch = config.channels
        self.blocks = nn.Sequential(*blocks)
        flat = config.channels * (config.n_mels // 2**config.n_blocks)
        self.project = nn.Linear(flat, config.embedding_dim)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(logmel.unsqueeze(1))
        x = self.blocks(x)  # B x C x mel' x time'
        x = x.amax(dim=-1)  # max over time
        return self.project(x.flatten(1))
