"""The embedding network of the hierarchical prototypical net (Flores García et al., ISMIR 2021).

Architecture as in the authors' code: input BatchNorm, then four blocks of
3×3 conv → BatchNorm → ReLU → 2×2 max-pool, max over time, flatten
(channels × remaining mel bins) → Linear → embedding. That is ``NetworkConfig()``.

The shipped model is a leaner member of the same family (``NetworkConfig.lean()``): a
strided 3×3 stem (conv → BN → ReLU, stride 2) in place of the first full-resolution
block, then three blocks of widths 32 → 64 → 128 — the same 128 × 8 → Linear → 128-d
head — on log-mel frames at twice the paper's hop (63 frames a second, not 126). See
MODEL_CARD.md for the measured cost of each choice.
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
    #: channels of a strided stem conv before the blocks (0: none, the paper's net)
    stem: int = 0
    stem_stride: int = 2
    #: per-block widths; empty: ``channels`` for each of ``n_blocks`` blocks
    widths: tuple[int, ...] = ()

    @classmethod
    def lean(cls, n_mels: int = 128, embedding_dim: int = 128) -> NetworkConfig:
        """The shipped architecture (about 0.23 M parameters, ~40 MMAC a window)."""
        return cls(n_mels=n_mels, embedding_dim=embedding_dim, stem=16, widths=(32, 64, 128),
                   n_blocks=3, channels=128)

    @property
    def block_widths(self) -> tuple[int, ...]:
        return tuple(self.widths) or (self.channels,) * self.n_blocks

    @property
    def mel_bins_out(self) -> int:
        """Mel bins left after the stem and the blocks' pooling."""
        n = self.n_mels
        if self.stem:
            n = (n - 1) // self.stem_stride + 1
        for _ in self.block_widths:
            n //= 2
        return n

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown network parameters: {sorted(unknown)}")
        data = dict(data)
        if "widths" in data:
            data["widths"] = tuple(int(w) for w in data["widths"])
        return cls(**data)


class EmbeddingNet(nn.Module):
    """Tensor[B x n_mels x frames] log-mel → Tensor[B x embedding_dim]."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        if config.mel_bins_out < 1:
            raise ValueError("n_mels is too small for this many blocks")
        if not config.stem and config.n_mels % (2 ** len(config.block_widths)):
            raise ValueError("n_mels must be divisible by 2**n_blocks")
        self.config = config
        self.input_norm = nn.BatchNorm2d(1)
        blocks: list[nn.Module] = []
        in_ch = 1
        if config.stem:
            blocks += [
                nn.Conv2d(1, config.stem, kernel_size=3, stride=config.stem_stride, padding=1),
                nn.BatchNorm2d(config.stem),
                nn.ReLU(inplace=True),
            ]
            in_ch = config.stem
        for width in config.block_widths:
            blocks += [
                nn.Conv2d(in_ch, width, kernel_size=3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            in_ch = width
        self.blocks = nn.Sequential(*blocks)
        flat = config.block_widths[-1] * config.mel_bins_out
        self.project = nn.Linear(flat, config.embedding_dim)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(logmel.unsqueeze(1))
        x = self.blocks(x)  # B x C x mel' x time'
        x = x.amax(dim=-1)  # max over time
        return self.project(x.flatten(1))


def fuse_for_inference(net: EmbeddingNet) -> EmbeddingNet:
    """Fold every conv's BatchNorm into the conv (eval mode only): same outputs, fewer ops.

    The input BatchNorm stays: folding it into the first conv would change what its zero
    padding means at the borders.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net.eval()
    layers = list(net.blocks)
    fused: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if (isinstance(layer, nn.Conv2d) and i + 1 < len(layers)
                and isinstance(layers[i + 1], nn.BatchNorm2d)):
            fused.append(fuse_conv_bn_eval(layer, layers[i + 1]))
            i += 2
        else:
            fused.append(layer)
            i += 1
    net.blocks = nn.Sequential(*fused)
    return net
