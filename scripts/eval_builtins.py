"""The bundled producer tree's labels on the real-sample validation set, with zero, one and
four user examples a class (issue #12). Writes a JSON of every figure; docs/eval/builtins.md
holds the tables.

    nice -n 10 python scripts/eval_builtins.py [--set ~/.cache/Sampletree/realset]
        [--out docs/eval/builtins.json] [--prior 0,4,32]

Everything goes through the app's own classifier (core.classify.assemble / predict, default
thresholds): per-window softmax over components, per-file mean, back-off, unknown bound.
The set's files are embedded as the scanner does (realeval.scanner_windows, 1 s windows
every 0.5 s, -60 dBFS gate) with the shipped weights.

Conditions, on the same queries (realeval's fixed-seed episodes over the 13 classes with
>= 10 files, K = 1 and 4, 5 episodes each):

* ``builtins``: zero user examples, built-ins only;
* ``user``: the K examples a class only (built-ins off) — the app before built-ins;
* ``both``: built-ins plus the K examples, combined by the app's rule (core.classify.USER_RULE:
  each example counts in its own neighbourhood);
* ``both@P``: built-ins plus the K examples by the earlier mixture rule (``--prior``: the
  examples' mean weighs n / (n + P) everywhere; 0 = the examples replace the built-ins).

The set's classes map onto the producer tree (REALSET_TO_PRODUCER); a user example goes on
the first node listed. A file's predicted class is its best class, walked up to the first
node that maps to a set class ("other" when none does: e.g. Synth/Lead for a flute).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import builtins as bi  # noqa: E402
from core import calibration as cal_mod  # noqa: E402
from core.classify import (  # noqa: E402
    EmbeddingIndex,
    Thresholds,
    assemble,
    predict,
    window_weights,
)
from core.library import Library  # noqa: E402
from core.trees import Tree, create_tree, load_tree  # noqa: E402
from models.realeval import paired_episodes, sample_episodes, scanner_windows  # noqa: E402
from models.realset import DEFAULT_OUT, load_manifest  # noqa: E402

#: The set's class → producer nodes whose subtrees count as that class (first: where the
#: user's examples go).
REALSET_TO_PRODUCER: dict[str, list[str]] = {
    "Drums/Kick": ["Drums/Kick"], "Drums/Snare": ["Drums/Snare"], "Drums/Clap": ["Drums/Clap"],
    "Drums/Hi-hat": ["Drums/Hi-hat"], "Drums/Cymbal": ["Drums/Cymbal"],
    "Drums/Tom": ["Drums/Tom"], "Drums/Percussion": ["Drums/Percussion"],
    "FX/Ambience & FX": ["FX"],
    "Loops/Band backing": ["Loops/Music Loop", "Loops"],
    "Tonal/Bass": ["Bass"],
    "Tonal/Brass": ["Brass & Winds/Brass"],
    "Tonal/Woodwind": ["Brass & Winds/Woodwinds", "Brass & Winds/Saxophone"],
    "Tonal/Guitar": ["Guitar"],
    "Tonal/Keys/Electric Piano": ["Keys/Electric Piano"],
    "Tonal/Keys/Organ": ["Keys/Organ"],
    "Tonal/Keys/Piano": ["Keys/Piano"],
    "Tonal/Mallets": ["Keys/Mallets"],
    "Tonal/Strings & Pads": ["Strings", "Pads"],
}
SHOTS = (1, 4)
MIN_FILES = 10  # realeval's classes (K = 8 plus two queries)


def embed_set(set_dir: Path, files: list[dict], cache: Path, semitones: float = 0.0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window embeddings, offsets, window loudness in dB) of every file, cached per model
    id; ``semitones``: every window resampled by that much first (its loudness is the
    unshifted window's)."""
    import torch

    from models.builtins import pitch_shifted
    from models.loading import load_model

    model = load_model(device="cpu")
    tag = f"-shift{semitones:+g}" if semitones else ""
    cache = cache.with_name(f"{cache.stem}-{model.info.model_id}{tag}.npz")
    if cache.is_file():
        got = np.load(cache, allow_pickle=False)
        if len(got["offsets"]) == len(files) + 1 and "loud" in got:
            return got["win"], got["offsets"], got["loud"]
    torch.set_num_threads(1)
    per = [scanner_windows(set_dir / f["path"]) for f in files]
    if semitones:
        per = [pitch_shifted(w, semitones, model.info.features.sample_rate) for w in per]
    allw = np.concatenate(per)
    emb = np.concatenate([model.embed_audio(torch.from_numpy(allw[i:i + 256])).numpy()
                          for i in range(0, len(allw), 256)])
    offsets = np.r_[0, np.cumsum([len(w) for w in per])].astype(np.int64)
    # the scanner's per-window loudness (core.audio._loudness_db: mean power in dB)
    loud = (10.0 * np.log10(np.mean(np.square(allw, dtype=np.float64), axis=1) + 1e-12)
            ).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, win=emb, offsets=offsets, loud=loud)
    return emb, offsets, loud


