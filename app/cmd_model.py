"""Commands that make the network: corpus build, train, evaluate."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platformdirs import user_cache_dir

from app.common import (
    EXIT_OK,
    command,
    count_int,
    fraction,
    int_at_least,
    int_list,
    nonnegative_float,
    positive_float,
    positive_int,
)
from app.paths import APP_NAME
from core.errors import SampletreeError


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """The corpus, training and evaluation errors become the CLI's one-line errors."""
    from models import ModelError
    from models.corpus import CorpusError

    try:
        yield
    except (CorpusError, ModelError, ValueError) as exc:
        raise SampletreeError(str(exc)) from None


def default_corpus_dir() -> Path:
    """``$SAMPLETREE_CORPUS``, else ``corpus`` in the platform's cache folder."""
    env = os.environ.get("SAMPLETREE_CORPUS")
    if env:
        return Path(env).expanduser()
    return Path(user_cache_dir(APP_NAME, appauthor=False)) / "corpus"


def _programs(text: str) -> list[int]:
    """An argparse type: General MIDI program numbers 0–127, separated by commas."""
    out = []
    for part in text.split(","):
        value = count_int(part.strip())
        if value > 127:
            raise argparse.ArgumentTypeError(f"{value} is not a General MIDI program (0-127)")
        out.append(value)
    return out


