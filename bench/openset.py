"""Open-set scores for "unknown" (issue #11, item 6): which score tells a file of a class
that is not in the tree from a file of a taught class, on the real-sample validation set.

    python -m bench.openset --npz /tmp/tt/v2.npz [--out docs/eval/openset.md]

Input: cached per-window embeddings of the set (``emb`` windows × D, ``n`` windows a file,
``loud`` dB a window, ``labels``, ``groups``, files in the manifest's order), as
``models.realeval`` makes them with the shipped weights. Numpy only, ~1 min of CPU.

Protocol (scripts/calibrate.py's open-set test): for every episode of
:func:`models.realeval.sample_episodes` (K = 1, 2, 4, 8 examples a class, queries from other
groups) and every class in turn, the class loses its examples; a tree of the others is
taught with the rest (no built-ins: the user's examples only, as the calibration grid).
"In-tree" files: the episode's queries of the taught classes; "open-set" files: every file
of the untaught class that is not an example. A score (higher = more likely unknown) is
judged by the share of open-set files above the threshold that leaves 5 % (2 %) of in-tree
files above it, per K (mean over untaught classes), and by its AUROC.

Honesty: the free choices (a score's parameters, the combination's weights, which score
wins) are made on the *selection* half — episodes of seed ``SEED`` with the classes of
half A left untaught — and the figures reported on the *report* half: episodes of another
seed with the classes of half B left untaught (the classes are split alternately by size).
The report half also gives the in-tree rate a threshold set on the selection half reaches
there (a calibrated bound must hold on new data, not only on its own).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.classify import window_weights  # noqa: E402
from models.realeval import SEED, sample_episodes  # noqa: E402

SHOTS = (1, 2, 4, 8)
REPORT_SEED = SEED + 1
TEMPERATURE = 2.0  # core.classify.Thresholds' default
KNN = 10


@dataclass
class Data:
    win: np.ndarray  # (W, D)
    offsets: np.ndarray  # (N + 1,)
    file_emb: np.ndarray  # (N, D) plain mean, as core.classify.load_index
    w: np.ndarray  # (W,) window weights (core.classify.window_weights)
    labels: list[str]
    groups: list[str]
    lib_d: np.ndarray  # (N, N) file-to-file distances (the library), diagonal inf


def load(path: Path) -> Data:
    with np.load(path, allow_pickle=False) as d:
        emb = d["emb"].astype(np.float32)
        n = d["n"].astype(np.int64)
        loud = d["loud"].astype(np.float32)
        labels = [str(x) for x in d["labels"]]
        groups = [str(x) for x in d["groups"]]
    offsets = np.r_[0, np.cumsum(n)].astype(np.int64)
    file_emb = (np.add.reduceat(emb, offsets[:-1], axis=0) / n[:, None]).astype(np.float32)
    lib_d = np.sqrt(sq_dist(file_emb, file_emb))
    np.fill_diagonal(lib_d, np.inf)
    return Data(emb, offsets, file_emb, window_weights(loud, offsets), labels, groups, lib_d)


def sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :]
    return np.maximum(d, 0.0)


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(score of an outside file > score of an inside one), ties half."""
    both = np.concatenate([inside, outside])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    s = both[order]
    i = 0
    while i < len(s):  # average the ranks of ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        if j > i:
            ranks[order[i:j + 1]] = (i + j + 2) / 2
        i = j + 1
    n_in, n_out = len(inside), len(outside)
    return float((ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out))


# -- features of every file for one taught tree -------------------------------------------------

