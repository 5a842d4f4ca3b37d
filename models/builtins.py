"""Built-in examples of the bundled trees (``python -m models.builtins``).

The bundled trees (``resources/trees/*.json``) label a library before the user teaches
anything because each node the training corpus covers ships a few *built-in examples*:
embeddings (not audio) of corpus clips, chosen here and stored in
``resources/builtins/builtins.npz``. They are embeddings of one model, so the file is
tied to the model id of the weights that made it; regenerate it whenever the weights
change (a test fails while it is stale)::

    nice -n 10 python -m models.builtins            # the shipped weights and corpus-v2

How examples are chosen, per node:

1. The corpus classes mapped to the node (:data:`MAPPING`; a class may feed one node of
   each tree) give the node's clips, at most :data:`PER_CLASS` (240) of each (a fixed-seed
   draw), so a class with 400 clips does not drown one with 36.
2. Each clip is embedded as the app embeds a file: its 1 s windows every 0.5 s at 16 kHz
   (the scanner's windows, -60 dBFS gate), mean of the window embeddings.
3. k-means on those embeddings (k = the node's corpus classes, between :data:`MIN_K` = 12
   and :data:`MAX_K` = 24); each cluster's example is the mean of its clips
   (:data:`EXAMPLES` = "centroid"; ``--examples medoid``: the clip nearest the centre, the
   first choice). So a node with varied sounds (Percussion: congas, shakers, cowbells…)
   keeps its variety, a node fed by one or two corpus classes (Piano, Organ) still shows
   its range of notes and velocities, and each example is an average of many clips rather
   than one clip's accidents.
4. The means are taken over the clips' embeddings averaged over copies resampled by
   :data:`PITCH_AVERAGE` semitones (−2, 0, +2; the shifted embeddings of every drawn clip
   are cached beside the corpus like the plain ones); medoids are re-embedded so. An example
   then hears its instrument more than its note. On the real-sample validation set this
   raised the producer tree's macro-F1 with zero user examples from 0.392 to 0.401 (4–12
   medoids; docs/eval/builtins.md, "A wider neighbourhood and pitch-averaged built-ins");
   ``--pitch-average 0`` stores plain embeddings.

Besides the examples, each tree stores ``spread``: the 95th percentile of how far (not
squared) a clip lies from the nearest example of its own node — the built-ins' share of
the "unknown" bound the classifier uses.

File layout (``numpy.savez``, no pickles): ``model_id`` (str), ``format`` (int),
``trees`` (str array of tree names) and, per tree ``T``: ``T/paths`` (node paths, "/"
joined), ``T/node`` (int16 row → index into paths), ``T/emb`` (float16, rows × dim),
``T/spread`` (float32 scalar), ``T/temperature`` (float32 scalar: the softmax scale the
classifier uses while the tree's built-ins are in use), ``pitch_average`` (float32, the
semitones the examples were averaged over) and ``examples`` (str, "centroid" or "medoid");
both absent in files made before them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

FORMAT = 1
DEFAULT_CORPUS = Path.home() / ".cache" / "Sampletree" / "corpus-v2"
#: Where the app reads them (``resources/builtins/builtins.npz``).
RESOURCE = ("builtins", "builtins.npz")
SEED = 12
#: The softmax scale the classifier uses while built-ins are in use (squared distances are
#: divided by it). 1.0 was chosen on the real-sample validation set with the weights
#: sampletree-1-846c4bc7f03a (docs/eval/builtins.md: the best macro-F1 with zero user
#: examples; the app's 2.0 left 95 % of its files "uncertain"). Check it again with
#: scripts/eval_builtins.py --temperatures when the weights change.
TEMPERATURE = 1.0
#: Semitones each chosen example is resampled by, its stored embedding the mean over them
#: (step 4 of the module docstring).
PITCH_AVERAGE: tuple[float, ...] = (-2.0, 0.0, 2.0)
#: Examples a node: its corpus classes, at least MIN_K and at most MAX_K (step 3). 12–24
#: was chosen on the real-sample validation set over 4–12 (the first choice): with zero
#: user examples macro-F1 0.461 against 0.417, mean over four draws of the clips
#: (docs/eval/builtins.md, "More built-in examples a node").
MIN_K = 12
MAX_K = 24
#: A node's examples: "medoid" (the clip nearest each k-means centre, the first choice) or
#: "centroid" (the mean of each k-means cluster's clips, pitch-averaged), drawn from at most
#: PER_CLASS clips a corpus class. Centroids of 240 clips a class were chosen on the
#: real-sample validation set: with zero user examples macro-F1 0.507 / 0.507 on two draws
#: of the clips, against 0.461 (mean of four draws, 0.448–0.468) for medoids of 120
#: (docs/eval/builtins.md, "Cluster means").
EXAMPLES = "centroid"
PER_CLASS = 240

# Corpus class → node path, one table per bundled tree. A corpus class missing from a
# table simply gives that tree no examples; a node no class maps to has none.
_PRODUCER: dict[str, list[str]] = {
    "Drums/Kick": ["Kick", "808 Kick"],
    "Drums/Snare": ["Snare", "Side Stick"],
    "Drums/Clap": ["Hand Clap", "Synth Clap"],
    "Drums/Hi-hat": ["Closed Hi-Hat", "Open Hi-Hat", "Noise Hi-Hat"],
    "Drums/Cymbal": ["Crash Cymbal", "Ride Cymbal", "Ride Bell", "Splash Cymbal",
                     "China Cymbal"],
    "Drums/Tom": ["Tom", "Melodic Tom", "Synth Drum"],
    "Drums/Percussion": ["Agogo", "Agogo Bell", "Bongo", "Claves", "Conga", "Cowbell", "Cuica",
                         "Guiro", "Shaker", "Tambourine", "Timbale", "Triangle", "Vibraslap",
                         "Wood Block", "Woodblock", "Samba Whistle", "Taiko Drum", "Timpani"],
    "Bass/Electric Bass": ["Fingered Electric Bass", "Picked Electric Bass", "Fretless Bass",
                           "Slap Bass 1", "Slap Bass 2"],
    "Bass/Acoustic Bass": ["Acoustic Bass"],
    "Bass/Synth Bass": ["Synth Bass 1", "Synth Bass 2", "Sub Bass", "Reese Bass",
                        "Wobble Bass"],
    "Guitar/Acoustic Guitar": ["Nylon Guitar", "Steel Guitar"],
    "Guitar/Electric Guitar": ["Clean Electric Guitar", "Jazz Guitar", "Muted Electric Guitar",
                               "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics"],
    "Guitar/Plucked Strings": ["Banjo", "Sitar", "Koto", "Shamisen"],
    "Keys/Piano": ["Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano",
                   "Honky-tonk Piano"],
    "Keys/Electric Piano": ["Electric Piano 1", "Electric Piano 2"],
    "Keys/Organ": ["Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ",
                   "Reed Organ"],
    "Keys/Harpsichord & Clav": ["Harpsichord", "Clavinet"],
    "Keys/Mallets": ["Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba",
                     "Xylophone", "Tubular Bells", "Tinkle Bell", "Kalimba", "Steel Drums",
                     "Dulcimer"],
    "Strings/Solo Strings": ["Violin", "Viola", "Cello", "Contrabass", "Fiddle"],
    "Strings/Ensemble": ["String Ensemble 1", "String Ensemble 2", "Tremolo Strings",
                         "Synth Strings 1", "Synth Strings 2"],
    "Strings/Pizzicato": ["Pizzicato Strings"],
    "Strings/Harp": ["Orchestral Harp"],
    "Pads": ["Warm Pad", "Analog Pad", "Polysynth Pad", "Halo Pad", "New Age Pad", "Bowed Pad",
             "Metallic Pad", "Sweep Pad", "Choir Pad"],
    "Brass & Winds/Brass": ["Trumpet", "Muted Trumpet", "Trombone", "Tuba", "French Horn",
                            "Brass Section", "Synth Brass 1", "Synth Brass 2"],
    "Brass & Winds/Saxophone": ["Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax"],
    "Brass & Winds/Woodwinds": ["Flute", "Piccolo", "Recorder", "Pan Flute", "Blown Bottle",
                                "Shakuhachi", "Whistle", "Ocarina", "Clarinet", "Oboe",
                                "English Horn", "Bassoon", "Bagpipe", "Shanai", "Harmonica",
                                "Accordion", "Tango Accordion"],
    "Vocals/Vocal Chop": ["Vocal Chop"],
    "Vocals/Choir": ["Choir Aahs", "Voice Oohs", "Synth Voice"],
    "Vocals/Spoken": ["Spoken Phrase", "Whispered Phrase"],
    "Synth/Lead": ["Square Lead", "Sawtooth Lead", "Calliope Lead", "Chiff Lead",
                   "Charang Lead", "Voice Lead", "Fifths Lead", "Bass + Lead", "Analog Lead"],
    "Synth/Pluck": ["FM Pluck", "Saw Pluck"],
    "Synth/Stab": ["Orchestra Hit", "Chord Stabs"],
    "FX/Riser": ["Riser", "Reverse Cymbal"],
    "FX/Downlifter": ["Downlifter"],
    "FX/Impact": ["Impact", "Gunshot"],
    "FX/Sweep": ["Sweep"],
    "FX/Texture": ["Noise Bed", "Vinyl Crackle", "Reverb Tail", "Rain FX", "Soundtrack FX",
                   "Crystal FX", "Atmosphere FX", "Brightness FX", "Goblins FX", "Echoes FX",
                   "Sci-fi FX"],
    "FX/Foley": ["Applause", "Helicopter", "Telephone Ring", "Bird Tweet", "Seashore",
                 "Breath Noise", "Guitar Fret Noise"],
    "Loops/Drum Loop": ["Boom Bap Loop", "Breakbeat Loop", "House Loop", "Rock Loop",
                        "Trap Loop"],
    "Loops/Percussion Loop": ["Percussion Loop"],
    "Loops/Music Loop": ["Chord Progression", "Arpeggio", "Bass Line"],
}

_INSTRUMENTS: dict[str, list[str]] = {
    "Chordophones/Bowed/Violin": ["Violin", "Fiddle"],
    "Chordophones/Bowed/Viola": ["Viola"],
    "Chordophones/Bowed/Cello": ["Cello"],
    "Chordophones/Bowed/Double Bass": ["Contrabass"],
    "Chordophones/Bowed/String Section": ["String Ensemble 1", "String Ensemble 2",
                                          "Tremolo Strings", "Pizzicato Strings"],
    "Chordophones/Plucked/Acoustic Guitar": ["Nylon Guitar", "Steel Guitar"],
    "Chordophones/Plucked/Electric Guitar": ["Clean Electric Guitar", "Jazz Guitar",
                                             "Muted Electric Guitar", "Overdriven Guitar",
                                             "Distortion Guitar", "Guitar Harmonics"],
    "Chordophones/Plucked/Bass Guitar": ["Acoustic Bass", "Fingered Electric Bass",
                                         "Picked Electric Bass", "Fretless Bass",
                                         "Slap Bass 1", "Slap Bass 2"],
    "Chordophones/Plucked/Harp": ["Orchestral Harp"],
    "Chordophones/Plucked/Banjo": ["Banjo"],
    "Chordophones/Plucked/Harpsichord": ["Harpsichord", "Clavinet"],
    "Chordophones/Plucked": ["Sitar", "Koto", "Shamisen"],
    "Chordophones/Struck/Piano": ["Acoustic Grand Piano", "Bright Acoustic Piano",
                                  "Electric Grand Piano", "Honky-tonk Piano"],
    "Chordophones/Struck/Dulcimer": ["Dulcimer"],
    "Aerophones/Brass/Trumpet": ["Trumpet", "Muted Trumpet"],
    "Aerophones/Brass/Trombone": ["Trombone"],
    "Aerophones/Brass/French Horn": ["French Horn"],
    "Aerophones/Brass/Tuba": ["Tuba"],
    "Aerophones/Brass/Brass Section": ["Brass Section"],
    "Aerophones/Woodwinds/Flutes/Flute": ["Flute"],
    "Aerophones/Woodwinds/Flutes/Piccolo": ["Piccolo"],
    "Aerophones/Woodwinds/Flutes/Recorder": ["Recorder"],
    "Aerophones/Woodwinds/Flutes/Pan Flute": ["Pan Flute"],
    "Aerophones/Woodwinds/Flutes": ["Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
                                    "Samba Whistle"],
    "Aerophones/Woodwinds/Reeds/Clarinet": ["Clarinet"],
    "Aerophones/Woodwinds/Reeds/Oboe": ["Oboe", "English Horn"],
    "Aerophones/Woodwinds/Reeds/Bassoon": ["Bassoon"],
    "Aerophones/Woodwinds/Reeds/Saxophone": ["Soprano Sax", "Alto Sax", "Tenor Sax",
                                             "Baritone Sax"],
    "Aerophones/Woodwinds/Reeds": ["Bagpipe", "Shanai"],
    "Aerophones/Free Reeds/Accordion": ["Accordion", "Tango Accordion"],
    "Aerophones/Free Reeds/Harmonica": ["Harmonica"],
    "Membranophones/Kick": ["Kick", "808 Kick"],
    "Membranophones/Snare": ["Snare", "Side Stick"],
    "Membranophones/Tom": ["Tom", "Melodic Tom", "Synth Drum"],
    "Membranophones/Timpani": ["Timpani"],
    "Membranophones/Hand Drum": ["Bongo", "Conga", "Timbale", "Cuica", "Taiko Drum"],
    "Idiophones/Hi-hat": ["Closed Hi-Hat", "Open Hi-Hat", "Noise Hi-Hat"],
    "Idiophones/Cymbal": ["Crash Cymbal", "Ride Cymbal", "Ride Bell", "Splash Cymbal",
                          "China Cymbal", "Reverse Cymbal"],
    "Idiophones/Clap": ["Hand Clap", "Synth Clap"],
    "Idiophones/Cowbell": ["Cowbell"],
    "Idiophones/Shaker": ["Shaker", "Guiro", "Vibraslap"],
    "Idiophones/Tambourine": ["Tambourine"],
    "Idiophones/Bell": ["Agogo", "Agogo Bell", "Tubular Bells", "Tinkle Bell", "Triangle"],
    "Idiophones/Mallets": ["Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba",
                           "Xylophone", "Kalimba", "Steel Drums"],
    "Idiophones": ["Claves", "Wood Block", "Woodblock"],
    "Electrophones/Synth Lead": ["Square Lead", "Sawtooth Lead", "Calliope Lead", "Chiff Lead",
                                 "Charang Lead", "Voice Lead", "Fifths Lead", "Bass + Lead",
                                 "Analog Lead", "FM Pluck", "Saw Pluck"],
    "Electrophones/Synth Pad": ["Warm Pad", "Analog Pad", "Polysynth Pad", "Halo Pad",
                                "New Age Pad", "Bowed Pad", "Metallic Pad", "Sweep Pad",
                                "Synth Strings 1", "Synth Strings 2"],
    "Electrophones/Synth Bass": ["Synth Bass 1", "Synth Bass 2", "Sub Bass", "Reese Bass",
                                 "Wobble Bass"],
    "Electrophones/Electric Piano": ["Electric Piano 1", "Electric Piano 2"],
    "Electrophones/Organ": ["Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ",
                            "Reed Organ"],
    "Voice/Vocals": ["Vocal Chop", "Synth Voice"],
    "Voice/Choir": ["Choir Aahs", "Voice Oohs", "Choir Pad"],
    "Voice/Speech": ["Spoken Phrase", "Whispered Phrase"],
}

#: tree name → node path → corpus classes.
MAPPING: dict[str, dict[str, list[str]]] = {"producer": _PRODUCER, "instruments": _INSTRUMENTS}


class BuiltinsError(Exception):
    """The built-ins cannot be made (no corpus, a mapping that does not fit…)."""


def bundled_tree_paths(name: str) -> set[str]:
    """Every node path of the bundled tree ``name`` ("/" joined)."""
    data = json.loads(resources.files("resources").joinpath("trees", f"{name}.json")
                      .read_text(encoding="utf-8"))
    out: set[str] = set()
    stack = [(n, "") for n in data["nodes"]]
    while stack:
        node, prefix = stack.pop()
        path = f"{prefix}{node['name']}"
        out.add(path)
        stack.extend((c, path + "/") for c in node.get("children", []))
    return out


def check_mapping(corpus_classes: Iterable[str] | None = None) -> None:
    """Every mapped node exists in its bundled tree, no class feeds two nodes of one tree,
    and (given) every mapped class is a corpus class."""
    known = None if corpus_classes is None else set(corpus_classes)
    for tree, table in MAPPING.items():
        paths = bundled_tree_paths(tree)
        seen: dict[str, str] = {}
        for node, classes in table.items():
            if node not in paths:
                raise BuiltinsError(f"mapping names {node!r}, not a node of the {tree} tree")
            for c in classes:
                if c in seen:
                    raise BuiltinsError(f"{tree}: {c!r} feeds both {seen[c]!r} and {node!r}")
                seen[c] = node
                if known is not None and c not in known:
                    raise BuiltinsError(f"{tree}: {c!r} ({node}) is not a corpus class")


def clip_windows(clips: np.ndarray, sample_rate: int = 16_000, window_s: float = 1.0,
                 hop_s: float = 0.5, gate_db: float = -60.0) -> tuple[np.ndarray, np.ndarray]:
    """The scanner's windows of equal-length clips (float32 at the model's rate).

    Returns (windows, owner): every gated window and the clip it came from; a clip with
    no window above the gate keeps its loudest one (as the scanner does).
    """
    n = clips.shape[1]
    win, hop = round(sample_rate * window_s), max(1, round(sample_rate * hop_s))
    if n <= win:
        starts = np.zeros(1, dtype=np.int64)
        clips = np.pad(clips, ((0, 0), (0, win - n)))
    else:
        starts = np.arange(0, n - win + 1, hop, dtype=np.int64)
        if starts[-1] + win < n:
            starts = np.append(starts, n - win)
    w = np.stack([clips[:, s:s + win] for s in starts], axis=1)  # (clips, k, win)
    loud = 10.0 * np.log10(np.mean(np.square(w, dtype=np.float64), axis=2) + 1e-12)
    keep = loud > gate_db
    none = ~keep.any(axis=1)
    keep[none, np.argmax(loud[none], axis=1)] = True
    rows, cols = np.nonzero(keep)
    return np.ascontiguousarray(w[rows, cols], dtype=np.float32), rows


def embed_clips(model: object, clips_i16: np.ndarray, batch: int = 256) -> np.ndarray:
    """One embedding a clip: the mean over its scanner windows (as a file in the app)."""
    import torch

    audio = clips_i16.astype(np.float32) / 32768.0
    fp = model.info.features  # type: ignore[attr-defined]
    wins, owner = clip_windows(audio, fp.sample_rate, fp.window_s)
    emb = np.concatenate([model.embed_audio(  # type: ignore[attr-defined]
        torch.from_numpy(wins[i:i + batch])).numpy() for i in range(0, len(wins), batch)])
    out = np.zeros((len(clips_i16), emb.shape[1]), np.float64)
    np.add.at(out, owner, emb)
    out /= np.bincount(owner, minlength=len(clips_i16))[:, None]
    return out.astype(np.float32)


def pitch_shifted(audio: np.ndarray, semitones: float, sample_rate: int) -> np.ndarray:
    """Rows of ``audio`` (float32) resampled with soxr to sound ``semitones`` higher, cut
    or zero-padded to their length."""
    import soxr

    if semitones == 0:
        return audio
    n = audio.shape[1]
    moved = [soxr.resample(row, sample_rate * 2 ** (semitones / 12), sample_rate)
             for row in audio]
    return np.stack([np.pad(m, (0, max(0, n - len(m))))[:n] for m in moved]).astype(np.float32)


def embed_clips_shifted(model: object, clips_i16: np.ndarray, semitones: float) -> np.ndarray:
    """:func:`embed_clips` of the clips resampled by ``semitones`` (:func:`pitch_shifted`)."""
    if semitones == 0:
        return embed_clips(model, clips_i16)
    sr = model.info.features.sample_rate  # type: ignore[attr-defined]
    moved = pitch_shifted(clips_i16.astype(np.float32), semitones, sr)
    return embed_clips(model, np.clip(moved, -32768, 32767).astype(np.int16))


def embed_clips_pitch_averaged(model: object, clips_i16: np.ndarray,
                               semitones: Sequence[float]) -> np.ndarray:
    """:func:`embed_clips` averaged over the clips resampled by each of ``semitones``
    (:func:`pitch_shifted`): an example whose embedding hears its instrument more than its
    note."""
    return np.mean([embed_clips_shifted(model, clips_i16, s) for s in semitones],
                   axis=0).astype(np.float32)


def _drawn_embeddings(model: object, clips: np.ndarray, rows: np.ndarray, semitones: float,
                      corpus: Path, per_class: int, log: object = print) -> np.ndarray:
    """:func:`embed_clips_shifted` of ``clips[rows]`` (the drawn clips), kept beside the
    corpus per model, draw and shift, so that trying other k's costs seconds; any other
    model or draw embeds again."""
    model_id = model.info.model_id  # type: ignore[attr-defined]
    tag = f"-shift{semitones:+g}" if semitones else ""
    cache = corpus / f"builtins-emb-{model_id}-{per_class}{tag}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as got:
            if np.array_equal(got["rows"], rows):
                return got["emb"]
    moved = f" moved {semitones:+g} semitones" if semitones else ""
    log(f"embedding {len(rows):,} corpus clips{moved} with {model_id}…")  # type: ignore[operator]
    emb = np.concatenate([embed_clips_shifted(model, np.asarray(clips[rows[i:i + 2048]]),
                                              semitones)
                          for i in range(0, len(rows), 2048)])
    with contextlib.suppress(OSError):
        np.savez(cache, rows=rows, emb=emb)
    return emb


def kmeans(emb: np.ndarray, k: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(centres, each row's cluster) of a k-means on ``emb`` (plain Lloyd, k-means++ start,
    at most 50 rounds); ``k`` ≥ the rows: every row its own cluster."""
    n = len(emb)
    x = emb.astype(np.float64)
    if n <= k:
        return x, np.arange(n)
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(n)]]
    d = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        centres.append(x[rng.choice(n, p=d / d.sum())] if d.sum() > 0 else x[rng.integers(n)])
        d = np.minimum(d, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    for _ in range(50):
        dist = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]
        lab = dist.argmin(1)
        new = np.stack([x[lab == j].mean(0) if (lab == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    dist = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]
    return c, dist.argmin(1)


def choose_medoids(emb: np.ndarray, k: int, seed: int = SEED) -> np.ndarray:
    """Rows of ``emb`` nearest the centres of a k-means (:func:`kmeans`)."""
    n = len(emb)
    if n <= k:
        return np.arange(n)
    x = emb.astype(np.float64)
    c, _lab = kmeans(emb, k, seed)
    dist = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]
    picked: list[int] = []
    for j in range(k):
        order = np.argsort(dist[:, j])
        picked.append(int(next(i for i in order if i not in picked)))
    return np.array(sorted(picked))


def cluster_means(emb: np.ndarray, k: int, source: np.ndarray, seed: int = SEED
                  ) -> np.ndarray:
    """(clusters, D): the mean of ``source``'s rows (the same clips as ``emb``, embedded
    the same way or pitch-averaged) over each cluster of a k-means on ``emb``."""
    _c, lab = kmeans(emb, k, seed)
    return np.stack([source[lab == j].mean(0) for j in np.unique(lab)]).astype(np.float32)


def make(corpus: Path, weights: Path | None, out: Path, *, per_class: int = PER_CLASS,
         per_node_classes: int = 1, min_k: int = MIN_K, max_k: int = MAX_K,
         temperature: float = TEMPERATURE, pitch_average: Sequence[float] = PITCH_AVERAGE,
         examples: str = EXAMPLES, log: object = print) -> dict[str, object]:
    """Choose, embed and write the built-ins; returns a summary (sizes, counts)."""
    from models.loading import load_model

    t0 = time.perf_counter()
    meta_path, clips_path = corpus / "clips.jsonl", corpus / "clips.npy"
    if not meta_path.is_file() or not clips_path.is_file():
        raise BuiltinsError(f"{corpus} holds no corpus (clips.jsonl + clips.npy): build it "
                            "with `sampletree corpus build`")
    classes = [json.loads(line)["cls"] for line in meta_path.read_text("utf-8").splitlines()
               if line.strip()]
    check_mapping(set(classes))
    clips = np.load(clips_path, mmap_mode="r")
    if len(clips) != len(classes):
        raise BuiltinsError(f"{corpus}: clips.npy has {len(clips)} rows, clips.jsonl "
                            f"{len(classes)}")
    model = load_model(weights, device="cpu")
    model_id = model.info.model_id
    rng = np.random.default_rng(SEED)
    by_class: dict[str, list[int]] = {}
    for i, c in enumerate(classes):
        by_class.setdefault(c, []).append(i)
    wanted = sorted({c for table in MAPPING.values() for cs in table.values() for c in cs})
    rows: dict[str, np.ndarray] = {}
    for c in wanted:
        idx = np.array(by_class[c])
        rows[c] = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    every = np.unique(np.concatenate(list(rows.values())))
    emb_all = _drawn_embeddings(model, clips, every, 0.0, corpus, per_class, log)
    averaged = tuple(pitch_average) not in ((), (0.0,))
    if examples not in ("medoid", "centroid"):
        raise BuiltinsError(f"examples must be 'medoid' or 'centroid', not {examples!r}")
    emb_src = emb_all  # what a cluster's mean is taken over
    if examples == "centroid" and averaged:
        emb_src = np.mean([_drawn_embeddings(model, clips, every, s, corpus, per_class, log)
                           for s in pitch_average], axis=0).astype(np.float32)
    pos = {int(r): i for i, r in enumerate(every)}
    arrays: dict[str, np.ndarray] = {"model_id": np.array(model_id), "format": np.array(FORMAT),
                                     "trees": np.array(sorted(MAPPING)),
                                     "pitch_average": np.array(pitch_average, np.float32),
                                     "examples": np.array(examples)}
    summary: dict[str, object] = {"model_id": model_id, "trees": {},
                                  "pitch_average": list(pitch_average), "examples": examples}
    for tree, table in sorted(MAPPING.items()):
        paths = sorted(table)
        embs, nodes, spreads = [], [], []
        for ni, path in enumerate(paths):
            mine = np.concatenate([rows[c] for c in table[path]])
            e = emb_all[[pos[int(r)] for r in mine]]
            k = int(np.clip(per_node_classes * len(table[path]), min_k, max_k))
            pick = None
            if examples == "centroid":
                chosen = cluster_means(e, k, emb_src[[pos[int(r)] for r in mine]])
            else:
                pick = choose_medoids(e, k)
                chosen = e[pick]
                if averaged:
                    chosen = embed_clips_pitch_averaged(model, np.asarray(clips[mine[pick]]),
                                                        pitch_average)
            d = (e * e).sum(1)[:, None] - 2 * e @ chosen.T + (chosen * chosen).sum(1)[None]
            if pick is not None:
                # leave-one-out: a chosen clip's distance to the others, not to itself
                d[pick, np.arange(len(pick))] = np.inf
            spreads.append(np.sqrt(np.maximum(d.min(1), 0.0)))
            embs.append(chosen)
            nodes.extend([ni] * len(chosen))
        arrays[f"{tree}/paths"] = np.array(paths)
        arrays[f"{tree}/node"] = np.array(nodes, dtype=np.int16)
        arrays[f"{tree}/emb"] = np.concatenate(embs).astype(np.float16)
        arrays[f"{tree}/spread"] = np.array(np.quantile(np.concatenate(spreads), 0.95),
                                            dtype=np.float32)
        arrays[f"{tree}/temperature"] = np.array(temperature, dtype=np.float32)
        summary["trees"][tree] = {"nodes": len(paths), "examples": len(nodes),  # type: ignore[index]
                                  "spread": float(arrays[f"{tree}/spread"])}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    summary["bytes"] = out.stat().st_size
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    return summary


def default_out() -> Path:
    return Path(str(resources.files("resources").joinpath(*RESOURCE)))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.builtins", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                   help=f"corpus folder (default {DEFAULT_CORPUS})")
    p.add_argument("--weights", type=Path, default=None,
                   help="weights file (default: the shipped models/weights/sampletree.pt)")
    p.add_argument("--out", type=Path, default=None,
                   help="where to write (default: resources/builtins/builtins.npz)")
    p.add_argument("--per-class", type=int, default=PER_CLASS,
                   help="corpus clips drawn per class (%(default)s)")
    p.add_argument("--min-k", type=int, default=MIN_K,
                   help="fewest examples a node (%(default)s)")
    p.add_argument("--max-k", type=int, default=MAX_K,
                   help="most examples a node (%(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    p.add_argument("--temperature", type=float, default=TEMPERATURE,
                   help=f"softmax scale stored with them ({TEMPERATURE})")
    p.add_argument("--examples", choices=("medoid", "centroid"), default=EXAMPLES,
                   help="a node's examples: the clips nearest its k-means centres, or the "
                        "means of its k-means clusters (default: %(default)s)")
    p.add_argument("--pitch-average", default=",".join(f"{s:g}" for s in PITCH_AVERAGE),
                   metavar="S,S,...",
                   help="store each chosen example's embedding averaged over these pitch "
                        "shifts in semitones (default: %(default)s; 0: plain embeddings)")
    args = p.parse_args(argv)
    shifts = tuple(float(x) for x in args.pitch_average.split(",") if x.strip())
    import torch

    torch.set_num_threads(max(1, args.threads))
    try:
        summary = make(args.corpus, args.weights, args.out or default_out(),
                       per_class=args.per_class, min_k=args.min_k, max_k=args.max_k,
                       temperature=args.temperature, pitch_average=shifts,
                       examples=args.examples)
    except BuiltinsError as exc:
        print(f"models.builtins: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
