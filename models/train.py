"""Episodic training of the embedding network (``sampletree train``).

Each step draws an N-way K-shot episode from the training classes, augments the audio,
computes log-mel and embeddings, and minimises the hierarchical prototypical loss. With
``distill`` set, a linear head (training only, never shipped) maps the student's
embedding to a pretrained teacher's embedding of the same clip (cached beside the corpus by
``scripts/teacher_embed.py --corpus``) and ``distill_weight`` × the cosine distance is added
to the loss. ``classes="all"`` trains on every class of the taxonomy (the shipped model);
``"train"`` on the protocol's training split only. ``snapshot_every`` keeps the network's
weights every N episodes under ``snapshots/`` so a checkpoint can be chosen afterwards on the
real-sample set (``python -m models.realeval``), not on render classes. Every
``val_every`` steps a fixed set of validation episodes (held-out classes, never the test
classes) scores the model; the best one is kept. ``last.pt`` holds everything needed to
resume (model, optimiser, scheduler, sampler and augmentation state); ``log.jsonl`` one
line per logged step. ``model.pt`` + ``model.json`` is the best model in the app's format.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.corpus import Corpus
from models.episodes import (
    Augment,
    AugmentConfig,
    EpisodeSampler,
    pitch_shift,
    random_offsets,
    windows,
)
from models.features import FeatureParams, LogMel
from models.loading import EmbeddingModel, ModelInfo, resolve_device, save_model
from models.loss import LossConfig, distill_loss, hierarchical_loss
from models.network import EmbeddingNet, NetworkConfig
from models.taxonomy import Taxonomy

LEAN_FEATURES = FeatureParams(n_fft=1024, hop_length=256)
#: A toy-sized model for tests: learns a toy problem on a CPU in seconds.
TINY_FEATURES = FeatureParams(n_fft=512, hop_length=256, n_mels=32)
TINY_NETWORK = NetworkConfig(n_mels=32, stem=8, widths=(16, 32), n_blocks=2, channels=32,
                             embedding_dim=32)
#: the lean network with 1.5x the channels everywhere (about 2.2x its multiply-adds): a
#: larger student for distillation, still well above the 300 windows/s floor on 2 cores
WIDE_NETWORK = NetworkConfig(n_mels=128, embedding_dim=128, stem=24, widths=(48, 96, 192),
                             n_blocks=3, channels=192)


def architecture(arch: str) -> tuple[FeatureParams, NetworkConfig]:
    """Features and network of a named architecture (lean, wide, paper, tiny)."""
    if arch == "lean":
        return LEAN_FEATURES, NetworkConfig.lean()
    if arch == "wide":
        return LEAN_FEATURES, WIDE_NETWORK
    if arch == "tiny":
        return TINY_FEATURES, TINY_NETWORK
    if arch == "paper":
        return FeatureParams(), NetworkConfig()
    raise ValueError(f"unknown architecture {arch!r} (lean, wide, paper or tiny)")


@dataclass
class TrainConfig:
    corpus: str
    out: str
    episodes: int = 3000
    n_way: int = 12
    k_shot: int = 4
    n_query: int = 12
    loss: str = "hier"  # flat | hier | equal
    alpha: float = 1.0
    height: int = 1
    random_tree: int | None = None  # seed of a shuffled tree of the same shape
    lr: float = 3e-3
    clip_grad: float = 1.0
    val_every: int = 250
    val_episodes: int = 40
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    augment: bool = True
    arch: str = "lean"  # lean | wide | paper | tiny (tests)
    name: str = "sampletree"
    version: str = "1"
    classes: str = "train"  # train | all
    distill: str | None = None  # teachers cached beside the corpus (aisfx, "aisfx,musicnn")
    distill_weight: float = 1.0
    init: str | None = None  # start from these network weights (a snapshot or best_net.pt)
    #: an unlabeled pool (models/distillpool.py) with the same teachers cached: each episode
    #: adds ``pool_batch`` of its windows with the distillation loss only
    distill_pool: str | None = None
    pool_batch: int = 48
    snapshot_every: int = 0
    #: weight of a pitch-consistency term: the student's embedding of a window is pulled
    #: towards the mean of the ``--init`` network's (frozen) embeddings of the window
    #: resampled by -S, 0 and +S semitones, so that pitch-averaging at inference (which
    #: helps on real samples but costs 3 passes) is learned into one pass
    pitch_consistency: float = 0.0
    consistency_semitones: float = 2.0
    augment_config: AugmentConfig = field(default_factory=AugmentConfig)

    def loss_config(self) -> LossConfig:
        return LossConfig.named(self.loss, self.alpha, self.height)

    def features(self) -> FeatureParams:
        return architecture(self.arch)[0]

    def network(self) -> NetworkConfig:
        return architecture(self.arch)[1]


class Teacher:
    """Cached corpus embeddings of one or more teachers, standardised per dimension.

    ``name`` is one teacher (``aisfx``) or several joined by commas (``aisfx,musicnn``):
    their embeddings are concatenated and :meth:`loss` averages the cosine distance over
    the teachers, so each weighs the same whatever its width.
    """

    def __init__(self, corpus: Corpus, name: str,
                 standardise_like: Teacher | None = None) -> None:
        blocks, self.slices, start = [], [], 0
        self.stats: list[tuple[np.ndarray, np.ndarray]] = []
        for k, one in enumerate(name.split(",")):
            path = corpus.root / f"teacher-{one}.npy"
            try:
                raw = np.load(path, mmap_mode="r")
            except FileNotFoundError:
                raise ValueError(f"no {one} teacher cache in {corpus.root}: run `python "
                                 f"scripts/teacher_embed.py --teacher {one} --corpus "
                                 f"{corpus.root}` (training-only venv) first") from None
            if raw.ndim != 2 or len(raw) != len(corpus.meta):
                raise ValueError(f"{path} does not match the corpus ({raw.shape[0]} rows, "
                                 f"{len(corpus.meta)} clips): embed the corpus again")
            emb = np.asarray(raw, np.float32)
            # a pool's targets are standardised with the corpus's statistics, so one head
            # maps the student to both
            mean, std = (standardise_like.stats[k] if standardise_like is not None
                         else (emb.mean(0), emb.std(0) + 1e-6))
            if len(mean) != emb.shape[1]:
                raise ValueError(f"{path} has {emb.shape[1]} columns, the corpus's {one} "
                                 f"cache {len(mean)}")
            self.stats.append((mean, std))
            blocks.append((emb - mean) / std)
            self.slices.append(slice(start, start + emb.shape[1]))
            start += emb.shape[1]
        self.emb = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
        self.dim = start

    def targets(self, idx: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.from_numpy(self.emb[idx]).to(device)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The mean over teachers of :func:`models.loss.distill_loss` on its columns."""
        parts = [distill_loss(pred[:, sl], target[:, sl]) for sl in self.slices]
        return torch.stack(parts).mean()