def features(data: Data, sup_by_class: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per file (all N), the raw quantities the scores are made of, for a tree whose classes
    are taught by the files ``sup_by_class`` (file indices a class)."""
    fe = data.file_emb
    protos = np.stack([fe[s].mean(0) for s in sup_by_class])
    L = len(protos)
    d2 = sq_dist(fe, protos)  # (N, L) squared
    d = np.sqrt(d2)
    srt = np.sort(d, axis=1)
    near = d.argmin(1)
    # each class's own spread: RMS distance of its examples to their prototype (LOO when
    # K >= 2); K = 1 has none, so the median over classes of a pooled figure stands in
    spread = np.full(L, np.nan)
    for ci, s in enumerate(sup_by_class):
        if len(s) >= 2:
            x = fe[s]
            tot = x.sum(0)
            loo = (tot[None] - x) / (len(s) - 1)
            spread[ci] = np.sqrt(((x - loo) ** 2).sum(1).mean())
    # window-level class probabilities, level-weighted mean (core.classify.predict)
    wd2 = sq_dist(data.win, protos)
    logits = -wd2 / TEMPERATURE
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    wp = p * data.w[:, None]
    tot = np.add.reduceat(data.w, data.offsets[:-1])[:, None]
    probs = np.add.reduceat(wp, data.offsets[:-1], axis=0) / tot
    win_near = wd2.argmin(1)
    file_of_win = np.repeat(np.arange(len(fe)), np.diff(data.offsets))
    agree = np.add.reduceat((win_near == near[file_of_win]) * data.w, data.offsets[:-1]) \
        / tot[:, 0]
    # file-level softmax (on the mean embedding)
    fl = -d2 / TEMPERATURE
    fl -= fl.max(1, keepdims=True)
    fp = np.exp(fl)
    fp /= fp.sum(1, keepdims=True)
    # nearest single example (not prototype)
    sup_all = np.concatenate(sup_by_class)
    d_ex = np.sqrt(sq_dist(fe, fe[sup_all]))
    d_ex[sup_all, np.arange(len(sup_all))] = np.inf  # an example is not its own neighbour
    ex_near = d_ex.min(1)
    # the library: how many library files lie nearer the file than its nearest example /
    # prototype, and its k-th neighbour distance
    lib_sorted = np.sort(data.lib_d, axis=1)
    rank_ex = (data.lib_d < ex_near[:, None]).sum(1)
    rank_proto = (data.lib_d < srt[:, :1]).sum(1)
    knn_idx = np.argsort(data.lib_d, axis=1)[:, :KNN]
    d1_smooth = 0.5 * srt[:, 0] + 0.5 * srt[:, 0][knn_idx].mean(1)
    wmean = (np.add.reduceat(data.win * data.w[:, None], data.offsets[:-1], axis=0)
             / tot)
    d1_w = np.sqrt(sq_dist(wmean, protos).min(1))
    wmin = np.sqrt(wd2.min(1))
    win_d1 = np.add.reduceat(wmin * data.w, data.offsets[:-1]) / tot[:, 0]
    return {"d1_smooth": d1_smooth, "d1_w": d1_w, "win_d1": win_d1,
            "d1": srt[:, 0], "d2": srt[:, 1] if L > 1 else srt[:, 0], "near": near,
            "spread": spread, "probs": probs, "fprobs": fp, "agree": agree,
            "ex_near": ex_near, "knn": lib_sorted[:, KNN - 1], "knn1": lib_sorted[:, 0],
            "rank_ex": rank_ex.astype(float), "rank_proto": rank_proto.astype(float),
            "protos": protos, "d_all": d}


def _spread_of(f: dict[str, np.ndarray], pooled: float) -> np.ndarray:
    s = f["spread"].copy()
    s[~np.isfinite(s)] = pooled
    return s


def scores(f: dict[str, np.ndarray], pooled_spread: float) -> dict[str, np.ndarray]:
    """Candidate scores: higher = more likely not a taught class."""
    eps = 1e-9
    probs = f["probs"]
    out = {
        "distance (today)": f["d1"],
        "distance / class spread": f["d1"] / _spread_of(f, pooled_spread)[f["near"]],
        "ratio nearest/2nd": f["d1"] / (f["d2"] + eps),
        "margin 2nd-nearest (neg)": -(f["d2"] - f["d1"]),
        "1 - max prob (windows, T=2)": 1.0 - probs.max(1),
        "entropy (windows, T=2)": -(probs * np.log(probs + eps)).sum(1),
        "1 - max prob (file mean, T=2)": 1.0 - f["fprobs"].max(1),
        "window disagreement": 1.0 - f["agree"],
        "nearest example distance": f["ex_near"],
        "distance / kNN distance (lib)": f["d1"] / (f["knn"] + eps),
        "example dist / kNN distance (lib)": f["ex_near"] / (f["knn"] + eps),
        "library files nearer than nearest example": f["rank_ex"],
        "library files nearer than nearest prototype": f["rank_proto"],
        "distance, smoothed over 10 library neighbours": f["d1_smooth"],
        "distance of the level-weighted mean": f["d1_w"],
        "windows' distance, level-weighted mean": f["win_d1"],
    }
    return out


# -- the protocol --------------------------------------------------------------------------------

def split_classes(labels: list[str], classes: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Half A / half B: the eligible classes by size (largest first), alternately."""
    count = {c: labels.count(c) for c in classes}
    ordered = sorted(classes, key=lambda c: (-count[c], c))
    return ordered[0::2], ordered[1::2]


def collect(data: Data, seed: int, untaught_classes: list[str] | None, n_episodes: int = 5):
    """For every episode and every class of ``untaught_classes`` left out: (K, in-tree
    features, open-set features). Features are dicts of arrays on the relevant files."""
    eps = sample_episodes(data.labels, data.groups, SHOTS, n_episodes, seed, max(SHOTS) + 2)
    labels = np.array(data.labels)
    runs = []
    for ep in eps:
        support = {i for s in ep.support for i in s}
        query = np.array(ep.query)
        for ci, c in enumerate(ep.classes):
            if untaught_classes is not None and c not in untaught_classes:
                continue
            keep = [np.array(s) for cj, s in enumerate(ep.support) if cj != ci]
            f = features(data, keep)
            f["taught"] = [x for x in ep.classes if x != c]
            inside = query[labels[query] != c]
            outside = np.array([i for i in np.flatnonzero(labels == c) if i not in support])
            runs.append((ep.k, c, f, inside, outside))
    return runs


def pooled_spread(runs) -> dict[int, float]:
    """Median class spread over the runs at K >= 2 (stands in for K = 1's missing one)."""
    vals = [s for _k, _c, f, _i, _o in runs for s in f["spread"] if np.isfinite(s)]
    med = float(np.median(vals)) if vals else 1.0
    return {k: med for k in SHOTS}


def evaluate(runs, score_fn, rates=(0.05, 0.02), thresholds: dict | None = None):
    """Per K: AUROC (pooled), open-set unknown at each in-tree rate (threshold set on the
    in-tree files of these runs, mean over untaught classes), and with ``thresholds``
    (K → rate → value, set elsewhere) the in-tree and open-set rates they reach."""
    res = {}
    for k in SHOTS:
        ins, outs, per = [], [], []
        for kk, c, f, inside, outside in runs:
            if kk != k:
                continue
            s = score_fn(f)
            ins.append(s[inside])
            outs.append(s[outside])
            per.append((c, s[outside]))
        if not ins:
            continue
        i_all, o_all = np.concatenate(ins), np.concatenate(outs)
        r = {"auroc": auroc(i_all, o_all)}
        for rate in rates:
            t = float(np.quantile(i_all, 1 - rate))
            r[f"open@{rate}"] = float(np.mean([(o > t).mean() for _c, o in per]))
            r[f"thr@{rate}"] = t
            if thresholds is not None:
                t2 = thresholds[k][rate]
                r[f"xin@{rate}"] = float((i_all > t2).mean())
                r[f"xopen@{rate}"] = float(np.mean([(o > t2).mean() for _c, o in per]))
        res[k] = r
    return res


def diagnose(runs, labels: list[str]) -> list[str]:
    """Why the distance separates poorly: per K, the share of in-tree files whose nearest
    prototype is their own class, and the distance's AUROC against the open-set files
    separately for the in-tree files classified right and wrong, and with an in-tree file's
    distance to its *own* class prototype in place of the nearest (below 0.5: a taught
    file's own class lies farther from it than an untaught file's nearest class does)."""
    lab = np.array(labels)
    out = ["| K | in-tree files nearest their own class | AUROC, right ones | AUROC, wrong "
           "ones | AUROC, distance to the file's own class instead |",
           "| --- | --- | --- | --- | --- |"]
    for k in SHOTS:
        right, wrong, own, outs, n_ok, n = [], [], [], [], 0, 0
        for kk, _c, f, inside, outside in runs:
            if kk != k:
                continue
            order = list(f["taught"])
            idx = np.array([order.index(x) for x in lab[inside]])
            ok = f["near"][inside] == idx
            n_ok += int(ok.sum())
            n += len(inside)
            right.append(f["d1"][inside][ok])
            wrong.append(f["d1"][inside][~ok])
            own.append(f["d_all"][inside, idx])
            outs.append(f["d1"][outside])
        o = np.concatenate(outs)
        out.append(f"| {k} | {100 * n_ok / n:.0f} % | {auroc(np.concatenate(right), o):.2f} | "
                   f"{auroc(np.concatenate(wrong), o):.2f} | "
                   f"{auroc(np.concatenate(own), o):.2f} |")
    return out


PER_CLASS = ("distance (today)", "1 - max prob (windows, T=2)",
             "example dist / kNN distance (lib)", "library files nearer than nearest prototype",
             "distance, smoothed over 10 library neighbours")


def per_class(runs, spread: float, labels: list[str]) -> list[str]:
    """Per untaught class (every class, both halves, one seed; a description, not a choice):
    the share of its files above the threshold that leaves 5 % of in-tree files above it
    (pooled over K = 2, 4, 8), for a few scores."""
    out = ["| untaught class | files | " + " | ".join(PER_CLASS) + " |",
           "| --- " * (2 + len(PER_CLASS)) + "|"]
    classes = sorted({c for _k, c, *_ in runs})
    cells: dict[str, list[str]] = {c: [] for c in classes}
    n_files = {c: labels.count(c) for c in classes}
    for name in PER_CLASS:
        ins, outs = [], {c: [] for c in classes}
        for k, c, f, inside, outside in runs:
            if k == 1:
                continue
            s = scores(f, spread)[name]
            ins.append(s[inside])
            outs[c].append(s[outside])
        t = float(np.quantile(np.concatenate(ins), 0.95))
        for c in classes:
            cells[c].append(f"{100 * (np.concatenate(outs[c]) > t).mean():.0f} %")
    for c in classes:
        out.append(f"| {c} | {n_files[c]} | " + " | ".join(cells[c]) + " |")
    return out


def combo_fn(names: list[str], w: np.ndarray, mu: np.ndarray, sd: np.ndarray, spread):
    def fn(f):
        s = scores(f, spread)
        x = np.stack([_tr(s[n]) for n in names], 1)
        return ((x - mu) / sd) @ w
    return fn


def _tr(v: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(v, 0)) if v.min() >= 0 else v


def fit_combo(runs, names: list[str], spread) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logistic regression (in-tree 0, open-set 1), standardised features, plain gradient
    descent: the weights of a combined score, fit on the selection half only."""
    xs, ys = [], []
    for _k, _c, f, inside, outside in runs:
        s = scores(f, spread)
        x = np.stack([_tr(s[n]) for n in names], 1)
        xs += [x[inside], x[outside]]
        ys += [np.zeros(len(inside)), np.ones(len(outside))]
    x, y = np.concatenate(xs), np.concatenate(ys)
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    wpos = 0.5 / y.mean()
    wneg = 0.5 / (1 - y.mean())
    sw = np.where(y == 1, wpos, wneg)
    w = np.zeros(z.shape[1])
    b = 0.0
    for _ in range(3000):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = (p - y) * sw
        w -= 0.5 * (z.T @ g / len(y) + 1e-3 * w)
        b -= 0.5 * g.mean()
    return w, mu, sd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--npz", type=Path, default=Path("/tmp/tt/v2.npz"))
    ap.add_argument("--out", type=Path, default=None, help="write the report (markdown)")
    args = ap.parse_args(argv)
    data = load(args.npz)
    eps0 = sample_episodes(data.labels, data.groups, SHOTS, 1, SEED, max(SHOTS) + 2)
    half_a, half_b = split_classes(data.labels, eps0[0].classes)
    sel = collect(data, SEED, half_a)
    rep = collect(data, REPORT_SEED, half_b)
    every = collect(data, SEED, None)
    sp_sel, sp_rep = pooled_spread(sel), pooled_spread(rep)
    names = list(scores(sel[0][2], sp_sel[1]))
    lines = [f"selection half: seed {SEED}, untaught classes {half_a}",
             f"report half: seed {REPORT_SEED}, untaught classes {half_b}", ""]

    def row(label, rs, rr):
        cells = []
        for k in SHOTS:
            cells.append(f"{100 * rr[k]['open@0.05']:.0f} / {100 * rr[k]['open@0.02']:.0f}"
                         f" / {rr[k]['auroc']:.2f}")
        sel_mean = np.mean([rs[k]["open@0.05"] for k in SHOTS])
        xs = " / ".join(f"{100 * rr[k]['xin@0.05']:.0f}→{100 * rr[k]['xopen@0.05']:.0f}"
                        for k in SHOTS)
        return f"| {label} | {100 * sel_mean:.0f} | " + " | ".join(cells) + f" | {xs} |"

    table = []
    sel_rows = []
    sel_res = {}
    for n in names:
        def fn_s(f, n=n):
            return scores(f, sp_sel[1])[n]

        def fn_r(f, n=n):
            return scores(f, sp_rep[1])[n]

        rs = evaluate(sel, fn_s)
        thr = {k: {r: rs[k][f"thr@{r}"] for r in (0.05, 0.02)} for k in SHOTS}
        rr = evaluate(rep, fn_r, thresholds=thr)
        sel_res[n] = rs
        table.append(row(n, rs, rr))
        sel_rows.append(f"| {n} | " + " | ".join(
            f"{100 * rs[k]['open@0.05']:.0f} / {100 * rs[k]['open@0.02']:.0f} / "
            f"{rs[k]['auroc']:.2f}" for k in SHOTS) + " |")
    # combinations, weights fit on the selection half
    combos = {
        "combo: distance + ratio": ["distance (today)", "ratio nearest/2nd"],
        "combo: distance + lib rank": ["distance (today)",
                                       "library files nearer than nearest example"],
        "combo: all": [n for n in names if n != "distance (today)"] + ["distance (today)"],
    }
    for label, cn in combos.items():
        w, mu, sd = fit_combo(sel, cn, sp_sel[1])
        rs = evaluate(sel, combo_fn(cn, w, mu, sd, sp_sel[1]))
        thr = {k: {r: rs[k][f"thr@{r}"] for r in (0.05, 0.02)} for k in SHOTS}
        rr = evaluate(rep, combo_fn(cn, w, mu, sd, sp_rep[1]), thresholds=thr)
        table.append(row(label, rs, rr))
        sel_rows.append(f"| {label} | " + " | ".join(
            f"{100 * rs[k]['open@0.05']:.0f} / {100 * rs[k]['open@0.02']:.0f} / "
            f"{rs[k]['auroc']:.2f}" for k in SHOTS) + " |")
        lines.append(f"{label}: weights " + ", ".join(
            f"{n} {x:+.2f}" for n, x in zip(cn, w, strict=True)))
    head = ("| score | selection: open-set @5 % (mean K) | "
            + " | ".join(f"report K={k}: open @5 % / @2 % / AUROC" for k in SHOTS)
            + " | report, selection's 5 % threshold: in-tree→open-set, K=1/2/4/8 |")
    sep = "| --- " * (3 + len(SHOTS)) + "|"
    out = "\n".join([*lines, "", head, sep, *table, "", "Report half, the distance:", "",
                     *diagnose(rep, data.labels), "",
                     "Selection half (where the choices are made), per K: open-set unknown "
                     "at in-tree 5 % / 2 %, AUROC", "",
                     "| score | " + " | ".join(f"K={k}" for k in SHOTS) + " |",
                     "| --- " * (1 + len(SHOTS)) + "|", *sel_rows, "",
                     f"Every class in turn untaught (seed {SEED}), open-set unknown at "
                     "in-tree 5 % (K = 2, 4, 8 pooled):", "",
                     *per_class(every, sp_sel[1], data.labels)])
    print(out)
    if args.out:
        args.out.write_text(out + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