def make_index(win: np.ndarray, offsets: np.ndarray, loud: np.ndarray | None = None
               ) -> EmbeddingIndex:
    """The app's index of the set; ``loud`` weights each window by its level as a
    library's index does (None: every window counts the same, the app before the
    weighting)."""
    n = len(offsets) - 1
    counts = np.diff(offsets)
    file_emb = (np.add.reduceat(win, offsets[:-1], axis=0) / counts[:, None]).astype(np.float32)
    win_idx = np.concatenate([np.arange(c) for c in counts])
    weight = None if loud is None else window_weights(loud, offsets)
    return EmbeddingIndex(0, np.arange(n, dtype=np.int64), file_emb, win.astype(np.float32),
                          win_idx, offsets, win_weight=weight)


#: where the set's window embeddings are cached (one file per model id, embed_set)
EMB_CACHE = Path.home() / ".cache" / "Sampletree" / "realset-emb" / "builtins"


def load_set(set_dir: Path, equal_windows: bool = False
             ) -> tuple[list[dict], list[str], list[str], EmbeddingIndex]:
    """The set's files, their labels and source groups, and the app's index of them
    (``equal_windows``: see :func:`make_index`)."""
    files = load_manifest(set_dir)["files"]
    win, offsets, loud = embed_set(set_dir, files, EMB_CACHE)
    return (files, [f["label"] for f in files], [f["group"] for f in files],
            make_index(win, offsets, None if equal_windows else loud))


def active_for(tree: Tree, bset: bi.BuiltinSet) -> bi.Active:
    index = {p: i for i, p in enumerate(bset.paths)}
    ids, rows = [], []
    for n in tree.walk():
        i = index.get(tree.path_str(n))
        if i is not None:
            hit = np.flatnonzero(bset.node == i)
            ids += [n] * len(hit)
            rows += hit.tolist()
    return bi.Active(np.array(ids), bset.emb[rows], bset.spread, bset.temperature)