def register(sub: argparse._SubParsersAction) -> None:
    c = command(sub, "corpus", "the training corpus (Debian's SoundFonts and kits, a procedural "
                "synth, loops, espeak-ng)", examples=("sampletree corpus build",))
    csub = c.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    b = command(csub, "build", "render and collect the training corpus",
                description="Render the General MIDI SoundFonts note by note with fluidsynth, "
                            "add the Hydrogen and AVL drum kits, then the producer's sources "
                            "(synth and FX one-shots, drum loops, GM phrases, espeak-ng "
                            "vocals): the corpus `train` and `evaluate` read.",
                examples=("sampletree corpus build",
                          "sampletree corpus build --out /tmp/corpus --programs 0,40,73"))
    b.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"where to write it (default: {default_corpus_dir()})")
    b.add_argument("--seed", type=count_int, default=0, help="random seed, 0 or more (0)")
    b.add_argument("--pitches", type=positive_int, default=8, metavar="N",
                   help="pitches per program and font, 1 or more (8)")
    b.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="fluidsynth runs at a time, 1 or more (default: up to 4)")
    b.add_argument("--programs", type=_programs, default=None, metavar="LIST",
                   help="only these GM programs (0-127), e.g. 0,40,73 (default: all 128)")
    b.add_argument("--no-hydrogen", action="store_true", help="leave out the Hydrogen kits")
    b.add_argument("--sources", default=None, metavar="LIST",
                   help="the producer's sources to add, comma-separated, 'all' (those and "
                        "the real recordings real_speech,real_fx: corpus v3) or 'none' "
                        "(default: synth,fx,drum_loop,phrase,vocal)")
    b.add_argument("--per-class", type=positive_int, default=400, metavar="N",
                   help="clips a class of those sources, 1 or more (400)")
    b.add_argument("--real-per-class", type=positive_int, default=800, metavar="N",
                   help="at most N clips a class from real recordings, 1 or more (800)")
    b.add_argument("--pkgroot", type=Path, action="append", default=[], metavar="DIR",
                   help="a folder with Debian packages unpacked by `dpkg-deb -x` (the real "
                        "sources' packages); may be repeated; / is always searched")
    b.set_defaults(func=cmd_corpus_build)

    t = command(sub, "train", "train the embedding network on the corpus (episodic)",
                description="Train the embedding network on the corpus in few-shot episodes; "
                            "writes RUN/model.pt and its .json, and resumes RUN if it exists.",
                examples=("sampletree train --out runs/hier",
                          "sampletree train --out runs/flat --loss flat --episodes 4000"))
    t.add_argument("--corpus", type=Path, default=None, metavar="DIR",
                   help="corpus folder (default: the cache, as `corpus build` writes it)")
    t.add_argument("--out", type=Path, required=True, metavar="RUN",
                   help="run folder (resumes if present)")
    t.add_argument("--episodes", type=positive_int, default=3000, metavar="N",
                   help="training episodes, 1 or more (3000)")
    t.add_argument("--way", type=int_at_least(2), default=12, metavar="N",
                   help="classes per episode, 2 or more (12)")
    t.add_argument("--shot", type=positive_int, default=4, metavar="N",
                   help="examples per class, 1 or more (4)")
    t.add_argument("--query", type=positive_int, default=12, metavar="N",
                   help="queries per class, 1 or more (12)")
    t.add_argument("--loss", choices=["flat", "hier", "equal"], default="hier",
                   help="flat: leaf loss only (baseline); hier: e^(-alpha*h) per level; "
                        "equal: every level weighted alike")
    t.add_argument("--alpha", type=nonnegative_float, default=1.0, metavar="A",
                   help="the hier loss's decay per level, 0 or more (1.0)")
    t.add_argument("--height", type=positive_int, default=1, metavar="H",
                   help="tree levels above the leaves in the loss, 1 or more (1)")
    t.add_argument("--random-tree", type=count_int, default=None, metavar="SEED",
                   help="train on a random tree of the same shape (control experiment)")
    t.add_argument("--arch", choices=["lean", "wide", "paper"], default="lean",
                   help="lean: the shipped network; wide: lean with 1.5x the channels; "
                        "paper: the paper's exact CNN (slower)")
    t.add_argument("--lr", type=positive_float, default=3e-3, help="learning rate (0.003)")
    t.add_argument("--val-every", type=positive_int, default=250, metavar="N",
                   help="validate every N episodes (250)")
    t.add_argument("--no-augment", action="store_true", help="no data augmentation")
    t.add_argument("--pitch-semitones", type=nonnegative_float, default=0.5, metavar="S",
                   help="pitch augmentation: resample a window by up to ±S semitones (0.5)")
    t.add_argument("--p-pitch", type=fraction, default=0.5, metavar="P",
                   help="share of windows the pitch augmentation touches, 0 to 1 (0.5)")
    t.add_argument("--classes", choices=["train", "all"], default="train",
                   help="train: the protocol's training classes (for the unseen-class "
                        "benchmark); all: every class (the shipped model)")
    t.add_argument("--distill", choices=["aisfx", "musicnn", "aisfx,musicnn"], default=None,
                   help="add a distillation loss towards a teacher's embeddings, cached "
                        "beside the corpus (scripts/teacher_embed.py --corpus): aisfx (sound "
                        "effects CNN), musicnn (music tagger), or aisfx,musicnn (the mean of "
                        "both losses)")
    t.add_argument("--init", type=Path, default=None, metavar="PT",
                   help="start from these network weights (a run's best_net.pt or one of "
                        "its snapshots) instead of random ones")
    t.add_argument("--distill-weight", type=nonnegative_float, default=1.0, metavar="W",
                   help="weight of the distillation loss (1.0)")
    t.add_argument("--distill-pool", type=Path, default=None, metavar="DIR",
                   help="an unlabeled pool of real music with the same teachers cached "
                        "(python -m models.distillpool): each episode adds a batch of its "
                        "windows with the distillation loss only")
    t.add_argument("--pool-batch", type=positive_int, default=48, metavar="N",
                   help="pool windows an episode with --distill-pool (48)")
    t.add_argument("--pitch-consistency", type=nonnegative_float, default=0.0, metavar="W",
                   help="weight of a term pulling each embedding towards the --init "
                        "network's mean over the window pitched -S, 0 and +S semitones (0: off)")
    t.add_argument("--consistency-semitones", type=positive_float, default=2.0, metavar="S",
                   help="S for --pitch-consistency (2)")
    t.add_argument("--snapshot-every", type=count_int, default=0, metavar="N",
                   help="keep the weights every N episodes in OUT/snapshots (0: never)")
    t.add_argument("--seed", type=count_int, default=0, help="random seed, 0 or more (0)")
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to train: auto (a CUDA GPU when present), cpu or cuda")
    t.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="CPU threads for torch")
    t.set_defaults(func=cmd_train)

    e = command(sub, "evaluate", "the paper's few-shot evaluation on unseen classes",
                description="The paper's few-shot evaluation on the unseen test classes: "
                            "F1 and mistake severity per number of examples, for each model "
                            "on the same episodes.",
                examples=("sampletree evaluate runs/hier/model.pt --out eval",
                          "sampletree evaluate flat=runs/flat/model.pt hier=runs/hier/model.pt "
                          "--out eval --shots 1,4"))
    e.add_argument("models", nargs="+", metavar="[LABEL=]WEIGHTS",
                   help="weights files (.pt with their .json) to compare on the same episodes")
    e.add_argument("--corpus", type=Path, default=None, metavar="DIR",
                   help="corpus folder (default: the cache)")
    e.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="folder for results.{md,json}, PNGs")
    e.add_argument("--episodes", type=positive_int, default=100, metavar="N",
                   help="episodes per number of examples (100)")
    e.add_argument("--way", type=int_at_least(2), default=12, metavar="N",
                   help="classes per episode, 2 or more (12)")
    e.add_argument("--query", type=positive_int, default=10, metavar="N",
                   help="queries per class (10)")
    e.add_argument("--shots", type=int_list, default=[1, 2, 4, 8, 16], metavar="LIST",
                   help="numbers of examples per class to evaluate (1,2,4,8,16)")
    e.add_argument("--split", choices=["test", "val"], default="test",
                   help="test: the held-out classes; val: the validation classes")
    e.add_argument("--seed", type=count_int, default=1234, help="random seed (1234)")
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to run: auto (a CUDA GPU when present), cpu or cuda")
    e.set_defaults(func=cmd_evaluate)


