"""The paper's evaluation on the unseen test classes (``sampletree evaluate``).

Every model is scored on the same episodes: 100 a shot count, N-way (12, or every test
class if fewer), K ∈ {1, 2, 4, 8, 16} support clips, a fixed number of queries a class,
support and query from different sources where the class has several. A query is given
the class of the nearest leaf prototype, as the app does. Metrics per episode: macro-F1,
accuracy, and mistake severity — the height of the lowest common ancestor of truth and
prediction in the real taxonomy, averaged over the episode's mistakes; reported as means
with 95 % confidence intervals (1.96 standard errors over episodes), and per-class F1
pooled over all episodes. Writes results.json, results.md and PNG plots.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.corpus import Corpus
from models.episodes import EpisodeSampler, windows
from models.loading import EmbeddingModel, load_model
from models.loss import neg_sq_dist, prototypes
from models.taxonomy import Taxonomy

SHOTS = (1, 2, 4, 8, 16)


@dataclass
class EvalConfig:
    corpus: str
    out: str
    shots: tuple[int, ...] = SHOTS
    episodes: int = 100
    n_way: int = 12
    n_query: int = 10
    split: str = "test"
    seed: int = 1234
    device: str = "auto"


@dataclass
class Scores:
    f1: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    severity: list[float] = field(default_factory=list)  # episodes with at least one mistake
    per_class: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    def summary(self) -> dict[str, Any]:
        def ci(xs: list[float]) -> dict[str, float]:
            a = np.asarray(xs, dtype=np.float64)
            if not len(a):
                return {"mean": None, "ci95": None, "n": 0}
            half = 1.96 * a.std(ddof=1) / math.sqrt(len(a)) if len(a) > 1 else 0.0
            return {"mean": float(a.mean()), "ci95": float(half), "n": len(a)}

        per_class = {}
        for c, (tp, fp, fn) in sorted(self.per_class.items()):
            per_class[c] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        return {"macro_f1": ci(self.f1), "accuracy": ci(self.acc),
                "mistake_severity": ci(self.severity), "per_class_f1": per_class}


@torch.inference_mode()
def embed_clips(model: EmbeddingModel, corpus: Corpus, idx: np.ndarray,
                batch: int = 256) -> torch.Tensor:
    """Embeddings of the first second of each clip (no augmentation)."""
    out = []
    for i in range(0, len(idx), batch):
        x = windows(corpus, idx[i:i + batch])
        out.append(model.embed_audio(x).cpu())
    return torch.cat(out) if out else torch.zeros(0, model.info.dim)


def score_model(model: EmbeddingModel, corpus: Corpus, taxonomy: Taxonomy,
                cfg: EvalConfig) -> dict[int, Scores]:
    from sklearn.metrics import f1_score

    classes = taxonomy.names(cfg.split)
    by_class = corpus.by_class()
    idx = np.array(sorted(i for c in classes for i in by_class.get(c, [])))
    emb = embed_clips(model, corpus, idx)
    row = {int(i): r for r, i in enumerate(idx)}
    results: dict[int, Scores] = {}
    for k in cfg.shots:
        sampler = EpisodeSampler(corpus, classes, cfg.n_way, k, cfg.n_query, seed=cfg.seed + k)
        s = Scores()
        for _ in range(cfg.episodes):
            ep = sampler.sample()
            s_emb = emb[[row[int(i)] for i in ep.support]]
            q_emb = emb[[row[int(i)] for i in ep.query]]
            s_lab, q_lab = ep.labels()
            pred = neg_sq_dist(q_emb, prototypes(s_emb, s_lab, len(ep.classes))).argmax(1)
            truth, guess = q_lab.numpy(), pred.numpy()
            s.acc.append(float((truth == guess).mean()))
            s.f1.append(float(f1_score(truth, guess, average="macro", zero_division=0)))
            wrong = truth != guess
            if wrong.any():
                s.severity.append(float(np.mean([
                    taxonomy.lca_height(ep.classes[t], ep.classes[g])
                    for t, g in zip(truth[wrong], guess[wrong], strict=True)])))
            for ci, c in enumerate(ep.classes):
                tp = int(((truth == ci) & (guess == ci)).sum())
                fp = int(((truth != ci) & (guess == ci)).sum())
                fn = int(((truth == ci) & (guess != ci)).sum())
                acc = s.per_class[c]
                acc[0] += tp
                acc[1] += fp
                acc[2] += fn
        results[k] = s
    return results


def evaluate(models: dict[str, str | Path], cfg: EvalConfig, log=print) -> dict[str, Any]:
    """Score each ``{label: weights path}`` on the same episodes; write the report."""
    corpus = Corpus.open(cfg.corpus)
    taxonomy = Taxonomy.load()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "config": {k: (list(v) if isinstance(v, tuple) else v)
                   for k, v in cfg.__dict__.items()},
        "test_classes": taxonomy.names(cfg.split),
        "models": {},
    }
    for label, path in models.items():
        model = load_model(path, cfg.device)
        scores = score_model(model, corpus, taxonomy, cfg)
        training = model.info.extra.get("training", {})
        report["models"][label] = {
            "weights": str(path),
            "loss": training.get("loss"),
            "episodes": training.get("episodes"),
            "shots": {str(k): s.summary() for k, s in scores.items()},
        }
        f1 = ", ".join(f"K={k}: {s.summary()['macro_f1']['mean']:.3f}"
                       for k, s in scores.items())
        log(f"{label}: macro-F1 {f1}")
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out / "results.md").write_text(markdown(report), encoding="utf-8")
    plots(report, out)
    return report


def markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [
        f"Test classes: {len(report['test_classes'])} (never seen in training or validation). "
        f"{cfg['episodes']} episodes per K, {cfg['n_way']}-way, {cfg['n_query']} queries a "
        f"class, seed {cfg['seed']}. Mean ± 95 % CI over episodes. Severity: mean height of "
        "the lowest common ancestor of truth and prediction over mistakes (1 = same family, "
        "2 = same Hornbostel–Sachs class, 3 = only the root).",
        "",
    ]
    for metric, title in (("macro_f1", "Macro-F1"), ("accuracy", "Accuracy"),
                          ("mistake_severity", "Mistake severity (lower is better)")):
        shots = list(next(iter(report["models"].values()))["shots"])
        lines += [f"### {title}", "",
                  "| model | " + " | ".join(f"K={k}" for k in shots) + " |",
                  "| --- | " + " | ".join("---" for _ in shots) + " |"]
        for label, m in report["models"].items():
            cells = [_cell(m["shots"][k][metric]) for k in shots]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(v: dict[str, Any]) -> str:
    return "—" if v["mean"] is None else f"{v['mean']:.3f} ± {v['ci95']:.3f}"


def plots(report: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for metric, title, fname in (("macro_f1", "Macro-F1 on unseen classes", "f1.png"),
                                 ("mistake_severity", "Mistake severity (LCA height)",
                                  "severity.png")):
        fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
        shown_random = False
        for label, m in report["models"].items():
            ks = [int(k) for k in m["shots"]]
            ys = [m["shots"][str(k)][metric]["mean"] for k in ks]
            es = [m["shots"][str(k)][metric]["ci95"] for k in ks]
            ys = [np.nan if y is None else y for y in ys]
            es = [0.0 if e is None else e for e in es]
            if label.startswith("random"):
                # random-tree controls: one grey family of thin lines, one legend entry
                ax.plot(ks, ys, color="0.6", lw=0.8, zorder=1,
                        label=None if shown_random else "random trees")
                shown_random = True
            else:
                ax.errorbar(ks, ys, yerr=es, marker="o", capsize=3, label=label, zorder=2)
        ax.set_xscale("log", base=2)
        ax.set_xticks([int(k) for k in next(iter(report["models"].values()))["shots"]])
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("support examples per class (K)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        fig.savefig(out / fname)
        plt.close(fig)