class Scorer:
    def __init__(self, tree: Tree, mapping: dict[str, list[str]] | None = None) -> None:
        mapping = REALSET_TO_PRODUCER if mapping is None else mapping
        self.tree = tree
        self.node_class: dict[int, str] = {}
        for cls, paths in mapping.items():
            for p in paths:
                self.node_class.setdefault(tree.require(p).id, cls)
        self.true_nodes = {c: [tree.require(p).id for p in ps] for c, ps in mapping.items()}

    def cls_of(self, node: int) -> str:
        for n in [node, *self.tree.ancestors(node)]:
            if n in self.node_class:
                return self.node_class[n]
        return "other"

    def distance(self, a: int, b: int) -> int:
        up_a = [a, *self.tree.ancestors(a)]
        up_b = [b, *self.tree.ancestors(b)]
        common = next((x for x in up_a if x in up_b), None)
        if common is None:
            return len(up_a) + len(up_b)
        return up_a.index(common) + up_b.index(common)

    def related(self, reported: int, truth: str) -> bool:
        """The reported node does not contradict the truth: it is a true node, below one,
        or above one (a coarser but right label)."""
        for t in self.true_nodes[truth]:
            if reported == t or t in self.tree.ancestors(reported) \
                    or reported in self.tree.ancestors(t):
                return True
        return False

    def score(self, pred, query: list[int], labels: list[str], classes: list[str]
              ) -> dict:
        t = [labels[i] for i in query]
        p = [self.cls_of(int(pred.leaf_ids[i])) for i in query]
        f1 = {}
        for c in classes:
            tp = sum(1 for a, b in zip(t, p, strict=True) if a == c and b == c)
            fp = sum(1 for a, b in zip(t, p, strict=True) if a != c and b == c)
            fn = sum(1 for a, b in zip(t, p, strict=True) if a == c and b != c)
            f1[c] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        present = [c for c in classes if c in t]
        root = self.tree.root_id
        covered = [(pred.node_ids[i] != root) and not pred.unknown[i] for i in query]
        cov_right = [cv and self.related(int(pred.node_ids[i]), labels[i])
                     for cv, i in zip(covered, query, strict=True)]
        wrong = [(i, int(pred.leaf_ids[i])) for i, a, b in zip(query, t, p, strict=True)
                 if a != b]
        dist = [min(self.distance(leaf, tn) for tn in self.true_nodes[labels[i]])
                for i, leaf in wrong]
        same_top = [any(self._top(leaf) == self._top(tn) for tn in self.true_nodes[labels[i]])
                    for i, leaf in wrong]
        return {
            "macro_f1": float(np.mean([f1[c] for c in present])),
            "accuracy": float(np.mean([a == b for a, b in zip(t, p, strict=True)])),
            "coverage": float(np.mean(covered)),
            "covered_right": float(np.mean(cov_right)),
            "mistake_distance": float(np.mean(dist)) if dist else 0.0,
            "mistakes_same_top": float(np.mean(same_top)) if same_top else 1.0,
            "per_class_f1": f1,
        }

    def _top(self, node: int) -> int:
        anc = self.tree.ancestors(node)
        return anc[-1] if anc else node


def run(set_dir: Path, priors: list[float], equal_windows: bool = False,
        shots: tuple[int, ...] = SHOTS, n_episodes: int = 5, paired: bool = False,
        pitch_average: tuple[float, ...] = (), builtins_file: Path | None = None) -> dict:
    files, labels, groups, index = load_set(set_dir, equal_windows)
    # the user's examples: each file's mean embedding (as the app makes them), or, with
    # --pitch-average, its mean over pitch-shifted copies (an experiment; not the app)
    example_emb = index.file_emb
    if pitch_average:
        example_emb = np.mean([make_index(*embed_set(set_dir, files, EMB_CACHE, s)).file_emb
                               for s in pitch_average], axis=0).astype(np.float32)
    sets = bi.load_all(builtins_file)
    bset = sets["producer"]
    with tempfile.TemporaryDirectory() as tmp, \
            Library(Path(tmp) / "lib.sqlite", create=True) as lib:
        create_tree(lib, "producer", from_default="producer")
        tree = load_tree(lib, "producer")
    active = active_for(tree, bset)
    scorer = Scorer(tree)
    th = Thresholds()
    cal = cal_mod.for_model(bset.model_id)  # the model's unknown bound, as the app uses it
    out: dict = {"model_id": bset.model_id, "calibrated": cal is not None,
                 "pitch_average": list(pitch_average),
                 "window_weights": "equal" if equal_windows else "level",
                 "files": len(files), "priors": priors,
                 "builtin_examples": len(active.emb), "episodes": {}}

    # zero examples over the whole set (all 18 classes)
    zero = predict(index, assemble(tree, [], active, th, calibration=cal), th)
    all_classes = sorted(set(labels))
    out["zero_all_files"] = scorer.score(zero, list(range(len(files))), labels, all_classes)
    out["zero_temperatures"] = {}
    for t in (0.5, 1.0, 2.0):  # the built-ins' temperature (models/builtins.py TEMPERATURE)
        act_t = bi.Active(active.node_ids, active.emb, active.spread, t)
        pred_t = predict(index, assemble(tree, [], act_t, th, calibration=cal), th)
        out["zero_temperatures"][str(t)] = {
            k: v for k, v in scorer.score(pred_t, list(range(len(files))), labels,
                                          all_classes).items() if k != "per_class_f1"}

    make = paired_episodes if paired else sample_episodes
    episodes = make(labels, groups, shots, n_episodes, min_files=MIN_FILES)
    out["shots"] = list(shots)
    for ep in episodes:
        classes = list(ep.classes)
        query = list(ep.query)
        rows = []
        for c, sup in zip(classes, ep.support, strict=True):
            node = tree.require(REALSET_TO_PRODUCER[c][0]).id
            rows += [(int(i), node, example_emb[i]) for i in sup]
        res = {"builtins": scorer.score(zero, query, labels, classes),
               "user": scorer.score(predict(index, assemble(tree, rows, None, th,
                                                            calibration=cal), th),
                                    query, labels, classes)}
        res["both"] = scorer.score(
            predict(index, assemble(tree, rows, active, th, calibration=cal), th),
            query, labels, classes)
        for prior in priors:
            res[f"both@{prior:g}"] = scorer.score(
                predict(index, assemble(tree, rows, active, th, user_share_prior=prior,
                                        user_rule="mixture", calibration=cal), th),
                query, labels, classes)
        out["episodes"][f"{ep.k}-{ep.index}"] = res
    return out


