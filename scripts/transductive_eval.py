"""Do prototypes refined on the unlabeled library help? (#11, tried, not kept)

Soft k-means refinement (Ren et al., 2018, "Meta-learning for semi-supervised few-shot
classification"): each class's prototype also takes the unlabeled files, weighted by their
softmax assignment to it (temperature tau on cosine distance, weight lam, iters rounds).
Real set, the paired episodes of ``models.realeval --paired`` (seed 2026, 10 a K)::

    python scripts/transductive_eval.py v2=models/weights/sampletree.pt

The unlabeled pool is either the episode's queries or every file of the set but the
examples (a library holds files of classes outside the tree too). Prints mean macro-F1 at
K = 1/2/4/8 for plain nearest prototype (Euclidean, as realeval; and cosine) and each
setting. Embeddings are cached in /tmp/transductive-NAME.npy.
"""
import sys
from pathlib import Path

import numpy as np

from models.realeval import (
    SEED,
    evaluate,
    f1_scores,
    load_manifest,
    load_npz,
    paired_episodes,
    sampletree_embed,
)

set_dir = Path.home() / ".cache/Sampletree/realset"
m = load_manifest(set_dir)
files = m["files"]
rel = [f["path"] for f in files]
labels = [f["label"] for f in files]
groups = [f["group"] for f in files]
eps = paired_episodes(labels, groups, (1, 2, 4, 8), 10, SEED, 10)

embs = {}
for spec in sys.argv[1:]:
    name, _, what = spec.partition("=")
    cache = Path(f"/tmp/transductive-{name}.npy")
    if cache.exists():
        e = np.load(cache)
    elif what.startswith("npz:"):
        e = load_npz(Path(what[4:]), rel)
    else:
        e = sampletree_embed([set_dir / p for p in rel], Path(what))
        np.save(cache, e)
    embs[name] = e


def refine(e, ep, tau, lam, iters, pool):
    x = e / np.linalg.norm(e, axis=1, keepdims=True)
    protos = np.stack([x[list(s)].mean(0) for s in ep.support])
    sup = {i for s in ep.support for i in s}
    u = np.array([i for i in pool if i not in sup])
    xu = x[u]
    for _ in range(iters):
        d = 2 - 2 * xu @ (protos / np.linalg.norm(protos, axis=1, keepdims=True)).T
        logits = -d / tau
        w = np.exp(logits - logits.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        new = []
        for c, s in enumerate(ep.support):
            ws = lam * w[:, c]
            new.append((x[list(s)].sum(0) + ws @ xu) / (len(s) + ws.sum()))
        protos = np.stack(new)
    q = x[list(ep.query)]
    pn = protos / np.linalg.norm(protos, axis=1, keepdims=True)
    pred = np.argmax(q @ pn.T, axis=1)
    idx = {c: i for i, c in enumerate(ep.classes)}
    truth = [idx[labels[i]] for i in ep.query]
    return f1_scores(truth, pred.tolist(), len(ep.classes))[0]


def macro(r):
    return float(np.mean(r[0] if isinstance(r, tuple) else r))


allpool = list(range(len(files)))
for name, e in embs.items():
    base = {k: [] for k in (1, 2, 4, 8)}
    for ep in eps:
        base[ep.k].append(refine(e, ep, 1.0, 0.0, 0, allpool))
    print(name, "cosine plain", {k: round(float(np.mean(v)), 3) for k, v in base.items()})
    res = evaluate(e, labels, eps)
    print(name, "realeval (euclid)",
          {k: round(float(np.mean(res[str(k)]["f1"])), 3) for k in (1, 2, 4, 8)})
    for tau in (0.05, 0.1, 0.2):
        for lam in (0.5, 1.0):
            for iters in (1, 3):
                for pname in ("queries", "all"):
                    out = {k: [] for k in (1, 2, 4, 8)}
                    for ep in eps:
                        pool = ep.query if pname == "queries" else allpool
                        out[ep.k].append(refine(e, ep, tau, lam, iters, pool))
                    print(name, f"tau={tau} lam={lam} it={iters} pool={pname}",
                          {k: round(float(np.mean(v)), 3) for k, v in out.items()})