def _pool_batch(pool: Any, rng: np.random.Generator, augment: Augment | None,
                cfg: TrainConfig) -> tuple[np.ndarray, torch.Tensor]:
    """``cfg.pool_batch`` random windows of the unlabeled pool, augmented like episodes."""
    idx = rng.integers(0, len(pool.meta), cfg.pool_batch)
    offsets = random_offsets(len(idx), pool.audio.shape[1], rng, cfg.augment_config.shift_s)
    x = windows(pool, idx, offsets)
    if augment is not None:
        x = augment(x)
    return idx, x


def _episode_batch(sampler: EpisodeSampler, corpus: Corpus, rng: np.random.Generator,
                   augment: Augment | None, shift_s: float):
    ep = sampler.sample()
    idx = np.concatenate([ep.support, ep.query])
    offsets = (random_offsets(len(idx), corpus.audio.shape[1], rng, shift_s)
               if augment is not None else None)
    x = windows(corpus, idx, offsets)
    if augment is not None:
        x = augment(x)
    return ep, x


@torch.no_grad()
def validate(net: EmbeddingNet, logmel: LogMel, corpus: Corpus, taxonomy: Taxonomy,
             classes: list[str], cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """Leaf accuracy and macro-F1 on fixed validation episodes (same seed every time)."""
    from sklearn.metrics import f1_score

    net.eval()
    sampler = EpisodeSampler(corpus, classes, cfg.n_way, cfg.k_shot, cfg.n_query,
                             seed=10_000 + cfg.seed)
    accs, f1s = [], []
    for _ in range(cfg.val_episodes):
        ep = sampler.sample()
        x = windows(corpus, np.concatenate([ep.support, ep.query])).to(device)
        emb = net(logmel(x))
        s_lab, q_lab = ep.labels(device)
        n_s = len(ep.support)
        from models.loss import neg_sq_dist, prototypes

        protos = prototypes(emb[:n_s], s_lab, len(ep.classes))
        pred = neg_sq_dist(emb[n_s:], protos).argmax(1)
        accs.append(float((pred == q_lab).float().mean()))
        f1s.append(f1_score(q_lab.cpu(), pred.cpu(), average="macro", zero_division=0))
    net.train()
    return {"val_acc": float(np.mean(accs)), "val_f1": float(np.mean(f1s))}


def train(cfg: TrainConfig, log=print) -> Path:
    """Train (or resume) into ``cfg.out``; returns the path of the exported best model."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    corpus = Corpus.open(cfg.corpus)
    taxonomy = Taxonomy.load()
    tree = taxonomy.shuffled(cfg.random_tree) if cfg.random_tree is not None else taxonomy
    if cfg.classes not in ("train", "all"):
        raise ValueError(f"classes must be 'train' or 'all', not {cfg.classes!r}")
    train_classes = taxonomy.names("train") if cfg.classes == "train" else taxonomy.names()
    val_classes = taxonomy.names("val")
    loss_cfg = cfg.loss_config()
    if loss_cfg.height > tree.height:
        raise ValueError(f"height {loss_cfg.height} is above the tree's root ({tree.height})")

    features = cfg.features()
    network = cfg.network()
    net = EmbeddingNet(network).to(device)
    logmel = LogMel(features).to(device)
    teacher = Teacher(corpus, cfg.distill) if cfg.distill else None
    pool = pool_teacher = None
    if cfg.distill_pool:
        if teacher is None:
            raise ValueError("--distill-pool needs --distill (the teachers to learn from)")
        from models.distillpool import Pool

        pool = Pool.open(cfg.distill_pool)
        pool_teacher = Teacher(pool, cfg.distill, standardise_like=teacher)
    head = (torch.nn.Linear(network.embedding_dim, teacher.dim).to(device)
            if teacher is not None else None)
    if cfg.init:
        net.load_state_dict(torch.load(cfg.init, map_location=device, weights_only=True))
    frozen = None
    if cfg.pitch_consistency > 0:
        if not cfg.init:
            raise ValueError("--pitch-consistency needs --init (the network to learn from)")
        frozen = EmbeddingNet(network).to(device)
        frozen.load_state_dict(torch.load(cfg.init, map_location=device, weights_only=True))
        frozen.eval().requires_grad_(False)
    params = list(net.parameters()) + (list(head.parameters()) if head is not None else [])
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=2)
    sampler = EpisodeSampler(corpus, train_classes, cfg.n_way, cfg.k_shot, cfg.n_query,
                             seed=cfg.seed)
    augment = Augment(cfg.augment_config, seed=cfg.seed) if cfg.augment else None
    rng = np.random.default_rng(cfg.seed + 1)
    # the pool draws from its own generators: the episodes and their augmentation stay the
    # same as in a run without it
    pool_rng = np.random.default_rng(cfg.seed + 2)
    pool_augment = Augment(cfg.augment_config, seed=cfg.seed + 3) if cfg.augment else None
    step, best, elapsed = 0, -1.0, 0.0

    ckpt = out / "last.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        # runs made before --init / --distill-pool / --pitch-consistency existed
        saved = {"init": None, "distill_pool": None, "pool_batch": cfg.pool_batch,
                 "pitch_consistency": 0.0, "consistency_semitones": 2.0, **state["config"]}
        if saved != _config_dict(cfg, keep_episodes=False):
            raise ValueError(f"{ckpt} was made with other settings; use a new --out")
        net.load_state_dict(state["net"])
        if head is not None:
            head.load_state_dict(state["head"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        sampler.rng.bit_generator.state = state["sampler_rng"]
        rng.bit_generator.state = state["rng"]
        if augment is not None:
            augment.g.set_state(state["augment_rng"])
        torch.set_rng_state(state["torch_rng"])
        if pool is not None:
            pool_rng.bit_generator.state = state["pool_rng"]
            if pool_augment is not None:
                pool_augment.g.set_state(state["pool_augment_rng"])
        step, best, elapsed = state["step"], state["best"], state["elapsed"]
        log(f"resuming at episode {step} (best validation F1 {best:.3f})")

    (out / "config.json").write_text(json.dumps(_config_dict(cfg), indent=1) + "\n")
    logf = (out / "log.jsonl").open("a", encoding="utf-8")
    net.train()
    started = time.monotonic() - elapsed
    window_stats: list[dict[str, float]] = []
    try:
        while step < cfg.episodes:
            ep, x = _episode_batch(sampler, corpus, rng, augment, cfg.augment_config.shift_s)
            x = x.to(device, non_blocking=True)
            emb = net(logmel(x))
            n_s = len(ep.support)
            s_lab, q_lab = ep.labels(device)
            maps = ep.level_maps(tree, loss_cfg.height, device)
            loss, stats = hierarchical_loss(emb[:n_s], s_lab, emb[n_s:], q_lab, maps, loss_cfg)
            if teacher is not None and head is not None:
                idx = np.concatenate([ep.support, ep.query])
                d = teacher.loss(head(emb), teacher.targets(idx, device))
                if pool is not None and pool_teacher is not None:
                    p_idx, px = _pool_batch(pool, pool_rng, pool_augment, cfg)
                    p_emb = net(logmel(px.to(device, non_blocking=True)))
                    pd = pool_teacher.loss(head(p_emb), pool_teacher.targets(p_idx, device))
                    stats["pool_distill"] = float(pd.detach())
                    d = (d * len(idx) + pd * len(p_idx)) / (len(idx) + len(p_idx))
                loss = loss + cfg.distill_weight * d
                stats["distill"] = float(d.detach())
                stats["loss"] = float(loss.detach())
            if frozen is not None:
                c = _pitch_consistency(emb, x, frozen, logmel, cfg.consistency_semitones)
                loss = loss + cfg.pitch_consistency * c
                stats["consistency"] = float(c.detach())
                stats["loss"] = float(loss.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
            opt.step()
            step += 1
            window_stats.append(stats)
            if cfg.snapshot_every and step % cfg.snapshot_every == 0:
                snaps = out / "snapshots"
                snaps.mkdir(exist_ok=True)
                torch.save(net.state_dict(), snaps / f"ep{step:06d}.pt")
            if step % cfg.val_every == 0 or step == cfg.episodes:
                val = validate(net, logmel, corpus, taxonomy, val_classes, cfg, device)
                sched.step(val["val_f1"])
                mean = {k: float(np.mean([s[k] for s in window_stats])) for k in window_stats[0]}
                window_stats = []
                rec = {"episode": step, "seconds": round(time.monotonic() - started, 1),
                       "lr": opt.param_groups[0]["lr"], **mean, **val}
                logf.write(json.dumps(rec) + "\n")
                logf.flush()
                improved = val["val_f1"] > best
                if improved:
                    best = val["val_f1"]
                    torch.save(net.state_dict(), out / "best_net.pt")
                log(f"episode {step}/{cfg.episodes}  loss {mean['loss']:.3f}  "
                    f"train acc {mean['acc0']:.3f}  val F1 {val['val_f1']:.3f}"
                    f"{' *' if improved else ''}  {rec['seconds']:.0f} s")
                _save_checkpoint(ckpt, cfg, net, opt, sched, sampler, rng, augment, step, best,
                                 time.monotonic() - started, head,
                                 (pool_rng, pool_augment) if pool is not None else None)
    finally:
        logf.close()

    net.load_state_dict(torch.load(out / "best_net.pt", map_location="cpu", weights_only=True))
    net = net.cpu().eval()
    digest = "pending"
    model = EmbeddingModel(ModelInfo(cfg.name, cfg.version, digest, features, network), net)
    wall = time.monotonic() - started
    extra: dict[str, Any] = {
        "classes_seen": train_classes,
        "validation_classes": val_classes,
        "training": {
            "command": "sampletree train " + " ".join(_cli_args(cfg)),
            "episodes": cfg.episodes,
            "episode": f"{cfg.n_way}-way {cfg.k_shot}-shot, {cfg.n_query} queries a class",
            "loss": {"kind": cfg.loss, "alpha": cfg.alpha, "height": loss_cfg.height,
                     "weights": loss_cfg.weights, "random_tree": cfg.random_tree},
            "classes": cfg.classes,
            "distill": ({"teacher": cfg.distill, "weight": cfg.distill_weight,
                         **({"pool": cfg.distill_pool, "pool_batch": cfg.pool_batch}
                            if cfg.distill_pool else {})}
                        if cfg.distill else None),
            "best_val_f1": round(best, 4),
            "wall_s": round(wall, 1),
            "hardware": _hardware(device),
            "seed": cfg.seed,
            "corpus": _corpus_summary(corpus),
        },
    }
    save_model(model, out / "model.pt", name=cfg.name, version=cfg.version, extra=extra)
    log(f"best validation F1 {best:.3f}; model written to {out / 'model.pt'}")
    return out / "model.pt"


def _pitch_consistency(emb: torch.Tensor, x: torch.Tensor, frozen: torch.nn.Module,
                       logmel: torch.nn.Module, semitones: float) -> torch.Tensor:
    """Squared distance from each embedding to the frozen network's mean over -S, 0, +S
    semitones, relative to the targets' mean squared norm."""
    with torch.no_grad():
        target = torch.stack([frozen(logmel(pitch_shift(x, s)))
                              for s in (-semitones, 0.0, semitones)]).mean(0)
        scale = target.pow(2).sum(1).mean().clamp(min=1e-6)
    return (emb - target).pow(2).sum(1).mean() / scale


def _save_checkpoint(path: Path, cfg: TrainConfig, net, opt, sched, sampler, rng, augment,
                     step: int, best: float, elapsed: float, head=None, pool=None) -> None:
    state = {
        "config": _config_dict(cfg, keep_episodes=False),
        "net": net.state_dict(), "head": head.state_dict() if head is not None else None,
        "opt": opt.state_dict(), "sched": sched.state_dict(),
        "sampler_rng": sampler.rng.bit_generator.state, "rng": rng.bit_generator.state,
        "augment_rng": augment.g.get_state() if augment is not None else None,
        "torch_rng": torch.get_rng_state(), "step": step, "best": best, "elapsed": elapsed,
    }
    if pool is not None:
        state["pool_rng"] = pool[0].bit_generator.state
        state["pool_augment_rng"] = pool[1].g.get_state() if pool[1] is not None else None
    tmp = path.with_suffix(".part")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _config_dict(cfg: TrainConfig, keep_episodes: bool = True) -> dict[str, Any]:
    d = asdict(cfg)
    for k in ("device", "threads", "out", "corpus", "snapshot_every"):
        d.pop(k)
    if not keep_episodes:
        d.pop("episodes")  # a resumed run may be extended
    return d


def _cli_args(cfg: TrainConfig) -> list[str]:
    args = ["--corpus", cfg.corpus, "--out", cfg.out, "--episodes", str(cfg.episodes),
            "--loss", cfg.loss, "--alpha", str(cfg.alpha), "--height", str(cfg.height),
            "--seed", str(cfg.seed)]
    if cfg.random_tree is not None:
        args += ["--random-tree", str(cfg.random_tree)]
    if cfg.classes != "train":
        args += ["--classes", cfg.classes]
    if cfg.distill:
        args += ["--distill", cfg.distill, "--distill-weight", str(cfg.distill_weight)]
    if cfg.init:
        args += ["--init", cfg.init]
    if cfg.distill_pool:
        args += ["--distill-pool", cfg.distill_pool, "--pool-batch", str(cfg.pool_batch)]
    if cfg.lr != 3e-3:
        args += ["--lr", str(cfg.lr)]
    if cfg.arch != "lean":
        args += ["--arch", cfg.arch]
    if cfg.pitch_consistency:
        args += ["--pitch-consistency", str(cfg.pitch_consistency), "--consistency-semitones",
                 str(cfg.consistency_semitones)]
    default = AugmentConfig()
    if cfg.augment_config.pitch_semitones != default.pitch_semitones:
        args += ["--pitch-semitones", str(cfg.augment_config.pitch_semitones)]
    if cfg.augment_config.p_pitch != default.p_pitch:
        args += ["--p-pitch", str(cfg.augment_config.p_pitch)]
    return args


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def _corpus_summary(corpus: Corpus) -> dict[str, Any]:
    report = corpus.root / "report.json"
    try:
        data = json.loads(report.read_text())
        return {"clips": data["clips"], "hours": data["hours"], "seed": data["seed"],
                "fonts": [f["name"] for f in data["fonts"]]}
    except (OSError, ValueError, KeyError):
        return {"clips": len(corpus.meta)}
