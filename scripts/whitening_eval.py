"""Does whitening the embedding space help few-shot labels on the real set? (tried: no)

``python scripts/whitening_eval.py [WEIGHTS]`` (default: the shipped weights) embeds 60
clips of every corpus class (``~/.cache/Sampletree/corpus-v2``, as a file in the app: the
mean of its scanner windows), estimates the within-class and the total covariance of those
embeddings, and scores the real-sample validation set (``python -m models.realset build``)
with ``models.realeval``'s paired protocol (10 episodes, nearest prototype, macro-F1 at
K = 1/2/4/8) on the plain embedding and on the embedding centred and multiplied by
(S + λ·tr(S)/D·I)^(−1/2) for each covariance S and shrinkage λ. The transform comes from the
corpus only; the real set is only scored. ~1 min on 2 cores once the corpus is built.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import bundled_weights_path
from models import realeval as R
from models.builtins import embed_clips
from models.loading import load_model
from models.realset import DEFAULT_OUT, load_manifest

CORPUS = Path.home() / ".cache" / "Sampletree" / "corpus-v2"
PER_CLASS = 60
LAMBDAS = (0.0, 0.1, 0.3, 1.0, 3.0)


def inv_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v / np.sqrt(np.maximum(w, 1e-9))) @ v.T


def main(argv: list[str]) -> int:
    torch.set_num_threads(2)
    weights = Path(argv[0]) if argv else bundled_weights_path()
    model = load_model(weights, device="cpu")
    classes = [json.loads(line)["cls"] for line in
               (CORPUS / "clips.jsonl").read_text("utf-8").splitlines() if line.strip()]
    clips = np.load(CORPUS / "clips.npy", mmap_mode="r")
    rng = np.random.default_rng(0)
    by_class: dict[str, list[int]] = {}
    for i, c in enumerate(classes):
        by_class.setdefault(c, []).append(i)
    rows = np.sort(np.concatenate([rng.choice(v, size=min(PER_CLASS, len(v)), replace=False)
                                   for v in by_class.values()]))
    cemb = np.concatenate([embed_clips(model, np.asarray(clips[rows[i:i + 2048]]))
                           for i in range(0, len(rows), 2048)]).astype(np.float64)
    clab = np.array([classes[i] for i in rows])
    dim = cemb.shape[1]
    within = sum(((x := cemb[clab == c] - cemb[clab == c].mean(0)).T @ x)
                 for c in np.unique(clab)) / len(cemb)
    total = np.cov(cemb.T, bias=True)

    files = load_manifest(DEFAULT_OUT)["files"]
    labels = [f["label"] for f in files]
    episodes = R.paired_episodes(labels, [f["group"] for f in files], R.SHOTS, 10, R.SEED,
                                 max(R.SHOTS) + 2)
    fe = R.sampletree_embed([DEFAULT_OUT / f["path"] for f in files], weights
                            ).astype(np.float64)

    def score(x: np.ndarray) -> np.ndarray:
        return np.array([[R.f1_scores(*R.predict_episode(x, labels, ep), len(ep.classes))[0]
                          for ep in episodes if ep.k == k] for k in R.SHOTS])

    base = score(fe)
    print(f"{'plain':16s}", " ".join(f"{m:.3f}" for m in base.mean(1)))
    for name, s in (("within-class", within), ("total", total)):
        for lam in LAMBDAS:
            t = inv_sqrt(s + lam * np.trace(s) / dim * np.eye(dim))
            got = score((fe - cemb.mean(0)) @ t)
            d = got - base
            se = d.std(1, ddof=1) / np.sqrt(d.shape[1])
            print(f"{name:12s} λ={lam:<4g}", " ".join(f"{m:.3f}" for m in got.mean(1)),
                  "  paired Δ", " ".join(f"{m:+.3f}±{e:.3f}" for m, e in
                                         zip(d.mean(1), se, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