def cmd_corpus_build(args: argparse.Namespace) -> int:
    from models.corpus import ALL_SOURCES, CorpusOptions, build

    opt = CorpusOptions(out=args.out or default_corpus_dir(), seed=args.seed,
                        pitches=args.pitches, hydrogen=not args.no_hydrogen)
    if args.jobs:
        opt.jobs = args.jobs
    if args.programs:
        opt.programs = list(args.programs)
    if args.sources is not None:
        spec = args.sources.strip()
        wanted = [] if spec == "none" else list(ALL_SOURCES) if spec == "all" else [
            s.strip() for s in args.sources.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in ALL_SOURCES]
        if unknown:
            raise SampletreeError(f"unknown corpus source {unknown[0]!r}: choose from "
                                  f"{', '.join(ALL_SOURCES)}, 'all' or 'none'")
        opt.sources = tuple(wanted)
    opt.per_class = args.per_class
    opt.real_per_class = args.real_per_class
    opt.pkgroots = tuple(str(p) for p in args.pkgroot)
    with _one_line_errors():
        build(opt)
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from models.episodes import AugmentConfig
    from models.train import TrainConfig, train

    cfg = TrainConfig(
        corpus=str(args.corpus or default_corpus_dir()), out=str(args.out),
        episodes=args.episodes, n_way=args.way, k_shot=args.shot, n_query=args.query,
        loss=args.loss, alpha=args.alpha, height=args.height, random_tree=args.random_tree,
        arch=args.arch, lr=args.lr, val_every=args.val_every, augment=not args.no_augment,
        seed=args.seed, device=args.device, threads=args.threads, classes=args.classes,
        distill=args.distill, distill_weight=args.distill_weight,
        snapshot_every=args.snapshot_every, init=str(args.init) if args.init else None,
        distill_pool=str(args.distill_pool) if args.distill_pool else None,
        pool_batch=args.pool_batch, pitch_consistency=args.pitch_consistency,
        consistency_semitones=args.consistency_semitones,
        augment_config=AugmentConfig(pitch_semitones=args.pitch_semitones,
                                     p_pitch=args.p_pitch))
    with _one_line_errors():
        train(cfg)
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from models.evaluate import EvalConfig, evaluate

    models: dict[str, str] = {}
    for spec in args.models:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = Path(spec).parent.name or Path(spec).stem, spec
        models[label] = path
    cfg = EvalConfig(corpus=str(args.corpus or default_corpus_dir()), out=str(args.out),
                     shots=tuple(args.shots),
                     episodes=args.episodes, n_way=args.way, n_query=args.query,
                     split=args.split, seed=args.seed, device=args.device)
    with _one_line_errors():
        evaluate(models, cfg)
    return EXIT_OK
