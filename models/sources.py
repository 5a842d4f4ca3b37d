"""The corpus's version-2 sources, in one place for ``models.corpus.build``.

Each class of models/taxonomy.json with a ``source`` is built here: ``synth`` and ``fx``
by the procedural synth, ``drum_loop`` from the drum hits the build has already collected
(SoundFont kits and Hydrogen kits), ``phrase`` with fluidsynth from the melodic fonts, and
``vocal`` with espeak-ng. Clip ``i`` of a class is a pure function of (seed, class, i).
Independence groups: ``synth``, ``fx``, ``espeak-ng``; a drum loop's is its main kit's
(``drum_loop:<kit group>``), a phrase's its font's (``phrase:<font group>``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from models import phrases, synth, vocals
from models.corpus import Clip, CorpusOptions
from models.synth import class_rng
from models.taxonomy import Taxonomy

Item = tuple[Clip | None, np.ndarray | None, str]


def _classes(opt: CorpusOptions, taxonomy: Taxonomy, source: str) -> list[str]:
    return [c for c, info in sorted(taxonomy.classes.items()) if info.get("source") == source
            and (opt.extra_classes is None or c in opt.extra_classes)]


def kit_banks(clips: list[np.ndarray], meta: list[Clip]) -> dict[tuple[str, str], phrases.Bank]:
    """Drum hits collected so far, by kit: (kit or font name, group) → class → hits."""
    banks: dict[tuple[str, str], phrases.Bank] = {}
    for row, c in zip(clips, meta, strict=True):
        if c.kind in ("drum", "recording"):
            bank = banks.setdefault((c.source, c.group), {})
            hit = row.astype(np.float32) / 32767
            loud = np.flatnonzero(np.abs(hit) > 1e-3)  # trailing silence cut: -60 dBFS
            bank.setdefault(c.cls, []).append(hit[: loud[-1] + 1] if len(loud) else hit)
    return dict(sorted(banks.items()))


def _fits(style: str, bank: phrases.Bank) -> bool:
    if style == "Percussion Loop":
        return sum(bool(bank.get(p)) for p in phrases.PERCUSSION) >= 2
    return all(bank.get(p) for p in phrases.CORE)


def _drum_loops(opt: CorpusOptions, taxonomy: Taxonomy, clips: list[np.ndarray],
                meta: list[Clip], log: Callable[[str], None]) -> Iterator[Item]:
    banks = kit_banks(clips, meta)
    keys = list(banks)
    for style in _classes(opt, taxonomy, "drum_loop"):
        mains = [k for k in keys if _fits(style, banks[k])]
        if not mains:
            log(f"  no kit holds what a {style} needs: left out")
            continue
        for i in range(opt.per_class):
            rng = class_rng(opt.seed, "loopkit", style, i)
            main = mains[int(rng.integers(0, len(mains)))]
            kit = dict(banks[main])
            used = [main[0]]
            others = [k for k in keys if k != main]
            if others and rng.random() < 0.35:  # several kits mixed: some pieces from another
                other = others[int(rng.integers(0, len(others)))]
                for piece in sorted(banks[other]):
                    if rng.random() < 0.4:
                        kit[piece] = banks[other][piece]
                used.append(other[0])
            fallback = banks[others[int(rng.integers(0, len(others)))]] if others else {}
            spec, loop = phrases.drum_loop(style, [kit, fallback], opt.seed, i)
            window = phrases.loop_window(loop, spec.bpm, class_rng(opt.seed, "window", style, i))
            yield (Clip(style, "+".join(used), f"drum_loop:{main[1]}", "loop", bpm=spec.bpm,
                        length_s=len(loop) / synth.SR,
                        detail=f"{spec.bars} bars, swing {spec.swing:.2f}"
                               + (", fill" if spec.fill else "")), window, "")


def _phrases(opt: CorpusOptions, taxonomy: Taxonomy,
             log: Callable[[str], None]) -> Iterator[Item]:
    fonts = [f for f in opt.fonts if f.melodic and Path(f.path).is_file()]
    classes = _classes(opt, taxonomy, "phrase")
    if not fonts:
        if classes:
            log("  no melodic SoundFont: phrases left out")
        return
    plan: dict[str, list[tuple[str, int, phrases.Phrase]]] = {f.name: [] for f in fonts}
    for cls in classes:
        for i in range(opt.per_class):
            rng = class_rng(opt.seed, "phrase", cls, i)
            font = fonts[int(rng.integers(0, len(fonts)))]
            plan[font.name].append((cls, i, phrases.plan_phrase(cls, rng)))
    jobs = [(f, plan[f.name][k:k + 60]) for f in fonts for k in range(0, len(plan[f.name]), 60)]
    with tempfile.TemporaryDirectory(prefix="sampletree-phrases-") as tmp, \
            ThreadPoolExecutor(opt.jobs) as pool:
        results = pool.map(lambda j: phrases.render_phrases(j[0].path, [p for _, _, p in j[1]],
                                                            Path(tmp)), jobs)
        for (font, chunk), loops in zip(jobs, results, strict=True):
            for (cls, i, ph), loop in zip(chunk, loops, strict=True):
                window = phrases.loop_window(loop, ph.bpm, class_rng(opt.seed, "window", cls, i))
                yield (Clip(cls, font.name, f"phrase:{font.group}", "phrase", bpm=ph.bpm,
                            length_s=len(loop) / synth.SR,
                            detail=f"program {ph.program}, {ph.bars} bars"), window, "")


def extra_clips(opt: CorpusOptions, taxonomy: Taxonomy, clips: list[np.ndarray],
                meta: list[Clip], log: Callable[[str], None] = print) -> Iterator[Item]:
    """(clip, audio) for every class of ``opt.sources``; after each source, (None, None,
    source) so the caller can time it. ``clips``/``meta``: what the build holds so far
    (drum loops take their hits from it)."""
    for source in opt.sources:
        if source.startswith("real_"):  # real recordings: models/realsources.py, after these
            continue
        n = 0
        if source in ("synth", "fx"):
            group = source
            for cls in _classes(opt, taxonomy, source):
                for i in range(opt.per_class):
                    n += 1
                    yield Clip(cls, "procedural synth", group, "synth"), \
                        synth.render(cls, opt.seed, i), ""
        elif source == "drum_loop":
            for item in _drum_loops(opt, taxonomy, clips, meta, log):
                n += 1
                yield item
        elif source == "phrase":
            for item in _phrases(opt, taxonomy, log):
                n += 1
                yield item
        elif source == "vocal":
            for cls in _classes(opt, taxonomy, "vocal"):
                for i in range(opt.per_class):
                    audio, voice = vocals.render(cls, opt.seed, i)
                    n += 1
                    yield Clip(cls, "espeak-ng", "espeak-ng", "vocal", detail=voice), audio, ""
        else:
            raise ValueError(f"unknown corpus source {source!r}")
        log(f"  {n} clips from source {source}")
        yield None, None, source
