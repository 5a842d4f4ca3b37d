"""bench/openset.py's protocol on a synthetic set: a class far from every taught one comes
out unknown at 5 % in-tree unknown, one inside the taught cloud does not, and the AUROC
counts ties as half."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.openset import SHOTS, auroc, collect, evaluate, load, pooled_spread, scores


def _synthetic(path: Path, far: float) -> None:
    """Six classes of 14 files (3 windows each) in two groups; class "F" lies ``far`` from
    class A's centre on an axis of its own (0: on top of A)."""
    rng = np.random.default_rng(0)
    dim = 16
    centres = {c: rng.normal(0, 3, dim) for c in "ABCDE"}
    centres["F"] = centres["A"] + np.r_[np.zeros(dim - 1), far]
    emb, n, loud, labels, groups = [], [], [], [], []
    for c, mu in centres.items():
        for i in range(14):
            f = mu + rng.normal(0, 1, dim)
            emb.append(f + rng.normal(0, 0.3, (3, dim)))
            n.append(3)
            loud.append([-10.0, -12.0, -20.0])
            labels.append(c)
            groups.append(f"{c}{i % 2}")
    np.savez(path, emb=np.concatenate(emb).astype(np.float32), n=np.array(n),
             loud=np.concatenate(loud), labels=np.array(labels), groups=np.array(groups),
             paths=np.array([f"f{i}" for i in range(len(n))]))


def _open_at_5(tmp_path: Path, far: float) -> dict[int, dict[str, float]]:
    _synthetic(tmp_path / "set.npz", far)
    data = load(tmp_path / "set.npz")
    runs = collect(data, 1, ["F"], n_episodes=2)
    spread = pooled_spread(runs)[1]
    return evaluate(runs, lambda f: scores(f, spread)["distance (today)"])


def test_a_far_untaught_class_is_unknown_and_a_near_one_is_not(tmp_path: Path) -> None:
    far = _open_at_5(tmp_path, 60.0)
    near = _open_at_5(tmp_path, 0.0)  # F sits on top of taught class A
    for k in SHOTS:
        assert far[k]["open@0.05"] == 1.0 and far[k]["auroc"] == 1.0
        assert near[k]["open@0.05"] < 0.5


def test_auroc_counts_ties_as_half() -> None:
    assert auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert auroc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    assert auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0
