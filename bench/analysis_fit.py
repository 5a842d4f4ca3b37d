"""Fit the tempo metrical-level model and the key model of core/analysis on tuning seeds.

    python -m bench.analysis_fit [--seeds 1,3,5,6,7] [--loops 240] [--phrases 160]

Builds each seed's drum loops and phrases as ``bench.analysis_eval`` does (written as
44.1 kHz WAVs and decoded by the scan's own path), then fits

* ``rhythm.LEVEL_WEIGHTS``: a logistic regression on ``rhythm._level_features`` of every
  loop whose winner or its half/double is right (label: the faster one is);
* ``tonal.KEY_WEIGHTS``: a conditional logit over the 24 keys on ``tonal.key_features``
  of every phrase.

and prints both for pasting into the code. Never pass the seeds that are reported (2, 4).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def _decoded(items: list, work: Path) -> list[tuple[object, np.ndarray, float]]:
    import soundfile as sf
    import soxr

    from bench.analysis_eval import OUT_SR
    from core.audio import WindowParams, decode_segment, plan_segments, probe

    params = WindowParams()
    out = []
    for i, it in enumerate(items):
        path = work / f"item_{i:04d}.wav"
        y44 = soxr.resample(it.audio.astype(np.float64), 16_000, OUT_SR, quality="HQ")
        sf.write(str(path), np.clip(y44, -1, 1), OUT_SR, subtype="PCM_16")
        info = probe(path)
        seg = decode_segment(path, info, params, *plan_segments(info, params)[0],
                             keep_signal=True)
        out.append((it, seg.signal, info.duration_s))
    return out


def level_rows(decoded: list) -> tuple[np.ndarray, np.ndarray]:
    from core.analysis import rhythm

    rows, labels = [], []
    seen: dict[str, object] = {}

    def spy(o, acf, duration_s, slow, fast, *, whole_file=True):  # type: ignore[no-untyped-def]
        seen["x"] = rhythm._level_features(o, acf, duration_s, slow, fast,
                                           whole_file=whole_file)
        seen["pair"] = (slow, fast)
        return 0.5

    real = rhythm.faster_is_the_beat
    rhythm.faster_is_the_beat = spy  # type: ignore[assignment]
    try:
        for it, y, dur in decoded:
            seen.clear()
            rhythm.tempo(rhythm.onsets(y, 16_000), dur)
            if not seen:
                continue
            slow, fast = seen["pair"]  # type: ignore[misc]
            if abs(slow / it.bpm - 1) <= 0.02:
                labels.append(0)
            elif abs(fast / it.bpm - 1) <= 0.02:
                labels.append(1)
            else:
                continue
            rows.append(seen["x"])
    finally:
        rhythm.faster_is_the_beat = real  # type: ignore[assignment]
    return np.array(rows), np.array(labels)


def key_rows(decoded: list) -> tuple[np.ndarray, np.ndarray]:
    from core.analysis import tonal
    from core.analysis.keys import parse_key

    rows, labels = [], []
    for it, y, _dur in decoded:
        if it.kind != "phrase":
            continue
        per, bass, _t, _f = tonal.frame_chroma(y, 16_000)
        if not len(per):
            continue
        parsed = parse_key(it.key)
        assert parsed is not None
        rows.append(tonal.key_features(per, bass))
        labels.append(parsed[0] + 12 * parsed[1])
    return np.array(rows), np.array(labels)


def fit_logit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    clf = LogisticRegression(C=1.0, max_iter=5000).fit((x - mu) / sd, y)
    w = clf.coef_[0] / sd
    return w, float(clf.intercept_[0] - (clf.coef_[0] * mu / sd).sum())


def fit_conditional_logit(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Softmax over the 24 keys of ``x @ w`` (x: items × 24 × features)."""
    from scipy.optimize import minimize

    d = x.shape[2]
    mu, sd = x.reshape(-1, d).mean(axis=0), x.reshape(-1, d).std(axis=0) + 1e-9
    z = (x - mu) / sd
    rows = np.arange(len(y))

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = z @ w
        s = s - s.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        p = np.exp(logp)
        value = -logp[rows, y].mean() + l2 * w @ w
        grad = -(z[rows, y] - (p[:, :, None] * z).sum(axis=1)).mean(axis=0) + 2 * l2 * w
        return float(value), grad

    return minimize(loss, np.zeros(d), jac=True, method="L-BFGS-B").x / sd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,3,5,6,7")
    ap.add_argument("--loops", type=int, default=240)
    ap.add_argument("--phrases", type=int, default=160)
    args = ap.parse_args(argv)
    from bench.analysis_eval import _hydrogen_banks, drum_loops, tonal_phrases

    seeds = [int(s) for s in args.seeds.split(",")]
    if {2, 4} & set(seeds):
        print("bench.analysis_fit: error: seeds 2 and 4 are the reported ones", file=sys.stderr)
        return 2
    banks = _hydrogen_banks()
    decoded = []
    with tempfile.TemporaryDirectory(prefix="sampletree-analysis-fit-") as tmp:
        for seed in seeds:
            work = Path(tmp) / str(seed)
            work.mkdir()
            items = drum_loops(args.loops, seed, banks) + tonal_phrases(args.phrases, seed, work)
            decoded += _decoded(items, work)
    xl, yl = level_rows(decoded)
    w, b = fit_logit(xl, yl)
    right = float((((xl @ w + b) >= 0).astype(int) == yl).mean())
    print(f"# metrical level: {len(yl)} loops, {100 * right:.1f} % right (training)")
    print("LEVEL_WEIGHTS = (" + ", ".join(f"{v:.4g}" for v in [*w, b]) + ")")
    xk, yk = key_rows(decoded)
    wk = fit_conditional_logit(xk, yk)
    exact = float(((xk @ wk).argmax(axis=1) == yk).mean())
    print(f"# key: {len(yk)} phrases, {100 * exact:.1f} % exact (training, unclaimed)")
    print("KEY_WEIGHTS = np.array([" + ", ".join(f"{v:.4g}" for v in wk) + "])")
    return 0


if __name__ == "__main__":
    sys.exit(main())
