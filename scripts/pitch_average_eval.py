"""How much averaging a window's embedding over pitch shifts helps on the real set.

``python scripts/pitch_average_eval.py [WEIGHTS]`` (default: the shipped weights) embeds
every window of the real-sample validation set (``python -m models.realset build``) as the
scanner cuts it, also resampled by ±1 and ±2 semitones (soxr), and scores file embeddings
made from them with ``models.realeval``'s paired protocol (10 episodes, the same queries at
every K): the plain mean of a file's windows, the level-weighted mean the app's labels use
(``core.classify.window_weights``), and both averaged over the pitch shifts — for examples
and queries, or for the examples (the prototypes) only. Prints mean macro-F1 at K =
1/2/4/8. Test-time averaging only: nothing is trained. ~1 min on 2 cores.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.classify import window_weights
from models import realeval as R
from models.builtins import pitch_shifted
from models.loading import load_model
from models.realset import DEFAULT_OUT

SR = 16_000


def level_weights(w: np.ndarray) -> np.ndarray:
    """The app's weights of a file's windows (:func:`core.classify.window_weights`), from
    their level as the scanner measures it."""
    db = 10 * np.log10(np.mean(np.square(w, dtype=np.float64), axis=1) + 1e-12)
    return window_weights(db, np.array([0, len(w)]))


def main(argv: list[str]) -> int:
    weights = Path(argv[0]) if argv else Path("models/weights/sampletree.pt")
    torch.set_num_threads(2)
    manifest = R.load_manifest(DEFAULT_OUT)
    files = manifest["files"]
    labels = [f["label"] for f in files]
    groups = [f["group"] for f in files]
    episodes = R.paired_episodes(labels, groups, R.SHOTS, 10, R.SEED, max(R.SHOTS) + 2)
    wins = [R.scanner_windows(DEFAULT_OUT / f["path"]) for f in files]
    lw = [level_weights(w) for w in wins]
    model = load_model(weights, device="cpu")

    def embed(per_file: list[np.ndarray]) -> list[np.ndarray]:
        allw = np.concatenate(per_file)
        with torch.no_grad():
            e = np.concatenate([model.embed_audio(torch.from_numpy(allw[i:i + 256])).numpy()
                                for i in range(0, len(allw), 256)])
        bounds = np.cumsum([0] + [len(w) for w in per_file])
        return [e[a:b] for a, b in itertools.pairwise(bounds)]

    by_shift = {s: embed([pitch_shifted(w, s, SR) for w in wins]) for s in (-2, -1, 0, 1, 2)}

    def pooled(shifts: tuple[int, ...], level: bool) -> np.ndarray:
        rows = []
        for i in range(len(wins)):
            per = [by_shift[s][i] for s in shifts]
            per = [(e * lw[i][:, None]).sum(0) / lw[i].sum() if level else e.mean(0)
                   for e in per]
            rows.append(np.mean(per, axis=0))
        return np.stack(rows).astype(np.float64)

    def report(name: str, shifts: tuple[int, ...], level: bool,
               examples_only: bool = False) -> None:
        averaged = pooled(shifts, level)
        plain = pooled((0,), level) if examples_only else averaged
        f1 = []
        for k in R.SHOTS:
            per_episode = []
            for ep in (e for e in episodes if e.k == k):
                # prototypes from the (averaged) examples, queries as embedded
                truth, pred = R.predict_episode(averaged, labels, ep, query_emb=plain)
                per_episode.append(R.f1_scores(truth, pred, len(ep.classes))[0])
            f1.append(float(np.mean(per_episode)))
        print(f"{name:52s}", " ".join(f"{v:.3f}" for v in f1), f" mean {np.mean(f1):.3f}")

    print(f"{'pooling (mean macro-F1 at K = ' + '/'.join(map(str, R.SHOTS)) + ')':52s}")
    report("mean", (0,), False)
    report("level-weighted", (0,), True)
    report("mean, averaged over -2, 0, +2", (-2, 0, 2), False)
    report("level-weighted, averaged over -2, 0, +2", (-2, 0, 2), True)
    report("level-weighted, averaged over -2 ... +2", (-2, -1, 0, 1, 2), True)
    report("level-weighted, averaged over -1, 0, +1", (-1, 0, 1), True)
    report("mean, examples only averaged over -2, 0, +2", (-2, 0, 2), False, True)
    report("level-weighted, examples only averaged over -2, 0, +2", (-2, 0, 2), True, True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
