"""The hierarchical prototypical loss, checked against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from models.loss import LossConfig, hierarchical_loss, neg_sq_dist, prototypes


def test_weights_follow_exp_minus_alpha_h_normalised():
    w = LossConfig(height=2, alpha=1.0).weights
    z = 1 + math.exp(-1) + math.exp(-2)
    assert w == pytest.approx([1 / z, math.exp(-1) / z, math.exp(-2) / z])
    assert LossConfig.named("flat").weights == [1.0]
    assert LossConfig.named("equal", height=2).weights == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="unknown loss"):
        LossConfig.named("deep")


def _ce(logits: list[float], target: int) -> float:
    m = max(logits)
    return -(logits[target] - m - math.log(sum(math.exp(x - m) for x in logits)))


def test_loss_equals_a_hand_computed_value_on_a_tiny_tree():
    # Four leaves in 1-D: a, b under family X; c, d under family Y. One support each.
    support = torch.tensor([[0.0], [1.0], [4.0], [6.0]])
    s_lab = torch.tensor([0, 1, 2, 3])
    query = torch.tensor([[0.5], [3.0]])  # truth: a (X), c (Y)
    q_lab = torch.tensor([0, 2])
    maps = [torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 1, 1])]
    cfg = LossConfig(height=1, alpha=1.0)
    loss, stats = hierarchical_loss(support, s_lab, query, q_lab, maps, cfg)

    # leaf level: prototypes 0, 1, 4, 6; logits −d²
    q1 = [-(0.5 - p) ** 2 for p in (0, 1, 4, 6)]
    q2 = [-(3.0 - p) ** 2 for p in (0, 1, 4, 6)]
    ce0 = (_ce(q1, 0) + _ce(q2, 2)) / 2
    # family level: X = mean(0, 1) = 0.5, Y = mean(4, 6) = 5
    f1 = [-(0.5 - 0.5) ** 2, -(0.5 - 5) ** 2]
    f2 = [-(3 - 0.5) ** 2, -(3 - 5) ** 2]
    ce1 = (_ce(f1, 0) + _ce(f2, 1)) / 2
    w0, w1 = 1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1))
    assert float(loss) == pytest.approx(w0 * ce0 + w1 * ce1, rel=1e-6)
    assert stats["ce0"] == pytest.approx(ce0, rel=1e-6)
    assert stats["ce1"] == pytest.approx(ce1, rel=1e-6)

    flat, _ = hierarchical_loss(support, s_lab, query, q_lab, maps, LossConfig.named("flat"))
    assert float(flat) == pytest.approx(ce0, rel=1e-6)


def test_ancestor_prototype_is_the_mean_of_its_childrens_prototypes():
    # Leaf a has 3 supports, b has 1: the family's prototype weighs the leaves, not clips.
    emb = torch.tensor([[0.0], [0.0], [0.0], [4.0]])
    leaf = prototypes(emb, torch.tensor([0, 0, 0, 1]), 2)
    fam = prototypes(leaf, torch.tensor([0, 0]), 1)
    assert fam.tolist() == [[2.0]]


def test_neg_sq_dist():
    q = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    p = torch.tensor([[3.0, 4.0]])
    assert neg_sq_dist(q, p).tolist() == [[-25.0], [-13.0]]


def test_gradient_flows_through_every_level():
    torch.manual_seed(0)
    support = torch.randn(8, 3, requires_grad=True)
    query = torch.randn(4, 3, requires_grad=True)
    maps = [torch.arange(4), torch.tensor([0, 0, 1, 1])]
    loss, _ = hierarchical_loss(support, torch.arange(4).repeat_interleave(2), query,
                                torch.arange(4), maps, LossConfig(height=1, alpha=0.5))
    loss.backward()
    assert support.grad is not None and torch.isfinite(support.grad).all()
    assert query.grad.abs().sum() > 0


def test_distill_loss_is_zero_for_aligned_and_two_for_opposite_embeddings():
    import torch

    from models.loss import distill_loss

    t = torch.randn(5, 7)
    assert float(distill_loss(3 * t, t)) == pytest.approx(0.0, abs=1e-5)
    assert float(distill_loss(-t, t)) == pytest.approx(2.0, abs=1e-5)