#: A tree of the user's own for the set's classes, made by hand at the producer tree's paths
#: where a producer would put them: "Bass", "Guitar", "Strings", "FX" and "Loops" are
#: leaves here and groups in the bundled tree (``--own-tree``).
OWN_TREE: dict[str, str] = {
    "Drums/Kick": "Drums/Kick", "Drums/Snare": "Drums/Snare", "Drums/Clap": "Drums/Clap",
    "Drums/Hi-hat": "Drums/Hi-hat", "Drums/Cymbal": "Drums/Cymbal", "Drums/Tom": "Drums/Tom",
    "Drums/Percussion": "Drums/Percussion", "FX/Ambience & FX": "FX",
    "Loops/Band backing": "Loops", "Tonal/Bass": "Bass",
    "Tonal/Brass": "Brass & Winds/Brass", "Tonal/Woodwind": "Brass & Winds/Woodwinds",
    "Tonal/Guitar": "Guitar", "Tonal/Keys/Electric Piano": "Keys/Electric Piano",
    "Tonal/Keys/Organ": "Keys/Organ", "Tonal/Keys/Piano": "Keys/Piano",
    "Tonal/Mallets": "Keys/Mallets", "Tonal/Strings & Pads": "Strings",
}


def run_own_tree(set_dir: Path, shots: tuple[int, ...], n_episodes: int, paired: bool,
                 builtins_file: Path | None = None, own: dict[str, str] | None = None) -> dict:
    """A tree of the user's own (``own``: class → node path, :data:`OWN_TREE` by default;
    one leaf a class) with the producer tree's built-ins switched on as the app and
    ``tree builtins … on --from producer`` do, through core.builtins.status. Conditions on
    the same queries: ``user`` (examples only), ``builtins`` / ``both`` (built-ins as
    status gives them: nodes matched by path or name, a leaf at a bundled group takes the
    group's descendants' examples) and ``builtins-own`` / ``both-own`` (only nodes at the
    very path of a bundled node with examples of its own: the rule before those two)."""
    own = OWN_TREE if own is None else own
    files, labels, groups, index = load_set(set_dir)
    bset = bi.load_all(builtins_file)["producer"]
    with tempfile.TemporaryDirectory() as tmp, \
            Library(Path(tmp) / "lib.sqlite", create=True) as lib:
        from core.trees import add_node

        create_tree(lib, "mine")
        for path in own.values():
            add_node(lib, "mine", path)
        bi.set_builtins(lib, "mine", True, source="producer")
        tree = load_tree(lib, "mine")
        _msg, active = bi.status(lib, tree, None)
    assert active is not None
    direct = {n for n in tree.walk() if tree.path_str(n) in bset.paths
              and (bset.node == bset.paths.index(tree.path_str(n))).any()}
    matched = {tree.path_str(n): b for n, b in
               bi.match_nodes(tree, bi._bundled_paths("producer")).items()}
    keep = np.isin(active.node_ids, list(direct))
    own_only = bi.Active(active.node_ids[keep], active.emb[keep], active.spread,
                         active.temperature)
    scorer = Scorer(tree, {c: [p] for c, p in own.items()})
    th = Thresholds()
    cal = cal_mod.for_model(bset.model_id)
    per_node = {tree.path_str(int(n)): int((active.node_ids == n).sum())
                for n in np.unique(active.node_ids)}
    out: dict = {"model_id": bset.model_id, "files": len(files), "tree": own,
                 "matched": matched, "builtins_per_node": per_node,
                 "without_group_rule": sorted(tree.path_str(int(n)) for n in
                                              np.unique(own_only.node_ids)),
                 "shots": list(shots), "episodes": {}}
    all_q = list(range(len(files)))
    all_classes = sorted(set(labels))
    zero = {name: predict(index, assemble(tree, [], act, th, calibration=cal), th)
            for name, act in (("builtins", active), ("builtins-own", own_only))}
    out["zero_all_files"] = {name: scorer.score(pred, all_q, labels, all_classes)
                             for name, pred in zero.items()}
    make = paired_episodes if paired else sample_episodes
    for ep in make(labels, groups, shots, n_episodes, min_files=MIN_FILES):
        classes, query = list(ep.classes), list(ep.query)
        rows = [(int(i), tree.require(own[c]).id, index.file_emb[i])
                for c, sup in zip(classes, ep.support, strict=True) for i in sup]
        res = {name: scorer.score(pred, query, labels, classes) for name, pred in zero.items()}
        for name, act in (("user", None), ("both", active), ("both-own", own_only)):
            res[name] = scorer.score(predict(index, assemble(tree, rows, act, th,
                                                             calibration=cal), th),
                                     query, labels, classes)
        out["episodes"][f"{ep.k}-{ep.index}"] = res
    return out


