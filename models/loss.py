"""The hierarchical prototypical loss (Flores García et al., ISMIR 2021).

Prototypes at every tree level come from the episode's support set: a leaf prototype is
the mean of its support embeddings, an ancestor's prototype the mean of its children's
prototypes (as the authors' code). Each level h gives a cross-entropy over the episode's
nodes at that level with logits −‖q − p‖²; the levels are weighted e^(−α·h), normalised
to sum to 1, so α = ∞ (or height 0) is the flat prototypical baseline (Wang et al. 2020),
α = 0 the paper's "flat" equal-weight variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossConfig:
    """``height`` levels above the leaves take part (0 = the flat baseline)."""

    height: int = 1
    alpha: float = 1.0

    @property
    def weights(self) -> list[float]:
        w = [math.exp(-self.alpha * h) for h in range(self.height + 1)]
        total = sum(w)
        return [x / total for x in w]

    @classmethod
    def named(cls, kind: str, alpha: float = 1.0, height: int = 1) -> LossConfig:
        """``flat`` (baseline: leaves only), ``hier`` (e^(−α·h)), ``equal`` (α = 0)."""
        if kind == "flat":
            return cls(height=0, alpha=0.0)
        if kind == "hier":
            return cls(height=height, alpha=alpha)
        if kind == "equal":
            return cls(height=height, alpha=0.0)
        raise ValueError(f"unknown loss {kind!r}: flat, hier or equal")


def prototypes(emb: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
    """Mean embedding per label 0..n-1: Tensor[n x D]."""
    sums = torch.zeros(n, emb.shape[1], dtype=emb.dtype, device=emb.device)
    sums.index_add_(0, labels, emb)
    counts = torch.bincount(labels, minlength=n).clamp(min=1).to(emb.dtype)
    return sums / counts[:, None]


def neg_sq_dist(query: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """Logits −‖q − p‖²: Tensor[Q x P]."""
    return -(query.pow(2).sum(1, keepdim=True) - 2 * query @ protos.T
             + protos.pow(2).sum(1)[None, :])


def hierarchical_loss(
    support: torch.Tensor, support_labels: torch.Tensor,
    query: torch.Tensor, query_labels: torch.Tensor,
    level_maps: list[torch.Tensor], config: LossConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one episode.

    ``level_maps[h]`` maps the episode's leaf classes 0..N-1 to their ancestors' indices
    at height h (``level_maps[0]`` is the identity); levels beyond ``config.height`` are
    ignored. Returns the loss and per-level figures for the log.
    """
    n_way = level_maps[0].numel()
    leaf = prototypes(support, support_labels, n_way)
    total = support.new_zeros(())
    stats: dict[str, float] = {}
    for h, w in enumerate(config.weights):
        mapping = level_maps[h]
        n_nodes = int(mapping.max()) + 1
        protos = leaf if h == 0 else prototypes(leaf, mapping, n_nodes)
        logits = neg_sq_dist(query, protos)
        target = mapping[query_labels]
        ce = F.cross_entropy(logits, target)
        total = total + w * ce
        stats[f"ce{h}"] = float(ce.detach())
        stats[f"acc{h}"] = float((logits.argmax(1) == target).float().mean())
    stats["loss"] = float(total.detach())
    return total, stats


def distill_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cosine distance between the student's projected embeddings and a teacher's.

    ``pred`` and ``target``: Tensor[B x T]. ``target`` rows are the teacher's embeddings of
    the same clips, standardised per dimension over the corpus (so the loss is not carried
    by the dimensions every clip shares). Returns mean(1 − cos) in [0, 2].
    """
    return (1.0 - F.cosine_similarity(pred, target, dim=1, eps=1e-6)).mean()
