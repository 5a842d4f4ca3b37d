"""Commands that make the network: corpus build, train, evaluate."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platformdirs import user_cache_dir

from app.common import EXIT_OK
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


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("corpus", help="the training corpus (Debian's SoundFonts and kits, "
                       "a procedural synth, loops, espeak-ng)")
    csub = c.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    b = csub.add_parser("build", help="render and collect the training corpus")
    b.add_argument("--out", type=Path, default=None,
                   help=f"where to write it (default: {default_corpus_dir()})")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--pitches", type=int, default=8, help="pitches per program and font (8)")
    b.add_argument("--jobs", type=int, default=None, help="fluidsynth runs at a time")
    b.add_argument("--programs", default=None,
                   help="only these GM programs, e.g. 0,40,73 (default: all 128)")
    b.add_argument("--no-hydrogen", action="store_true", help="leave out the Hydrogen kits")
    b.add_argument("--sources", default=None,
                   help="the producer's sources to add, comma-separated, or 'none' "
                        "(default: synth,fx,drum_loop,phrase,vocal)")
    b.add_argument("--per-class", type=int, default=400,
                   help="clips a class of those sources (400)")
    b.set_defaults(func=cmd_corpus_build)

    t = sub.add_parser("train", help="train the embedding network on the corpus (episodic)")
    t.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: cache)")
    t.add_argument("--out", type=Path, required=True, help="run folder (resumes if present)")
    t.add_argument("--episodes", type=int, default=3000)
    t.add_argument("--way", type=int, default=12)
    t.add_argument("--shot", type=int, default=4)
    t.add_argument("--query", type=int, default=12)
    t.add_argument("--loss", choices=["flat", "hier", "equal"], default="hier",
                   help="flat: leaf loss only (baseline); hier: e^(-alpha*h) per level; "
                        "equal: every level weighted alike")
    t.add_argument("--alpha", type=float, default=1.0)
    t.add_argument("--height", type=int, default=1, help="tree levels above the leaves (1)")
    t.add_argument("--random-tree", type=int, default=None, metavar="SEED",
                   help="train on a random tree of the same shape (control experiment)")
    t.add_argument("--arch", choices=["lean", "paper"], default="lean")
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--val-every", type=int, default=250)
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    t.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="the paper's few-shot evaluation on unseen classes")
    e.add_argument("models", nargs="+", metavar="[LABEL=]WEIGHTS",
                   help="weights files (.pt with their .json) to compare on the same episodes")
    e.add_argument("--corpus", type=Path, default=None)
    e.add_argument("--out", type=Path, required=True, help="folder for results.{md,json}, PNGs")
    e.add_argument("--episodes", type=int, default=100)
    e.add_argument("--way", type=int, default=12)
    e.add_argument("--query", type=int, default=10)
    e.add_argument("--shots", default="1,2,4,8,16")
    e.add_argument("--split", choices=["test", "val"], default="test")
    e.add_argument("--seed", type=int, default=1234)
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    e.set_defaults(func=cmd_evaluate)


def cmd_corpus_build(args: argparse.Namespace) -> int:
    from models.corpus import EXTRA_SOURCES, CorpusOptions, build

    opt = CorpusOptions(out=args.out or default_corpus_dir(), seed=args.seed,
                        pitches=args.pitches, hydrogen=not args.no_hydrogen)
    if args.jobs:
        opt.jobs = args.jobs
    if args.programs:
        opt.programs = [int(p) for p in args.programs.split(",")]
    if args.sources is not None:
        wanted = [] if args.sources.strip() == "none" else [
            s.strip() for s in args.sources.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in EXTRA_SOURCES]
        if unknown:
            raise SampletreeError(f"unknown corpus source {unknown[0]!r}: choose from "
                                  f"{', '.join(EXTRA_SOURCES)} or 'none'")
        opt.sources = tuple(wanted)
    if args.per_class < 1:
        raise SampletreeError("--per-class must be at least 1")
    opt.per_class = args.per_class
    with _one_line_errors():
        build(opt)
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from models.train import TrainConfig, train

    cfg = TrainConfig(
        corpus=str(args.corpus or default_corpus_dir()), out=str(args.out),
        episodes=args.episodes, n_way=args.way, k_shot=args.shot, n_query=args.query,
        loss=args.loss, alpha=args.alpha, height=args.height, random_tree=args.random_tree,
        arch=args.arch, lr=args.lr, val_every=args.val_every, augment=not args.no_augment,
        seed=args.seed, device=args.device, threads=args.threads)
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
                     shots=tuple(int(k) for k in args.shots.split(",")),
                     episodes=args.episodes, n_way=args.way, n_query=args.query,
                     split=args.split, seed=args.seed, device=args.device)
    with _one_line_errors():
        evaluate(models, cfg)
    return EXIT_OK