def summarize(out: dict) -> dict:
    summ: dict = {}
    for k in out["shots"]:
        eps = [v for key, v in out["episodes"].items() if key.startswith(f"{k}-")]
        summ[k] = {}
        for cond in eps[0]:
            vals = [e[cond] for e in eps]
            summ[k][cond] = {m: float(np.mean([v[m] for v in vals])) for m in
                             ("macro_f1", "accuracy", "coverage", "covered_right",
                              "mistake_distance", "mistakes_same_top")}
            summ[k][cond]["per_class_f1"] = {
                c: float(np.mean([v["per_class_f1"][c] for v in vals]))
                for c in vals[0]["per_class_f1"]}
            # per class, the median over episodes of (this condition - zero examples)
            summ[k][cond]["per_class_median_delta"] = {
                c: float(np.median([v["per_class_f1"][c] - e["builtins"]["per_class_f1"][c]
                                    for v, e in zip(vals, eps, strict=True)]))
                for c in vals[0]["per_class_f1"]}
    return summ


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", type=Path, default=DEFAULT_OUT)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "eval" / "builtins.json")
    p.add_argument("--prior", default="0,4,32",
                   help="user-share priors to compare, comma-separated (0,4,32)")
    p.add_argument("--shots", default="1,4", help="K values, comma-separated (1,4)")
    p.add_argument("--episodes", type=int, default=5, help="episodes a K (5)")
    p.add_argument("--paired", action="store_true",
                   help="realeval's paired episodes: the same queries at every K")
    p.add_argument("--equal-windows", action="store_true",
                   help="every window of a file counts the same in its label (the app "
                        "before level weighting), for a before/after")
    p.add_argument("--pitch-average", default="", metavar="S,S,...",
                   help="make each user example's embedding the mean over its file "
                        "resampled by these semitones, e.g. -2,0,2 (an experiment: the app "
                        "does not); default none")
    p.add_argument("--builtins", type=Path, default=None,
                   help="a built-ins file other than the shipped one")
    p.add_argument("--own-tree", choices=("flat", "nested"), default=None,
                   help="a tree of the user's own with the producer tree's built-ins "
                        "switched on, instead of the producer tree: 'flat' (OWN_TREE: "
                        "mostly the producer tree's paths) or 'nested' (the set's own "
                        "labels as the tree: Tonal/Keys/Piano, Loops/Band backing…)")
    args = p.parse_args()
    shots = tuple(int(x) for x in args.shots.split(","))
    if args.own_tree:
        own = None if args.own_tree == "flat" else {
            f["label"]: f["label"] for f in load_manifest(args.set.expanduser())["files"]}
        out = run_own_tree(args.set.expanduser(), shots, args.episodes, args.paired,
                           args.builtins, own)
        out["summary"] = summarize(out)
        args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print("matched:", out["matched"])
        print("built-ins a node:", out["builtins_per_node"])
        for name, z in out["zero_all_files"].items():
            print(f"zero examples ({name}), all {out['files']} files: macro-F1 "
                  f"{z['macro_f1']:.3f} acc {z['accuracy']:.3f} cov {z['coverage']:.3f}")
        for k in shots:
            for cond, v in out["summary"][k].items():
                print(f"K={k} {cond:13s} F1 {v['macro_f1']:.3f} acc {v['accuracy']:.3f} "
                      f"cov {v['coverage']:.3f} right {v['covered_right']:.3f}")
        return 0
    shifts = tuple(float(x) for x in args.pitch_average.split(",") if x.strip())
    out = run(args.set.expanduser(), [float(x) for x in args.prior.split(",")],
              args.equal_windows, shots, args.episodes, args.paired, shifts, args.builtins)
    out["summary"] = summarize(out)
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    s = out["summary"]
    z = out["zero_all_files"]
    print(f"zero examples, all {out['files']} files: macro-F1 {z['macro_f1']:.3f} acc "
          f"{z['accuracy']:.3f} coverage {z['coverage']:.3f} covered&right "
          f"{z['covered_right']:.3f} mistake distance {z['mistake_distance']:.2f}")
    for k in shots:
        for cond, v in s[k].items():
            print(f"K={k} {cond:10s} F1 {v['macro_f1']:.3f} acc {v['accuracy']:.3f} cov "
                  f"{v['coverage']:.3f} right {v['covered_right']:.3f} "
                  f"dist {v['mistake_distance']:.2f} sametop {v['mistakes_same_top']:.2f}")
    # classes that adding user examples made worse (both@prior vs builtins, same queries)
    for k in shots:
        zero = s[k]["builtins"]["per_class_f1"]
        for cond in s[k]:
            if cond.startswith("both"):
                mine = s[k][cond]["per_class_f1"]
                worse = {c: round(mine[c] - zero[c], 3) for c in zero if mine[c] < zero[c] - 1e-9}
                med = {c: round(d, 3) for c, d in s[k][cond]["per_class_median_delta"].items()
                       if d < -1e-9}
                print(f"K={k} {cond}: classes worse than with zero examples: mean over "
                      f"episodes {worse or 'none'}; median {med or 'none'}")
    for t, v in out["zero_temperatures"].items():
        print(f"zero examples, all files, temperature {t}: macro-F1 {v['macro_f1']:.3f} acc "
              f"{v['accuracy']:.3f} coverage {v['coverage']:.3f} covered&right "
              f"{v['covered_right']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
